#!/usr/bin/env python3
"""Checks `connpool-sim replay --trace-json` with Python's json module (meson test trace_json).

Runs one swarm seed with a broken core (--bug double-lease, so the trace ends in a violation)
and one healthy seed, and checks that each file is valid JSON in the object form of the
Chrome Trace Event Format that Perfetto and chrome://tracing open: every event has a phase,
a pid and a name, timed events a numeric ts, complete events a duration; there is one named
track per conn; the pool's counter events carry open, idle, active, waiting, ready and
dialing (issue 4: idle, active, dialing, waiting), all non-negative, with active = open - idle.
Usage: check_trace_json.py CONNPOOL_SIM
"""
import json
import os
import subprocess
import sys
import tempfile

COUNTER_ARGS = ["open", "idle", "active", "waiting", "ready", "dialing"]


def fail(msg):
    print("trace_json: " + msg)
    sys.exit(1)


def check(sim, repro_args, expect_violation):
    with tempfile.TemporaryDirectory() as tmp:
        repro = subprocess.run([sim, "repro"] + repro_args, capture_output=True, text=True, check=True).stdout.strip()
        path = os.path.join(tmp, "trace.json")
        run = subprocess.run([sim, "replay", repro, "--trace-json", path], capture_output=True, text=True)
        if run.returncode not in (0, 1):
            fail(f"replay exited {run.returncode}: {run.stderr.strip()}")
        with open(path) as f:
            doc = json.load(f)  # raises on anything that is not JSON
    events = doc.get("traceEvents")
    if not isinstance(events, list) or not events:
        fail("no traceEvents array")
    counters = busy = complete = 0
    tracks = set()
    violation = False
    for e in events:
        if not isinstance(e, dict):
            fail(f"event is not an object: {e!r}")
        ph = e.get("ph")
        if not isinstance(ph, str) or not isinstance(e.get("pid"), int) or not isinstance(e.get("name"), str):
            fail(f"event without ph, pid or name: {e!r}")
        if ph != "M" and not isinstance(e.get("ts"), (int, float)):
            fail(f"timed event without a numeric ts: {e!r}")
        if ph == "M" and e["name"] == "thread_name":
            tracks.add(e["args"]["name"])
        if ph == "X":
            complete += 1
            if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0:
                fail(f"complete event without a duration: {e!r}")
        if "VIOLATION" in e["name"]:
            violation = True
        if ph != "C":
            continue
        counters += 1
        args = e.get("args", {})
        if e["name"] != "pool" or list(args) != COUNTER_ARGS:
            fail(f"pool counter with unexpected series: {e!r}")
        if any(not isinstance(v, int) or v < 0 for v in args.values()):
            fail(f"negative or non-integer count: {e!r}")
        if args["active"] != args["open"] - args["idle"]:
            fail(f"active is not open - idle: {e!r}")
        busy += args["active"] > 0
    if counters == 0 or busy == 0 or complete == 0:
        fail(f"expected counters, conns in use and complete events: {counters} {busy} {complete}")
    if not any(t.startswith("conn ") for t in tracks):
        fail(f"no conn tracks among {sorted(tracks)[:10]}")
    if violation != expect_violation:
        fail(f"violation marker {'missing' if expect_violation else 'unexpected'}")
    return len(events)


def main():
    if len(sys.argv) != 2:
        fail("usage: check_trace_json.py CONNPOOL_SIM")
    sim = sys.argv[1]
    broken = check(sim, ["--seed", "7", "--bug", "double-lease"], expect_violation=True)
    healthy = check(sim, ["--seed", "7", "--no-swarm"], expect_violation=False)
    print(f"trace_json: ok ({broken} and {healthy} events)")


main()
