/* The sample firmware: greets and exits. */
#include "cvm.h"

int main(void) {
  cvm_puts("hello from a confidential VM\n");
  return 0;
}
