#!/usr/bin/env bash
# bench_real.sh: connpool-load against wrk on nginx over loopback (issue 5, item 4), as a
# table that can be re-taken on a quiet machine.
#
#   scripts/bench_real.sh [BUILD_DIR]        # BUILD_DIR holds real/connpool-load (default: build)
#
# What it does, with the settings below (override through the environment):
#   1. starts nginx (one worker, access log off, `return 200 "ok\n"`, keepalive_requests
#      1000000 so that neither tool reconnects) on a free port of 127.0.0.1, pinned to CPU $CPU;
#   2. runs `wrk -t1 -c $CONNS -d ${DURATION}s` and `connpool-load -c $CONNS -d ${DURATION}s`
#      (one client thread each), alternating, $ROUNDS rounds, every process pinned to CPU
#      $CPU with taskset (on a shared 2-core VM unpinned figures swing by 2x; pinned rounds
#      agree within a few percent), and prints req/s per round and the ratio;
#   3. in separate runs, measures each client process per request: instructions (perf stat
#      -e instructions:u,instructions:k when the CPU exposes counters; otherwise user-space
#      instructions under valgrind's callgrind, from two run lengths so that start-up and
#      exit cancel out), CPU time (user + system) and system calls.
# Needs nginx, wrk, taskset; perf and valgrind for step 3 (skipped with a note if missing).
# Exit status: 0 when the table was printed, 2 when a tool is missing or a run failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build="$root/$build"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-50}
CPU=${CPU:-0}

load="$build/real/connpool-load"
die() { echo "bench_real: $*" >&2; exit 2; }
[ -x "$load" ] || die "$load not found: build it first (meson setup $build && ninja -C $build real/connpool-load)"
nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; } || true
[ -n "$nginx_bin" ] || die "nginx not found (apt-get install nginx)"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v taskset >/dev/null || die "taskset not found (apt-get install util-linux)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$DURATION" =~ ^[1-9][0-9]*$ && "$CONNS" =~ ^[1-9][0-9]*$ && "$CPU" =~ ^[0-9]+$ ]] ||
  die "ROUNDS, DURATION, CONNS must be positive integers and CPU a CPU number"

dir=$(mktemp -d /tmp/connpool-bench-XXXXXX)
nginx_pid=
cleanup() {
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=
for _ in $(seq 1 50); do  # a port nothing listens on
  candidate=$((20000 + RANDOM % 10000))
  port_open "$candidate" || { port=$candidate; break; }
done
[ -n "$port" ] || die "no free port found on 127.0.0.1"
cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok\n"; }
    }
}
EOF
chmod 755 "$dir"  # nginx's worker runs as nobody when started as root
taskset -c "$CPU" "$nginx_bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" &
nginx_pid=$!
url="http://127.0.0.1:$port/"
for _ in $(seq 1 100); do  # up to 5 s
  port_open "$port" && break
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.05
done
port_open "$port" || die "nginx did not start: $(cat "$dir/error.log" 2>/dev/null)"

run_wrk() {  # prints req/s
  taskset -c "$CPU" wrk -t1 -c "$CONNS" -d "${1}s" "$url" | awk '/^Requests\/sec:/ {print $2}'
}
run_load() {  # prints req/s
  taskset -c "$CPU" "$load" "$url" -c "$CONNS" -d "${1}s" 2>/dev/null | awk '/^requests/ {print $(NF-1)}'
}

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs; kernel $(uname -r)"
echo "nginx: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), 1 worker, access_log off, keepalive_requests 1000000"
echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'); connpool-load: $load"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)  (other jobs on the machine make req/s noisy; the ratio within a round is steadier)"
echo "everything pinned to CPU $CPU (taskset -c $CPU); $CONNS connections, ${DURATION} s per run, one client thread"
echo

run_wrk 1 >/dev/null; run_load 1 >/dev/null  # warm-up

echo "== req/s, alternating ($ROUNDS rounds)"
printf '%-6s %14s %20s %8s\n' round "wrk" "connpool-load" ratio
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 == 1 )); then w=$(run_wrk "$DURATION"); c=$(run_load "$DURATION")
  else c=$(run_load "$DURATION"); w=$(run_wrk "$DURATION"); fi
  [ -n "$w" ] && [ -n "$c" ] || die "a run printed no figure (wrk '$w', connpool-load '$c')"
  ratio=$(awk -v c="$c" -v w="$w" 'BEGIN {printf "%.3f", c / w}')
  ratios+=("$ratio")
  printf '%-6s %14.0f %20.0f %8s\n' "$r" "$w" "$c" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "median ratio connpool-load / wrk: $median"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

echo "== per request, client process only (separate runs)"
per_request_perf() {  # $1 = label, rest = the command; prints one table row from perf stat
  local label=$1; shift
  # Kernel counts and the syscall tracepoint need root (or a low perf_event_paranoid):
  # without them, fewer events.
  local events
  for events in instructions:u,instructions:k,task-clock,raw_syscalls:sys_enter instructions:u,task-clock task-clock; do
    perf stat -x, -o "$dir/perf.txt" -e "$events" "$@" >"$dir/out.txt" 2>/dev/null && break
    events=
  done
  [ -n "$events" ] || die "$label under perf stat failed"
  local reqs
  reqs=$(awk '/ requests in / {print $1} /^requests / {print $2}' "$dir/out.txt" | head -1)
  [ -n "$reqs" ] || die "$label printed no request count"
  awk -F, -v label="$label" -v reqs="$reqs" '
    $3 == "instructions:u" {iu = $1} $3 == "instructions:k" {ik = $1}
    $3 ~ /^task-clock/ {tc = $1} $3 == "raw_syscalls:sys_enter" {sc = $1}
    function per(v) { return v ~ /^[0-9]+$/ ? sprintf("%.0f", v / reqs) : "n/a" }
    END { printf "%-14s %10s %12s %12s %10.2f %9s\n", label, reqs, per(iu), per(ik), tc * 1000 / reqs,
                 sc ~ /^[0-9]+$/ ? sprintf("%.2f", sc / reqs) : "n/a" }' "$dir/perf.txt"
}
if command -v perf >/dev/null; then
  printf '%-14s %10s %12s %12s %10s %9s\n' tool requests "user instr" "kernel instr" "CPU us" syscalls
  per_request_perf wrk taskset -c "$CPU" wrk -t1 -c "$CONNS" -d "${DURATION}s" "$url"
  per_request_perf connpool-load taskset -c "$CPU" "$load" "$url" -c "$CONNS" -d "${DURATION}s"
  echo "(CPU us = task-clock per request in microseconds, user + system when run as root; as another user perf may
  count less: kernel instructions and system calls need root or a low kernel.perf_event_paranoid)"
  if perf stat -e instructions true 2>&1 | grep -q 'not supported'; then
    echo "(instructions n/a: this CPU exposes no hardware counters to perf, e.g. a VM without a virtual PMU)"
  fi
else
  echo "perf not installed (apt-get install linux-perf): CPU time and syscalls per request skipped"
fi
echo

if command -v valgrind >/dev/null; then
  echo "== user-space instructions per request under callgrind (two run lengths; differences cancel start-up and exit)"
  ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >"$dir/cg.out" | awk '/Collected :/ {print $NF}'; }
  l1=$(ir "$load" "$url" -c "$CONNS" -n 5000); l2=$(ir "$load" "$url" -c "$CONNS" -n 25000)
  awk -v a="$l1" -v b="$l2" 'BEGIN {printf "connpool-load  %8.0f instructions per request (valgrind, 5,000 and 25,000 requests)\n", (b - a) / 20000}'
  w1=$(ir wrk -t1 -c "$CONNS" -d 1s "$url"); r1=$(awk '/requests in/ {print $1}' "$dir/cg.out")
  w2=$(ir wrk -t1 -c "$CONNS" -d 4s "$url"); r2=$(awk '/requests in/ {print $1}' "$dir/cg.out")
  awk -v a="$w1" -v b="$w2" -v ra="$r1" -v rb="$r2" 'BEGIN {printf "wrk            %8.0f instructions per request (valgrind, %d and %d requests)\n", (b - a) / (rb - ra), ra, rb}'
else
  echo "valgrind not installed (apt-get install valgrind): callgrind instruction counts skipped"
fi
