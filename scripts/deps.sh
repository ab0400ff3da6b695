#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages Signet needs to build, test and run, when any is missing.
# Sourced by scripts/run and scripts/test; safe to run again (installs nothing when all are present).
set -euo pipefail

SIGNET_PACKAGES=(
  build-essential cmake pkg-config clang-format
  libssl-dev openssl libp11-kit-dev liblmdb-dev lmdb-utils libevent-dev libcmocka-dev
  softhsm2 opensc gnutls-bin libnss3-tools curl python3 python3-cryptography
  libgfshare-dev libnss3
)

signet_missing_packages() {
  local p missing=()
  for p in "${SIGNET_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

signet_install_deps() {
  local missing sudo=""
  missing=$(signet_missing_packages)
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "signet: installing missing packages: $missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Configures and builds into $1 (default build/) with extra CMake arguments after it.
signet_build() {
  local dir=${1:-build}
  shift || true
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}
