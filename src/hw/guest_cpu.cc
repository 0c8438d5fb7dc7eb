#include "hw/guest_cpu.h"

#include <unicorn/unicorn.h>

#include <fmt/format.h>

#include "hw/hw_error.h"

namespace cvmsim::hw {
namespace {

// Unicorn 2.0.1 asserts at about 4096 mapped regions; stay well below and start over.
constexpr std::size_t kMaxRegions = 2048;
// How far a direct region may grow past the faulting page when the NPT maps the following
// GPAs to the following frames of the same chunk.
constexpr std::uint64_t kMaxRegionPages = 64;

void check_uc(uc_err err, const char* what) {
  if (err != UC_ERR_OK) {
    throw HwError(HwErrc::cpu, fmt::format("unicorn: {}: {}", what, uc_strerror(err)));
  }
}

bool hook_unmapped(uc_engine*, uc_mem_type type, std::uint64_t address, int, std::int64_t,
                   void* self) {
  return static_cast<GuestCpu*>(self)->on_unmapped(static_cast<int>(type), address);
}

void hook_out(uc_engine*, std::uint32_t port, int size, std::uint32_t value, void* self) {
  static_cast<GuestCpu*>(self)->on_out(port, size, value);
}

std::uint64_t hook_mmio_read(uc_engine*, std::uint64_t offset, unsigned size, void* self);
void hook_mmio_write(uc_engine*, std::uint64_t offset, unsigned size, std::uint64_t value,
                     void* self);

npt::Access access_of(int type) {
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

// MMIO callbacks get offsets within their region; each MMIO region is one page whose GPA
// comes with the callback's user data.
using MmioPage = GuestCpu::MmioPage;

std::uint64_t hook_mmio_read(uc_engine*, std::uint64_t offset, unsigned size, void* page) {
  const auto* p = static_cast<MmioPage*>(page);
  return p->cpu->mmio_read(p->gpa + offset, size);
}

void hook_mmio_write(uc_engine*, std::uint64_t offset, unsigned size, std::uint64_t value,
                     void* page) {
  const auto* p = static_cast<MmioPage*>(page);
  p->cpu->mmio_write(p->gpa + offset, size, value);
}

}  // namespace

std::string_view to_string(VmExit::Kind kind) {
  switch (kind) {
    case VmExit::Kind::halt: return "halt";
    case VmExit::Kind::io_out: return "io_out";
    case VmExit::Kind::nested_page_fault: return "nested_page_fault";
    case VmExit::Kind::guest_fault: return "guest_fault";
    case VmExit::Kind::time_limit: return "time_limit";
  }
  return "?";
}

GuestCpu::GuestCpu(MemoryController& mc, std::uint32_t asid, std::uint64_t npt_root)
    : mc_(mc), asid_(asid), npt_root_(npt_root) {
  check_uc(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "open");
  uc_hook hook{};
  check_uc(uc_hook_add(uc_, &hook, UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT,
                       reinterpret_cast<void*>(&hook_unmapped), this, 1, 0),  // NOLINT
           "unmapped hook");
  check_uc(uc_hook_add(uc_, &hook, UC_HOOK_INSN, reinterpret_cast<void*>(&hook_out),  // NOLINT
                       this, 1, 0, UC_X86_INS_OUT),
           "out hook");
}

GuestCpu::~GuestCpu() {
  if (uc_ != nullptr) uc_close(uc_);
}

void GuestCpu::set_entry(std::uint64_t rip, std::uint64_t rsp, std::uint64_t rflags) {
  check_uc(uc_reg_write(uc_, UC_X86_REG_RIP, &rip), "rip");
  check_uc(uc_reg_write(uc_, UC_X86_REG_RSP, &rsp), "rsp");
  check_uc(uc_reg_write(uc_, UC_X86_REG_RFLAGS, &rflags), "rflags");
}

std::uint64_t GuestCpu::reg(int unicorn_reg) const {
  std::uint64_t value = 0;
  uc_reg_read(uc_, unicorn_reg, &value);
  return value;
}

std::uint64_t GuestCpu::rip() const { return reg(UC_X86_REG_RIP); }

VmExit GuestCpu::run(std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (;;) {
    if (regions_.size() >= kMaxRegions) unmap_all();
    exit_pending_ = false;
    exit_ = {};
    const auto used = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(limit) - used;
    if (left.count() <= 0) return {VmExit::Kind::time_limit, 0, 0, {}, "time limit reached"};
    const uc_err err =
        uc_emu_start(uc_, rip(), 0, static_cast<std::uint64_t>(left.count()), 0);
    if (exit_pending_) {
      if (exit_.kind == VmExit::Kind::guest_fault && exit_.detail == "region limit") continue;
      ++stats_.exits;
      if (exit_.kind == VmExit::Kind::nested_page_fault) ++stats_.nested_page_faults;
      return exit_;
    }
    ++stats_.exits;
    if (err != UC_ERR_OK) {
      return {VmExit::Kind::guest_fault, 0, 0, {},
              fmt::format("{} at rip {:#x}", uc_strerror(err), rip())};
    }
    if (Clock::now() - start >= limit) {
      return {VmExit::Kind::time_limit, 0, 0, {}, "time limit reached"};
    }
    return {VmExit::Kind::halt, 0, 0, {}, {}};
  }
}

bool GuestCpu::on_unmapped(int type, std::uint64_t address) {
  const npt::Access access = access_of(type);
  if (type == UC_MEM_WRITE_PROT || type == UC_MEM_FETCH_PROT || type == UC_MEM_READ_PROT) {
    // The page is mapped but the NPT does not allow this access: a permission fault.
    exit_ = {VmExit::Kind::nested_page_fault, 0, 0,
             {address, access, npt::FaultKind::permission, 0}, {}};
    exit_pending_ = true;
    return false;
  }
  if (regions_.size() >= kMaxRegions) {
    exit_ = {VmExit::Kind::guest_fault, 0, 0, {}, "region limit"};
    exit_pending_ = true;
    return false;
  }
  return map_for(address, access);
}

bool GuestCpu::map_for(std::uint64_t gpa, npt::Access access) {
  const npt::WalkResult walk = npt::walk(mc_, npt_root_, gpa, access);
  if (!walk.ok()) {
    exit_ = {VmExit::Kind::nested_page_fault, 0, 0, walk.fault, {}};
    exit_pending_ = true;
    return false;
  }
  const npt::Translation& t = *walk.translation;
  const std::uint64_t gpa_page = gpa & ~std::uint64_t{0xfff};
  const std::uint64_t frame = t.hpa & ~std::uint64_t{0xfff};
  const Requester who{Initiator::guest_cpu, t.shared ? 0 : asid_};
  std::uint32_t prot = UC_PROT_READ;
  if (t.writable) prot |= UC_PROT_WRITE;
  if (t.executable) prot |= UC_PROT_EXEC;

  std::uint8_t* direct = mc_.direct_frame(frame, who, t.writable);
  if (direct == nullptr) {
    // Slow path: every access goes through the memory controller.
    auto page = std::make_unique<MmioPage>(MmioPage{this, gpa_page});
    const uc_err err = uc_mmio_map(uc_, gpa_page, kFrameSize, &hook_mmio_read, page.get(),
                                   &hook_mmio_write, page.get());
    if (err != UC_ERR_OK) {
      exit_ = {VmExit::Kind::guest_fault, 0, 0, {}, fmt::format("mmio map: {}", uc_strerror(err))};
      exit_pending_ = true;
      return false;
    }
    mmio_pages_.emplace(gpa_page, MmioBacking{frame, who, std::move(page)});
    regions_.push_back({gpa_page, kFrameSize});
    ++stats_.mmio_regions_mapped;
    return true;
  }
  // Grow the region over following pages that map contiguously with the same rights.
  std::uint64_t pages = 1;
  while (pages < kMaxRegionPages) {
    const std::uint64_t next_gpa = gpa_page + pages * kFrameSize;
    if (next_gpa / kChunkSize != gpa_page / kChunkSize || is_mapped(next_gpa)) break;
    const npt::WalkResult next = npt::walk(mc_, npt_root_, next_gpa, npt::Access::read);
    if (!next.ok()) break;
    const npt::Translation& n = *next.translation;
    if (n.hpa != frame + pages * kFrameSize || n.writable != t.writable ||
        n.executable != t.executable || n.shared != t.shared) {
      break;
    }
    if (mc_.direct_frame(n.hpa, who, t.writable) != direct + pages * kFrameSize) break;
    ++pages;
  }
  const uc_err err = uc_mem_map_ptr(uc_, gpa_page, pages * kFrameSize, prot, direct);
  if (err != UC_ERR_OK) {
    exit_ = {VmExit::Kind::guest_fault, 0, 0, {}, fmt::format("map: {}", uc_strerror(err))};
    exit_pending_ = true;
    return false;
  }
  regions_.push_back({gpa_page, pages * kFrameSize});
  ++stats_.regions_mapped;
  return true;
}

bool GuestCpu::is_mapped(std::uint64_t gpa) const {
  for (const auto& r : regions_) {
    if (gpa >= r.gpa && gpa - r.gpa < r.size) return true;
  }
  return false;
}

void GuestCpu::on_out(std::uint32_t port, int, std::uint32_t value) {
  exit_ = {VmExit::Kind::io_out, static_cast<std::uint16_t>(port), value, {}, {}};
  exit_pending_ = true;
  uc_emu_stop(uc_);
}

std::uint64_t GuestCpu::mmio_read(std::uint64_t gpa, unsigned size) {
  const auto& backing = mmio_pages_.at(gpa & ~std::uint64_t{0xfff});
  std::uint8_t bytes[8] = {};
  try {
    mc_.read(backing.frame + (gpa & 0xfff), {bytes, size}, backing.who);
  } catch (const HwError& e) {
    exit_ = {VmExit::Kind::guest_fault, 0, 0, {}, e.what()};
    exit_pending_ = true;
    uc_emu_stop(uc_);
    return 0;
  }
  std::uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i) value |= std::uint64_t{bytes[i]} << (8 * i);
  return value;
}

void GuestCpu::mmio_write(std::uint64_t gpa, unsigned size, std::uint64_t value) {
  const auto& backing = mmio_pages_.at(gpa & ~std::uint64_t{0xfff});
  std::uint8_t bytes[8] = {};
  for (unsigned i = 0; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
  try {
    mc_.write(backing.frame + (gpa & 0xfff), {bytes, size}, backing.who);
  } catch (const HwError& e) {
    exit_ = {VmExit::Kind::guest_fault, 0, 0, {}, e.what()};
    exit_pending_ = true;
    uc_emu_stop(uc_);
  }
}

void GuestCpu::unmap_all() {
  for (const auto& r : regions_) uc_mem_unmap(uc_, r.gpa, r.size);
  regions_.clear();
  mmio_pages_.clear();
}

void GuestCpu::flush_tlb() {
  unmap_all();
  ++stats_.tlb_flushes;
}

}  // namespace cvmsim::hw
