#include "common/bytes.h"

#include <openssl/crypto.h>

namespace cvmsim {

bool equal_constant_time(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void secure_wipe(MutableByteView bytes) {
  OPENSSL_cleanse(bytes.data(), bytes.size());
}

}  // namespace cvmsim
