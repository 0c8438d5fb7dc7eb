#!/usr/bin/env bash
# Fails, naming each file, when a C or C++ source differs from what clang-format-14 (the
# Debian 12 version, installed by scripts/install-deps.sh) makes of it under .clang-format.
# `make format` rewrites them. Run by CTest as `format`.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
format="$(command -v clang-format-14 || command -v clang-format)" ||
  { echo "clang-format-14 not found: scripts/install-deps.sh installs it" >&2; exit 1; }
status=0
while IFS= read -r -d '' file; do
  if ! "$format" --dry-run -Werror "$file" >/dev/null 2>&1; then
    echo "not clang-formatted: ${file#"$src"/}"
    status=1
  fi
done < <(find "$src/src" "$src/tests" "$src/bench" "$src/fuzz" "$src/guest" \
              \( -name '*.cc' -o -name '*.h' -o -name '*.c' \) -print0)
exit $status
