#!/usr/bin/env bash
# The main job: builds connpool (release), runs the embedding example, which drives the
# pool core through requests in virtual time, and the pool microbenchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release
echo "== embedding example"
build-release/tests/embed_example
if [ -x build-release/bench/pool_bench ]; then
  echo "== pool microbenchmarks"
  build-release/bench/pool_bench --benchmark_min_time=0.2
fi
