/* The cvmsim guest SDK: freestanding helpers for guest programs (docs/formats.md,
 * "Guest ABI"). Programs run in 64-bit mode at GPA 0x100000 with no guest paging; the
 * stack starts at 0x100000 and grows down; all memory is reached through the VM's nested
 * page tables, which the hypervisor fills on demand (fresh pages read as zero). */
#ifndef CVMSIM_GUEST_CVM_H
#define CVMSIM_GUEST_CVM_H

#include <stdarg.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;
typedef unsigned long usize;

#define CVM_CONSOLE_PORT 0x3f8     /* OUT al: one console byte */
#define CVM_SECURE_CALL_PORT 0xca0 /* OUT eax: GPA (< 4 GiB) of a secure-call request page */
#define CVM_EXIT_PORT 0x501        /* OUT eax: exit status; the guest then halts */

/* Sample-firmware payloads: a flat image linked at CVM_PAYLOAD_GPA starting with this
 * header (docs/formats.md, "Guest ABI"). */
#define CVM_PAYLOAD_GPA 0x200000UL
#define CVM_PAYLOAD_MAGIC 0x4c594150534d5643UL /* "CVMSPAYL" little-endian */
struct cvm_payload_header {
  u64 magic;
  u64 entry_offset; /* from CVM_PAYLOAD_GPA */
};

static inline void cvm_out8(u16 port, u8 value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}
static inline void cvm_out32(u16 port, u32 value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}
static inline u32 cvm_in32(u16 port) {
  u32 value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}

void cvm_putc(char c);
void cvm_puts(const char* s);
void cvm_put_hex(u64 value, int digits);
void cvm_put_dec(u64 value);
/* A small printf: %s %c %d %i %u %x %p %%, the l/ll length modifiers, a field width and
 * the 0 flag (e.g. "%016lx"). */
void cvm_printf(const char* format, ...) __attribute__((format(printf, 1, 2)));
void cvm_vprintf(const char* format, va_list args);
/* Reports `status` to the hypervisor and halts; never returns. */
__attribute__((noreturn)) void cvm_exit(u32 status);
/* Asks the PSP (through the hypervisor) to handle the request page at `gpa`; the response
 * is in that page when this returns. */
void cvm_secure_call(u64 gpa);

void* memset(void* dst, int value, usize n);
void* memcpy(void* dst, const void* src, usize n);

#endif
