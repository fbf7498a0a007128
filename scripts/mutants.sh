#!/usr/bin/env bash
# The mutation self-check: builds the pool core once per mutant in pool/mutants.txt
# (`-Dmutant=NAME`, see docs/TESTING.md), runs the test suites in order (unit, props,
# check, sim, seeds) until one fails, and prints a Markdown table: which suite killed each mutant
# and how long that suite took. Exits 1 if any mutant survives every suite.
# Usage: bash scripts/mutants.sh [--each-suite] [NAME ...]   (default: every mutant)
#   --each-suite  runs every suite against every mutant (not only until the first kill) and
#                 prints one column per suite: which suites catch the mutant on their own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/deps.sh
dir=build-mutants
each=0
if [ "${1:-}" = --each-suite ]; then each=1; shift; fi
mutants=("$@")
((${#mutants[@]})) || mapfile -t mutants < pool/mutants.txt
[ -f "$dir/build.ninja" ] || meson setup "$dir" -Dtests=enabled >/dev/null
have=$(meson introspect "$dir" --tests | python3 -c 'import json, sys; print(" ".join(sorted({s.split(":")[-1] for t in json.load(sys.stdin) for s in t["suite"]})))')
suites=()
absent=()
for s in unit props check sim seeds; do
  if [[ " $have " == *" $s "* ]]; then suites+=("$s"); else absent+=("$s"); fi
done
if ((${#absent[@]})); then
  echo "mutants.sh: suites not found in $dir, not run against the mutants: ${absent[*]}" \
       "(meson setup $dir -Dtests=enabled needs their dependencies)" >&2
fi
if [ "$each" -eq 1 ]; then
  echo "every suite is run against every mutant: ${suites[*]}"
  echo
  header="| mutant |"; rule="|---|"
  for s in "${suites[@]}"; do header+=" $s |"; rule+="---|"; done
  echo "$header"; echo "$rule"
else
  echo "suites run against each mutant, in order: ${suites[*]}"
  echo
  printf '| mutant | killed by | time to kill |\n|---|---|---|\n'
fi
survivors=0
for m in "${mutants[@]}"; do
  meson configure "$dir" -Dmutant="$m" >/dev/null
  ninja -C "$dir" >/dev/null
  killer="SURVIVED"; took="-"; row="| $m |"
  for s in "${suites[@]}"; do
    start=$(date +%s%N)
    if ! meson test -C "$dir" --suite "$s" --num-processes "$(nproc)" >/dev/null 2>&1; then
      ms=$(( ($(date +%s%N) - start) / 1000000 ))
      t=$(printf '%d.%02d s' $((ms / 1000)) $((ms % 1000 / 10)))
      row+=" killed, $t |"
      if [ "$killer" = SURVIVED ]; then killer=$s; took=$t; fi
      [ "$each" -eq 1 ] || break
    else
      row+=" survived |"
    fi
  done
  [ "$killer" = SURVIVED ] && survivors=$((survivors + 1))
  if [ "$each" -eq 1 ]; then echo "$row"; else printf '| %s | %s | %s |\n' "$m" "$killer" "$took"; fi
done
meson configure "$dir" -Dmutant= >/dev/null
echo
echo "mutants: ${#mutants[@]}, survived every suite: $survivors"
[ "$survivors" -eq 0 ]
