/* A compute loop for the guest-throughput benchmark: no memory traffic beyond the stack.
 * The iteration count comes from an IN on port 0x510 (the host answers), so the benchmark
 * can size the work. */
#include "cvm.h"

#define SPIN_ARG_PORT 0x510

int main(void) {
  const u64 iterations = cvm_in32(SPIN_ARG_PORT);
  u64 x = 1;
  for (u64 i = 0; i < iterations; ++i) x = x * 6364136223846793005UL + i;
  cvm_printf("spin %016lx\n", x);
  return 0;
}
