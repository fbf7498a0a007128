// Options: the field table, parsing and printing of repro strings, validation, swarm draws.
#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "rng.hpp"

namespace connpool::sim {

namespace {

constexpr std::string_view repro_version = "cps1";

struct Field {
    std::string_view name;
    std::int64_t Options::*member;
    std::int64_t min;
    std::int64_t max;
    const char* const* names;  // symbolic values by index, or null for plain integers
    std::int64_t names_count;
};

constexpr const char* strategy_names[] = {"random", "pct"};
constexpr const char* bug_names[] = {"none", "stale-idle", "double-lease", "lost-put"};
constexpr std::int64_t hour_ms = 3600 * 1000;

// Every option but the seed, in repro order. Bounds keep one run finite and the clock
// far from overflow (virtual time is int64 nanoseconds).
constexpr Field fields[] = {
    {"strategy", &Options::strategy, 0, 1, strategy_names, 2},
    {"race-window-us", &Options::race_window_us, 0, 1000 * 1000, nullptr, 0},
    {"pct-depth", &Options::pct_depth, 0, 100, nullptr, 0},
    {"timer-lag-us", &Options::timer_lag_us, 0, 60 * 1000 * 1000, nullptr, 0},
    {"keys", &Options::keys, 1, 64, nullptr, 0},
    {"clients", &Options::clients, 1, 10000, nullptr, 0},
    {"rate-per-s", &Options::rate_per_s, 0, 1000000, nullptr, 0},
    {"think-ms", &Options::think_ms, 0, hour_ms, nullptr, 0},
    {"duration-ms", &Options::duration_ms, 1, 24 * hour_ms, nullptr, 0},
    {"request-timeout-ms", &Options::request_timeout_ms, 1, hour_ms, nullptr, 0},
    {"idempotent-pct", &Options::idempotent_pct, 0, 100, nullptr, 0},
    {"close-idle-every-ms", &Options::close_idle_every_ms, 0, hour_ms, nullptr, 0},
    {"max-idle", &Options::max_idle, -1000000, 1000000, nullptr, 0},
    {"max-idle-per-host", &Options::max_idle_per_host, -1000000, 1000000, nullptr, 0},
    {"max-conns-per-host", &Options::max_conns_per_host, -1000000, 1000000, nullptr, 0},
    {"idle-timeout-ms", &Options::idle_timeout_ms, -1, 24 * hour_ms, nullptr, 0},
    {"keep-alives-off", &Options::keep_alives_off, 0, 1, nullptr, 0},
    {"resp-ms", &Options::resp_ms, 0, hour_ms, nullptr, 0},
    {"resp-spread-pct", &Options::resp_spread_pct, 0, 100, nullptr, 0},
    {"server-idle-ms", &Options::server_idle_ms, 0, 24 * hour_ms, nullptr, 0},
    {"close-after", &Options::close_after, 0, 1000000, nullptr, 0},
    {"nat-idle-ms", &Options::nat_idle_ms, 0, 24 * hour_ms, nullptr, 0},
    {"server-408-pct", &Options::server_408_pct, 0, 100, nullptr, 0},
    {"reset-on-reuse-pct", &Options::reset_on_reuse_pct, 0, 100, nullptr, 0},
    {"net-delay-us", &Options::net_delay_us, 0, 60 * 1000 * 1000, nullptr, 0},
    {"dial-ms", &Options::dial_ms, 0, hour_ms, nullptr, 0},
    {"dial-refuse-pct", &Options::dial_refuse_pct, 0, 100, nullptr, 0},
    {"dial-timeout-pct", &Options::dial_timeout_pct, 0, 100, nullptr, 0},
    {"dial-timeout-ms", &Options::dial_timeout_ms, 0, hour_ms, nullptr, 0},
    {"bug", &Options::bug, 0, 3, bug_names, 4},
};

const Field* find_field(std::string_view name) {
    for (const Field& f : fields) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t v = 0;
    if (text.empty()) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::string value_text(const Field& f, std::int64_t v) {
    if (f.names != nullptr && v >= 0 && v < f.names_count) return f.names[v];
    return std::to_string(v);
}

}  // namespace

Config Options::pool_config() const {
    Config c;
    c.max_idle_conns = static_cast<int>(max_idle);
    c.max_idle_conns_per_host = static_cast<int>(max_idle_per_host);
    c.max_conns_per_host = static_cast<int>(max_conns_per_host);
    c.idle_conn_timeout = std::chrono::milliseconds(idle_timeout_ms);
    c.disable_keep_alives = keep_alives_off != 0;
    return c;
}

std::int64_t Options::requests_estimate() const {
    if (rate_per_s > 0) return rate_per_s * duration_ms / 1000 + 1;
    // A closed-loop request takes at least the think time plus the response (floor 50 us).
    const std::int64_t request_us = think_ms * 1000 + std::max<std::int64_t>(resp_ms * 1000, 50);
    return clients * (duration_ms * 1000 / request_us + 1);
}

std::vector<std::string_view> option_names() {
    std::vector<std::string_view> names{"seed"};
    for (const Field& f : fields) names.push_back(f.name);
    return names;
}

std::optional<std::string> set_option(Options& options, std::string_view name, std::string_view value) {
    if (name == "seed") {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) {
            return std::string("seed: '").append(value) + "' is not an unsigned 64-bit integer";
        }
        options.seed = v;
        return std::nullopt;
    }
    const Field* f = find_field(name);
    if (f == nullptr) return std::string("unknown option '").append(name) + "'";
    if (f->names != nullptr) {
        for (std::int64_t i = 0; i < f->names_count; ++i) {
            if (value == f->names[i]) {
                options.*(f->member) = i;
                return std::nullopt;
            }
        }
        std::string allowed;
        for (std::int64_t i = 0; i < f->names_count; ++i) {
            if (i != 0) allowed += '|';
            allowed += f->names[i];
        }
        return std::string(name) + std::string(": '").append(value) + "' is not one of " + allowed;
    }
    const auto v = parse_int(value);
    if (!v) return std::string(name) + std::string(": '").append(value) + "' is not an integer";
    if (*v < f->min || *v > f->max) {
        return std::string(name) + " = " + std::to_string(*v) + " is outside [" + std::to_string(f->min) + ", " +
               std::to_string(f->max) + "]";
    }
    options.*(f->member) = *v;
    return std::nullopt;
}

std::optional<std::string> validate(const Options& o) {
    for (const Field& f : fields) {
        const std::int64_t v = o.*(f.member);
        if (v < f.min || v > f.max) {
            return std::string(f.name) + " = " + std::to_string(v) + " is outside [" + std::to_string(f.min) + ", " +
                   std::to_string(f.max) + "]";
        }
    }
    if (o.idle_timeout_ms < 0) return "idle-timeout-ms: " + *validate_config(o.pool_config());
    if (auto error = validate_config(o.pool_config())) return "pool config: " + *error;
    if (o.requests_estimate() > 50'000'000) {
        return "workload too large: more than 50,000,000 requests (clients or rate, times duration)";
    }
    return std::nullopt;
}

std::string repro_checksum(std::string_view text) {
    std::uint32_t h = 2166136261u;  // FNV-1a, 32 bits
    for (const char ch : text) {
        h ^= static_cast<unsigned char>(ch);
        h *= 16777619u;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", h);
    return buf;
}

std::string encode_repro(const Options& o) {
    std::string s(repro_version);
    s += ",seed=" + std::to_string(o.seed);
    for (const Field& f : fields) {
        s += ',';
        s += f.name;
        s += '=';
        s += value_text(f, o.*(f.member));
    }
    s += ",ck=" + repro_checksum(s);
    return s;
}

std::optional<Options> decode_repro(std::string_view repro, std::string& error) {
    const auto ck_at = repro.rfind(",ck=");
    if (repro.substr(0, repro_version.size() + 1) != std::string(repro_version) + ",") {
        error = std::string("repro does not start with '").append(repro_version) + ",' (wrong format version or not a repro)";
        return std::nullopt;
    }
    if (ck_at == std::string_view::npos) {
        error = "repro has no checksum field 'ck=' (truncated?)";
        return std::nullopt;
    }
    const std::string_view body = repro.substr(0, ck_at);
    const std::string_view ck = repro.substr(ck_at + 4);
    if (ck != repro_checksum(body)) {
        error = "repro checksum mismatch (truncated or edited)";
        return std::nullopt;
    }
    Options o;
    std::vector<std::string_view> seen;
    std::size_t pos = repro_version.size() + 1;
    for (int guard = 0; pos < body.size(); ++guard) {
        if (guard > 1000) break;
        std::size_t comma = body.find(',', pos);
        if (comma == std::string_view::npos) comma = body.size();
        const std::string_view item = body.substr(pos, comma - pos);
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
            error = std::string("repro item '").append(item) + "' is not name=value";
            return std::nullopt;
        }
        const std::string_view name = item.substr(0, eq);
        for (std::string_view s : seen) {
            if (s == name) {
                error = std::string("repro names option '").append(name) + "' twice";
                return std::nullopt;
            }
        }
        seen.push_back(name);
        if (auto e = set_option(o, name, item.substr(eq + 1))) {
            error = "repro: " + *e;
            return std::nullopt;
        }
        pos = comma + 1;
    }
    for (std::string_view name : option_names()) {
        bool found = false;
        for (std::string_view s : seen) found = found || s == name;
        if (!found) {
            error = std::string("repro lacks option '").append(name) + "'";
            return std::nullopt;
        }
    }
    if (auto e = validate(o)) {
        error = "repro: " + *e;
        return std::nullopt;
    }
    return o;
}

Options swarm(std::uint64_t seed) {
    // Stream 1 of the seed: independent of the world's and the scheduler's draws.
    Rng r(seed, 1);
    Options o;
    o.seed = seed;
    o.strategy = r.percent(50) ? 1 : 0;
    o.race_window_us = r.pick({0, 0, 50, 500, 2000});
    o.pct_depth = r.pick({1, 3, 10});
    o.timer_lag_us = r.pick({0, 0, 200, 5000});
    o.keys = r.between(1, 3);
    o.clients = r.pick({1, 2, 4, 8, 16});
    o.think_ms = r.pick({0, 1, 5, 20, 200});
    o.duration_ms = r.pick({1000, 2000, 4000});
    o.request_timeout_ms = r.pick({20, 100, 500, 2000});
    o.idempotent_pct = r.pick({0, 50, 90, 100});
    o.close_idle_every_ms = r.pick({0, 0, 0, 300});
    o.max_idle = r.pick({0, 1, 3, 100});
    o.max_idle_per_host = r.percent(5) ? -1 : r.pick({0, 1, 2, 4, 100});
    o.max_conns_per_host = r.pick({0, 0, 1, 2, 4});
    o.idle_timeout_ms = r.pick({0, 30, 100, 500, 90000});
    o.keep_alives_off = r.percent(5) ? 1 : 0;
    o.resp_ms = r.pick({0, 1, 5, 20});  // 0 still takes the 50 us floor
    o.resp_spread_pct = r.pick({0, 50, 100});
    o.server_idle_ms = r.pick({0, 0, 1, 20, 100, 500});  // 1 ms: closes race deliveries
    o.close_after = r.pick({0, 0, 0, 0, 1, 3, 10});
    o.nat_idle_ms = r.pick({0, 0, 50, 400});
    o.server_408_pct = r.pick({0, 0, 50});
    o.reset_on_reuse_pct = r.pick({0, 0, 0, 2, 20});
    o.net_delay_us = r.pick({0, 100, 1000, 5000});
    o.dial_ms = r.pick({0, 1, 5, 50});
    o.dial_refuse_pct = r.pick({0, 0, 5, 30});
    o.dial_timeout_pct = r.pick({0, 0, 5});
    o.dial_timeout_ms = r.pick({50, 300});
    o.rate_per_s = r.percent(20) ? r.pick({20, 200, 2000}) : 0;
    // Keep each run to roughly 20,000 requests so that campaigns stay fast.
    for (int guard = 0; guard < 32 && o.requests_estimate() > 20000; ++guard) {
        o.duration_ms = std::max<std::int64_t>(o.duration_ms / 2, 100);
    }
    return o;
}

}  // namespace connpool::sim
