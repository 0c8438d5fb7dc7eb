// Host-side recomputations of what the guest programs print (guest/programs/*.c).
#pragma once

#include <cstdint>

namespace cvmsim::test {

// memwalk's mixing function and the checksum of its dense 4 MiB region.
constexpr std::uint64_t memwalk_mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

constexpr std::uint64_t memwalk_checksum() {
  std::uint64_t sum = 0;
  for (std::uint64_t page = 0; page < 1024; ++page) {
    for (std::uint64_t w = 0; w < 512; w += 64) sum += memwalk_mix(page * 512 + w) ^ w;
  }
  return sum;
}

}  // namespace cvmsim::test
