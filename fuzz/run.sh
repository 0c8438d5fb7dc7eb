#!/usr/bin/env bash
# Runs every fuzzer that fuzz/build.sh left in $OUT for a fixed time each, with libFuzzer's
# -fork on all local cores, growing a working corpus per harness in build-fuzz/corpus/NAME
# (started from the seed zip). Crashes go to build-fuzz/crashes/NAME/; a crash makes the
# run fail. Prints, per harness, the last status line (coverage, features, corpus, exec/s)
# and writes them to build-fuzz/summary.txt.
#   fuzz/run.sh SECONDS [NAME...]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:?usage: fuzz/run.sh SECONDS [NAME...]}"
shift
: "${OUT:=$src/build-fuzz/out}"
root="$src/build-fuzz"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for binary in "$OUT"/*_fuzzer; do names+=("$(basename "$binary" _fuzzer)"); done
fi
summary="$root/summary.txt"
: >"$summary"
status=0
for name in "${names[@]}"; do
  corpus="$root/corpus/$name"
  crashes="$root/crashes/$name"
  mkdir -p "$corpus" "$crashes"
  if [ -f "$OUT/${name}_fuzzer_seed_corpus.zip" ]; then
    (cd "$corpus" && cmake -E tar xf "$OUT/${name}_fuzzer_seed_corpus.zip")
  fi
  args=(-fork="$(nproc)" -max_total_time="$seconds" -artifact_prefix="$crashes/"
        -ignore_crashes=0 -print_final_stats=1)
  [ -f "$OUT/${name}_fuzzer.dict" ] && args+=(-dict="$OUT/${name}_fuzzer.dict")
  if [ -f "$OUT/${name}_fuzzer.options" ]; then
    while IFS='= ' read -r key value; do
      [ -n "$key" ] && [ "${key#\[}" = "$key" ] && args+=("-$key=$value")
    done <"$OUT/${name}_fuzzer.options"
  fi
  log="$root/$name.log"
  echo "== $name: ${seconds}s"
  if ! "$OUT/${name}_fuzzer" "${args[@]}" "$corpus" >"$log" 2>&1; then
    echo "!! $name found a crash: see $log and $crashes/"
    status=1
  fi
  line="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  echo "$name: $line" | tee -a "$summary"
done
exit $status
