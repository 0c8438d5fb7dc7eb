#include "cvm.h"

void cvm_putc(char c) { cvm_out8(CVM_CONSOLE_PORT, (u8)c); }

void cvm_puts(const char* s) {
  while (*s) cvm_putc(*s++);
}

void cvm_put_hex(u64 value, int digits) {
  static const char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) cvm_putc(hex[(value >> (4 * i)) & 0xf]);
}

void cvm_put_dec(u64 value) {
  char buffer[21];
  int n = 0;
  do {
    buffer[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) cvm_putc(buffer[--n]);
}

void cvm_exit(u32 status) {
  cvm_out32(CVM_EXIT_PORT, status);
  for (;;) __asm__ volatile("hlt");
}

void cvm_secure_call(u64 gpa) { cvm_out32(CVM_SECURE_CALL_PORT, (u32)gpa); }

void* memset(void* dst, int value, usize n) {
  u8* d = dst;
  while (n--) *d++ = (u8)value;
  return dst;
}

void* memcpy(void* dst, const void* src, usize n) {
  u8* d = dst;
  const u8* s = src;
  while (n--) *d++ = *s++;
  return dst;
}
