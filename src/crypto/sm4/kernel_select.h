// Maps an Sm4Impl to its kernels after checking that this CPU can run them.
#pragma once

#include "crypto/sm4/cpu_features.h"
#include "crypto/sm4/sm4_kernels.h"
#include "crypto/sm4/sm4_xts_fast.h"

namespace cvmsim::crypto::sm4 {

// Whether a CPU with `features` can run `impl` (sm4_impl_available applies it to this CPU).
bool impl_supported(Sm4Impl impl, const CpuFeatures& features);

// Throws CryptoError{library} naming the missing CPU features if `impl` is unavailable.
const Kernels& checked_kernels(Sm4Impl impl);

}  // namespace cvmsim::crypto::sm4
