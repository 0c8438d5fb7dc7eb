/* A compute loop for the guest-throughput benchmark (no memory traffic beyond the stack). */
#include "cvm.h"

int main(void) {
  u64 x = 1;
  for (u64 i = 0; i < 50000000UL; ++i) x = x * 6364136223846793005UL + i;
  cvm_puts("spin ");
  cvm_put_hex(x, 16);
  cvm_putc('\n');
  return 0;
}
