// What every harness asserts about a parser of outside input: it refuses bad bytes with its
// own module's error and nothing else (never a JSON type error, std::out_of_range, a crash
// or a sanitizer report), and what it accepts means what it says (it re-encodes to the same
// bytes, or parses again to the same value). A broken property aborts, which libFuzzer
// reports as a crash and the corpus replayer (replay_main.cc) as a failed test.
#pragma once

#include <cstdio>
#include <cstdlib>

// Not assert(): it must hold in release builds too, where the replayers run in `make test`.
#define FUZZ_CHECK(condition)                                                               \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)

namespace cvmsim::fuzz {

// Runs `parse`; an exception of type `ModuleError` is a refusal and is swallowed, anything
// else propagates (libFuzzer: "deadly signal" via std::terminate).
template <typename ModuleError, typename Parse>
void refuse_only_with(Parse&& parse) {
  try {
    parse();
  } catch (const ModuleError&) {
  }
}

}  // namespace cvmsim::fuzz
