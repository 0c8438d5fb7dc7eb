/* The guest-platform ABI: the one definition of what a guest program and the simulated
 * platform exchange (docs/formats.md, "Guest ABI" and "Secure calls"). The guest SDK
 * (freestanding C11, guest/sdk) and the C++ side (the VMM's port decoding, the PSP's
 * secure-call parser and its status codes) both include this header, so the two cannot
 * drift apart: a field moved here moves for both, and the asserts below fail the build of
 * either side if a layout stops matching the documented offsets.
 *
 * Layouts are plain structs of fixed-width fields, each at its natural alignment, so no
 * padding is possible and no packing attribute is needed (C++ cannot bind references to
 * packed members). All fields are little-endian, as both ends are. */
#ifndef CVMSIM_ABI_CVM_ABI_H
#define CVMSIM_ABI_CVM_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define CVM_ABI_ASSERT(condition, message) static_assert(condition, message)
#else
#define CVM_ABI_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/* ---- Ports and interrupt vectors -------------------------------------------------------- */
#define CVM_CONSOLE_PORT 0x3f8     /* OUT al: one console byte */
#define CVM_SECURE_CALL_PORT 0xca0 /* OUT eax: GPA (< 4 GiB) of a secure-call request page */
#define CVM_EXIT_PORT 0x501        /* OUT eax: exit status; the guest then halts */
#define CVM_INTERRUPT_PORT 0xcb0   /* IN eax: oldest pending vector, acknowledged (0: none) */
#define CVM_HOST_DATA_PORT 0xcc0   /* IN: next byte the host offers (> 0xff: none); OUT al */
#define CVM_DISK_VECTOR 0x40       /* disk DMA completion */

/* ---- Load addresses --------------------------------------------------------------------- */
#define CVM_FIRMWARE_GPA 0x100000UL            /* firmware images load and start here */
#define CVM_PAYLOAD_GPA 0x200000UL             /* sample-firmware payloads load here */
#define CVM_PAYLOAD_MAGIC 0x4c594150534d5643UL /* "CVMSPAYL" little-endian */
struct cvm_payload_header {
  uint64_t magic;
  uint64_t entry_offset; /* from CVM_PAYLOAD_GPA */
};
CVM_ABI_ASSERT(sizeof(struct cvm_payload_header) == 16, "payload header: 16 bytes");

/* ---- PSP status codes ------------------------------------------------------------------- *
 * Every mailbox command and secure call answers with one, plus a detail word whose meaning
 * depends on the status (docs/cli.md, "PSP statuses", lists both). */
#define CVM_OK 0
#define CVM_INVALID_COMMAND 1
#define CVM_INVALID_VM 2
#define CVM_INVALID_STATE 3
#define CVM_INVALID_PARAMETER 4
#define CVM_INVALID_ADDRESS 5
#define CVM_RESOURCE_EXHAUSTED 6
#define CVM_FRAME_NOT_AVAILABLE 7
#define CVM_ALREADY_MAPPED 8
#define CVM_NOT_MAPPED 9
#define CVM_MEASUREMENT_MISMATCH 10
#define CVM_BAD_SIGNATURE 11
#define CVM_POLICY_VIOLATION 12
#define CVM_NPT_TAMPERED 13
#define CVM_VM_STOPPED 14
#define CVM_BAD_CERTIFICATE 15
#define CVM_REPLAYED_REQUEST 16
#define CVM_IO_ERROR 17
#define CVM_INTERNAL_ERROR 18
#define CVM_WRITE_PROTECTED 19
#define CVM_TLB_NOT_TRACKED 20
#define CVM_DRAM_ALIASED 21
#define CVM_TAG_MISMATCH 22
#define CVM_DISK_ROLLED_BACK 23
#define CVM_STATUS_COUNT 24
/* Not a PSP status: what the guest SDK returns for a DISK_IO request the PSP wrote no
 * completion record for (the host dropped the call or answered an old page instead). */
#define CVM_NO_COMPLETION 0x100

/* ---- Secure calls (docs/formats.md, "Secure calls") ------------------------------------- *
 * One 4 KiB page of the guest's private memory holds a request; the PSP writes the status,
 * the detail and the call's results back into the same page. */
#define CVM_SC_PAGE_SIZE 4096
#define CVM_SC_MAGIC 0x43535643U /* "CVSC" */
#define CVM_SC_VERSION 1
#define CVM_SC_IMAGE_CERT 1
#define CVM_SC_DISK_IO 2
#define CVM_SC_ATTEST 3

struct cvm_sc_header {
  uint32_t magic;    /* CVM_SC_MAGIC */
  uint16_t version;  /* CVM_SC_VERSION */
  uint16_t call;     /* CVM_SC_IMAGE_CERT, CVM_SC_DISK_IO or CVM_SC_ATTEST */
  uint64_t sequence; /* the VM's last accepted call + 1 (the first is 1) */
  uint32_t status;   /* written by the PSP */
  uint32_t detail;   /* written by the PSP; on a parse error, the bad field's page offset */
  uint64_t reserved; /* zero */
};

/* IMAGE_CERT: the image's LUKS2 header, read from the head of the disk. */
#define CVM_SC_MAX_CERT_HEADER (4UL << 20) /* LUKS2's largest header */
struct cvm_sc_image_cert {
  uint64_t header_gpa;    /* page-aligned */
  uint32_t header_length; /* 1 B ... CVM_SC_MAX_CERT_HEADER */
  uint32_t reserved;      /* zero */
  uint32_t sector_size;   /* result: the certified sector size */
  uint32_t reserved2;
  uint64_t data_sectors; /* result: the certified data segment length in sectors */
};

/* DISK_IO: move data between the VM's disk and the listed pages of its memory. */
#define CVM_DISK_MAX_PAGES 256
#define CVM_DISK_MAX_BYTES (CVM_DISK_MAX_PAGES * 4096UL) /* per request */
#define CVM_DISK_READ 0                                  /* disk -> memory */
#define CVM_DISK_WRITE 1                                 /* memory -> disk */
#define CVM_DISK_FLUSH 2
#define CVM_DISK_FLAG_RAW 1 /* file bytes without the image key (the header area) */
/* The PSP's record of how it answered a DISK_IO request, written with the VM's key when it
 * serves the request (a replayed or reordered one is not served and leaves the record as
 * it was). The guest acts on this record only: the completion interrupt, which the
 * untrusted VMM delivers, forges, drops or repeats at will, is a hint. */
struct cvm_disk_completion {
  uint64_t sequence; /* the request answered (the header's sequence number) */
  uint64_t tag;      /* the DMA tag of the transfer or flush (0: none reached the disk) */
  uint32_t status;   /* the request's status, as in the header */
  uint32_t detail;
};
struct cvm_sc_disk_io {
  uint64_t start;      /* keyed: data-segment sector; raw: byte offset, a multiple of 512 */
  uint32_t length;     /* bytes: 1 ... CVM_DISK_MAX_BYTES */
  uint16_t direction;  /* CVM_DISK_READ, CVM_DISK_WRITE or CVM_DISK_FLUSH */
  uint16_t flags;      /* CVM_DISK_FLAG_RAW */
  uint32_t page_count; /* ceil(length / 4096); zero for a flush */
  uint32_t reserved;   /* zero */
  uint64_t pages[CVM_DISK_MAX_PAGES];    /* page-aligned GPAs of the buffer, in order */
  struct cvm_disk_completion completion; /* written by the PSP */
};

/* ATTEST: the tenant's nonce in, a signed report out. */
#define CVM_REPORT_DATA_SIZE 64
struct cvm_sc_attest {
  uint8_t report_data[CVM_REPORT_DATA_SIZE];
  uint32_t report_length; /* result */
  uint32_t reserved;
  uint8_t report[CVM_SC_PAGE_SIZE - 32 - CVM_REPORT_DATA_SIZE - 8]; /* result */
};

struct cvm_sc_page {
  struct cvm_sc_header header;
  union {
    struct cvm_sc_image_cert image_cert;
    struct cvm_sc_disk_io disk_io;
    struct cvm_sc_attest attest;
  } args;
};

/* The offsets docs/formats.md gives, which guests already built rely on. */
CVM_ABI_ASSERT(sizeof(struct cvm_sc_header) == 32, "secure-call header: 32 bytes");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_header, version) == 4, "version at 4");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_header, call) == 6, "call at 6");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_header, sequence) == 8, "sequence at 8");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_header, status) == 16, "status at 16");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_header, detail) == 20, "detail at 20");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args) == 32, "arguments at 32");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.image_cert.header_length) == 40, "at 40");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.image_cert.sector_size) == 48, "at 48");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.image_cert.data_sectors) == 56, "at 56");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.length) == 40, "at 40");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.direction) == 44, "at 44");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.flags) == 46, "at 46");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.page_count) == 48, "at 48");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.reserved) == 52, "at 52");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.pages) == 56, "page list at 56");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.disk_io.completion) == 2104, "record at 2104");
CVM_ABI_ASSERT(sizeof(struct cvm_disk_completion) == 24, "completion record: 24 bytes");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.attest.report_length) == 96, "at 96");
CVM_ABI_ASSERT(offsetof(struct cvm_sc_page, args.attest.report) == 104, "report at 104");
CVM_ABI_ASSERT(sizeof(struct cvm_sc_page) == CVM_SC_PAGE_SIZE, "one page");

#endif
