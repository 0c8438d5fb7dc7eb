// Bulk calls are shaped for kernels that are fastest on long runs of blocks: the tweak
// inputs of many units are encrypted in one call, each unit's tweak sequence is expanded
// into a buffer, and the blocks of all those units go through one crypt_blocks call (units
// of whole blocks are contiguous, so this spans unit borders).
#include "crypto/xts_driver.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "crypto/xts_tweak.h"

namespace cvmsim::crypto {
namespace {

using Block = std::array<std::uint8_t, 16>;

// Tweaks expanded per batch: 16 KiB on the stack, four 4 KiB units or 32 sectors. With the
// data it stays in a core's L1/L2 between the passes of a batched implementation.
constexpr std::size_t kBatchBlocks = 1024;
// Units whose tweak inputs are encrypted together.
constexpr std::size_t kMaxBatchUnits = 64;

void crypt_one(const XtsBlockOps& ops, bool encrypting, const Block& tweak, Block& block) {
  ops.crypt_blocks(encrypting, tweak.data(), block.data(), block.data(), 1);
}

// Ciphertext stealing over the last full block (tweak t) and the `tail` bytes after it.
void steal(const XtsBlockOps& ops, bool encrypting, const Block& t, const std::uint8_t* in,
           std::uint8_t* out, std::size_t tail) {
  Block t_next = t;
  multiply_by_alpha(t_next);
  // Encryption uses T_{m-1} then T_m; decryption the opposite order.
  const Block& first = encrypting ? t : t_next;
  const Block& second = encrypting ? t_next : t;
  Block cc{};
  std::memcpy(cc.data(), in, 16);
  crypt_one(ops, encrypting, first, cc);
  Block pp = cc;
  for (std::size_t i = 0; i < tail; ++i) {  // read before write: in == out is allowed
    pp[i] = in[16 + i];
    out[16 + i] = cc[i];
  }
  crypt_one(ops, encrypting, second, pp);
  std::memcpy(out, pp.data(), 16);
}

// One unit of `size` >= 16 bytes starting from the encrypted tweak t0.
void unit_from(const XtsBlockOps& ops, bool encrypting, Block t, const std::uint8_t* in,
               std::uint8_t* out, std::size_t size) {
  const std::size_t tail = size % 16;
  // With stealing, the last full block is handled together with the partial one.
  const std::size_t bulk = size / 16 - (tail == 0 ? 0 : 1);
  alignas(64) std::uint8_t tweaks[16 * kBatchBlocks];
  for (std::size_t done = 0; done < bulk;) {
    const std::size_t n = std::min(kBatchBlocks, bulk - done);
    ops.make_tweaks(t.data(), tweaks, n);
    ops.crypt_blocks(encrypting, tweaks, in + 16 * done, out + 16 * done, n);
    std::memcpy(t.data(), tweaks + 16 * (n - 1), 16);
    multiply_by_alpha(t);
    done += n;
  }
  if (tail != 0) steal(ops, encrypting, t, in + 16 * bulk, out + 16 * bulk, tail);
}

}  // namespace

void xts_crypt_unit(const XtsBlockOps& ops, bool encrypting, const Tweak& tweak,
                    const std::uint8_t* in, std::uint8_t* out, std::size_t size) {
  Block t = tweak;
  ops.encrypt_tweaks(t.data(), 1);
  unit_from(ops, encrypting, t, in, out, size);
}

void xts_crypt_units(const XtsBlockOps& ops, bool encrypting, std::uint64_t first_unit,
                     std::size_t unit_size, const std::uint8_t* in, std::uint8_t* out,
                     std::size_t count) {
  const bool contiguous = unit_size % 16 == 0 && unit_size <= 16 * kBatchBlocks;
  const std::size_t batch_units =
      contiguous ? std::min(kMaxBatchUnits, (16 * kBatchBlocks) / unit_size) : kMaxBatchUnits;
  const std::size_t unit_blocks = unit_size / 16;
  alignas(64) std::uint8_t starts[16 * kMaxBatchUnits];
  alignas(64) std::uint8_t tweaks[16 * kBatchBlocks];
  for (std::size_t done = 0; done < count;) {
    const std::size_t n = std::min(batch_units, count - done);
    for (std::size_t k = 0; k < n; ++k) {
      const Tweak input = plain64_tweak(first_unit + done + k);
      std::memcpy(starts + 16 * k, input.data(), 16);
    }
    ops.encrypt_tweaks(starts, n);
    const std::uint8_t* unit_in = in + done * unit_size;
    std::uint8_t* unit_out = out + done * unit_size;
    if (contiguous) {
      for (std::size_t k = 0; k < n; ++k) {
        ops.make_tweaks(starts + 16 * k, tweaks + 16 * unit_blocks * k, unit_blocks);
      }
      ops.crypt_blocks(encrypting, tweaks, unit_in, unit_out, n * unit_blocks);
    } else {
      for (std::size_t k = 0; k < n; ++k) {
        Block t{};
        std::memcpy(t.data(), starts + 16 * k, 16);
        unit_from(ops, encrypting, t, unit_in + k * unit_size, unit_out + k * unit_size, unit_size);
      }
    }
    done += n;
  }
}

}  // namespace cvmsim::crypto
