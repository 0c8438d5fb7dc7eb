// The disk scenarios' victim: the demo's encrypted image (disk_demo as the kernel, a motd
// file) booted by the measured firmware image_boot, once per call.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "lab/attacks/lab_bench.h"

namespace cvmsim::lab::attacks {

inline constexpr std::string_view kMotd = "the tenant's motd on an encrypted disk";

// disk_demo with the motd.
ImageSpec demo_spec();
// One boot of `image` through image_boot in the bench's guard mode, with `misbehaviour`
// for this run only; the VM is decommissioned afterwards.
vmm::RunResult boot(Bench& bench, const std::filesystem::path& image,
                    const std::shared_ptr<vmm::Misbehaviour>& misbehaviour = nullptr);
// The boot exited 0 and printed the motd it read from the disk.
bool booted(const vmm::RunResult& run);

}  // namespace cvmsim::lab::attacks
