#!/usr/bin/env bash
# `cmake --install` into a fresh prefix: the binary runs, every man page is there and reads
# as a man page, and bash completion completes commands and options (docs/cli.md,
# "Installation"). Arguments: the build directory, whether help2man was found (ON/OFF).
set -euo pipefail
build=$1
have_help2man=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
"$prefix/bin/cvmsim" --version | grep -qx '[0-9]*\.[0-9]*\.[0-9]*'

if [ "$have_help2man" = ON ]; then
  for page in cvmsim cvmsim-verify cvmsim-pack cvmsim-run cvmsim-trace; do
    file="$prefix/share/man/man1/$page.1"
    [ -s "$file" ] || { echo "missing man page $file"; exit 1; }
    grep -q '^\.TH' "$file" || { echo "$file is not a man page"; exit 1; }
  done
  # The command's page documents its options, from its --help.
  grep -q 'allow\\-unchecked' "$prefix/share/man/man1/cvmsim-verify.1" ||
    { echo "cvmsim-verify.1 lacks --allow-unchecked"; exit 1; }
fi

completion="$prefix/share/bash-completion/completions/cvmsim"
[ -s "$completion" ] || { echo "missing $completion"; exit 1; }
complete_line() {  # prints the completions of the words given
  bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    COMP_WORDS[0]="'"$prefix"'/bin/cvmsim"
    _cvmsim; printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$@"
}
# The whole list first, then the search: `grep -q` on a pipe could end the writer early,
# which pipefail would count as a failure.
expect_completion() {  # EXPECTED WORDS...
  local expected=$1 got
  shift
  got=$(complete_line "$@")
  grep -qx -- "$expected" <<<"$got" || { echo "no completion '$expected' of '$*': $got"; exit 1; }
}
expect_completion verify cvmsim ver
expect_completion --allow-unchecked cvmsim verify --allow
expect_completion diagram cvmsim trace di
expect_completion nist cvmsim pack --suite n
echo "install ok: $prefix"
