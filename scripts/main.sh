#!/usr/bin/env bash
# The main job: a release build, then an explore campaign of the deterministic simulator
# on the default configuration (every seed runs twice and must give the same trace), the
# seed documents' question to `whatif` (MaxIdleConnsPerHost 2 vs 100 at 100 clients), and
# the embedding example. Exits non-zero if any seed fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release
echo "== explore: 2000 seeds, swarm configs, determinism checked"
build-release/sim/connpool-sim explore --seeds 2000 --jobs "$(nproc)" --check-determinism
echo
echo "== whatif: 100 clients, MaxIdleConnsPerHost 2 (Go's default) vs 100"
build-release/sim/connpool-sim whatif --compare max-idle-per-host=100
echo
echo "== embedding example"
build-release/tests/embed_example
