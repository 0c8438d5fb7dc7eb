/* A kernel payload that reads its whole encrypted volume through PSP-mediated DMA and
 * prints an FNV-1a 64 digest of the plaintext: the host recomputes it over the raw volume,
 * so a match proves the guest saw the original bytes, every one. It also measures the
 * guest's sequential read (the benchmark of docs/benchmarks.md, "Guest disk reads"). */
#include "cvm.h"

#define BUFFER_GPA 0x1000000UL /* 16 MiB */

int main(const struct cvm_boot_info* boot) {
  u8* buffer = (u8*)BUFFER_GPA;
  const u64 total = boot->data_sectors * boot->sector_size;
  /* A host that offers 'n' on the host channel asks for reads only (the benchmark); 'o'
   * asks the guest to probe the PSP's bounds first: a read one sector past the certified
   * segment, one that wraps around, and a raw read of the data segment. */
  u8 mode = 0;
  const int offered = cvm_host_read(&mode, 1) == 1;
  const int hashing = !(offered && mode == 'n');
  if (offered && mode == 'o') {
    const u32 past = cvm_disk_read(boot->data_sectors, buffer, boot->sector_size, 0);
    const u32 wrap = cvm_disk_read(~0UL, buffer, boot->sector_size, 0);
    const u32 raw = cvm_disk_read(8UL << 20, buffer, 4096, 1);
    cvm_printf("checksum: probes past-end %u wrap %u raw-data %u\n", past, wrap, raw);
  }
  u64 hash = 0xcbf29ce484222325UL;
  for (u64 done = 0; done < total;) {
    u64 n = total - done;
    if (n > CVM_DISK_MAX_BYTES) n = CVM_DISK_MAX_BYTES;
    const u32 status = cvm_disk_read(done / boot->sector_size, buffer, (u32)n, 0);
    if (status != CVM_OK) {
      cvm_printf("checksum: read at byte %lu failed: PSP status %u\n", done, status);
      return 30;
    }
    for (u64 i = 0; hashing && i < n; ++i) {
      hash ^= buffer[i];
      hash *= 0x100000001b3UL;
    }
    done += n;
  }
  if (hashing) {
    cvm_printf("checksum: fnv1a64 %016lx over %lu bytes\n", hash, total);
  } else {
    cvm_printf("checksum: read %lu bytes\n", total);
  }
  return 0;
}
