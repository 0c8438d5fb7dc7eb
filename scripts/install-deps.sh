#!/usr/bin/env bash
# Installs the Debian 12 packages cvmsim needs, only those that are missing.
#   scripts/install-deps.sh          what `make demo` and `make test` need (GCC only)
#   scripts/install-deps.sh --fuzz   also clang-14 and its libFuzzer, for `make fuzz`
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libssl-dev openssl libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgcrypt20-dev libunicorn-dev
  cryptsetup-bin librsvg2-bin libxml2-utils zlib1g-dev help2man clang-format-14
  python3 python3-cryptography
)
if [ "${1:-}" = "--fuzz" ]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
