/* Secure calls, disk I/O through the PSP, interrupts and the host channel. */
#include "cvm.h"

/* The request page (struct cvm_sc_page, cvm_abi.h). Volatile: the PSP reads and writes it
 * behind the compiler's back. */
static volatile struct cvm_sc_page* sc_page(void) {
  return (volatile struct cvm_sc_page*)CVM_SECURE_CALL_PAGE;
}

/* Bytes after the header that sc_begin clears: every call's fixed arguments and the
 * PSP's fixed results lie inside; a call that uses more (the DISK_IO page list, the ATTEST
 * report) writes or reads only what it sets or what the PSP returned. */
#define SC_CLEARED_ARGS 64

/* Starts a request: clears the header and fixed arguments but keeps the sequence number
 * of the last call. Clearing is done in 8-byte stores and only this far because guest
 * stores are costly in the emulator (every store takes Unicorn 2.0.1's slow path,
 * docs/benchmarks.md), and a request is issued per disk transfer. */
static void sc_begin(u16 call) {
  volatile struct cvm_sc_header* head = &sc_page()->header;
  const u64 sequence = head->magic == CVM_SC_MAGIC ? head->sequence : 0;
  volatile u64* words = (volatile u64*)sc_page();
  for (usize i = 0; i < (sizeof(struct cvm_sc_header) + SC_CLEARED_ARGS) / 8; ++i) words[i] = 0;
  head->magic = CVM_SC_MAGIC;
  head->version = CVM_SC_VERSION;
  head->call = call;
  head->sequence = sequence + 1;
}

static u32 sc_finish(void) {
  cvm_secure_call(CVM_SECURE_CALL_PAGE);
  return sc_page()->header.status;
}

u32 cvm_last_detail(void) {
  return sc_page()->header.detail;
}

u32 cvm_image_cert(const void* header, u32 length, u32* sector_size, u64* data_sectors) {
  volatile struct cvm_sc_image_cert* args = &sc_page()->args.image_cert;
  sc_begin(CVM_SC_IMAGE_CERT);
  args->header_gpa = (u64)header;
  args->header_length = length;
  const u32 status = sc_finish();
  if (status == CVM_OK) {
    *sector_size = args->sector_size;
    *data_sectors = args->data_sectors;
  }
  return status;
}

u8 cvm_wait_interrupt(void) {
  for (;;) {
    const u32 vector = cvm_in32(CVM_INTERRUPT_PORT);
    if (vector != 0 && vector != 0xffffffffU) return (u8)vector;
    __asm__ volatile("hlt");
  }
}

/* Acknowledges the oldest pending interrupt, if any: the one the served request raised.
 * Interrupts are hints only (below), so none is waited for, and one read per request is
 * enough: forged or repeated ones stay pending until later requests acknowledge them, and
 * nothing depends on them. (One port read is one VM exit, which is why the queue is not
 * drained.) */
static void acknowledge_interrupt(void) {
  (void)cvm_in32(CVM_INTERRUPT_PORT);
}

/* Sends the DISK_IO request laid out in the page and returns the PSP's answer.
 *
 * The answer is the completion record the PSP wrote into the page with the VM's key, never
 * the completion interrupt: the VMM can forge, drop, repeat or delay interrupts, but it
 * cannot write the record, and a page it restores holds an older request's record. The
 * platform runs the transfer within the call, so the record is there when the call returns.
 * Without one the request was never served (the host dropped it or answered an old page
 * instead), and the buffer does not hold the disk's data: CVM_NO_COMPLETION. A request the
 * PSP refused before serving it (malformed, out of order) has no record either, but its
 * refusal is in this request's header. */
static u32 disk_request(void) {
  const u64 sequence = sc_page()->header.sequence; /* kept in a register or our stack */
  const u32 status = sc_finish();
  acknowledge_interrupt();
  volatile struct cvm_disk_completion* record = &sc_page()->args.disk_io.completion;
  if (record->sequence == sequence) return record->status;
  if (status != CVM_OK && sc_page()->header.sequence == sequence) return status;
  return CVM_NO_COMPLETION;
}

static u32 disk_io(u64 start, const void* buffer, u32 length, int write, int raw) {
  if (((u64)buffer & 4095) != 0 || length == 0 || length > CVM_DISK_MAX_BYTES) {
    return CVM_INVALID_PARAMETER;
  }
  const u32 pages = (length + 4095) / 4096;
  /* The PSP only programs DMA into pages that are mapped (writable, for a read from the
   * disk): touch them first so that their nested page faults happen now. Loads do it at
   * a fifteenth of a store's cost in the emulator (docs/benchmarks.md, "Guest CPU");
   * the VMM maps guest memory read-write on any fault, as KVM does. Under a VMM that
   * mapped a page read-only the PSP would refuse the transfer with CVM_NOT_MAPPED. */
  for (u32 i = 0; i < pages; ++i) (void)*((volatile const u8*)buffer + 4096 * (u64)i);
  volatile struct cvm_sc_disk_io* args = &sc_page()->args.disk_io;
  sc_begin(CVM_SC_DISK_IO);
  args->start = start;
  args->length = length;
  args->direction = write ? CVM_DISK_WRITE : CVM_DISK_READ;
  args->flags = raw ? CVM_DISK_FLAG_RAW : 0;
  args->page_count = pages;
  for (u32 i = 0; i < pages; ++i) args->pages[i] = (u64)buffer + 4096 * (u64)i;
  return disk_request();
}

u32 cvm_disk_read(u64 start, void* buffer, u32 length, int raw) {
  return disk_io(start, buffer, length, 0, raw);
}

u32 cvm_disk_write(u64 start, const void* buffer, u32 length) {
  return disk_io(start, buffer, length, 1, 0);
}

u32 cvm_disk_flush(void) {
  sc_begin(CVM_SC_DISK_IO);
  sc_page()->args.disk_io.direction = CVM_DISK_FLUSH;
  return disk_request();
}

u32 cvm_attest(const u8 report_data[64], u8* report, u32* length) {
  volatile struct cvm_sc_attest* args = &sc_page()->args.attest;
  sc_begin(CVM_SC_ATTEST);
  for (usize i = 0; i < CVM_REPORT_DATA_SIZE; ++i) args->report_data[i] = report_data[i];
  const u32 status = sc_finish();
  if (status != CVM_OK) return status;
  const u32 size = args->report_length;
  if (size > *length || size > sizeof(args->report)) return CVM_INVALID_PARAMETER;
  for (u32 i = 0; i < size; ++i) report[i] = args->report[i];
  *length = size;
  return CVM_OK;
}

usize cvm_host_read(u8* out, usize n) {
  usize i = 0;
  for (; i < n; ++i) {
    const u32 v = cvm_in32(CVM_HOST_DATA_PORT);
    if (v > 0xff) break; /* floating bus: the host has nothing more */
    out[i] = (u8)v;
  }
  return i;
}

void cvm_host_write(const void* data, usize n) {
  const u8* p = data;
  for (usize i = 0; i < n; ++i) cvm_out8(CVM_HOST_DATA_PORT, p[i]);
}
