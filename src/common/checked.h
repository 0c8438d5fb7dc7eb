// Overflow-checked arithmetic for sizes and addresses that come from outside (files,
// guests, command lines). Every such computation goes through these helpers.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/common_error.h"

namespace cvmsim {

template <typename T>
[[nodiscard]] constexpr std::optional<T> add_checked(T a, T b) {
  T result{};
  if (__builtin_add_overflow(a, b, &result)) return std::nullopt;
  return result;
}

template <typename T>
[[nodiscard]] constexpr std::optional<T> mul_checked(T a, T b) {
  T result{};
  if (__builtin_mul_overflow(a, b, &result)) return std::nullopt;
  return result;
}

// `a` rounded up to a multiple of `alignment` (a power of two); nullopt when that wraps.
template <typename T>
[[nodiscard]] constexpr std::optional<T> round_up_checked(T a, T alignment) {
  const auto sum = add_checked<T>(a, alignment - 1);
  if (!sum) return std::nullopt;
  return *sum & ~(alignment - 1);
}

// Throws CommonError{overflow} naming `what` when a + b wraps.
template <typename T>
[[nodiscard]] T add_or_throw(T a, T b, std::string_view what) {
  if (auto r = add_checked(a, b)) return *r;
  throw CommonError(CommonErrc::overflow, std::string(what) + ": sum overflows");
}

template <typename T>
[[nodiscard]] T mul_or_throw(T a, T b, std::string_view what) {
  if (auto r = mul_checked(a, b)) return *r;
  throw CommonError(CommonErrc::overflow, std::string(what) + ": product overflows");
}

template <typename T>
[[nodiscard]] T round_up_or_throw(T a, T alignment, std::string_view what) {
  if (auto r = round_up_checked(a, alignment)) return *r;
  throw CommonError(CommonErrc::overflow, std::string(what) + ": rounding up overflows");
}

}  // namespace cvmsim
