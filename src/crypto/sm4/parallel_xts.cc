#include "crypto/sm4/parallel_xts.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

#include "crypto/crypto_error.h"

namespace cvmsim::crypto {
namespace {

void run(bool encrypting, const XtsCipher& cipher, std::uint64_t first_unit, std::size_t unit_size,
         ByteView in, MutableByteView out, unsigned threads) {
  if (unit_size < 16 || in.size() % unit_size != 0 || out.size() != in.size()) {
    throw CryptoError(CryptoErrc::bad_length,
                      fmt::format("XTS: {} input bytes and {} output bytes are not whole data "
                                  "units of {} bytes (units must be at least 16 bytes)",
                                  in.size(), out.size(), unit_size));
  }
  const auto slice = [&](std::uint64_t first, ByteView slice_in, MutableByteView slice_out) {
    if (encrypting) {
      cipher.encrypt_units(first, unit_size, slice_in, slice_out);
    } else {
      cipher.decrypt_units(first, unit_size, slice_in, slice_out);
    }
  };
  const unsigned count = parallel_xts_threads(in.size(), unit_size, threads);
  if (count <= 1) {
    slice(first_unit, in, out);
    return;
  }
  const std::size_t units = in.size() / unit_size;
  std::vector<std::exception_ptr> errors(count);
  {
    std::vector<std::jthread> workers;
    workers.reserve(count - 1);
    std::size_t start = 0;
    for (unsigned i = 0; i < count; ++i) {
      const std::size_t n = units / count + (i < units % count ? 1 : 0);
      auto job = [&, i, start, n] {
        try {
          slice(first_unit + start, in.subspan(start * unit_size, n * unit_size),
                out.subspan(start * unit_size, n * unit_size));
        } catch (...) {
          errors[i] = std::current_exception();
        }
      };
      // The calling thread takes the last slice instead of idling in join().
      if (i + 1 < count) {
        workers.emplace_back(job);
      } else {
        job();
      }
      start += n;
    }
  }  // the jthreads join here (also when a thread failed to start and we unwind)
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace

unsigned parallel_xts_threads(std::size_t bytes, std::size_t unit_size, unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t units = unit_size == 0 ? 0 : bytes / unit_size;
  const std::size_t useful = std::max<std::size_t>(1, bytes / kParallelMinBytesPerThread);
  return static_cast<unsigned>(std::min({std::size_t{threads}, units, useful}));
}

void parallel_encrypt_units(const XtsCipher& cipher, std::uint64_t first_unit,
                            std::size_t unit_size, ByteView in, MutableByteView out,
                            unsigned threads) {
  run(true, cipher, first_unit, unit_size, in, out, threads);
}

void parallel_decrypt_units(const XtsCipher& cipher, std::uint64_t first_unit,
                            std::size_t unit_size, ByteView in, MutableByteView out,
                            unsigned threads) {
  run(false, cipher, first_unit, unit_size, in, out, threads);
}

}  // namespace cvmsim::crypto
