// The platform event trace (docs/formats.md, "Event trace"): what happened, in simulated
// time, and who did it. The platform owns one Recorder while tracing is on; hardware
// models, the PSP and the VMM add events through it. Nothing here reads a host clock:
// timestamps come from the platform's SimClock, so the same run gives the same trace.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/sim_clock.h"

namespace cvmsim::trace {

// The lanes of the sequence diagram: every event has one actor, and a message has a target.
enum class Actor : std::uint8_t {
  provider,           // the provider's host tools (pack, sign-reference)
  tenant,             // the tenant's tools (nonce, verify)
  vmm,                // the untrusted hypervisor
  guest,              // code running in a VM
  psp,                // the PSP firmware
  disk_controller,    // disk controller + crypto coprocessor
  memory_controller,  // memory controller + encryption engine
};
inline constexpr std::size_t kActorCount = 7;
std::string_view to_string(Actor actor);
std::optional<Actor> actor_from_string(std::string_view name);

struct Event {
  std::uint64_t seq = 0;     // position in the run, from 0 (set by the recorder)
  std::uint64_t sim_ns = 0;  // simulated time (set by the recorder from the clock)
  Actor actor = Actor::vmm;
  std::optional<Actor> target{};  // a message from actor to target; none: a local event
  std::string name;               // "NPT_MAP", "nested_page_fault", "dma", ...
  std::string category;           // "psp_command", "secure_call", "npt", "disk", ...
  std::uint32_t vm = 0;           // VM handle (0: the platform)
  std::uint32_t asid = 0;         // the VM's ASID when known
  nlohmann::json args = nlohmann::json::object();  // details: status, gpa, pages, ...

  bool operator==(const Event&) const = default;
};

// Event categories the platform records (a closed list; docs/formats.md).
namespace category {
inline constexpr char psp_command[] = "psp_command";  // mailbox command + status
inline constexpr char secure_call[] = "secure_call";  // guest -> PSP call + status
inline constexpr char npt[] = "npt";                  // nested page fault
inline constexpr char disk[] = "disk";                // keyslot, DMA transfer
inline constexpr char interrupt[] = "interrupt";      // completion raised/injected
inline constexpr char timer[] = "timer";              // periodic NPT check
inline constexpr char vm[] = "vm";                    // launch, run end, stop
inline constexpr char tool[] = "tool";                // provider/tenant host tools
}  // namespace category

// One recorder may outlive several platforms (the demo boots a VM several times, the attack
// catalogue builds a platform per run): each platform attaches its clock while it exists,
// and its time continues from the last recorded event, so one trace is one timeline.
class Recorder {
 public:
  Recorder() = default;
  explicit Recorder(const SimClock& clock) { attach(clock); }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void attach(const SimClock& clock);
  // Events recorded while no clock is attached (the host tools') keep the last time.
  void detach();
  // Stamps the event with the next sequence number and the simulated time, and keeps it.
  void record(Event event);
  // An event already recorded, to complete: a command is recorded when it arrives, so that
  // what it causes follows it, and gets its status when it completes. Null: no such event.
  Event* amend(std::uint64_t seq) { return seq < events_.size() ? &events_[seq] : nullptr; }
  [[nodiscard]] const std::vector<Event>& events() const noexcept { return events_; }
  [[nodiscard]] std::uint64_t now_ns() const noexcept;

 private:
  const SimClock* clock_ = nullptr;
  std::uint64_t base_ns_ = 0;  // the trace's time when the attached clock read zero
  std::uint64_t last_ns_ = 0;
  std::vector<Event> events_;
};

// Chrome Trace Event JSON (Perfetto UI and chrome://tracing open it). Every event is in
// one process, this one; each actor is a thread of it.
inline constexpr int kTraceProcessId = 1;
nlohmann::json to_chrome_json(const std::vector<Event>& events);
// Atomically writes the trace; throws CommonError{io} naming the path.
void write_trace(const std::filesystem::path& path, const std::vector<Event>& events);

}  // namespace cvmsim::trace
