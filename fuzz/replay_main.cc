// The corpus replayer: a harness built without a fuzzing engine (the normal GCC build) gets
// this main(), which feeds it every file under the paths it is given (seed corpora,
// checked-in corpora, crash reproducers). `make test` runs one replayer per harness, so CI
// guards every input the fuzzers ever kept without needing clang. A harness that breaks a
// property aborts, failing the test and naming the input last printed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::uint8_t> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path root(argv[i]);
    std::error_code ec;
    if (!fs::exists(root, ec)) continue;  // a target without reproducers yet
    std::vector<fs::path> files;
    if (fs::is_regular_file(root, ec)) {
      files.push_back(root);
    } else {
      for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    }
    for (const fs::path& file : files) {
      std::fprintf(stderr, "replaying %s\n", file.c_str());
      const std::vector<std::uint8_t> bytes = read_all(file);
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++inputs;
    }
  }
  std::printf("%zu inputs replayed\n", inputs);
  // A replayer that found nothing guards nothing: the seeds are generated at build time.
  return inputs == 0 ? 1 : 0;
}
