#include "pki/identity_files.h"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include "common/file_io.h"
#include "pki/pki_error.h"

namespace cvmsim::pki::detail {

void create_directory_atomically(const std::filesystem::path& dir, bool force,
                                 const std::function<void(const std::filesystem::path&)>& fill) {
  namespace fs = std::filesystem;
  if (fs::exists(dir) && !force) {
    throw PkiError(PkiErrc::already_exists,
                   fmt::format("{} already exists; use --force to replace it", dir));
  }
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  const fs::path tmp =
      parent / fmt::format(".{}.tmp-{}", dir.filename().string(), ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  fs::permissions(tmp, fs::perms::owner_all);
  try {
    fill(tmp);
    if (fs::exists(dir)) {
      const fs::path old = parent / fmt::format(".{}.old-{}", dir.filename().string(), ::getpid());
      fs::rename(dir, old);
      fs::rename(tmp, dir);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, dir);
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

nlohmann::json read_descriptor(const std::filesystem::path& dir, const std::string& name,
                               const std::string& format) {
  const auto file = dir / name;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(read_text_file(file, 1 << 16));
  } catch (const nlohmann::json::exception& e) {
    throw PkiError(PkiErrc::bad_identity, fmt::format("{}: not valid JSON: {}", file, e.what()));
  }
  if (!doc.is_object() || read_string_field(doc, "format", file) != format) {
    throw PkiError(PkiErrc::bad_identity,
                   fmt::format("{}: \"format\" must be \"{}\"", file, format));
  }
  if (!doc.contains("version") || doc["version"] != 1) {
    throw PkiError(PkiErrc::bad_identity, fmt::format("{}: \"version\" must be 1", file));
  }
  return doc;
}

std::string read_string_field(const nlohmann::json& doc, const std::string& field,
                              const std::filesystem::path& file) {
  if (!doc.contains(field) || !doc[field].is_string()) {
    throw PkiError(PkiErrc::bad_identity,
                   fmt::format("{}: missing string field \"{}\"", file, field));
  }
  return doc[field].get<std::string>();
}

}  // namespace cvmsim::pki::detail
