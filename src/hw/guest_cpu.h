// The guest CPU: Unicorn 2 running x86-64 code in 64-bit mode, with our nested page
// tables and memory controller behind every access.
//
// Route chosen (docs/architecture.md, "Guest memory path"): no guest paging; Unicorn's
// mapped regions act as the TLB. A guest access to an unmapped GPA walks the NPT in
// memory; a present translation to a frame the access may use directly becomes a region
// mapped onto the frame's plaintext (uc_mem_map_ptr, so ordinary loads and stores run at
// full speed with no hooks); any other frame (another VM's, a guarded one) is mapped as
// MMIO whose every access goes through the memory controller, so the guest sees what the
// hardware would show (garbage for foreign frames, refusals for guarded ones). A missing
// translation is a nested page fault exit. flush_tlb() drops all regions: like a hardware
// TLB, stale regions survive NPT edits until the VMM or PSP flushes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hw/memory_controller.h"
#include "hw/npt.h"

struct uc_struct;

namespace cvmsim::hw {

// The guest ABI's I/O ports (docs/formats.md, "Guest ABI").
inline constexpr std::uint16_t kConsolePort = 0x3f8;    // OUT al: one console byte
inline constexpr std::uint16_t kSecureCallPort = 0xca0; // OUT eax: GPA of a request page
inline constexpr std::uint16_t kExitPort = 0x501;       // OUT eax: exit status, then HLT

struct VmExit {
  enum class Kind { halt, io_out, nested_page_fault, guest_fault, time_limit };
  Kind kind = Kind::halt;
  std::uint16_t port = 0;   // io_out
  std::uint32_t value = 0;  // io_out
  npt::Fault fault;         // nested_page_fault
  std::string detail;       // guest_fault: what went wrong
};

std::string_view to_string(VmExit::Kind kind);

struct CpuStats {
  std::uint64_t exits = 0;
  std::uint64_t nested_page_faults = 0;
  std::uint64_t regions_mapped = 0;
  std::uint64_t mmio_regions_mapped = 0;
  std::uint64_t tlb_flushes = 0;
};

class GuestCpu {
 public:
  // `asid` is the key slot of the VM's private memory (0 when memory encryption is off).
  GuestCpu(MemoryController& mc, std::uint32_t asid, std::uint64_t npt_root);
  GuestCpu(const GuestCpu&) = delete;
  GuestCpu& operator=(const GuestCpu&) = delete;
  ~GuestCpu();

  void set_entry(std::uint64_t rip, std::uint64_t rsp, std::uint64_t rflags);
  // Runs until the next VM exit, or until `limit` of wall-clock time passes (a safety net
  // against runaway guests).
  VmExit run(std::chrono::milliseconds limit = std::chrono::seconds(60));
  void flush_tlb();

  [[nodiscard]] std::uint64_t rip() const;
  [[nodiscard]] std::uint64_t reg(int unicorn_reg) const;
  [[nodiscard]] const CpuStats& stats() const noexcept { return stats_; }
  [[nodiscard]] std::uint32_t asid() const noexcept { return asid_; }

  // User data of one MMIO page's Unicorn callbacks.
  struct MmioPage {
    GuestCpu* cpu;
    std::uint64_t gpa;
  };

  // Called from Unicorn's hooks (C callbacks); not for other users.
  bool on_unmapped(int type, std::uint64_t address);
  void on_out(std::uint32_t port, int size, std::uint32_t value);
  std::uint64_t mmio_read(std::uint64_t gpa, unsigned size);
  void mmio_write(std::uint64_t gpa, unsigned size, std::uint64_t value);

 private:
  struct Region {
    std::uint64_t gpa;
    std::uint64_t size;
  };
  struct MmioBacking {
    std::uint64_t frame;
    Requester who;
    std::unique_ptr<MmioPage> page;  // what Unicorn's MMIO callbacks point at
  };
  bool map_for(std::uint64_t gpa, npt::Access access);
  [[nodiscard]] bool is_mapped(std::uint64_t gpa) const;
  void unmap_all();

  MemoryController& mc_;
  std::uint32_t asid_;
  std::uint64_t npt_root_;
  uc_struct* uc_ = nullptr;
  std::vector<Region> regions_;
  std::map<std::uint64_t, MmioBacking> mmio_pages_;
  bool exit_pending_ = false;
  VmExit exit_;
  CpuStats stats_;
};

}  // namespace cvmsim::hw
