#include "cvm.h"

void cvm_putc(char c) {
  cvm_out8(CVM_CONSOLE_PORT, (u8)c);
}

void cvm_puts(const char* s) {
  while (*s) cvm_putc(*s++);
}

void cvm_put_hex(u64 value, int digits) {
  static const char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) cvm_putc(hex[(value >> (4 * i)) & 0xf]);
}

void cvm_put_dec(u64 value) {
  cvm_printf("%lu", value);
}

/* Writes `value` in `base` right-aligned in `width` characters padded with `pad`. */
static void put_number(u64 value, unsigned base, int negative, int width, char pad) {
  static const char digits[] = "0123456789abcdef";
  char buffer[24];
  int n = 0;
  do {
    buffer[n++] = digits[value % base];
    value /= base;
  } while (value != 0);
  if (negative) {
    if (pad == '0')
      cvm_putc('-');
    else
      buffer[n++] = '-';
    --width;
  }
  for (int i = n; i < width; ++i) cvm_putc(pad);
  while (n > 0) cvm_putc(buffer[--n]);
}

void cvm_vprintf(const char* format, va_list args) {
  for (const char* p = format; *p; ++p) {
    if (*p != '%') {
      cvm_putc(*p);
      continue;
    }
    ++p;
    char pad = ' ';
    if (*p == '0') {
      pad = '0';
      ++p;
    }
    int width = 0;
    while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    int longs = 0;
    while (*p == 'l') {
      ++longs;
      ++p;
    }
    switch (*p) {
      case 'd':
      case 'i': {
        const i64 v = longs ? va_arg(args, i64) : va_arg(args, int);
        put_number(v < 0 ? (u64)0 - (u64)v : (u64)v, 10, v < 0, width, pad);
        break;
      }
      case 'u':
        put_number(longs ? va_arg(args, u64) : va_arg(args, u32), 10, 0, width, pad);
        break;
      case 'x':
        put_number(longs ? va_arg(args, u64) : va_arg(args, u32), 16, 0, width, pad);
        break;
      case 'p':
        cvm_puts("0x");
        put_number((u64)va_arg(args, void*), 16, 0, width, pad);
        break;
      case 'c':
        cvm_putc((char)va_arg(args, int));
        break;
      case 's': {
        const char* s = va_arg(args, const char*);
        cvm_puts(s ? s : "(null)");
        break;
      }
      case '%':
        cvm_putc('%');
        break;
      case '\0':
        return;
      default:
        cvm_putc('%');
        cvm_putc(*p);
    }
  }
}

void cvm_printf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  cvm_vprintf(format, args);
  va_end(args);
}

void cvm_exit(u32 status) {
  cvm_out32(CVM_EXIT_PORT, status);
  for (;;) __asm__ volatile("hlt");
}

void cvm_secure_call(u64 gpa) {
  cvm_out32(CVM_SECURE_CALL_PORT, (u32)gpa);
}

/* The compiler may emit calls to these even in freestanding code. */
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
