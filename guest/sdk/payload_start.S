/* A payload's first bytes: the header the sample firmware looks for, then its entry. */
  .section .text.start, "ax"
  .globl _start
_start:
  .quad 0x4c594150534d5643  /* "CVMSPAYL" */
  .quad entry - _start
entry:
  jmp main  /* main returns the exit status to the firmware */

  .section .note.GNU-stack, "", @progbits
