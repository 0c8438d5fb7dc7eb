/* A payload for the sample firmware (linked at CVM_PAYLOAD_GPA). */
#include "cvm.h"

int main(void) {
  cvm_printf("hello from the payload, %d + %d = %d\n", 40, 2, 40 + 2);
  return 42;
}
