/* The kernel of the demo's encrypted image (a payload started by image_boot).
 *
 * - Reads its state block (the first 4 KiB of the data area), counts this boot, writes the
 *   block back and reads it again to check: persisted across reboots, encrypted on disk.
 * - Prints the files the boot volume lists (their first bytes for text files).
 * - When the host offers a 64-byte nonce on the host channel, asks the PSP for a signed
 *   attestation report over it and hands the report to the host.
 * Exit status 0, or 20 + the step that failed. */
#include "cvm.h"

#define STATE_MAGIC 0x4554415453534d56UL /* "VMSSTATE" */
#define BUFFER_GPA 0x800000UL
#define REPORT_MAX 1024

struct state_block {
  u64 magic;
  u64 boots;
  u64 last_nonce_word;
};

static int file_is_text(const u8* p, u64 n) {
  for (u64 i = 0; i < n; ++i) {
    if (p[i] != '\n' && p[i] != '\t' && (p[i] < 0x20 || p[i] > 0x7e)) return 0;
  }
  return 1;
}

int main(const struct cvm_boot_info* boot) {
  const struct cvm_boot_header* volume = boot->volume;
  const u32 ss = boot->sector_size;
  const u64 state_sector = volume->data_offset / ss;
  u8* buffer = (u8*)BUFFER_GPA;

  u32 status = cvm_disk_read(state_sector, buffer, 4096, 0);
  if (status != CVM_OK) {
    /* CVM_NO_COMPLETION: the PSP never answered the read, so the buffer holds whatever
     * was there before; counting from it would restart the boot count. */
    cvm_printf("disk_demo: reading the state block failed: status %u\n", status);
    return 21;
  }
  struct state_block* state = (struct state_block*)buffer;
  if (state->magic != STATE_MAGIC) {
    memset(buffer, 0, 4096);
    state->magic = STATE_MAGIC;
  }
  state->boots += 1;
  const u64 boots = state->boots;
  status = cvm_disk_write(state_sector, buffer, 4096);
  if (status != CVM_OK) {
    /* A disk the host attached read-only answers CVM_WRITE_PROTECTED. */
    cvm_printf("disk_demo: writing the state block failed: PSP status %u\n", status);
    return 22;
  }
  status = cvm_disk_flush();
  if (status != CVM_OK) return 22;
  memset(buffer, 0, 4096);
  status = cvm_disk_read(state_sector, buffer, 4096, 0);
  if (status != CVM_OK || state->magic != STATE_MAGIC || state->boots != boots) {
    cvm_printf("disk_demo: the state block did not read back\n");
    return 23;
  }
  cvm_printf("disk_demo: boot number %lu of this image\n", boots);

  for (u32 i = 0; i < volume->file_count && i < CVM_BOOT_MAX_FILES; ++i) {
    const struct cvm_boot_file* f = &volume->files[i];
    u64 shown = f->size < 256 ? f->size : 256;
    u32 bytes = (u32)((shown + ss - 1) / ss * ss);
    if (bytes == 0) bytes = ss;
    status = cvm_disk_read(f->offset / ss, buffer, bytes, 0);
    if (status != CVM_OK) {
      cvm_printf("disk_demo: reading %s failed: PSP status %u (detail %u)\n", f->name, status,
                 cvm_last_detail());
      return 24;
    }
    cvm_printf("disk_demo: file %s (%lu bytes)", f->name, f->size);
    if (file_is_text(buffer, shown)) {
      cvm_printf(": ");
      for (u64 j = 0; j < shown; ++j) {
        if (buffer[j] != '\n') cvm_putc((char)buffer[j]);
      }
    }
    cvm_printf("\n");
  }

  u8 nonce[64];
  if (cvm_host_read(nonce, sizeof nonce) == sizeof nonce) {
    static u8 report[REPORT_MAX];
    u32 length = sizeof report;
    status = cvm_attest(nonce, report, &length);
    if (status != CVM_OK) {
      cvm_printf("disk_demo: ATTEST failed: PSP status %u\n", status);
      return 25;
    }
    cvm_host_write(report, length);
    cvm_printf("disk_demo: attestation report (%u bytes) handed to the host\n", length);
  }
  return 0;
}
