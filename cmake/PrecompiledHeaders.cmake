# Precompiled headers for the project's libraries and programs.
#
# Why: nearly every translation unit reaches nlohmann-json through trace/trace.h, the CLI's
# files all include CLI11, and both are large header-only libraries. Parsing them again
# in each file was most of the compile time of a fresh `make demo` (docs/benchmarks.md,
# "Build time"). One precompiled header per target holds only third-party and standard
# headers, so editing a project header never rebuilds a precompiled header.
#
# CVMSIM_PCH=OFF turns them off, for tools that cannot read GCC's .gch files (clang-tidy
# reads compile_commands.json: `make tidy` configures its own build without them).
option(CVMSIM_PCH "Use precompiled headers for third-party and standard headers" ON)

set(CVMSIM_PCH_COMMON
  <algorithm> <array> <cstdint> <filesystem> <functional> <map> <memory> <optional>
  <span> <string> <string_view> <unordered_map> <variant> <vector>
  <fmt/format.h> <nlohmann/json.hpp>)

# cvmsim_precompile(target [extra headers...]): the common set plus the target's own.
function(cvmsim_precompile target)
  if(CVMSIM_PCH)
    target_precompile_headers(${target} PRIVATE ${CVMSIM_PCH_COMMON} ${ARGN})
  endif()
endfunction()
