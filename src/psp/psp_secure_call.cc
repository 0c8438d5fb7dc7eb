// SECURE_CALL and DISK_ATTACH: the PSP's service to running guests.
//
// The VMM forwards only (vm, gpa). The PSP translates the GPA through the VM's nested page
// tables — checking, in guarded modes, that the tables of that walk still match its
// characteristic value — reads the request with the VM's key, checks the sequence number
// (a replayed or reordered request is refused: the VMM can restore old ciphertext of the
// page but cannot forge a new one), acts, and writes the response back with the VM's key.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "attest/report.h"
#include "common/checked.h"
#include "common/hex.h"
#include "crypto/suite.h"
#include "hw/npt.h"
#include "psp/psp.h"
#include "psp/status_detail.h"
#include "psp/vm_context.h"

namespace cvmsim::psp {
namespace {

namespace npt = hw::npt;

// What the trace records of each call, beside its GPA and sequence number.
void describe(const ImageCertCall&, nlohmann::json&) {}
void describe(const DiskIoCall& call, nlohmann::json& args) {
  args["direction"] = call.flush ? "flush" : call.write ? "to_disk" : "to_memory";
  args["raw"] = call.raw;
  args["start"] = call.start;
  args["bytes"] = call.length;
}
void describe(const AttestCall& call, nlohmann::json& args) {
  args["report_data"] = to_hex(call.report_data);
}

}  // namespace

// One service per call type, chosen by overload resolution in handle(SecureCall): a call
// type without a service does not compile, as with the mailbox's handle() overloads.
Result Psp::serve(Vm& vm, const ImageCertCall& call, SecureCallResponse& out) {
  return image_cert(vm, call, out);
}
Result Psp::serve(Vm& vm, const DiskIoCall& call, SecureCallResponse& out) {
  return disk_io(vm, call, out.dma_tag);
}
Result Psp::serve(Vm& vm, const AttestCall& call, SecureCallResponse& out) {
  return attest(vm, call, out);
}

Result Psp::guest_frame(Vm& vm, std::uint64_t gpa, bool for_write, std::uint64_t& hpa,
                        bool tables_checked) {
  if (!tables_checked && !guard_check(vm, gpa & ~(hw::kFrameSize - 1), 1)) {
    return Result::failure(Status::npt_tampered, detail(TamperDetail::request_walk));
  }
  const npt::WalkResult walk =
      npt::walk(mc_, vm.npt_root, gpa, for_write ? npt::Access::write : npt::Access::read);
  return accept_frame(vm, walk, hpa);
}

Result Psp::guest_frames(Vm& vm, const std::vector<std::uint64_t>& page_gpas, bool for_write,
                         std::vector<std::uint64_t>& hpas) {
  const npt::Access access = for_write ? npt::Access::write : npt::Access::read;
  constexpr std::uint64_t kLeafSpan = hw::kFrameSize * npt::kEntriesPerTable;  // 2 MiB
  std::optional<npt::LeafTable> leaf;
  std::uint64_t leaf_base = 0;
  hpas.clear();
  hpas.reserve(page_gpas.size());
  for (const std::uint64_t gpa : page_gpas) {
    const std::uint64_t base = gpa & ~(kLeafSpan - 1);
    if (!leaf || leaf_base != base) {
      leaf = npt::read_leaf_table(mc_, vm.npt_root, gpa);
      leaf_base = base;
    }
    // Where the walk stops above the leaf, walking the page itself gives the exact fault.
    const npt::WalkResult walk = leaf ? npt::walk_leaf(*leaf, mc_.memory().size(), gpa, access)
                                      : npt::walk(mc_, vm.npt_root, gpa, access);
    std::uint64_t hpa = 0;
    if (const Result r = accept_frame(vm, walk, hpa); !r.ok()) return r;
    hpas.push_back(hpa);
  }
  return Result::success();
}

Result Psp::accept_frame(const Vm& vm, const npt::WalkResult& walk, std::uint64_t& hpa) const {
  if (!walk.ok()) return Result::failure(Status::not_mapped, walk.fault.gpa);
  // Secure calls and DMA use private memory only: a shared page is plaintext to the host.
  if (walk.translation->shared && vm.key_asid() != 0) {
    return Result::failure(Status::invalid_address, walk.fault.gpa);
  }
  const std::uint64_t frame = walk.translation->hpa & ~(hw::kFrameSize - 1);
  const hw::FrameTag tag = mc_.tag(frame);
  // The frame must be this VM's guest memory (guarded modes: the PSP tagged it when it
  // mapped it). With the guard off the VMM maps untagged host frames itself; those are
  // accepted, but never a frame of another VM, an NPT, the PSP or a Merkle node.
  const bool own = tag.use == hw::FrameUse::guest && tag.owner == vm.handle;
  const bool host = tag.use == hw::FrameUse::host && tag.owner == 0 &&
                    tag.guard == hw::FrameGuard::none && !vm.guarded();
  if (!own && !host) return Result::failure(Status::frame_not_available, frame);
  hpa = walk.translation->hpa;
  return Result::success();
}

Result Psp::check_guest_pages(Vm& vm, const std::vector<std::uint64_t>& page_gpas) {
  for (std::size_t i = 0; i < page_gpas.size();) {
    std::size_t run = 1;
    while (i + run < page_gpas.size() &&
           page_gpas[i + run] == page_gpas[i] + run * hw::kFrameSize) {
      ++run;
    }
    if (!guard_check(vm, page_gpas[i], run))
      return Result::failure(Status::npt_tampered, detail(TamperDetail::request_walk));
    i += run;
  }
  return Result::success();
}

Result Psp::read_guest(Vm& vm, std::uint64_t gpa, MutableByteView out) {
  // Callers bound gpa + size (parse_secure_call); the pages are checked as one range.
  std::vector<std::uint64_t> pages;
  const std::uint64_t first = gpa & ~(hw::kFrameSize - 1);
  for (std::uint64_t page = first; page < gpa + out.size(); page += hw::kFrameSize) {
    pages.push_back(page);
  }
  if (const Result r = check_guest_pages(vm, pages); !r.ok()) return r;
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = gpa + done;
    const std::size_t n =
        std::min<std::size_t>(out.size() - done, hw::kFrameSize - (at % hw::kFrameSize));
    std::uint64_t hpa = 0;
    const Result r = guest_frame(vm, at, false, hpa, true);
    if (!r.ok()) return r;
    mc_.read(hpa, out.subspan(done, n), as_psp(vm.key_asid()));
    done += n;
  }
  return Result::success();
}

Response Psp::handle(const DiskAttach& c) {
  const auto [vm, refusal] = find_vm(c.vm, CommandClass::attach);
  if (vm == nullptr) return {refusal, {}};
  if (!disks_.has_port(c.port)) return Response::refused(Status::invalid_parameter, c.port);
  if (vm->image.keyslot)
    return Response::refused(Status::invalid_state, static_cast<std::uint64_t>(vm->state));
  vm->disk_port = c.port;
  return {Result::success(), {}};
}

Response Psp::handle(const SecureCall& c) {
  const VmLookup found = find_vm(c.vm, CommandClass::run);
  if (found.vm == nullptr) return {found.refusal, {}};
  Vm* const vm = found.vm;  // a plain pointer: lambdas below capture it (clang-14 cannot
                            // capture a structured binding)
  if (c.gpa % kSecureCallPageSize != 0) return Response::refused(Status::invalid_address, c.gpa);
  std::uint64_t page_hpa = 0;
  if (const Result r = guest_frame(*vm, c.gpa, true, page_hpa); !r.ok()) return {r, {}};
  Bytes page(kSecureCallPageSize);
  mc_.read(page_hpa, page, as_psp(vm->key_asid()));

  const ParsedSecureCall parsed = parse_secure_call(page);
  SecureCallResponse response;
  SecureCallId id = SecureCallId::attest;
  std::string_view name = "malformed_call";
  nlohmann::json args = {{"gpa", c.gpa}};
  if (!parsed.result.ok()) {
    response.result = parsed.result;
  } else {
    args["sequence"] = parsed.request.sequence;
    const bool in_order = parsed.request.sequence == vm->last_sequence + 1;
    if (in_order) vm->last_sequence = parsed.request.sequence;
    // The guest waits for an answer in its page: a service that fails unexpectedly still
    // gives one (execute() would only tell the VMM).
    try {
      std::visit(
          [&](const auto& call) {
            id = call.kId;
            name = call.kName;
            describe(call, args);
            if (in_order) response.result = serve(*vm, call, response);
          },
          parsed.request.call);
    } catch (const std::exception&) {
      response = SecureCallResponse{};
      response.result = Result::failure(Status::internal_error, static_cast<std::uint64_t>(id));
    }
    // Replayed (or reordered) request: refused, and the sequence does not move.
    if (in_order) {
      response.answered = parsed.request.sequence;
    } else {
      response.result = Result::failure(Status::replayed_request, vm->last_sequence + 1);
    }
  }
  trace_secure_call(*vm, name, response.result, std::move(args));
  write_response(id, response, page);
  mc_.write(page_hpa, page, as_psp(vm->key_asid()));
  return {response.result, SecureCallInfo{static_cast<std::uint16_t>(id)}};
}

Result Psp::attest(Vm& vm, const AttestCall& call, SecureCallResponse& out) {
  attest::Report report;
  report.suite = suite_;
  report.simulated = true;
  report.psp_version = kPspFirmwareVersion;
  report.chip_id = fuses_.identity.chip_id;
  // An authenticated image: the root and version the PSP holds for it now (its NV storage
  // keeps the same pair); an image without tags, or none, leaves the three fields zero.
  if (!vm.image.disk_root.empty()) {
    report.disk_integrity = attest::DiskIntegrity::authenticated;
    report.disk_root = vm.image.disk_root;
    report.disk_version = vm.image.disk_version;
  }
  report.policy = vm.policy.encode();
  report.launch_digest = vm.digest.value();
  report.firmware_check = vm.firmware_check;
  report.certificate_check = vm.image.check;
  report.guard_mode = static_cast<std::uint8_t>(vm.policy.guard);
  if (!vm.guard) {
    report.npt_integrity = attest::NptIntegrityState::not_guarded;
  } else {
    report.npt_integrity = vm.tampered || !vm.guard->check_all(mc_)
                               ? attest::NptIntegrityState::tampered
                               : attest::NptIntegrityState::intact;
  }
  report.asid = vm.key_asid();
  report.certificate_digest = vm.image.certificate_digest;
  report.provider_key_id = vm.provider_key_id;
  report.report_data = call.report_data;
  report.dram_alias_check = dram_alias_check_;
  attest::sign_report(report, fuses_.attestation_key);
  out.report = report.encode();
  return Result::success();
}

}  // namespace cvmsim::psp
