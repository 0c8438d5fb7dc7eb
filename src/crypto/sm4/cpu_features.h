// The x86 features the SM4 kernels need, read once from CPUID and XCR0.
#pragma once

namespace cvmsim::crypto::sm4 {

struct CpuFeatures {
  bool aes = false;
  bool avx2 = false;
  bool gfni = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  // The OS saves the register state (XCR0): without it the instructions fault even where
  // CPUID lists them (e.g. a kernel booted with AVX-512 state disabled).
  bool os_ymm = false;
  bool os_zmm = false;
};

// The features of the CPU this process runs on (computed on first use).
const CpuFeatures& cpu_features();

}  // namespace cvmsim::crypto::sm4
