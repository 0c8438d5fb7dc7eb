// What the `cvmsim run` tests share: the built guest images and a vendor, chip and
// provider made through the CLI, with the provider's reference for one firmware.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "support/run_command.h"
#include "support/temp_dir.h"

namespace cvmsim::test {

inline std::string guest(const std::string& name) {
  return std::string(CVMSIM_GUEST_DIR) + "/" + name + ".bin";
}

// A vendor, a chip and a provider (sm suite) in `dir`, and the provider's reference for
// `firmware` in dir/ref.
inline void make_identities(const TempDir& dir, const std::string& firmware) {
  ASSERT_EQ(run_cli({"vendor", "init", (dir / "v").string()}).exit_code, 0);
  ASSERT_EQ(
      run_cli({"chip", "new", "--vendor", (dir / "v").string(), (dir / "chip").string()}).exit_code,
      0);
  ASSERT_EQ(run_cli({"provider", "init", (dir / "p").string()}).exit_code, 0);
  ASSERT_EQ(run_cli({"sign-reference", "--provider", (dir / "p").string(), "--firmware",
                     guest(firmware), "--out", (dir / "ref").string()})
                .exit_code,
            0);
}

}  // namespace cvmsim::test
