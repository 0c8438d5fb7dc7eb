# Every external dependency is a Debian 12 package (scripts/install-deps.sh installs them).
find_package(OpenSSL 3.0 REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 2.1 REQUIRED)
find_package(GTest REQUIRED)
if(CVMSIM_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
find_package(PkgConfig REQUIRED)
# libgcrypt: the PSP's NPT-guard node hashing (per-message cost; src/psp/npt_guard/
# node_hasher.h says why) and, in tests and benchmarks, an independent SM4-XTS reference.
pkg_check_modules(GCRYPT REQUIRED IMPORTED_TARGET libgcrypt>=1.10)
pkg_check_modules(UNICORN REQUIRED IMPORTED_TARGET unicorn>=2.0)
