/* The protected-image boot firmware (the measured firmware of an encrypted VM image).
 *
 * 1. Reads the LUKS2 header from the head of the disk as stored (raw: it is not encrypted
 *    with the image key) and hands it to the PSP (IMAGE_CERT), which verifies the image
 *    certificate for this chip and programs the image key into the disk controller.
 * 2. Reads block 0 of the decrypted volume (the boot header, docs/formats.md "Boot
 *    volume"), loads the kernel payload it names at CVM_PAYLOAD_GPA through PSP-mediated
 *    DMA (decrypted by the disk's crypto coprocessor, re-encrypted with this VM's key by
 *    the memory controller), and calls it with the boot information.
 * Exit statuses: the payload's, or 10 + the step that failed. */
#include "cvm.h"

#define HEADER_GPA 0x400000UL /* up to 4 MiB of LUKS2 header */
#define VOLUME_GPA 0x300000UL /* the boot header block */
#define MIN_HEADER 0x4000UL
#define MAX_HEADER 0x400000UL
#define MAX_KERNEL 0x100000UL

static u64 be64(const volatile u8* p) {
  u64 v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

static int fail(int step, const char* what, u32 status) {
  cvm_printf("image_boot: %s failed: PSP status %u (detail %u)\n", what, status, cvm_last_detail());
  return 10 + step;
}

/* Reads `length` bytes (a multiple of the sector size or of 512 when raw) in requests of
 * at most CVM_DISK_MAX_BYTES. */
static u32 read_span(u64 start, u64 unit, u8* buffer, u64 length, int raw) {
  for (u64 done = 0; done < length;) {
    u64 n = length - done;
    if (n > CVM_DISK_MAX_BYTES) n = CVM_DISK_MAX_BYTES;
    const u32 status =
        cvm_disk_read(start + (raw ? done : done / unit), buffer + done, (u32)n, raw);
    if (status != CVM_OK) return status;
    done += n;
  }
  return CVM_OK;
}

int main(void) {
  cvm_printf("image_boot: reading the image header\n");
  volatile u8* header = (volatile u8*)HEADER_GPA;
  u32 status = cvm_disk_read(0, (void*)HEADER_GPA, 4096, 1);
  if (status != CVM_OK) return fail(1, "raw read of the header", status);
  if (header[0] != 'L' || header[1] != 'U' || header[2] != 'K' || header[3] != 'S') {
    cvm_printf("image_boot: the disk has no LUKS2 header\n");
    return 11;
  }
  const u64 header_size = be64(header + 8);
  if (header_size < MIN_HEADER || header_size > MAX_HEADER || (header_size & 4095) != 0) {
    cvm_printf("image_boot: implausible LUKS2 header size %lu\n", header_size);
    return 11;
  }
  status = read_span(0, 512, (u8*)HEADER_GPA, header_size, 1);
  if (status != CVM_OK) return fail(1, "raw read of the header", status);

  u32 sector_size = 0;
  u64 data_sectors = 0;
  status = cvm_image_cert((const void*)HEADER_GPA, (u32)header_size, &sector_size, &data_sectors);
  if (status != CVM_OK) return fail(2, "IMAGE_CERT", status);
  cvm_printf("image_boot: image key installed (%u-byte sectors, %lu sectors)\n", sector_size,
             data_sectors);

  status = read_span(0, sector_size, (u8*)VOLUME_GPA, 4096, 0);
  if (status != CVM_OK) return fail(3, "reading the boot header", status);
  const struct cvm_boot_header* volume = (const struct cvm_boot_header*)VOLUME_GPA;
  if (volume->magic != CVM_BOOT_MAGIC || volume->version != 1) {
    cvm_printf("image_boot: no boot volume inside the image (wrong key or not a boot disk)\n");
    return 13;
  }
  if (volume->kernel_load_gpa != CVM_PAYLOAD_GPA || volume->kernel_size == 0 ||
      volume->kernel_size > MAX_KERNEL || volume->kernel_offset % sector_size != 0) {
    cvm_printf("image_boot: bad kernel placement in the boot header\n");
    return 13;
  }
  const u64 kernel_bytes = (volume->kernel_size + sector_size - 1) / sector_size * sector_size;
  status = read_span(volume->kernel_offset / sector_size, sector_size, (u8*)CVM_PAYLOAD_GPA,
                     kernel_bytes, 0);
  if (status != CVM_OK) return fail(4, "loading the kernel", status);
  const volatile struct cvm_payload_header* payload =
      (const volatile struct cvm_payload_header*)CVM_PAYLOAD_GPA;
  if (payload->magic != CVM_PAYLOAD_MAGIC || payload->entry_offset >= volume->kernel_size) {
    cvm_printf("image_boot: the kernel is not a cvmsim payload\n");
    return 14;
  }
  cvm_printf("image_boot: starting the kernel (%lu bytes)\n", volume->kernel_size);
  static struct cvm_boot_info info;
  info.sector_size = sector_size;
  info.data_sectors = data_sectors;
  info.volume = volume;
  int (*entry)(const struct cvm_boot_info*) =
      (int (*)(const struct cvm_boot_info*))(CVM_PAYLOAD_GPA + payload->entry_offset);
  return entry(&info);
}
