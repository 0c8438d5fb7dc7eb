#include "sample_trace.h"

#include "common/sim_clock.h"

namespace cvmsim::test {

std::vector<trace::Event> sample_events(int npt_maps) {
  using trace::Actor;
  namespace category = trace::category;
  SimClock clock;
  trace::Recorder rec(clock);
  auto add = [&](Actor actor, std::optional<Actor> target, std::string name, std::string_view cat,
                 std::uint32_t vm, std::uint32_t asid, nlohmann::json args) {
    rec.record({.actor = actor,
                .target = target,
                .name = std::move(name),
                .category = std::string(cat),
                .vm = vm,
                .asid = asid,
                .args = std::move(args)});
    clock.advance_ns(1'500);
  };
  add(Actor::provider, std::nullopt, "pack", category::tool, 0, 0,
      {{"image", "disk.img"}, {"sectors", 2048}});
  add(Actor::vmm, Actor::psp, "LAUNCH_START", category::psp_command, 1, 1,
      {{"status", "success"}, {"policy", 1}});
  for (int i = 0; i < 4; ++i) {
    add(Actor::vmm, Actor::psp, "LAUNCH_UPDATE", category::psp_command, 1, 1,
        {{"status", "success"}, {"gpa", 0x100000 + 0x1000 * i}});
  }
  add(Actor::vmm, Actor::psp, "LAUNCH_FINISH", category::psp_command, 1, 1,
      {{"status", "success"}});
  add(Actor::guest, Actor::vmm, "nested_page_fault", category::npt, 1, 1,
      {{"gpa", 0x200000}, {"access", "write"}});
  for (int i = 0; i < npt_maps; ++i) {
    add(Actor::vmm, Actor::psp, "NPT_MAP", category::psp_command, 1, 1,
        {{"status", "success"}, {"gpa", 0x200000 + 0x10000 * i}, {"pages", 16}});
  }
  add(Actor::guest, Actor::psp, "SECURE_CALL", category::secure_call, 1, 1,
      {{"status", "replayed_request"}, {"call", "DISK_IO"}, {"sequence", 7}});
  add(Actor::psp, Actor::disk_controller, "keyslot_program", category::disk, 1, 1,
      {{"status", "success"}, {"keyslot", 0}});
  add(Actor::disk_controller, Actor::memory_controller, "dma", category::disk, 1, 1,
      {{"lba", 0}, {"sectors", 8}, {"dir", "read"}});
  add(Actor::disk_controller, Actor::vmm, "interrupt", category::interrupt, 1, 1, {{"vector", 33}});
  add(Actor::psp, std::nullopt, "periodic_check", category::timer, 0, 0,
      {{"status", "success"}, {"vms", 2}});
  add(Actor::vmm, Actor::psp, "LAUNCH_START", category::psp_command, 2, 2, {{"status", "success"}});
  add(Actor::vmm, Actor::psp, "NPT_MAP", category::psp_command, 2, 2,
      {{"status", "vm_stopped"}, {"gpa", 0x0}, {"pages", 1}, {"detail", 2}});
  add(Actor::psp, std::nullopt, "vm_stop", category::vm, 2, 2,
      {{"status", "npt_tampered"}, {"reason", "npt_tampered"}});
  add(Actor::tenant, Actor::vmm, "nonce", category::tool, 1, 0,
      {{"note", "a <label> & \"quotes\" 'apostrophes'"}, {"unit", "\u00b5s\t\x01"}});
  return rec.events();
}

}  // namespace cvmsim::test
