/* The cvmsim guest SDK: freestanding helpers for guest programs (docs/formats.md,
 * "Guest ABI"). Programs run in 64-bit mode at GPA 0x100000 with no guest paging; the
 * stack starts at 0x100000 and grows down; all memory is reached through the VM's nested
 * page tables, which the hypervisor fills on demand. */
#ifndef CVMSIM_GUEST_CVM_H
#define CVMSIM_GUEST_CVM_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef unsigned long usize;

#define CVM_CONSOLE_PORT 0x3f8
#define CVM_SECURE_CALL_PORT 0xca0
#define CVM_EXIT_PORT 0x501

static inline void cvm_out8(u16 port, u8 value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline void cvm_out32(u16 port, u32 value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

void cvm_putc(char c);
void cvm_puts(const char* s);
void cvm_put_hex(u64 value, int digits);
void cvm_put_dec(u64 value);
/* Reports `status` to the hypervisor and halts; never returns. */
__attribute__((noreturn)) void cvm_exit(u32 status);
/* Asks the PSP (through the hypervisor) to handle the request page at `gpa`. */
void cvm_secure_call(u64 gpa);

void* memset(void* dst, int value, usize n);
void* memcpy(void* dst, const void* src, usize n);

#endif
