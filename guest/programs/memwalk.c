/* Touches memory widely so that nested page faults happen: writes a pattern into every
 * page of a region above the firmware, then reads it back and prints a checksum that the
 * tests recompute on the host. */
#include "cvm.h"

#define REGION_BASE 0x1000000UL /* 16 MiB */
#define PAGES 1024UL            /* 4 MiB */

static u64 mix(u64 x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdUL;
  x ^= x >> 33;
  return x;
}

int main(void) {
  volatile u64* region = (volatile u64*)REGION_BASE;
  for (u64 page = 0; page < PAGES; ++page) {
    for (u64 word = 0; word < 512; word += 64) region[page * 512 + word] = mix(page * 512 + word);
  }
  u64 sum = 0;
  for (u64 page = 0; page < PAGES; ++page) {
    for (u64 word = 0; word < 512; word += 64) sum += region[page * 512 + word] ^ word;
  }
  cvm_puts("memwalk checksum ");
  cvm_put_hex(sum, 16);
  cvm_putc('\n');
  return 0;
}
