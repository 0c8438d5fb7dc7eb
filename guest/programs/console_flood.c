/* A guest that writes to the console without end: the VMM must cap what it keeps, and the
 * run's limits must stop it (tests/cli/run_cli_test.cc). */
#include "cvm.h"

int main(void) {
  for (;;) cvm_puts("flooding the console with output nobody asked for\n");
}
