// A fresh directory (mkdtemp) removed with everything in it at scope exit, unless it was
// asked to stay. The demo, the attack scenarios, the benchmarks and the tests use it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace cvmsim {

class ScratchDir {
 public:
  // `<parent or the system temp dir>/<prefix>-XXXXXX`. Throws CommonError{io}.
  explicit ScratchDir(std::string_view prefix = "cvmsim", const std::filesystem::path& parent = {});
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();

  // The directory survives this object (for a user who wants to look at the artifacts).
  void keep() noexcept { keep_ = true; }
  [[nodiscard]] bool kept() const noexcept { return keep_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace cvmsim
