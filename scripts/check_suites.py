#!/usr/bin/env python3
"""Checks that every expected test suite ran in a build: a suite that is not built (a
dependency not found, a meson.build that skipped it) must fail CI, not vanish from the count.

Usage: check_suites.py BUILD_DIR [SUITE ...]   (default suites: unit props check sim seeds real)

Reads BUILD_DIR/meson-logs/testlog.json (written by `meson test`). Prints one line per suite
that ran no passing test and exits 1 if there is any.
"""
import json
import sys
from pathlib import Path

EXPECTED = ["unit", "props", "check", "sim", "seeds", "real"]


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    build, suites = Path(sys.argv[1]), sys.argv[2:] or EXPECTED
    log = build / "meson-logs" / "testlog.json"
    if not log.is_file():
        print(f"connpool: {log} is missing: did `meson test -C {build}` run?")
        return 1
    passed = {s: 0 for s in suites}
    for line in log.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        test = json.loads(line)
        # Newer meson writes "suite": ["project:suite", ...]; meson 1.0 only names a test
        # "project:suite / test", with its first suite.
        names = test.get("suite") or [test.get("name", "").split(" / ")[0]]
        for suite in names:
            name = suite.split(":")[-1]
            if name in passed and test.get("result") == "OK":
                passed[name] += 1
    missing = [s for s in suites if passed[s] == 0]
    for s in missing:
        print(f"connpool: suite '{s}' ran no passing test in {build}: it was not built or all its tests "
              f"were skipped (`meson test -C {build} --list` shows what exists)")
    if not missing:
        print(f"connpool: every expected suite ran in {build}: "
              + ", ".join(f"{s} {passed[s]}" for s in suites))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
