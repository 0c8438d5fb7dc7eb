// Unicorn's callbacks into the guest CPU, and their registration.
#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <array>
#include <optional>
#include <string>

#include "hw/cpu/fiber.h"
#include "hw/cpu/unicorn_check.h"
#include "hw/cpu/watchdog.h"
#include "hw/cpu/window_tlb.h"
#include "hw/guest_cpu.h"

namespace cvmsim::hw {
namespace {

using cpu::check_uc;

npt::Access access_of(uc_mem_type type) {
  switch (type) {
    case UC_MEM_WRITE_UNMAPPED:
    case UC_MEM_WRITE_PROT:
      return npt::Access::write;
    case UC_MEM_FETCH_UNMAPPED:
    case UC_MEM_FETCH_PROT:
      return npt::Access::execute;
    default:
      return npt::Access::read;
  }
}

}  // namespace

// Unicorn's callbacks. Every one runs on the fiber, inside uc_emu_start; none may throw.
struct GuestCpu::Hooks {
  static bool memory_miss(uc_engine* uc, uc_mem_type type, std::uint64_t address, int size,
                          std::int64_t value, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    const npt::Access access = access_of(type);
    if (type == UC_MEM_READ_PROT || type == UC_MEM_WRITE_PROT || type == UC_MEM_FETCH_PROT) {
      // Unicorn asks on a page's first load or fetch and on every store: the page's
      // recorded rights answer, and a page without them is a miss.
      switch (cpu->tlb_->lookup(address, access)) {
        case cpu::WindowTlb::Hit::direct:
          return true;
        case cpu::WindowTlb::Hit::foreign:
          if (access != npt::Access::write ||
              cpu->store_foreign(address, static_cast<unsigned>(size),
                                 static_cast<std::uint64_t>(value)))
            return true;
          uc_emu_stop(uc);
          return false;
        case cpu::WindowTlb::Hit::miss:
          break;
      }
    }
    if (!cpu->serve_miss(address, access)) {
      uc_emu_stop(uc);
      return false;
    }
    if (access == npt::Access::write &&
        cpu->tlb_->lookup(address, access) == cpu::WindowTlb::Hit::foreign &&
        !cpu->store_foreign(address, static_cast<unsigned>(size),
                            static_cast<std::uint64_t>(value))) {
      uc_emu_stop(uc);
      return false;
    }
    return true;
  }

  static void out(uc_engine* uc, std::uint32_t port, int size, std::uint32_t value, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    ++cpu->stats_.io_exits;
    VmExit e = VmExit::of(VmExit::Kind::io_out);
    e.port = static_cast<std::uint16_t>(port);
    e.size = static_cast<std::uint8_t>(size);
    e.value = value;
    if (!cpu->post(std::move(e))) uc_emu_stop(uc);
  }

  static std::uint32_t in(uc_engine* uc, std::uint32_t port, int size, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    ++cpu->stats_.io_exits;
    cpu->in_value_ = 0xffffffff;
    VmExit e = VmExit::of(VmExit::Kind::io_in);
    e.port = static_cast<std::uint16_t>(port);
    e.size = static_cast<std::uint8_t>(size);
    if (!cpu->post(std::move(e))) uc_emu_stop(uc);
    const unsigned bits = 8 * static_cast<unsigned>(size);
    return bits >= 32 ? cpu->in_value_ : cpu->in_value_ & ((1u << bits) - 1);
  }

  static void interrupt(uc_engine* uc, std::uint32_t vector, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    VmExit e = VmExit::of(VmExit::Kind::guest_fault);
    e.vector = static_cast<int>(vector);
    e.detail = fmt::format("guest exception vector {}", vector);
    cpu->post_fault(std::move(e));
    uc_emu_stop(uc);  // Unicorn's RIP after an exception hook is unreliable: never go on
  }

  // The start of every translation block: the one place where a stop is exact, and where
  // the block's bytes are charged as guest work (a block stopped here is not charged: it
  // runs, and is charged, when the vCPU resumes).
  static void block(uc_engine* uc, std::uint64_t, std::uint32_t size, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    if (cpu->stop_at_block_ || cpu->code_bytes_ >= cpu->code_bytes_end_ ||
        cpu->host_expired_.load(std::memory_order_relaxed)) {
      cpu->stopped_at_block_ = true;
      uc_emu_stop(uc);
      return;
    }
    cpu->code_bytes_ += size;
  }

  // A translation block was just generated (Unicorn calls this for every new block but the
  // very first of the engine's life, which serve_miss notes: it follows a fetch miss).
  // Noting code here, at translation, costs nothing per executed block.
  static void translated(uc_engine*, uc_tb* block, uc_tb*, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    cpu->tlb_->note_code(block->pc, block->size);
  }

  static void instruction(uc_engine* uc, std::uint64_t, std::uint32_t, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    if (++cpu->stats_.instructions == cpu->instruction_budget_end_) {
      cpu->instruction_budget_hit_ = true;
      uc_emu_stop(uc);
    }
  }
};

GuestCpu::GuestCpu(MemoryController& mc, const VcpuBinding& binding, CpuOptions options)
    : mc_(mc), binding_(binding), options_(options) {
  check_uc(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "open");
  tlb_ = std::make_unique<cpu::WindowTlb>(uc_, mc_, binding_);
  uc_hook hook{};
  // Unicorn takes its callbacks as void*; the casts are its documented calling convention.
  check_uc(uc_hook_add(uc_, &hook, UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT,
                       reinterpret_cast<void*>(&Hooks::memory_miss), this, 1, 0),
           "memory hook");
  check_uc(uc_hook_add(uc_, &hook, UC_HOOK_INSN, reinterpret_cast<void*>(&Hooks::out), this, 1, 0,
                       UC_X86_INS_OUT),
           "out hook");
  check_uc(uc_hook_add(uc_, &hook, UC_HOOK_INSN, reinterpret_cast<void*>(&Hooks::in), this, 1, 0,
                       UC_X86_INS_IN),
           "in hook");
  check_uc(
      uc_hook_add(uc_, &hook, UC_HOOK_INTR, reinterpret_cast<void*>(&Hooks::interrupt), this, 1, 0),
      "interrupt hook");
  check_uc(
      uc_hook_add(uc_, &hook, UC_HOOK_BLOCK, reinterpret_cast<void*>(&Hooks::block), this, 1, 0),
      "block hook");
  check_uc(uc_hook_add(uc_, &hook, UC_HOOK_EDGE_GENERATED,
                       reinterpret_cast<void*>(&Hooks::translated), this, 1, 0),
           "translation hook");
  if (options_.count_instructions) {
    check_uc(uc_hook_add(uc_, &hook, UC_HOOK_CODE, reinterpret_cast<void*>(&Hooks::instruction),
                         this, 1, 0),
             "instruction hook");
  }
  write_observer_ = mc_.add_write_observer(
      [this](std::uint64_t hpa, std::uint64_t length) { tlb_->note_external_write(hpa, length); });
  tag_observer_ = mc_.add_tag_observer(
      [this](std::uint64_t hpa, std::uint64_t length) { tlb_->note_retag(hpa, length); });
  fiber_ = std::make_unique<cpu::Fiber>([this] { fiber_main(); });
  watchdog_ = std::make_unique<cpu::Watchdog>([this] { host_expired_ = true; });
  tracker_id_ = binding_.tlb_tracker()->attach();
}

}  // namespace cvmsim::hw
