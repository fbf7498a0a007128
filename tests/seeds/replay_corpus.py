#!/usr/bin/env python3
"""Replays every repro line of a seed corpus with connpool-sim and fails if any run fails.

Usage: replay_corpus.py CONNPOOL_SIM CORPUS_FILE
Blank lines and lines starting with '#' are skipped. Each failure prints the exact command
that reproduces it.
"""
import subprocess
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: replay_corpus.py CONNPOOL_SIM CORPUS_FILE", file=sys.stderr)
        return 2
    sim, corpus = sys.argv[1], sys.argv[2]
    with open(corpus, encoding="utf-8") as f:
        repros = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    if not repros:
        print(f"{corpus}: no repro lines", file=sys.stderr)
        return 1
    failed = 0
    for repro in repros:
        run = subprocess.run([sim, "replay", repro, "--summary"], capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            failed += 1
            print(f"FAIL (exit {run.returncode}): {sim} replay '{repro}'")
            print(run.stdout[-2000:], run.stderr[-2000:], sep="\n")
    print(f"{len(repros) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
