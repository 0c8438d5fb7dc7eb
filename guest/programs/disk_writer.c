/* A kernel payload (started by image_boot) for crash-consistency tests: it writes its
 * free area round after round until the host kills it, and checks after a crash that
 * what the disk holds is a state the writes could have left behind.
 *
 * The free area (after the state block and the files) holds EXTENTS extents of 64 KiB,
 * spread evenly. A round r writes every sector s of every extent with a stamp (magic, r,
 * s, a check word; the sector's last word is r again; the rest a fixed pattern) in a
 * fixed order of 14 requests (whole extents, halves in reverse order, quarters, single
 * sectors), then the state block (magic, r), then flushes, and prints
 * "disk_writer: round r done". The state block is the first 4 KiB of the data area; it
 * holds the last completed round R.
 *
 * One byte from the host channel picks the mode:
 *  'w'  write rounds R+1, R+2, ... without end; any failed call ends the run (exit 40+).
 *  'v'  verify (also the default): every sector of the extents holds round R or R+1 (R+1:
 *       the round a crash may have cut short; round 0 is the packed image's zeros) with its
 *       own sector number, every other sector of the free area is still zero, and in the
 *       order of the writes the requests are: complete at R+1, then at most one partly
 *       done (the one in flight), then still at R. Prints
 *       "disk_writer: consistent, state round R, sectors at R+1: n, requests done: d of N,
 *       torn requests: t" and exits 0, or names the first bad sector and exits 31. A PSP
 *       error status: exit 30. */
#include "cvm.h"

#define STATE_MAGIC 0x54525753534d5643UL /* "CVMSSWRT" */
#define STAMP_MAGIC 0x504d5453534d5643UL /* "CVMSSTMP" */
#define FILL_WORD 0x5a5aa5a55a5aa5a5UL
#define STATE_GPA 0x800000UL   /* the state block (4 KiB) */
#define STAGE_GPA 0x900000UL   /* one request's sectors (up to 64 KiB) */
#define VERIFY_GPA 0x1000000UL /* the whole free area, for verify */
#define VERIFY_MAX (16UL << 20)
#define EXTENTS 8
#define EXTENT_BYTES 0x10000UL
#define MAX_REQUESTS 16

struct state_block {
  u64 magic;
  u64 round;
};

struct request {
  u64 sector; /* first sector, from the start of the data segment */
  u32 count;  /* sectors */
};

static struct request plan[MAX_REQUESTS];
static u32 plan_size;

static void add(u64 sector, u32 count) {
  plan[plan_size].sector = sector;
  plan[plan_size].count = count;
  ++plan_size;
}

/* The requests of one round, in the order they are written: whole extents, halves in
 * reverse order, quarters, single sectors. */
static void make_plan(u64 first, u64 stride, u32 ss) {
  const u32 spe = (u32)(EXTENT_BYTES / ss); /* sectors per extent */
  plan_size = 0;
  for (u32 e = 0; e < 4; ++e) add(first + e * stride, spe);
  add(first + 4 * stride + spe / 2, spe / 2);
  add(first + 4 * stride, spe / 2);
  for (u32 q = 0; q < 4; ++q) add(first + 5 * stride + q * (spe / 4), spe / 4);
  add(first + 6 * stride, 1);
  add(first + 6 * stride + 1, 1);
  add(first + 6 * stride + 2, spe - 2);
  add(first + 7 * stride, spe);
}

static u64 check_word(u64 round, u64 sector) {
  return (round * 0x9e3779b97f4a7c15UL) ^ sector ^ STAMP_MAGIC;
}

static void stamp(u8* p, u32 ss, u64 round, u64 sector) {
  u64* w = (u64*)p;
  w[0] = STAMP_MAGIC;
  w[1] = round;
  w[2] = sector;
  w[3] = check_word(round, sector);
  w[ss / 8 - 1] = round;
}

/* The round a sector holds, or ~0 when it is neither a stamp of this sector nor zeros. */
static u64 round_of(const u8* p, u32 ss, u64 sector) {
  const u64* w = (const u64*)p;
  const u64 last = w[ss / 8 - 1];
  if (w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0 && last == 0 && w[4] == 0) return 0;
  if (w[0] != STAMP_MAGIC || w[2] != sector || w[3] != check_word(w[1], sector) || last != w[1] ||
      w[4] != FILL_WORD || w[1] == 0) {
    return ~0UL;
  }
  return w[1];
}

static int bad_sector(u64 sector, const u8* p, const char* why) {
  const u64* w = (const u64*)p;
  cvm_printf("disk_writer: INCONSISTENT sector %lu (%s): words %lx %lu %lu %lx\n", sector, why,
             w[0], w[1], w[2], w[3]);
  return 31;
}

static int write_rounds(u64 state_sector, u32 ss, u64 round) {
  struct state_block* state = (struct state_block*)STATE_GPA;
  u8* stage = (u8*)STAGE_GPA;
  for (u64 i = 0; i < EXTENT_BYTES / 8; ++i) ((u64*)stage)[i] = FILL_WORD;
  cvm_printf("disk_writer: writing from round %lu (%u requests a round)\n", round + 1, plan_size);
  for (;;) {
    ++round;
    for (u32 i = 0; i < plan_size; ++i) {
      const struct request* q = &plan[i];
      for (u32 k = 0; k < q->count; ++k) stamp(stage + (u64)k * ss, ss, round, q->sector + k);
      const u32 status = cvm_disk_write(q->sector, stage, q->count * ss);
      if (status != CVM_OK) {
        cvm_printf(
            "disk_writer: round %lu: write of %u sectors at %lu failed: PSP status %u "
            "(detail %u)\n",
            round, q->count, q->sector, status, cvm_last_detail());
        return 41;
      }
    }
    state->magic = STATE_MAGIC;
    state->round = round;
    u32 status = cvm_disk_write(state_sector, state, 4096);
    if (status != CVM_OK) {
      cvm_printf("disk_writer: round %lu: writing the state block failed: PSP status %u\n", round,
                 status);
      return 42;
    }
    status = cvm_disk_flush();
    if (status != CVM_OK) {
      cvm_printf("disk_writer: round %lu: flush failed: PSP status %u\n", round, status);
      return 43;
    }
    cvm_printf("disk_writer: round %lu done\n", round);
  }
}

static int verify(u64 free_first, u64 free_sectors, u32 ss, u64 round) {
  u8* area = (u8*)VERIFY_GPA;
  const u64 bytes = free_sectors * ss;
  if (bytes > VERIFY_MAX) {
    cvm_printf("disk_writer: free area of %lu bytes is too large to verify\n", bytes);
    return 30;
  }
  for (u64 done = 0; done < bytes;) {
    u64 n = bytes - done;
    if (n > CVM_DISK_MAX_BYTES) n = CVM_DISK_MAX_BYTES;
    const u32 status = cvm_disk_read(free_first + done / ss, area + done, (u32)n, 0);
    if (status != CVM_OK) {
      cvm_printf("disk_writer: reading sector %lu failed: PSP status %u (detail %u)\n",
                 free_first + done / ss, status, cvm_last_detail());
      return 30;
    }
    done += n;
  }
  /* Every sector outside the extents is zero: the writes stay where they belong. */
  for (u64 s = 0; s < free_sectors; ++s) {
    int written = 0;
    for (u32 i = 0; i < plan_size && !written; ++i) {
      written = free_first + s >= plan[i].sector && free_first + s < plan[i].sector + plan[i].count;
    }
    if (!written && round_of(area + s * ss, ss, free_first + s) != 0) {
      return bad_sector(free_first + s, area + s * ss, "outside the extents, not zero");
    }
  }
  /* In write order: requests complete at R+1, at most one torn, then requests at R. */
  u64 at_next = 0;
  u32 done_requests = 0, torn = 0;
  int old_seen = 0;
  for (u32 i = 0; i < plan_size; ++i) {
    u32 next = 0;
    for (u32 k = 0; k < plan[i].count; ++k) {
      const u64 sector = plan[i].sector + k;
      const u8* p = area + (sector - free_first) * ss;
      const u64 r = round_of(p, ss, sector);
      if (r == ~0UL) return bad_sector(sector, p, "not a stamp of this sector");
      if (r == round + 1) {
        ++next;
      } else if (r != round) {
        return bad_sector(sector, p, "neither the state's round nor the next");
      }
    }
    at_next += next;
    if (next == plan[i].count) {
      if (old_seen) {
        return bad_sector(plan[i].sector, area + (plan[i].sector - free_first) * ss,
                          "a request done after one that was not");
      }
      ++done_requests;
    } else {
      if (next != 0) {
        if (old_seen) {
          return bad_sector(plan[i].sector, area + (plan[i].sector - free_first) * ss,
                            "a second request in flight");
        }
        ++torn;
      }
      old_seen = 1;
    }
  }
  cvm_printf(
      "disk_writer: consistent, state round %lu, sectors at %lu: %lu, requests done: %u of "
      "%u, torn requests: %u\n",
      round, round + 1, at_next, done_requests, plan_size, torn);
  return 0;
}

int main(const struct cvm_boot_info* boot) {
  const struct cvm_boot_header* volume = boot->volume;
  const u32 ss = boot->sector_size;
  const u64 data_start = volume->data_offset;
  const u64 data_end = volume->data_offset + volume->data_size;
  u64 free_start = data_start + 4096; /* after the state block */
  for (u32 i = 0; i < volume->file_count && i < CVM_BOOT_MAX_FILES; ++i) {
    const u64 end = (volume->files[i].offset + volume->files[i].size + 4095) & ~4095UL;
    if (end > free_start) free_start = end;
  }
  const u64 free_bytes = data_end > free_start ? data_end - free_start : 0;
  const u64 stride = free_bytes / EXTENTS / 4096 * 4096;
  if (ss < 512 || ss > 4096 || stride < EXTENT_BYTES) {
    cvm_printf(
        "disk_writer: needs %lu bytes of free area (has %lu) and sectors of 512..4096 "
        "bytes\n",
        EXTENTS * EXTENT_BYTES, free_bytes);
    return 30;
  }
  make_plan(free_start / ss, stride / ss, ss);

  struct state_block* state = (struct state_block*)STATE_GPA;
  const u64 state_sector = data_start / ss;
  u32 status = cvm_disk_read(state_sector, state, 4096, 0);
  if (status != CVM_OK) {
    cvm_printf("disk_writer: reading the state block failed: PSP status %u (detail %u)\n", status,
               cvm_last_detail());
    return 30;
  }
  u64 round = 0;
  if (state->magic == STATE_MAGIC) {
    round = state->round;
  } else if (state->magic != 0 || state->round != 0) {
    cvm_printf("disk_writer: INCONSISTENT state block %lx %lu\n", state->magic, state->round);
    return 31;
  }

  u8 mode = 'v';
  (void)cvm_host_read(&mode, 1);
  if (mode == 'w') return write_rounds(state_sector, ss, round);
  return verify(free_start / ss, free_bytes / ss, ss, round);
}
