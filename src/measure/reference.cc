#include "measure/reference.h"

#include <fmt/format.h>

#include "common/binary.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "measure/measure_error.h"

namespace cvmsim::measure {
namespace {

constexpr std::string_view kMagic = "CVMSREF1";
constexpr std::uint16_t kVersion = 1;

}  // namespace

Bytes provider_key_id(const crypto::Key& provider) {
  return crypto::suite(provider.suite()).hash(provider.public_der());
}

Bytes Reference::signed_body() const {
  ByteWriter w;
  w.bytes(as_bytes(kMagic));
  w.u16(kVersion);
  w.u8(static_cast<std::uint8_t>(suite));
  w.zeros(5);
  w.u64(policy.encode());
  w.fixed(launch_digest, kDigestField);
  w.fixed(provider_key_id, kDigestField);
  return w.take();
}

Bytes Reference::encode() const {
  ByteWriter w;
  w.bytes(signed_body());
  w.u16(static_cast<std::uint16_t>(signature.size()));
  w.bytes(signature);
  return w.take();
}

Reference Reference::decode(ByteView data, std::string_view source) {
  if (data.size() > kMaxReferenceSize) {
    throw MeasureError(MeasureErrc::bad_reference,
                       fmt::format("{}: {} bytes is too large for a reference measurement "
                                   "(at most {})",
                                   source, data.size(), kMaxReferenceSize));
  }
  ByteReader r(data, std::string(source));
  const ByteView magic = r.bytes("magic", kMagic.size());
  if (!equal_constant_time(magic, as_bytes(kMagic))) {
    throw MeasureError(MeasureErrc::bad_reference,
                       fmt::format("{}: not a reference measurement (magic is {}, expected "
                                   "\"CVMSREF1\")",
                                   source, to_hex(magic)));
  }
  const std::uint16_t version = r.u16("version");
  if (version != kVersion) {
    throw MeasureError(MeasureErrc::bad_reference,
                       fmt::format("{}: reference version {} is not supported (expected {})",
                                   source, version, kVersion));
  }
  Reference ref;
  ref.suite = crypto::suite_from_byte(r.u8("suite"), source);
  r.expect_zero("reserved", 5);
  ref.policy = Policy::decode(r.u64("policy"), source);
  const std::size_t d = crypto::suite(ref.suite).digest_size();
  ref.launch_digest = to_bytes(r.fixed("launch_digest", kDigestField, d));
  ref.provider_key_id = to_bytes(r.fixed("provider_key_id", kDigestField, d));
  const std::size_t length_at = r.offset();
  const std::uint16_t length = r.u16("signature_length");
  if (length == 0 || length > 256) {
    r.fail_at("signature_length", length_at, fmt::format("is {}, must be 1..256", length));
  }
  ref.signature = to_bytes(r.bytes("signature", length));
  r.expect_end();
  return ref;
}

void Reference::verify(const crypto::Key& provider) const {
  if (provider.suite() != suite) {
    throw MeasureError(MeasureErrc::suite_mismatch,
                       fmt::format("reference is for suite {} but the provider key is {}",
                                   crypto::to_string(suite), crypto::to_string(provider.suite())));
  }
  if (!equal_constant_time(provider_key_id, measure::provider_key_id(provider))) {
    throw MeasureError(MeasureErrc::bad_signature,
                       "reference was signed by a different provider key (key id mismatch)");
  }
  if (!crypto::suite(suite).verify(provider, signed_body(), signature)) {
    throw MeasureError(MeasureErrc::bad_signature,
                       "reference signature does not verify with the provider key");
  }
}

Reference sign_reference(const crypto::Key& provider_private, const Policy& policy,
                         ByteView launch_digest) {
  const crypto::Suite& s = crypto::suite(provider_private.suite());
  if (launch_digest.size() != s.digest_size()) {
    throw MeasureError(MeasureErrc::suite_mismatch,
                       fmt::format("launch digest of {} bytes does not match suite {} ({} bytes)",
                                   launch_digest.size(), s.name(), s.digest_size()));
  }
  Reference ref;
  ref.suite = s.id();
  ref.policy = policy;
  ref.launch_digest = to_bytes(launch_digest);
  ref.provider_key_id = provider_key_id(provider_private);
  ref.signature = s.sign(provider_private, ref.signed_body());
  return ref;
}

}  // namespace cvmsim::measure
