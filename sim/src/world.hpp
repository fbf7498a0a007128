// sim/src/world.hpp: one simulator run. A World wires the real pool core to simulated
// ports (virtual clock, timers with in-flight callbacks, a dialer with latency, refusals,
// time-outs and cancellation, conns) and to a world of servers, a NAT middlebox and
// closed-loop clients that follow Go's retry rule RT2. After every event it runs the
// pool's invariant audit and the world's own checks; at the end it stops the workload,
// lets time run past every timeout and checks that the pool drained (liveness).
//
// run_world is a pure function of its Options: the same options give the same trace,
// byte for byte, and the same trace hash.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "connpool/pool.hpp"
#include "options.hpp"

namespace connpool::sim {

/// How each request ended. Every request ends with exactly one of these.
enum class Outcome : std::uint8_t {
    ok,
    deadline_waiting,      // its deadline passed while it waited for a conn (cancel_want)
    deadline_in_flight,    // its deadline passed with the request on a conn (conn closed, B5)
    dial_error,            // the dial made for it failed (D4; Go does not retry this)
    server_closed,         // EOF on the conn, not retried (fresh conn or not idempotent, RT2)
    nat_reset,             // the middlebox had dropped the conn, not retried (RT2)
    conn_broken,           // the conn died between delivery and use, not retried (RT2)
    conn_reset,            // the server reset a reused conn, not retried (RT2)
};
inline constexpr int outcome_count = 8;
const char* to_string(Outcome o) noexcept;

/// Faults injected and races observed, so tests can prove each one was exercised.
struct FaultCounts {
    std::uint64_t server_idle_closes = 0;     // server keep-alive timeout closed an idle conn
    std::uint64_t server_408s = 0;            // ... announcing it with a 408 (RM3: same as EOF)
    std::uint64_t resets_on_reuse = 0;        // the server reset a request on a reused conn
    std::uint64_t close_after_closes = 0;     // server said Connection: close after N requests
    std::uint64_t nat_drops = 0;              // a request hit a conn the middlebox had dropped
    std::uint64_t nat_fins_lost = 0;          // a server FIN the middlebox swallowed
    std::uint64_t sent_on_server_closed = 0;  // a request raced a server close (EOF on reuse)
    std::uint64_t eof_seen = 0;               // the client learned of a server close (conn_closed)
    std::uint64_t dials_refused = 0;
    std::uint64_t dials_timed_out = 0;
    std::uint64_t dials_canceled = 0;         // the pool cancelled a dial (C5) and it ended early
    std::uint64_t late_dials = 0;             // a dial finished with no request of its key waiting
    std::uint64_t timer_stop_false_in_flight = 0;   // stop/reset returned false, callback in flight
    std::uint64_t timer_stale_callbacks = 0;        // a callback ran after its timer was stopped/reset
    std::uint64_t attempts_failed = 0;        // attempts that failed on a conn (EOF, reset, died before use), retried or not
    std::uint64_t retries = 0;                // RT2 retries on a reused conn
    std::uint64_t died_after_delivery = 0;    // delivered conn closed before the request took it
    std::uint64_t close_idle_calls = 0;
};

/// What `whatif` reports: the cost of a config in conns, sockets and waiting.
struct UsageStats {
    std::uint64_t peak_open = 0;              // most conns open at once (all keys)
    std::uint64_t dials_after_warmup = 0;     // dials started after the first 10% of the workload
    std::uint64_t time_wait_peak = 0;         // client-side sockets in TIME_WAIT (60 s), at most at once
    std::uint64_t time_wait_at_end = 0;       // ... when the workload stopped
    std::uint64_t time_wait_total = 0;        // client-first closes over the run
    std::int64_t wait_p50_us = 0;             // time from get_conn to a conn, per attempt that got one
    std::int64_t wait_p99_us = 0;
    std::int64_t wait_max_us = 0;
};

struct RunResult {
    bool ok = true;
    std::string failure;          // the first violated check, one line
    std::uint64_t events = 0;
    std::uint64_t audits = 0;     // Pool::check_invariants runs: after every event that called the pool
    std::uint64_t races = 0;      // scheduler choices among several candidates
    std::uint64_t reorders = 0;   // choices that were not the (deadline, seq) first
    Duration simulated{0};        // virtual time covered
    std::uint64_t trace_hash = 0; // FNV-1a over every trace record
    std::uint64_t requests = 0;
    std::uint64_t outcomes[outcome_count] = {};
    FaultCounts faults;
    PoolStats pool;
    UsageStats usage;
};

/// Linux keeps a socket in TIME_WAIT for 60 s on the side that closed first.
inline constexpr std::chrono::seconds time_wait_duration{60};

/// Runs one simulation. `trace`, if not null, receives the readable trace, one line per
/// record, flushed line by line (so a pool abort leaves the trace up to the abort).
/// `trace_json`, if not null, receives the run in Chrome Trace Event Format (Perfetto,
/// chrome://tracing): one track per conn (idle and busy spans, close instants), one track
/// per client (its requests with their outcomes) and counters of the pool's state.
/// Neither output changes the run.
RunResult run_world(const Options& options, std::ostream* trace, std::string* trace_json = nullptr);

}  // namespace connpool::sim
