#!/usr/bin/env bash
# Installs the Debian bookworm packages connpool builds and tests with, if any is missing.
# Sourced by scripts/main.sh and scripts/test.sh; needs root (or sudo) only when installing.
set -euo pipefail
# nginx: the real suite's tests against a real server start it themselves (real/tests/nginx_server.hpp).
connpool_packages=(meson ninja-build pkg-config cmake g++ clang libclang-rt-14-dev
  librapidcheck-dev libgtest-dev libgmock-dev libboost-dev libbenchmark-dev nginx)
missing=()
for p in "${connpool_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "connpool: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
