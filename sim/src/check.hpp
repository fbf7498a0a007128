// sim/src/check.hpp: `connpool-sim check`, a bounded exhaustive model checker of the pool
// core. For a small configuration (a few keys, conns and requests) it drives the real
// connpool::Pool through its own deterministic ports (a manual clock, timers whose firing
// and callback are separate events, a dialer whose dials complete or fail as events, fake
// conns) and enumerates every ordering of the enabled events, breadth first, up to a depth
// bound. States are merged by a fingerprint of everything that decides the future (the
// pool's own state encoding, Pool::append_state_for_testing, plus the harness state), so
// the first violation found is a shortest counterexample. After every event it runs the
// pool's invariant audit and the harness's rule checks; in every quiescent state it checks
// liveness. docs/CHECKER.md is the manual.
//
// A counterexample is printed as a readable trace and as a replay string
// `cpc1,<options>,path=<events>,ck=<checksum>` that `connpool-sim check --replay` reruns.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "connpool/config.hpp"

namespace connpool::sim {

/// Deliberate faults in the checker's harness (never in the pool), used to prove that the
/// checks and the search find a broken embedding and print a shortest replayable trace.
enum class CheckBug : std::uint8_t {
    none,
    stale_idle,    // a request that must wait is handed a conn the pool already closed
    double_lease,  // a request that must wait is handed a conn another request holds
    lost_put,      // a request's put_idle_conn is dropped: the conn is never returned
};

/// The bounds and the configuration of one check. Every field is part of the replay string
/// except `depth` and `max_states`, which only bound the search.
struct CheckOptions {
    int keys = 2;                // connection keys (hosts)
    int conns = 3;               // conns the dialer creates at most (successful dials)
    int requests = 4;            // requests that arrive at most
    int depth = 12;              // events on one path at most (the defaults take about 5-6 s to depth 12)
    int idle_timeout = 2;        // IdleConnTimeout in ticks (one tick = 1 s of virtual time); 0 = none
    int max_conns_per_host = 0;  // MaxConnsPerHost
    int max_idle = 0;            // MaxIdleConns
    int max_idle_per_host = 0;   // MaxIdleConnsPerHost (0 = Go's default of 2, negative = keep-alives off)
    bool keep_alives_off = false;  // DisableKeepAlives
    bool cancel = false;         // a waiting request may cancel (cancel_want)
    bool server_close = false;   // the server may close any open conn once (conn_closed)
    bool close_idle = false;     // the embedder may call close_idle_connections once
    bool shared = false;         // dials yield shared (HTTP/2 style) conns
    bool dial_fail = true;       // a dial may fail instead of completing
    CheckBug bug = CheckBug::none;
    std::uint64_t max_states = 2'000'000;  // distinct states at most (memory bound)

    Config pool_config() const;
};

/// One event of a path. `arg` names a key (get), a request (take, put, close, cancel), a
/// dial (ok, fail), a conn (server close) or a timer (fire, run), each numbered in the order
/// the path created it.
enum class CheckEventKind : std::uint8_t {
    get, take, dial_ok, dial_fail, put, close, cancel, server_close, close_idle, tick, fire, run,
};
struct CheckEvent {
    CheckEventKind kind = CheckEventKind::get;
    std::uint8_t arg = 0;
    friend bool operator==(CheckEvent, CheckEvent) = default;
};

/// The short token of an event in replay strings: g0, t1, o0, f0, p1, c1, x1, s0, C, k, F0, R0.
std::string event_token(CheckEvent e);

/// Sets one option by its command-line name (keys, conns, requests, depth, idle-timeout,
/// max-conns-per-host, max-idle, max-idle-per-host, keep-alives-off, cancel, server-close,
/// close-idle, shared, dial-fail, bug, max-states). Boolean options take 0 or 1. Returns a
/// one-line error naming the option and its range, or nullopt.
std::optional<std::string> set_check_option(CheckOptions& options, std::string_view name, std::string_view value);

/// Cross-field checks and connpool::validate_config; nullopt when usable.
std::optional<std::string> validate_check(const CheckOptions& options);

/// The replay string of `path` under `options` (format version cpc1, every option, the path
/// and a checksum of everything before it).
std::string encode_check_repro(const CheckOptions& options, const std::vector<CheckEvent>& path);

/// Parses a replay string; on failure returns the one-line reason in `error`.
std::optional<std::pair<CheckOptions, std::vector<CheckEvent>>> decode_check_repro(std::string_view repro,
                                                                                  std::string& error);

struct CheckReport {
    std::uint64_t explored = 0;     // states whose successors were generated
    std::uint64_t distinct = 0;     // distinct states seen (the visited set)
    std::uint64_t transitions = 0;  // events executed from explored states, every one checked
    std::uint64_t quiescent = 0;    // distinct quiescent states, each checked for liveness
    std::uint64_t depth_cut = 0;    // distinct states at the depth bound, not expanded
    int max_depth = 0;              // the deepest state seen
    bool state_limit_hit = false;   // stopped at max_states
    double wall_s = 0;
    std::optional<std::string> violation;  // the first violation found, if any
    std::vector<CheckEvent> counterexample;  // its path (shortest: breadth-first search)
};

/// Called with the replay string of each path just before it runs, so that a pool abort
/// (connpool: fatal) can still print the line that replays it. May be null.
using CheckPathHook = void (*)(const std::string& repro);

/// Runs the search. `options` must pass validate_check.
CheckReport run_check(const CheckOptions& options, CheckPathHook hook = nullptr);

/// Reruns one path with its readable trace on `out`: every event with the time, what the
/// pool did and the pool's state, then the violated check if any. Returns nullopt when the
/// path passes every check, else the violation. `error` is set (and nullopt returned) when
/// an event of the path is not enabled where it occurs.
std::optional<std::string> replay_check_path(const CheckOptions& options, const std::vector<CheckEvent>& path,
                                             std::ostream& out, std::string& error);

/// `connpool-sim check ...` (args[0] is "check"). Exit codes: 0 no violation, 1 a
/// violation (or a replayed path that fails), 2 bad input. `tool` is the program name the
/// replay line prints ("<tool> check --replay '...'"), as for cli_main.
int check_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, CheckPathHook hook,
               const std::string& tool = "connpool-sim");

}  // namespace connpool::sim
