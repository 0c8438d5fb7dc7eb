/* Touches memory widely so that nested page faults happen: a dense 4 MiB region (8 words
 * in every page) and sparse pages spread over 128 MiB (different leaf and directory
 * tables). Prints a checksum of the dense region that the tests recompute on the host; a
 * sparse page that does not read back what was written makes it print a mismatch and exit
 * with status 1. Stays below 256 MiB of guest-physical memory. */
#include "cvm.h"

#define DENSE_BASE 0x1000000UL  /* 16 MiB */
#define DENSE_PAGES 1024UL      /* 4 MiB */
#define SPARSE_BASE 0x4000000UL /* 64 MiB */
#define SPARSE_PAGES 32UL
#define WORDS_PER_PAGE 512UL
#define STRIDE 64UL /* words between touches: 8 per page */

static u64 mix(u64 x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdUL;
  x ^= x >> 33;
  return x;
}

/* Sparse page i: 4 MiB apart plus a varying offset inside its 2 MiB leaf range. */
static volatile u64* sparse_page(u64 i) {
  return (volatile u64*)(SPARSE_BASE + i * 0x400000UL + ((i * 7) % 512) * 4096);
}

int main(void) {
  volatile u64* dense = (volatile u64*)DENSE_BASE;
  for (u64 page = 0; page < DENSE_PAGES; ++page) {
    for (u64 w = 0; w < WORDS_PER_PAGE; w += STRIDE) {
      dense[page * WORDS_PER_PAGE + w] = mix(page * WORDS_PER_PAGE + w);
    }
  }
  for (u64 i = 0; i < SPARSE_PAGES; ++i) sparse_page(i)[i % WORDS_PER_PAGE] = mix(~i);
  u64 sum = 0;
  for (u64 page = 0; page < DENSE_PAGES; ++page) {
    for (u64 w = 0; w < WORDS_PER_PAGE; w += STRIDE) sum += dense[page * WORDS_PER_PAGE + w] ^ w;
  }
  for (u64 i = 0; i < SPARSE_PAGES; ++i) {
    if (sparse_page(i)[i % WORDS_PER_PAGE] != mix(~i)) {
      cvm_printf("memwalk sparse mismatch at page %lu\n", i);
      return 1;
    }
  }
  cvm_printf("memwalk checksum %016lx\n", sum);
  return 0;
}
