#!/usr/bin/env python3
"""Replays the seed regression corpus: every line of every *.txt in the corpus directory.

Usage: replay_corpus.py --sim CONNPOOL_SIM [--props PROPS_BINARY ...] CORPUS_DIR

Blank lines and lines starting with '#' are skipped. Every other line is routed by its
first word (docs/TESTING.md, "The seed regression corpus"):

  cps1,...                  a simulator run: `connpool-sim replay LINE --summary` must exit 0
  cpc1,...                  a model-checker path: `connpool-sim check --replay LINE` must exit 0
  rc TEST reproduce=...     a rapidcheck case of the GoogleTest test TEST (Suite.Name) in one of
                            the props binaries: run alone with RC_PARAMS=reproduce=...; the
                            reproduced case must pass (it failed before its bug was fixed)

Every line is checked before anything runs; a malformed line fails the run with one line
`FILE:LINE: malformed corpus line: WHY`. Each failure of a replay prints the exact command
that reproduces it.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# A simulator or checker repro string: the format tag, then comma-separated fields, no spaces.
REPRO = re.compile(r"^(cps1|cpc1),\S+$")
# A GoogleTest name and the RC_PARAMS value rapidcheck prints (its reproduce= is base64-like).
TEST_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
REPRODUCE = re.compile(r"^reproduce=[A-Za-z0-9+_]+$")  # rapidcheck's Base64 alphabet
# Printed by props/batch.hpp when CONNPOOL_PROPS_CORPUS is set and the reproduced case passes.
PASSED_MARK = "connpool props: the reproduced case of {} passes"


@dataclass
class Entry:
    where: str  # FILE:LINE
    kind: str  # cps1, cpc1 or rc
    argv: list
    env: dict
    test: str = ""  # rc lines: the GoogleTest name


class Malformed(Exception):
    pass


def list_tests(binary):
    """The GoogleTest names (Suite.Name) a props binary holds."""
    out = subprocess.run([binary, "--gtest_list_tests"], capture_output=True, text=True, timeout=60, check=True)
    tests, suite = set(), ""
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            suite = line.split()[0]
        else:
            tests.add(suite + line.split()[0])
    return tests


def parse_line(line, sim, props_tests):
    words = line.split()
    if REPRO.match(line):
        if line.startswith("cps1,"):
            return "cps1", [sim, "replay", line, "--summary"], {}, ""
        return "cpc1", [sim, "check", "--replay", line], {}, ""
    if words[0] == "rc":
        if len(words) != 3:
            raise Malformed(f"an rc line is 'rc Suite.Name reproduce=...', got {len(words)} words")
        _, test, params = words
        if not TEST_NAME.match(test):
            raise Malformed(f"'{test}' is not a GoogleTest name Suite.Name")
        if not REPRODUCE.match(params):
            raise Malformed("the third word must be the whole RC_PARAMS value 'reproduce=...' a failure printed")
        binary = next((b for b, names in props_tests.items() if test in names), None)
        if binary is None:
            if not props_tests:
                raise Malformed("an rc line, but this build has no props binaries (rapidcheck not found)")
            raise Malformed(f"no props binary has a test {test} ({', '.join(sorted(props_tests))})")
        env = {"RC_PARAMS": params, "CONNPOOL_PROPS_CORPUS": "1"}
        return "rc", [binary, f"--gtest_filter={test}"], env, test
    if words[0].startswith(("cps1", "cpc1")):
        raise Malformed("a repro string is one word 'cps1,...' or 'cpc1,...' with no spaces")
    raise Malformed(f"unknown kind '{words[0][:20]}': expected cps1,..., cpc1,... or 'rc Suite.Name reproduce=...'")


def read_corpus(corpus_dir, sim, props_tests):
    files = sorted(Path(corpus_dir).glob("*.txt"))
    if not files:
        raise SystemExit(f"{corpus_dir}: no *.txt corpus files")
    entries, errors = [], []
    for path in files:
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{number}"
            try:
                kind, argv, env, test = parse_line(line, sim, props_tests)
            except Malformed as e:
                errors.append(f"{where}: malformed corpus line: {e}")
                continue
            entries.append(Entry(where, kind, argv, env, test))
    return entries, errors


def command(entry):
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in entry.env.items() if k != "CONNPOOL_PROPS_CORPUS")
    return (env + " " if env else "") + " ".join(shlex.quote(a) for a in entry.argv)


def replay(entry):
    """Runs one entry; returns None if it passed, else what went wrong."""
    run = subprocess.run(entry.argv, capture_output=True, text=True, timeout=300, env={**os.environ, **entry.env})
    if entry.kind in ("cps1", "cpc1") and run.returncode == 2:
        refusal = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
        return f"connpool-sim refused the line (exit 2): {refusal}"
    if run.returncode != 0:
        return f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    if entry.kind == "rc" and PASSED_MARK.format(entry.test.replace(".", "/")) not in run.stdout:
        return f"the test did not replay the case (reproduce= for another test?)\n{run.stdout[-3000:]}"
    return None


def main():
    parser = argparse.ArgumentParser(description="Replays the seed regression corpus.")
    parser.add_argument("--sim", required=True, help="the connpool-sim binary")
    parser.add_argument("--props", action="append", default=[], help="a props test binary (repeatable)")
    parser.add_argument("corpus_dir")
    args = parser.parse_args()
    args.sim = os.path.abspath(args.sim)  # meson runs tests in the build dir: print absolute paths
    args.props = [os.path.abspath(b) for b in args.props]
    props_tests = {b: list_tests(b) for b in args.props}
    entries, errors = read_corpus(args.corpus_dir, args.sim, props_tests)
    if errors:
        print("\n".join(errors))
        return 1
    failed = 0
    counts = {}
    for entry in entries:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
        what = replay(entry)
        if what is not None:
            failed += 1
            print(f"FAIL {entry.where}: {what.splitlines()[0]}")
            print(f"  reproduce: {command(entry)}")
            print("\n".join(what.splitlines()[1:]))
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"{len(entries) - failed} passed, {failed} failed ({kinds})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
