// Helpers for identity directories: crash-safe creation and the JSON descriptor files.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace cvmsim::pki::detail {

// Runs `fill` on a fresh temporary sibling of `dir`, then moves it into place. With
// `force` an existing `dir` is replaced only after `fill` succeeded, and only when it is
// an identity directory of the same kind (it holds `descriptor`, e.g. "chip.json"): any
// other directory or file is refused, never deleted. Without `force` an existing `dir` is
// refused. `dir` may be spelled with a trailing slash or as `.`. On failure nothing is left
// behind and an old `dir` is untouched. Throws PkiError{already_exists} or CommonError{io}.
void create_directory_atomically(const std::filesystem::path& dir, const std::string& descriptor,
                                 bool force,
                                 const std::function<void(const std::filesystem::path&)>& fill);

// Reads DIR/NAME as a JSON object whose "format" is `format`, naming the file on error.
nlohmann::json read_descriptor(const std::filesystem::path& dir, const std::string& name,
                               const std::string& format);

std::string read_string_field(const nlohmann::json& doc, const std::string& field,
                              const std::filesystem::path& file);

}  // namespace cvmsim::pki::detail
