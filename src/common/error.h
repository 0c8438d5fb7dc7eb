// The project's error model: every module has one error type with a closed enum of codes.
//
// A module declares `enum class FooErrc`, plus two functions found by ADL:
//   std::string_view error_module_name(FooErrc);   // e.g. "crypto"
//   std::string_view error_code_name(FooErrc);     // e.g. "bad_signature"
// and then `using FooError = ModuleError<FooErrc>;`. Messages name the file, field and the
// expected value so that a user can act on them without a debugger.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace cvmsim {

class Error : public std::runtime_error {
 public:
  Error(std::string_view module, std::string_view code, const std::string& message)
      : std::runtime_error(message), module_(module), code_name_(code) {}

  // "module/code", stable across releases; used in JSON output and tests.
  [[nodiscard]] std::string id() const { return module_ + "/" + code_name_; }
  [[nodiscard]] const std::string& module() const noexcept { return module_; }
  [[nodiscard]] const std::string& code_name() const noexcept { return code_name_; }

 private:
  std::string module_;
  std::string code_name_;
};

template <typename Code>
class ModuleError : public Error {
 public:
  ModuleError(Code code, const std::string& message)
      : Error(error_module_name(code), error_code_name(code), message), code_(code) {}

  [[nodiscard]] Code code() const noexcept { return code_; }

 private:
  Code code_;
};

}  // namespace cvmsim
