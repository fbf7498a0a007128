// connpool/config.hpp: the pool's configuration, with Go's field meanings (rules K1-K4),
// and its validation. A Pool must be built from a Config that `validate_config` accepts;
// tools that take settings from users call it first and print its message.
#pragma once

#include <optional>
#include <string>

#include "connpool/ports.hpp"

namespace connpool {

struct Config {
    /// Go MaxIdleConns: idle conns across all keys. 0 = no limit (K3).
    int max_idle_conns = 0;
    /// Go MaxIdleConnsPerHost: idle conns per key. 0 = the default of 2 (K1);
    /// negative = keep-alives off, every returned conn is closed (K2).
    int max_idle_conns_per_host = 0;
    /// Go MaxConnsPerHost: dialing + active + idle conns per key. 0 = no limit (K3, D1).
    int max_conns_per_host = 0;
    /// Go IdleConnTimeout: how long a conn may sit idle. 0 = no limit (K3, P11).
    Duration idle_conn_timeout{0};
    /// Go DisableKeepAlives: never reuse a conn (K2, T1).
    bool disable_keep_alives = false;

    /// Go's http.DefaultTransport: MaxIdleConns 100, IdleConnTimeout 90s (K4).
    static Config go_default_transport();

    /// The per-key idle cap in force: MaxIdleConnsPerHost, or 2 when it is 0 (K1).
    int idle_conns_per_host_max() const noexcept {
        return max_idle_conns_per_host != 0 ? max_idle_conns_per_host : default_max_idle_conns_per_host;
    }
    /// True when no conn is ever returned to the pool (K2, P1).
    bool keep_alives_off() const noexcept { return disable_keep_alives || max_idle_conns_per_host < 0; }

    static constexpr int default_max_idle_conns_per_host = 2;
    /// Sizes above this are rejected as nonsense rather than silently accepted.
    static constexpr int size_max = 1 << 24;
    /// Idle timeouts above this (ten years) are rejected; use 0 for "no limit".
    static constexpr Duration idle_conn_timeout_max = std::chrono::hours(24 * 3653);
};

/// nullopt when the config is usable, otherwise a one-line message naming the field
/// and what is wrong with it. Rejected: negative max_idle_conns (Go's behaviour there is
/// an accident: every put evicts), negative max_conns_per_host (say 0 for "no limit"),
/// a negative or absurd idle_conn_timeout, and any size above Config::size_max.
std::optional<std::string> validate_config(const Config& config);

}  // namespace connpool
