// The closed list of event categories (trace.h, namespace category) as one array, so the
// reader can refuse unknown ones and the summary can list them in a stable order. A new
// category is added here too, or traces that use it will not read back.
#pragma once

#include <algorithm>
#include <array>
#include <string_view>

#include "trace/trace.h"

namespace cvmsim::trace {

inline constexpr std::array<std::string_view, 8> kCategories = {
    category::psp_command, category::secure_call, category::npt, category::disk,
    category::interrupt,   category::timer,       category::vm,  category::tool};

inline bool is_known_category(std::string_view name) {
  return std::find(kCategories.begin(), kCategories.end(), name) != kCategories.end();
}

}  // namespace cvmsim::trace
