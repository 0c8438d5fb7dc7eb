// What the PSP writes into the platform's event trace: each mailbox command with its
// status, each secure call's outcome, VM stops and periodic checks. Only values the
// simulation derives deterministically go in (no keys, no signatures, no host paths), so
// two runs of the same inputs give the same trace.
#include <fmt/format.h>

#include "common/hex.h"
#include "psp/psp.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

// The arguments of a command worth seeing in a sequence diagram.
nlohmann::json command_args(const Command& command) {
  return std::visit(
      [](const auto& c) -> nlohmann::json {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, LaunchStart>) {
          return {{"policy", fmt::format("{:#x}", c.policy)}, {"npt_root", c.npt_root_hpa}};
        } else if constexpr (std::is_same_v<T, LaunchUpdate>) {
          return {{"gpa", c.gpa}, {"hpa", c.hpa}, {"type", static_cast<int>(c.type)}};
        } else if constexpr (std::is_same_v<T, NptDonate>) {
          return {{"frames", c.frames.size()}};
        } else if constexpr (std::is_same_v<T, NptMap>) {
          return {{"gpa", c.gpa}, {"hpa", c.hpa}, {"pages", c.pages}};
        } else if constexpr (std::is_same_v<T, NptUnmap>) {
          return {{"gpa", c.gpa}, {"pages", c.pages}};
        } else if constexpr (std::is_same_v<T, DiskAttach>) {
          return {{"port", c.port}};
        } else if constexpr (std::is_same_v<T, SecureCall>) {
          return {{"gpa", c.gpa}};
        } else {
          return nlohmann::json::object();
        }
      },
      command);
}

VmHandle vm_of(const Command& command) {
  return std::visit(
      [](const auto& c) -> VmHandle {
        if constexpr (requires { c.vm; }) {
          return c.vm;
        } else {
          return 0;
        }
      },
      command);
}

}  // namespace

std::optional<std::uint64_t> Psp::trace_command(const Command& command) {
  if (trace_ == nullptr) return std::nullopt;
  const VmHandle vm = vm_of(command);
  const Vm* context = find(vm);
  trace_->record({.actor = trace::Actor::vmm,
                  .target = trace::Actor::psp,
                  .name = std::string(command_name(command)),
                  .category = trace::category::psp_command,
                  .vm = vm,
                  .asid = context != nullptr ? context->key_asid() : 0,
                  .args = command_args(command)});
  return trace_->events().back().seq;
}

void Psp::trace_status(std::optional<std::uint64_t> seq, const Response& response) {
  trace::Event* event = trace_ != nullptr && seq ? trace_->amend(*seq) : nullptr;
  if (event == nullptr) return;
  event->args["status"] = to_string(response.result.status);
  if (!response.ok()) event->args["detail"] = response.result.detail;
  if (const auto* started = std::get_if<LaunchStartInfo>(&response.payload)) {
    event->vm = started->vm;
    event->asid = started->asid;
  }
}

void Psp::trace_secure_call(const Vm& vm, std::string_view call, const Result& result,
                            nlohmann::json args) {
  if (trace_ == nullptr) return;
  args["status"] = to_string(result.status);
  if (!result.ok()) args["detail"] = result.detail;
  trace_->record({.actor = trace::Actor::psp,
                  .target = trace::Actor::guest,
                  .name = std::string(call),
                  .category = trace::category::secure_call,
                  .vm = vm.handle,
                  .asid = vm.key_asid(),
                  .args = std::move(args)});
}

void Psp::trace_stop(const Vm& vm) {
  if (trace_ == nullptr) return;
  trace_->record({.actor = trace::Actor::psp,
                  .target = trace::Actor::vmm,
                  .name = "vm_stop",
                  .category = trace::category::vm,
                  .vm = vm.handle,
                  .asid = vm.key_asid(),
                  .args = {{"reason", to_string(vm.stop_reason)}}});
}

void Psp::trace_periodic_check(std::uint64_t ticks, std::size_t vms_checked,
                               const std::vector<VmHandle>& stopped) {
  if (trace_ == nullptr) return;
  trace_->record({.actor = trace::Actor::psp,
                  .target = std::nullopt,
                  .name = "periodic_check",
                  .category = trace::category::timer,
                  .args = {{"ticks", ticks}, {"vms_checked", vms_checked}, {"stopped", stopped}}});
}

}  // namespace cvmsim::psp
