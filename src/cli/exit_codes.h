// The CLI's documented exit codes (docs/cli.md). Scripts depend on these values.
#pragma once

namespace cvmsim::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,         // any failure not listed below (bad file, I/O, refused operation)
  kExitUsage = 2,         // bad command line
  kExitBadSignature = 3,  // a signature over an artifact does not verify
  kExitBadChain = 4,      // a certificate chain does not lead to the trusted root
  kExitExpectation = 5,   // an artifact is authentic but differs from what was expected
  kExitVmFailed = 6,      // a VM was refused at launch or stopped by the PSP
};

}  // namespace cvmsim::cli
