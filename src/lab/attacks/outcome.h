// What an attack scenario reports for one protection mode (docs/attacks.md): the attack
// succeeded (and what the guest or the host got out of it), was detected (by which check,
// how long after the misbehaviour), or was prevented (by what), plus an honest note where
// a protection cannot cover the attack.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "measure/policy.h"
#include "psp/status.h"

namespace cvmsim::lab::attacks {

enum class OutcomeKind { succeeded, detected, prevented };
std::string_view to_string(OutcomeKind kind);

// The layer that stopped or caught an attack, for tools and tests that must not read the
// prose of Outcome::by.
enum class Layer : std::uint8_t {
  none,                // nothing stood in the way (the attack succeeded)
  psp_command,         // a PSP command or secure call refused it (Outcome::status: how)
  psp_periodic_check,  // the PSP timer's NPT check stopped the VM
  memory_controller,   // a frame guard in hardware refused the access
  memory_encryption,   // per-VM keys: what the attacker reached was ciphertext
  signed_parameters,   // the PSP used only what the image certificate signs
  verifier,            // the tenant's report verification failed
  guest,               // the guest's boot stopped without the attacker's gain
  completion_record,   // the guest acted on the PSP's completion record, not the interrupt
};
std::string_view to_string(Layer layer);

struct Outcome {
  OutcomeKind kind = OutcomeKind::prevented;
  std::string effect;         // what happened, as the guest, the host or the tenant saw it
  std::string by;             // detected / prevented: the check, status code or hardware refusal
  Layer layer = Layer::none;  // detected / prevented: who, as data
  std::optional<psp::Status> status;  // the PSP status that refused or stopped it
  // Detected (also after a success that was detected later): simulated microseconds from
  // the misbehaviour to the detection, and PSP commands the platform executed meanwhile.
  std::optional<std::uint64_t> detected_after_us;
  std::optional<std::uint64_t> detected_after_commands;
  std::string note;  // honest limits of the protection in this mode
};

enum class AttackErrc {
  unknown_scenario,  // no scenario of that name
  inconclusive,      // the scenario could not set up or observe what it needs
};
std::string_view error_module_name(AttackErrc code);
std::string_view error_code_name(AttackErrc code);
using AttackError = ModuleError<AttackErrc>;

}  // namespace cvmsim::lab::attacks
