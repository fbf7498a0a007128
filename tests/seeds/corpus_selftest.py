#!/usr/bin/env python3
"""Self-test of the corpus runner (replay_corpus.py): a malformed line fails the run with
one line naming its file and line number, before anything is replayed.

Usage: corpus_selftest.py RUNNER -- RUNNER_ARGS...   (RUNNER_ARGS without the corpus dir)

Each case writes a corpus directory holding one comment line and one malformed line, runs
the runner on it, and checks that it exits 1 printing exactly `FILE:2: malformed corpus line: ...`.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

MALFORMED = [
    "cps2,seed=1,ck=00000000",  # unknown kind
    "replay cps1,seed=1",  # a command, not a repro string
    "cps1,seed=1, ck=0",  # a repro string with a space in it
    "rc PoolModel.MatchesReferenceModel",  # rc without its reproduce=
    "rc PoolModel.MatchesReferenceModel seed=5",  # rc with something else than reproduce=
    "rc PoolModel.MatchesReferenceModel reproduce=AAAA extra",  # too many words
    "rc PoolModel reproduce=AAAA",  # not Suite.Name
    "rc NoSuch.Test reproduce=AAAA",  # a test no props binary has
]


def main():
    runner, args = sys.argv[1], sys.argv[3:]
    assert sys.argv[2] == "--", "usage: corpus_selftest.py RUNNER -- RUNNER_ARGS..."
    failures = 0
    for line in MALFORMED:
        with tempfile.TemporaryDirectory() as d:
            corpus = Path(d) / "bad.txt"
            corpus.write_text(f"# a malformed line follows\n{line}\n", encoding="utf-8")
            run = subprocess.run([sys.executable, runner, *args, d], capture_output=True, text=True, timeout=120)
            out = (run.stdout + run.stderr).strip().splitlines()
            expected = f"{corpus}:2: malformed corpus line: "
            ok = run.returncode == 1 and len(out) == 1 and out[0].startswith(expected)
            print(("ok   " if ok else "FAIL ") + repr(line) + " -> exit " + str(run.returncode) + ": " + " | ".join(out))
            failures += 0 if ok else 1
    with tempfile.TemporaryDirectory() as d:  # no corpus files at all is an error too
        run = subprocess.run([sys.executable, runner, *args, d], capture_output=True, text=True, timeout=120)
        ok = run.returncode != 0 and "no *.txt corpus files" in run.stdout + run.stderr
        print(("ok   " if ok else "FAIL ") + "empty corpus directory -> exit " + str(run.returncode))
        failures += 0 if ok else 1
    print(f"{len(MALFORMED) + 1 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
