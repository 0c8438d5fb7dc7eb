/* The attack lab's victim: a tenant VM with a secret and small services that an untrusted
 * hypervisor can aim at (src/lab/attacks, docs/attacks.md). It places a secret and a
 * public buffer in private memory, then obeys one-byte commands from the host channel
 * (port 0xcc0) until the host has nothing more:
 *   'e'  echo service: sends the 48-byte public buffer back (the SEVered target)
 *   '1' / '2'  stores "VERSION-1" / "VERSION-2" in the versioned record; 'r' sends it back
 *   't'  touches the page after the read-only page (a nested page fault next to it)
 *   'w'  writes to the read-only page, then sends "W-OK" (a fault stops it first when the
 *        page is read-only)
 *   'x'  writes "X" into the echo buffer, then sends "X-OK"
 *   'a'  reads a 64-byte nonce, asks the PSP for an attestation report over it and sends
 *        the report (u32 length, then the bytes), or "A-ERR" and the PSP status
 *   'z'  zeroes the 16-byte bit slot (a public value: the reference the attacker compares with)
 *   'b'  stores the next bit of the secret's key (the characters after "k3y=") into the bit
 *        slot as a 16-byte block holding 0 or 1: a secret-dependent value stored again and
 *        again at one address, as a context switch saves registers (the CipherLeaks target)
 *   'n'  nothing: one more exit on the simulated clock
 * Exit status 0. */
#include "cvm.h"

#define SECRET_GPA 0x2000000UL   /* 32 MiB */
#define ECHO_GPA 0x3000000UL     /* 48 MiB */
#define RECORD_GPA 0x4000000UL   /* 64 MiB */
#define READONLY_GPA 0x5000000UL /* 80 MiB: the host maps it read-only before the run */
#define BIT_SLOT_GPA 0x6000000UL /* 96 MiB */
#define KEY_OFFSET 18            /* kSecret[18..]: the key's characters */
#define ECHO_BYTES 48
#define REPORT_MAX 1024

static const char kSecret[ECHO_BYTES] = "TENANT-SECRET:k3y=5f2b9c0d41e8a7763b1c";
static const char kPublic[ECHO_BYTES] = "public echo buffer: nothing to see here....";

static void put_text(volatile u8* dst, const char* text, usize n) {
  for (usize i = 0; i < n; ++i) dst[i] = (u8)text[i];
}

static void send(const volatile u8* src, usize n) {
  for (usize i = 0; i < n; ++i) cvm_out8(CVM_HOST_DATA_PORT, src[i]);
}

static void attest(void) {
  u8 nonce[64];
  memset(nonce, 0, sizeof nonce);
  cvm_host_read(nonce, sizeof nonce);
  static u8 report[REPORT_MAX];
  u32 length = sizeof report;
  const u32 status = cvm_attest(nonce, report, &length);
  if (status != CVM_OK) {
    cvm_host_write("A-ERR", 5);
    cvm_host_write(&status, 4);
    return;
  }
  cvm_host_write(&length, 4);
  cvm_host_write(report, length);
}

/* The bit goes in the slot's first 16-byte block, the rest of the block stays zero: equal
 * bits give equal plaintext blocks at the same address. */
static void store_bit(usize index) {
  volatile u64* slot = (volatile u64*)BIT_SLOT_GPA;
  slot[0] = ((u8)kSecret[KEY_OFFSET + index / 8] >> (index % 8)) & 1;
  slot[1] = 0;
}

int main(void) {
  usize next_bit = 0;
  put_text((volatile u8*)SECRET_GPA, kSecret, ECHO_BYTES);
  put_text((volatile u8*)ECHO_GPA, kPublic, ECHO_BYTES);
  for (;;) {
    u8 command = 0;
    if (cvm_host_read(&command, 1) != 1) break;
    switch (command) {
      case 'e':
        send((const volatile u8*)ECHO_GPA, ECHO_BYTES);
        break;
      case '1':
        put_text((volatile u8*)RECORD_GPA, "VERSION-1", 10);
        break;
      case '2':
        put_text((volatile u8*)RECORD_GPA, "VERSION-2", 10);
        break;
      case 'r':
        send((const volatile u8*)RECORD_GPA, 10);
        break;
      case 't':
        (void)*(volatile u8*)(READONLY_GPA + 0x1000);
        break;
      case 'w':
        *(volatile u8*)READONLY_GPA = 0x5a;
        cvm_host_write("W-OK", 4);
        break;
      case 'x':
        *(volatile u8*)ECHO_GPA = 'X';
        cvm_host_write("X-OK", 4);
        break;
      case 'a':
        attest();
        break;
      case 'z':
        ((volatile u64*)BIT_SLOT_GPA)[0] = 0;
        ((volatile u64*)BIT_SLOT_GPA)[1] = 0;
        break;
      case 'b':
        if (next_bit < 8 * (ECHO_BYTES - KEY_OFFSET)) store_bit(next_bit++);
        break;
      default:
        break;
    }
  }
  return 0;
}
