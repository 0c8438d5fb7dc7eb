# One place for the project's compiler flags; every target links cvmsim_flags.
add_library(cvmsim_flags INTERFACE)
target_compile_options(cvmsim_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CVMSIM_WERROR)
  target_compile_options(cvmsim_flags INTERFACE -Werror)
endif()
if(CVMSIM_SANITIZE)
  target_compile_options(cvmsim_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(cvmsim_flags INTERFACE -fsanitize=address,undefined)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  # src/crypto/sm4/sbox_affine.h proves the SM4 S-box's algebraic structure at compile time,
  # which takes more constant-evaluation steps than clang allows by default (GCC's limit is
  # per loop and is not reached). The fuzz build (fuzz/build.sh) uses clang.
  target_compile_options(cvmsim_flags INTERFACE -fconstexpr-steps=100000000)
endif()
