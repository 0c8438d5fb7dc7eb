/* The sample firmware: greets, then runs the payload placed at CVM_PAYLOAD_GPA (an image
 * built with sdk/payload_start.S) and exits with its status, or exits with 0 when there
 * is none. Reading the payload header faults the page in (zeros when nothing was loaded). */
#include "cvm.h"

int main(void) {
  cvm_printf("cvmsim sample firmware: hello from a confidential VM\n");
  const volatile struct cvm_payload_header* header =
      (const volatile struct cvm_payload_header*)CVM_PAYLOAD_GPA;
  if (header->magic != CVM_PAYLOAD_MAGIC) {
    cvm_printf("no payload; halting\n");
    return 0;
  }
  cvm_printf("running payload at %p\n", (void*)(CVM_PAYLOAD_GPA + header->entry_offset));
  int (*entry)(void) = (int (*)(void))(CVM_PAYLOAD_GPA + header->entry_offset);
  const int status = entry();
  cvm_printf("payload returned %d\n", status);
  return status;
}
