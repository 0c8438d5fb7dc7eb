// <immintrin.h> for the ISA-specific kernels: include it only through this header.
//
// GCC 12's AVX-512 headers initialise "undefined" vectors as `__Y = __Y`, which trips
// -W(maybe-)uninitialized once the intrinsics are inlined into our code (GCC PR 105593, fixed in
// GCC 13). The warning is silenced for the header's own lines only, so it still guards ours.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
