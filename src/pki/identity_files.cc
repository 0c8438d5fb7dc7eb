#include "pki/identity_files.h"

#include <fmt/format.h>
#include <fmt/std.h>
#include <unistd.h>

#include "common/common_error.h"
#include "common/file_io.h"
#include "pki/pki_error.h"

namespace cvmsim::pki::detail {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void throw_fs(const fs::path& path, std::string_view action, std::error_code ec) {
  throw CommonError(CommonErrc::io, fmt::format("cannot {} {}: {}", action, path, ec.message()));
}

// `dir` as a path whose last component names the directory itself: "a/b/" and "." have
// none (the empty name and "."), and renaming them in place is impossible.
fs::path directory_name(const fs::path& dir) {
  std::error_code ec;
  fs::path full = fs::absolute(dir, ec).lexically_normal();
  if (ec) throw_fs(dir, "resolve", ec);
  if (!full.has_filename()) full = full.parent_path();  // the trailing slash
  if (!full.has_filename() || full == full.root_path()) {
    throw PkiError(PkiErrc::already_exists,
                   fmt::format("{}: not a directory an identity can be created in", dir));
  }
  return full;
}

}  // namespace

void create_directory_atomically(const fs::path& requested, const std::string& descriptor,
                                 bool force, const std::function<void(const fs::path&)>& fill) {
  const fs::path dir = directory_name(requested);
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) throw_fs(requested, "inspect", ec);
  const bool present = fs::exists(status);
  if (present && !force) {
    throw PkiError(PkiErrc::already_exists,
                   fmt::format("{} already exists; use --force to replace it", requested));
  }
  if (present) {
    // --force replaces an identity of the same kind, never another directory or file.
    const bool same_kind = fs::is_directory(status) && fs::is_regular_file(dir / descriptor, ec);
    if (!same_kind) {
      throw PkiError(PkiErrc::already_exists,
                     fmt::format("{} exists and is not an identity directory of this kind (no "
                                 "{}); --force replaces only those, so it was left as it is",
                                 requested, descriptor));
    }
  }
  const fs::path parent = dir.parent_path();
  const fs::path tmp = parent / fmt::format(".{}.tmp-{}", dir.filename().string(), ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw_fs(tmp, "create", ec);
  try {
    fs::permissions(tmp, fs::perms::owner_all, ec);
    if (ec) throw_fs(tmp, "set permissions of", ec);
    fill(tmp);
    if (present) {
      const fs::path old = parent / fmt::format(".{}.old-{}", dir.filename().string(), ::getpid());
      fs::rename(dir, old, ec);
      if (ec) throw_fs(dir, "move aside", ec);
      fs::rename(tmp, dir, ec);
      if (ec) {
        std::error_code ignored;
        fs::rename(old, dir, ignored);  // put the old identity back
        throw_fs(dir, "move into place", ec);
      }
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, dir, ec);
      if (ec) throw_fs(dir, "move into place", ec);
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
