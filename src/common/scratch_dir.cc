#include "common/scratch_dir.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "common/common_error.h"

namespace cvmsim {

ScratchDir::ScratchDir(std::string_view prefix, const std::filesystem::path& parent) {
  const std::filesystem::path base =
      parent.empty() ? std::filesystem::temp_directory_path() : parent;
  std::string tmpl = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw CommonError(CommonErrc::io,
                      "cannot create a directory like " + tmpl + ": " + std::strerror(errno));
  }
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  if (!keep_) std::filesystem::remove_all(path_, ignored);
}

}  // namespace cvmsim
