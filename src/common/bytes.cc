#include "common/bytes.h"

#include <openssl/crypto.h>

#include <algorithm>

namespace cvmsim {

bool equal_constant_time(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool contains(ByteView haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

bool all_zero(ByteView bytes) {
  std::uint8_t any = 0;
  for (const std::uint8_t b : bytes) any |= b;
  return any == 0;
}

void secure_wipe(MutableByteView bytes) {
  OPENSSL_cleanse(bytes.data(), bytes.size());
}

}  // namespace cvmsim
