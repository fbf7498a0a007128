// connpool/trace.hpp: the pool's trace hooks, Go's net/http/httptrace for the pool
// (rules TR1-TR3), plus the conn lifecycle events the simulator and the load tool count.
// Every hook has an empty default so an embedder overrides only what it needs.
//
// Hooks run synchronously inside pool calls and must not call back into the pool.
#pragma once

#include <system_error>

#include "connpool/ports.hpp"

namespace connpool {

/// What Pool::put_idle_conn did with a returned conn (Go's tryPutIdleConn result).
enum class PutResult : std::uint8_t {
    pooled,                 // P9  added to the idle list (or already there, P4)
    handed_to_waiter,       // P5  late binding: given to the oldest live waiter
    keep_alives_disabled,   // P1  refused, conn closed
    conn_broken,            // P2  refused, conn closed
    close_idle,             // P6  refused after CloseIdleConnections, conn closed
    too_many_idle_for_key,  // P7  refused: the key already holds its idle cap, conn closed
};
std::string_view to_string(PutResult r) noexcept;
/// True for the results that keep the conn open.
constexpr bool accepted(PutResult r) noexcept { return r == PutResult::pooled || r == PutResult::handed_to_waiter; }

/// httptrace.GotConnInfo (TR2).
struct GotConnInfo {
    ConnId conn;
    KeyId key = 0;
    bool reused = false;     // the conn had been returned to the pool at least once (P3)
    bool was_idle = false;   // it came from the idle list (T4), not a dial or a hand-off
    Duration idle_time{0};   // how long it had been idle, when was_idle
};

class TraceHooks {
public:
    virtual ~TraceHooks() = default;
    /// TR1: a request asked for a conn (always called, even when an idle one is used).
    virtual void get_conn(KeyId /*key*/) {}
    /// TR2: a request got an HTTP/1 conn (never called for multiplexed conns, X2).
    virtual void got_conn(const GotConnInfo& /*info*/) {}
    /// TR3: the outcome of Pool::put_idle_conn for an HTTP/1 conn, except keep_alives_disabled.
    virtual void put_idle_conn(ConnId /*conn*/, PutResult /*result*/) {}
    /// A dial started for this key.
    virtual void connect_start(KeyId /*key*/, DialId /*dial*/) {}
    /// A dial finished; `error` is empty on success.
    virtual void connect_done(KeyId /*key*/, DialId /*dial*/, std::error_code /*error*/) {}
    /// The pool closed a conn, or learned that its owner did.
    virtual void conn_closed(ConnId /*conn*/, KeyId /*key*/, CloseReason /*reason*/) {}
};

}  // namespace connpool
