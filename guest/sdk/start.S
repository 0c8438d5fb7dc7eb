/* Entry point: the first byte of the image, loaded at GPA 0x100000. */
  .section .text.start, "ax"
  .globl _start
_start:
  call main
  mov %eax, %edi
  call cvm_exit
1:
  hlt
  jmp 1b

  .section .note.GNU-stack, "", @progbits
