#!/usr/bin/env bash
# The test command: installs what it needs, then builds and runs every test suite with
# g++ (release, -O3), with clang++, and with clang++ under ASan+UBSan (all warnings as errors), and checks
# that the installed library and the Meson subproject both work for an embedder.
# Exits non-zero on any failure. Build directories: build-ci-*.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/deps.sh
jobs=$(nproc)
passed=0
failed=0

run_suites() {  # $1 = build dir; the rest = meson setup options
  local dir=$1; shift
  echo "== $dir: meson setup $*"
  rm -rf "$dir"
  meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
  ninja -C "$dir" -j "$jobs"
  local rc=0
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" || rc=$?
  local ok fail
  ok=$(grep -c '"result": "OK"' "$dir/meson-logs/testlog.json" || true)
  fail=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$dir/meson-logs/testlog.json" || true)
  passed=$((passed + ok)); failed=$((failed + fail))
  if [ "$rc" -ne 0 ] || [ "$ok" -eq 0 ]; then
    echo "connpool: test run in $dir failed"
    echo "connpool: $passed passed, $((failed > 0 ? failed : 1)) failed"
    exit 1
  fi
  # Each expected suite (unit, props, check, sim, seeds, real) must have run at least one
  # test: a suite whose dependency went missing would otherwise just drop out of the count.
  if ! python3 scripts/check_suites.py "$dir"; then
    echo "connpool: test run in $dir is missing a suite"
    exit 1
  fi
}

prefix="$root/build-ci-prefix"
rm -rf "$prefix"
# g++ at -O3, as scripts/main.sh builds: some GCC warnings only appear with its optimizer on.
run_suites build-ci-gcc -Dtests=enabled --buildtype=release --prefix="$prefix"
CXX=clang++ run_suites build-ci-clang -Dtests=enabled
CXX=clang++ run_suites build-ci-asan -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false

echo "== install, then build the embedding example against the installed library (pkg-config)"
meson install -C build-ci-gcc --quiet
pc=$(find "$prefix" -name connpool.pc | head -n 1)
[ -n "$pc" ] || { echo "connpool: connpool.pc was not installed"; exit 1; }
g++ -std=c++20 -Wall -Wextra -Wpedantic -Werror examples/embed_example.cpp -o build-ci-gcc/embed_installed \
  $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs connpool)
build-ci-gcc/embed_installed
passed=$((passed + 1))

echo "== use connpool as a Meson subproject"
consumer="$root/build-ci-consumer"
rm -rf "$consumer"
mkdir -p "$consumer/subprojects"
cp tests/subproject_consumer/meson.build tests/subproject_consumer/consumer.cpp "$consumer/"
mkdir -p "$consumer/subprojects/connpool"
cp -r pool meson.build meson_options.txt "$consumer/subprojects/connpool/"
(cd "$consumer" && meson setup build >/dev/null && ninja -C build >/dev/null && ./build/consumer)
passed=$((passed + 1))

echo "connpool: $passed passed, $failed failed"
