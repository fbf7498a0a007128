// connpool/ports.hpp: time types and the four ports the pool core is written against,
// a Clock, idle Timers, Connections and a Dialer. The core never reads a clock, never
// touches a socket and never starts a thread; everything it needs from the outside world
// comes through these interfaces, and everything it learns comes back through the
// Pool's `on_*` / `dial_*` entry points. The simulator (connpool::sim) and the Asio
// backend (connpool::real) each implement them.
//
// Thread safety: none of these ports is called by the pool from more than one thread,
// and none may call back into the pool from inside a call the pool made (see pool.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

namespace connpool {

/// Time as the pool sees it: nanoseconds since an epoch chosen by the Clock port.
/// `PoolClock` has no `now()` on purpose: only a `Clock` object can tell the time.
struct PoolClock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<PoolClock>;
    static constexpr bool is_steady = true;
};
using Duration = PoolClock::duration;
using TimePoint = PoolClock::time_point;

/// Interned connection key (Go's connectMethodKey). Conns are only reused for requests
/// with the same key (rule K5). Obtained from Pool::key().
using KeyId = std::uint32_t;

/// The pool's handle for a connection: a slot and a generation, so a stale or foreign
/// handle is detected instead of silently naming another conn.
struct ConnId {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;
    friend bool operator==(ConnId, ConnId) = default;
};

/// The pool's handle for one request waiting for a conn (Go's wantConn).
struct WantId {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;
    friend bool operator==(WantId, WantId) = default;
};

/// The pool's handle for one dial in progress.
struct DialId {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;
    friend bool operator==(DialId, DialId) = default;
};

/// Why a conn was closed. The first seven are decided by the pool (with Go's error
/// names in the comments); the rest are passed in by the conn's owner.
enum class CloseReason : std::uint8_t {
    keep_alives_disabled,   // P1  errKeepAlivesDisabled
    conn_broken,            // P2  errConnBroken
    close_idle,             // P6  errCloseIdle (returned after CloseIdleConnections)
    too_many_idle_for_key,  // P7  errTooManyIdleHost
    too_many_idle,          // P10 errTooManyIdle (evicted by the cross-key LRU)
    idle_timeout,           // T3/T6 errIdleConnTimeout
    close_idle_conns,       // C1  errCloseIdleConns
    server_closed_idle,     // RM3 errServerClosedIdle (EOF or 408 while idle)
    response_close,         // B1  the response or request said Connection: close
    read_error,             // RM2 the read loop failed on an active conn
    write_error,            // the request write failed
    request_canceled,       // B5  the request was cancelled while its response was in flight
    protocol_error,         // a malformed response
    owner,                  // any other reason of the owner's
};
std::string_view to_string(CloseReason r) noexcept;
inline constexpr int close_reason_count = static_cast<int>(CloseReason::owner) + 1;

/// A clock. `now()` must never go backwards: the pool remembers the latest reading it saw
/// and stops the program (`connpool: fatal: Clock::now() went backwards ...`) if a later one
/// is earlier. Equal readings are fine.
class Clock {
public:
    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
};

/// A one-shot timer with Go's time.Timer semantics, created by TimerService::after_func.
///
/// - `stop()` prevents the callback from running if it has not fired yet and returns
///   true; it returns false if the timer had already fired or been stopped. A callback that
///   was already due ("in flight") may still run after a `stop()` that returned false.
/// - `reset(d)` re-arms the timer to fire `d` after now, whether or not it had fired, and
///   returns whether it was still pending. After a `reset` that returned false, the old
///   in-flight callback may still run, and the re-armed one runs later as well.
/// - Destroying a Timer stops it for good: no callback runs after the destructor returned.
///
/// The pool is written to be correct under all of the above (rule T6 and the idle-timer
/// divergence documented in pool.hpp).
class Timer {
public:
    virtual ~Timer() = default;
    virtual bool stop() = 0;
    virtual bool reset(Duration d) = 0;
};

/// Creates timers (Go's time.AfterFunc). The callback runs later, from the owner's event
/// loop, never from inside `after_func` itself.
class TimerService {
public:
    virtual ~TimerService() = default;
    virtual std::unique_ptr<Timer> after_func(Duration d, std::function<void()> callback) = 0;
};

/// A connection owned by the embedding code (a socket in connpool::real, a simulated
/// link in connpool::sim). The pool keeps a non-owning pointer from `Pool::dial_done`
/// until it calls `close`, or until the owner reports the conn dead with `Pool::conn_closed`.
class Conn {
public:
    virtual ~Conn() = default;
    /// A stable identity of the owner's choosing, for traces and error messages.
    virtual std::uint64_t id() const = 0;
    /// True for a shared, multiplexed conn (HTTP/2 style, Go's `alt != nil`): it can
    /// carry many requests at once and is never removed from the idle list on delivery (X1).
    virtual bool multiplexed() const = 0;
    /// The pool is done with this conn: close it. Called at most once per conn; for a shared
    /// conn retired while requests hold it, only after the last of them ended. After it
    /// returns the pool never touches the object again, and the owner must not mention
    /// its ConnId to the pool again except to end a lease it still holds.
    virtual void close(CloseReason reason) = 0;
};

/// Starts dials. `dial` must not complete synchronously: the owner reports the outcome
/// later through Pool::dial_done or Pool::dial_failed, exactly once per DialId.
class Dialer {
public:
    virtual ~Dialer() = default;
    virtual void dial(DialId dial, KeyId key, std::string_view key_name) = 0;
    /// The pool no longer needs this dial (Go >=1.23 CloseIdleConnections cancelling an
    /// orphaned dial, rule C5). The owner may still report either outcome afterwards.
    virtual void cancel(DialId dial) = 0;
};

}  // namespace connpool
