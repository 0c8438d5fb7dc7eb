// A fresh directory under the system temp dir, removed with everything in it at scope exit.
#pragma once

#include "common/scratch_dir.h"

namespace cvmsim::test {

class TempDir : public ScratchDir {
 public:
  TempDir() : ScratchDir("cvmsim-test") {}
};

}  // namespace cvmsim::test
