#include "lab/attacks/disk_boot.h"

#include <string>

namespace cvmsim::lab::attacks {

ImageSpec demo_spec() {
  ImageSpec spec;
  spec.volume.kernel = guest_program("disk_demo");
  spec.volume.files.push_back({"motd", Bytes(kMotd.begin(), kMotd.end())});
  return spec;
}

vmm::RunResult boot(Bench& bench, const std::filesystem::path& image,
                    const std::shared_ptr<vmm::Misbehaviour>& misbehaviour) {
  vmm::LaunchRequest request =
      bench.world().launch_request(guest_program("image_boot"), policy_for(bench.guard()));
  request.disk = image;
  const psp::VmHandle vm = bench.vmm().launch(request);
  bench.vmm().set_misbehaviour(misbehaviour);
  vmm::RunResult run = bench.vmm().run(vm);
  bench.vmm().set_misbehaviour(nullptr);
  bench.vmm().decommission(vm);
  return run;
}

bool booted(const vmm::RunResult& run) {
  return run.exit_status == 0u && run.console.find(std::string(kMotd)) != std::string::npos;
}

}  // namespace cvmsim::lab::attacks
