// Bulk XTS work spread over threads (image packing, full-disk reads): the data is split on
// data-unit boundaries into one contiguous slice per thread, each with its own unit numbers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"
#include "crypto/xts.h"

namespace cvmsim::crypto {

// Below this much data per thread, starting a thread costs more than it saves (a thread
// start is tens of microseconds; 256 KiB of SM4-XTS is about 50 us on one GFNI+AVX-512 core).
inline constexpr std::size_t kParallelMinBytesPerThread = 256 * 1024;

// Same contract as XtsCipher::encrypt_units/decrypt_units (throws CryptoError{bad_length}
// for partial units). `threads` == 0 means std::thread::hardware_concurrency(). The cipher
// must be safe to call concurrently (make_sm4_xts's and the OpenSSL ones are). The first
// exception thrown by a slice is rethrown after every thread has finished.
void parallel_encrypt_units(const XtsCipher& cipher, std::uint64_t first_unit,
                            std::size_t unit_size, ByteView in, MutableByteView out,
                            unsigned threads = 0);
void parallel_decrypt_units(const XtsCipher& cipher, std::uint64_t first_unit,
                            std::size_t unit_size, ByteView in, MutableByteView out,
                            unsigned threads = 0);

// How many threads the functions above use for `bytes` of data (exposed for tests/benches).
unsigned parallel_xts_threads(std::size_t bytes, std::size_t unit_size, unsigned threads);

}  // namespace cvmsim::crypto
