#!/usr/bin/env bash
# The mutation self-check: builds the pool core once per mutant in pool/mutants.txt
# (`-Dmutant=NAME`, see docs/TESTING.md), runs the test suites in order (unit, props,
# check, sim) until one fails, and prints a Markdown table: which suite killed each mutant
# and how long that suite took. Exits 1 if any mutant survives every suite.
# Usage: bash scripts/mutants.sh [NAME ...]   (default: every mutant)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/deps.sh
dir=build-mutants
mutants=("$@")
((${#mutants[@]})) || mapfile -t mutants < pool/mutants.txt
[ -f "$dir/build.ninja" ] || meson setup "$dir" -Dtests=enabled >/dev/null
have=$(meson introspect "$dir" --tests | python3 -c 'import json, sys; print(" ".join(sorted({s.split(":")[-1] for t in json.load(sys.stdin) for s in t["suite"]})))')
suites=()
for s in unit props check sim; do
  [[ " $have " == *" $s "* ]] && suites+=("$s")
done
echo "suites run against each mutant, in order: ${suites[*]}"
echo
survivors=0
printf '| mutant | killed by | time to kill |\n|---|---|---|\n'
for m in "${mutants[@]}"; do
  meson configure "$dir" -Dmutant="$m" >/dev/null
  ninja -C "$dir" >/dev/null
  killer="SURVIVED"; took="-"
  for s in "${suites[@]}"; do
    start=$(date +%s%N)
    if ! meson test -C "$dir" --suite "$s" --num-processes "$(nproc)" >/dev/null 2>&1; then
      killer=$s
      ms=$(( ($(date +%s%N) - start) / 1000000 ))
      took=$(printf '%d.%02d s' $((ms / 1000)) $((ms % 1000 / 10)))
      break
    fi
  done
  [ "$killer" = SURVIVED ] && survivors=$((survivors + 1))
  printf '| %s | %s | %s |\n' "$m" "$killer" "$took"
done
meson configure "$dir" -Dmutant= >/dev/null
echo
echo "mutants: ${#mutants[@]}, survived: $survivors"
[ "$survivors" -eq 0 ]
