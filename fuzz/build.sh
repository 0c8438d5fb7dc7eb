#!/usr/bin/env bash
# Builds every fuzz harness with a fuzzing engine, OSS-Fuzz / ClusterFuzzLite style: honours
# $CC, $CXX, $CFLAGS, $CXXFLAGS, $LIB_FUZZING_ENGINE and $OUT (and $WORK for the build tree),
# and leaves in $OUT, per harness NAME: NAME_fuzzer, NAME_fuzzer_seed_corpus.zip (seeds made
# from fresh artifacts plus fuzz/corpus/NAME), NAME_fuzzer.dict and NAME_fuzzer.options.
# Defaults: Debian's clang-14 with libFuzzer, ASan and UBSan, into build-fuzz/.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
: "${CC:=clang-14}"
: "${CXX:=clang++-14}"
: "${CFLAGS:=-O1 -g $sanitizers -fsanitize=fuzzer-no-link}"
: "${CXXFLAGS:=-O1 -g $sanitizers -fsanitize=fuzzer-no-link}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:=$src/build-fuzz/out}"
: "${WORK:=$src/build-fuzz/work}"
jobs="$(nproc)"

# No CMAKE_BUILD_TYPE: the flags are the fuzzing infrastructure's alone.
cmake -S "$src" -B "$WORK" -G Ninja -DCMAKE_BUILD_TYPE= \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DCVMSIM_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" -DCVMSIM_BUILD_BENCH=OFF >/dev/null
cmake --build "$WORK" -j "$jobs" --target cvmsim_fuzzers

mkdir -p "$OUT"
for harness in "$src"/fuzz/*_fuzzer.cc; do
  name="$(basename "$harness" _fuzzer.cc)"
  cp "$WORK/bin/${name}_fuzzer" "$OUT/"
  seeds="$(mktemp -d)"
  cp -r "$WORK/fuzz/seeds/$name/." "$seeds/"
  if [ -d "$src/fuzz/corpus/$name" ]; then cp -r "$src/fuzz/corpus/$name/." "$seeds/"; fi
  rm -f "$OUT/${name}_fuzzer_seed_corpus.zip"
  (cd "$seeds" && cmake -E tar cf "$OUT/${name}_fuzzer_seed_corpus.zip" --format=zip -- .)
  rm -rf "$seeds"
  if [ -f "$src/fuzz/dict/$name.dict" ]; then cp "$src/fuzz/dict/$name.dict" "$OUT/${name}_fuzzer.dict"; fi
  if [ -f "$src/fuzz/options/$name.options" ]; then
    cp "$src/fuzz/options/$name.options" "$OUT/${name}_fuzzer.options"
  fi
done
echo "fuzzers in $OUT"
