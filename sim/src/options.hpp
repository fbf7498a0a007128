// sim/src/options.hpp: everything that defines one simulator run, and the one-line repro
// string that carries it. A run is a pure function of its Options: the seed drives every
// random draw, the rest fixes the pool config, the workload, the faults and the scheduler.
//
// The repro string is `cps1,seed=S,strategy=random,...,ck=XXXXXXXX`: a format version,
// every option by name, and a checksum of everything before it, so a truncated or
// edited line is refused instead of silently replaying another run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connpool/config.hpp"

namespace connpool::sim {

enum class Strategy : std::int64_t { random = 0, pct = 1 };

/// Deliberate faults in the simulator's wrapper around the pool, used to prove that the
/// checks catch a pool that hands out wrong conns (the pool core itself is not modified).
enum class Bug : std::int64_t {
    none = 0,
    stale_idle = 1,    // hand a request a conn the pool already closed
    double_lease = 2,  // hand a conn that is in use to a second request
    lost_put = 3,      // drop 5% of put_idle_conn calls: leases never end (liveness)
};

struct Options {
    std::uint64_t seed = 0;
    std::int64_t strategy = static_cast<std::int64_t>(Strategy::random);
    std::int64_t race_window_us = 0;      // events due within this of the earliest race
    std::int64_t pct_depth = 3;           // PCT priority change points per run
    std::int64_t timer_lag_us = 0;        // a fired timer's callback runs up to this (+ the window) later
    // workload
    std::int64_t keys = 1;                // hosts, one server each
    std::int64_t clients = 4;             // closed-loop concurrency C (ignored when rate-per-s > 0)
    std::int64_t rate_per_s = 0;          // open loop: requests arrive at this mean rate, 0 = closed loop
    std::int64_t think_ms = 10;           // think time, uniform in [0, 2*think]
    std::int64_t duration_ms = 5000;      // workload runs this long, then drains
    std::int64_t request_timeout_ms = 1000;
    std::int64_t idempotent_pct = 80;     // share of GET-like requests (RT3)
    std::int64_t close_idle_every_ms = 0; // CloseIdleConnections period, 0 = never
    // pool (connpool::Config)
    std::int64_t max_idle = 100;          // MaxIdleConns
    std::int64_t max_idle_per_host = 0;   // MaxIdleConnsPerHost (0 = 2, <0 = keep-alives off)
    std::int64_t max_conns_per_host = 0;  // MaxConnsPerHost
    std::int64_t idle_timeout_ms = 90000; // IdleConnTimeout
    std::int64_t keep_alives_off = 0;     // DisableKeepAlives
    // servers and network
    std::int64_t resp_ms = 5;             // mean response time
    std::int64_t resp_spread_pct = 50;    // uniform +- this share of the mean; 1% of responses x10
    std::int64_t server_idle_ms = 0;      // server keep-alive timeout, 0 = none
    std::int64_t close_after = 0;         // server closes after N requests on a conn, 0 = never
    std::int64_t nat_idle_ms = 0;         // middlebox drops conns idle longer, 0 = no middlebox
    std::int64_t server_408_pct = 0;      // share of keep-alive closes that send "408" first (RM3)
    std::int64_t reset_on_reuse_pct = 0;  // share of requests on a reused conn the server resets
    std::int64_t net_delay_us = 200;      // max delay of a FIN or RST reaching the client
    // dialer
    std::int64_t dial_ms = 2;             // mean dial latency
    std::int64_t dial_refuse_pct = 0;
    std::int64_t dial_timeout_pct = 0;
    std::int64_t dial_timeout_ms = 500;   // how long a timed-out dial takes to fail
    std::int64_t bug = static_cast<std::int64_t>(Bug::none);

    Strategy strategy_kind() const noexcept { return static_cast<Strategy>(strategy); }
    Bug bug_kind() const noexcept { return static_cast<Bug>(bug); }
    /// The pool config these options describe (validate with connpool::validate_config).
    Config pool_config() const;
    /// An upper estimate of the requests one run makes (for bounds).
    std::int64_t requests_estimate() const;
};

/// Option names as used on the command line (`--name value`) and in repro strings.
std::vector<std::string_view> option_names();

/// Sets one option from text ("random", "stale-idle", "42"). Returns an error message
/// naming the option and its allowed range, or nullopt.
std::optional<std::string> set_option(Options& options, std::string_view name, std::string_view value);

/// Checks ranges and cross-field rules and the pool config; nullopt when usable.
std::optional<std::string> validate(const Options& options);

/// The ck= field that ends every repro line (explore's and the checker's): eight hex digits
/// of FNV-1a over the text before it, so a line cut or mangled in a copy is refused.
std::string repro_checksum(std::string_view text);

/// The repro string for these options (see the header comment).
std::string encode_repro(const Options& options);

/// Parses a repro string; on failure returns the one-line reason in `error`.
std::optional<Options> decode_repro(std::string_view repro, std::string& error);

/// Swarm testing: options drawn from `seed` within bounds that keep runs short.
Options swarm(std::uint64_t seed);

}  // namespace connpool::sim
