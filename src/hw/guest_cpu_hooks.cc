// Unicorn's callbacks into the guest CPU, and their registration.
#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <array>
#include <optional>
#include <string>

#include "hw/cpu/fiber.h"
#include "hw/cpu/region_map.h"
#include "hw/cpu/unicorn_check.h"
#include "hw/cpu/watchdog.h"
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
  static bool memory_miss(uc_engine* uc, uc_mem_type type, std::uint64_t address, int, std::int64_t,
                          void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    const npt::Access access = access_of(type);
    if (type == UC_MEM_READ_PROT || type == UC_MEM_WRITE_PROT || type == UC_MEM_FETCH_PROT) {
      // In a window Unicorn asks on a page's first access and on every store: the page's
      // recorded rights answer, and a page without them is a miss like any other.
      const std::optional<bool> allowed = cpu->regions_->window_allows(address, access);
      if (allowed.value_or(false)) return true;
      // Elsewhere a permission miss drops the region and re-walks, as hardware does.
      if (!allowed) cpu->regions_->drop(address);
    }
    if (cpu->serve_miss(address, access)) return true;
    uc_emu_stop(uc);
    return false;
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
    cpu->regions_->note_code(block->pc, block->size);
  }

  static void instruction(uc_engine* uc, std::uint64_t, std::uint32_t, void* self) {
    auto* cpu = static_cast<GuestCpu*>(self);
    if (++cpu->stats_.instructions == cpu->instruction_budget_end_) {
      cpu->instruction_budget_hit_ = true;
      uc_emu_stop(uc);
    }
  }

  static std::uint64_t mmio_read(uc_engine* uc, std::uint64_t offset, unsigned size, void* user) {
    const auto* page = static_cast<const cpu::MmioPage*>(user);
    auto* cpu = static_cast<GuestCpu*>(page->owner);
    std::array<std::uint8_t, 8> bytes{};
    // Nothing may unwind through Unicorn's C frames. The fault is posted after the catch
    // block: post_fault() suspends this fiber, which may never resume (the vCPU is then
    // destroyed), and a suspended handler would leak the exception object.
    std::optional<std::string> refused;
    try {
      cpu->mc_.read(page->frame_hpa + offset, {bytes.data(), size}, page->who);
    } catch (const std::exception& e) {
      refused = e.what();
    }
    if (refused) {
      cpu->post_fault(VmExit::of(VmExit::Kind::guest_fault, std::move(*refused)));
      uc_emu_stop(uc);
      return 0;
    }
    std::uint64_t value = 0;
    for (unsigned i = 0; i < size; ++i) value |= std::uint64_t{bytes[i]} << (8 * i);
    return value;
  }

  static void mmio_write(uc_engine* uc, std::uint64_t offset, unsigned size, std::uint64_t value,
                         void* user) {
    const auto* page = static_cast<const cpu::MmioPage*>(user);
    auto* cpu = static_cast<GuestCpu*>(page->owner);
    const std::uint64_t gpa = page->gpa + offset;
    std::uint64_t hpa = page->frame_hpa + offset;
    Requester who = page->who;
    if (!page->writable) {
      // The cached translation is read-only: re-walk for the write (MMIO pages carry no
      // Unicorn protection, so this is the permission check).
      for (;;) {
        const npt::WalkResult w =
            npt::walk(cpu->mc_, cpu->binding_.npt_root(), gpa, npt::Access::write);
        if (w.ok()) {
          hpa = w.translation->hpa;
          who = w.translation->shared ? who.unkeyed() : cpu->binding_.requester();
          break;
        }
        ++cpu->stats_.nested_page_faults;
        VmExit e = VmExit::of(VmExit::Kind::nested_page_fault);
        e.fault = w.fault;
        if (!cpu->post(std::move(e))) {
          uc_emu_stop(uc);
          return;
        }
      }
    }
    std::array<std::uint8_t, 8> bytes{};
    for (unsigned i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
    std::optional<std::string> refused;  // posted after the catch block, as in mmio_read
    try {
      cpu->mc_.write(hpa, {bytes.data(), size}, who);
    } catch (const std::exception& e) {
      refused = e.what();
    }
    if (refused) {
      cpu->post_fault(VmExit::of(VmExit::Kind::guest_fault, std::move(*refused)));
      uc_emu_stop(uc);
    }
  }
};

GuestCpu::GuestCpu(MemoryController& mc, const VcpuBinding& binding, CpuOptions options)
    : mc_(mc), binding_(binding), options_(options) {
  check_uc(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "open");
  regions_ = std::make_unique<cpu::RegionMap>(uc_, mc_, binding_, this, &Hooks::mmio_read,
                                              &Hooks::mmio_write);
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
  write_observer_ = mc_.add_write_observer([this](std::uint64_t hpa, std::uint64_t length) {
    regions_->note_external_write(hpa, length);
  });
  fiber_ = std::make_unique<cpu::Fiber>([this] { fiber_main(); });
  watchdog_ = std::make_unique<cpu::Watchdog>([this] { host_expired_ = true; });
}

}  // namespace cvmsim::hw
