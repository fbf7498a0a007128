// Config defaults (K4) and validation.
#include "connpool/config.hpp"

#include <string>

namespace connpool {

Config Config::go_default_transport() {
    Config c;
    c.max_idle_conns = 100;
    c.idle_conn_timeout = std::chrono::seconds(90);
    return c;
}

namespace {
std::string too_large(const char* field, int value) {
    return std::string(field) + " = " + std::to_string(value) + " is larger than the limit of " +
           std::to_string(Config::size_max);
}
}  // namespace

std::optional<std::string> validate_config(const Config& c) {
    if (c.max_idle_conns < 0) {
        return "max_idle_conns = " + std::to_string(c.max_idle_conns) +
               " is negative; use 0 for no limit (Go would evict every idle conn)";
    }
    if (c.max_idle_conns > Config::size_max) return too_large("max_idle_conns", c.max_idle_conns);
    if (c.max_idle_conns_per_host > Config::size_max) {
        return too_large("max_idle_conns_per_host", c.max_idle_conns_per_host);
    }
    if (c.max_conns_per_host < 0) {
        return "max_conns_per_host = " + std::to_string(c.max_conns_per_host) + " is negative; use 0 for no limit";
    }
    if (c.max_conns_per_host > Config::size_max) return too_large("max_conns_per_host", c.max_conns_per_host);
    if (c.idle_conn_timeout < Duration::zero()) {
        return "idle_conn_timeout = " + std::to_string(c.idle_conn_timeout.count()) +
               "ns is negative; use 0 for no timeout";
    }
    if (c.idle_conn_timeout > Config::idle_conn_timeout_max) {
        return "idle_conn_timeout = " + std::to_string(c.idle_conn_timeout.count()) +
               "ns is longer than ten years; use 0 for no timeout";
    }
    return std::nullopt;
}

}  // namespace connpool
