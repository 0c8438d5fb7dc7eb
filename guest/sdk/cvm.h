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

/* Ports, vectors, load addresses, PSP statuses and the secure-call page: one definition
 * shared with the platform's C++ side. */
#include "cvm_abi.h"

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

/* ---- Secure calls to the PSP (docs/formats.md, "Secure calls") ------------------------
 * All calls use one request page at a fixed GPA, so that the firmware and the payload it
 * starts share the sequence number the PSP checks (each call is the previous one + 1).
 * The functions return the PSP's status (CVM_OK, CVM_INVALID_PARAMETER, ...). */
#define CVM_SECURE_CALL_PAGE 0x10000UL

/* The detail word of the last secure call's response. */
u32 cvm_last_detail(void);
/* Hands the image's LUKS2 header (read from the head of the disk) to the PSP, which
 * verifies the certificate for this chip in it and programs the image key into the disk
 * controller. On success returns CVM_OK and the certified geometry. */
u32 cvm_image_cert(const void* header, u32 length, u32* sector_size, u64* data_sectors);
/* Moves `length` bytes between the disk and `buffer` (page-aligned, <= CVM_DISK_MAX_BYTES)
 * and returns the status of the PSP's completion record for the request, or
 * CVM_NO_COMPLETION when the PSP wrote none (the host never let it serve the request:
 * the buffer does not hold the disk's data). The completion interrupt is acknowledged, not trusted.
 * raw = 0: sectors of the data segment (decrypted
 * or encrypted with the image key by the disk's crypto coprocessor), `start` in sectors;
 * raw = 1: read file bytes as stored (the header area), `start` in bytes (x 512). */
u32 cvm_disk_read(u64 start, void* buffer, u32 length, int raw);
u32 cvm_disk_write(u64 start, const void* buffer, u32 length);
/* Makes the writes so far durable on the host's disk (the controller fsyncs). */
u32 cvm_disk_flush(void);
/* Asks the PSP for a signed attestation report over this VM with `report_data` (the
 * tenant's nonce); copies it into `report` (up to `*length` bytes) and sets `*length`. */
u32 cvm_attest(const u8 report_data[64], u8* report, u32* length);
/* Waits (HLT) until an interrupt is pending and returns its vector. */
u8 cvm_wait_interrupt(void);
/* The untrusted host channel: reads up to n bytes the host offers (returns how many),
 * writes n bytes for the host. */
usize cvm_host_read(u8* out, usize n);
void cvm_host_write(const void* data, usize n);

/* ---- Boot volumes (docs/formats.md, "Boot volume") ------------------------------------ */
#define CVM_BOOT_MAGIC 0x544f4f42534d5643UL /* "CVMSBOOT" */
#define CVM_BOOT_MAX_FILES 64
struct cvm_boot_file {
  char name[32];
  u64 offset; /* bytes from the volume's start */
  u64 size;
};
struct cvm_boot_header {
  u64 magic;
  u32 version;
  u32 file_count;
  u64 kernel_offset;
  u64 kernel_size;
  u64 kernel_load_gpa;
  u64 data_offset;
  u64 data_size;
  u64 reserved;
  struct cvm_boot_file files[CVM_BOOT_MAX_FILES];
};
/* What the boot firmware passes to the payload's entry (rdi). */
struct cvm_boot_info {
  u32 sector_size;
  u32 reserved;
  u64 data_sectors;
  const struct cvm_boot_header* volume;
};

void* memset(void* dst, int value, usize n);
void* memcpy(void* dst, const void* src, usize n);

#endif
