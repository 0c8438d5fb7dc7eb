/* A guest that exits all the time and never ends: a tight `in al, dx; jmp` loop on a port
 * with no device behind it. The run's limits must stop it (tests/cli/run_cli_test.cc). */
#include "cvm.h"

#define NO_DEVICE_PORT 0x5ff

int main(void) {
  for (;;) (void)cvm_in32(NO_DEVICE_PORT);
}
