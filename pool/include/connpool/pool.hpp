// connpool/pool.hpp: the idle-connection pool of Go's net/http Transport as a standalone,
// single-threaded state machine. It owns the per-key idle lists (most recently used at the
// end), the cross-key LRU that enforces MaxIdleConns, the per-key idle cap, MaxConnsPerHost
// with its dial queue, the waiters (Go's wantConn) with late binding, IdleConnTimeout timers,
// CloseIdleConnections and shared (HTTP/2 style) conns. Go's tryPutIdleConn,
// queueForIdleConn, removeIdleConnLocked and closeConnIfStillIdle are its heart; the rule
// ids in comments (P5, T6, ...) refer to shared/go-pool-rules.md, and docs/GO_MAPPING.md
// maps every Go function and field to its counterpart here.
//
// Thread safety: a Pool is not thread-safe. All calls, and all port callbacks that lead
// to calls (timer fires, dial completions), must come from one thread or one strand.
// No port and no hook may call back into the pool from inside a call the pool made to it;
// the pool detects that and stops the program.
//
// Errors: operating conditions (a refused put, a failed dial, a cap reached) are values.
// Programmer errors (an unknown or stale handle, a lease ended twice, a duplicate idle conn,
// a counter underflow, re-entry, a Clock that goes backwards, a bound such as 2^24 distinct
// keys exceeded) stop the program with a one-line `connpool: fatal:` message.
// The pool throws nothing. After warm-up it allocates nothing per operation: conn, want and
// dial slots are recycled, and each conn slot keeps its timer for the next conn.
//
// Lifecycle of a conn, as seen by the embedder:
//   dial_done(d, conn)          the pool adopts `conn` and gives it a ConnId
//   get_conn / take -> Lease    the request holds a lease on the conn
//   put_idle_conn(id)           ends the lease, returns the conn (Go's tryPutIdleConn + close)
//   close_conn(id, reason)      ends the lease, the conn is not reusable (Connection: close)
//   conn_closed(id, reason)     the owner saw the conn die (EOF, reset); a lease, if any, is
//                               still open and must still be ended
//   Conn::close(reason)         called by the pool exactly once per conn, when it is done
//                               (for a shared conn the pool retires while requests still
//                               hold it: when the last of those leases ends);
//                               once it was called and no lease remains, the ConnId is dead
//                               and any further mention of it is fatal
//
// Destroying a Pool closes nothing and cancels nothing: conns and dials belong to their
// owner, who is expected to shut them down; no timer callback runs after ~Pool.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "connpool/config.hpp"
#include "connpool/ports.hpp"
#include "connpool/trace.hpp"

namespace connpool {

/// Told when a pending want has a result to take. Called from inside the pool call that
/// produced the result; it must only record the fact (schedule, post), never call the pool.
class WantListener {
public:
    virtual ~WantListener() = default;
    virtual void want_ready(WantId want) = 0;
};

/// The outside world, as the pool sees it. All references must outlive the Pool.
struct PoolPorts {
    Clock& clock;
    TimerService& timers;
    Dialer& dialer;
    WantListener& listener;
    TraceHooks* trace = nullptr;  // optional
};

/// A request's hold on a conn. Ended by exactly one put_idle_conn or close_conn.
struct Lease {
    ConnId id;
    Conn* conn = nullptr;
    KeyId key = 0;
    bool reused = false;    // TR2 Reused: the conn went through the pool before (P3); retry rule RT2(c).
                            // A fresh shared conn is pooled at once (D5), so it reads true, as in Go.
    bool was_idle = false;  // TR2 WasIdle
    Duration idle_time{0};  // TR2 IdleTime
};

/// What get_conn returns: a lease at once when an idle conn was usable, otherwise a
/// pending want whose result arrives through WantListener::want_ready.
struct GetConnResult {
    std::optional<Lease> lease;
    WantId want;  // meaningful only when !lease
};

/// The result of a want: a lease, or the error of the dial that was made for it (D4).
struct WantOutcome {
    std::optional<Lease> lease;
    std::error_code error;
};

/// Counters for reports (whatif, load tool) and tests. Monotonic.
struct PoolStats {
    std::uint64_t gets = 0;
    std::uint64_t idle_hits = 0;     // get_conn served from the idle list (T4)
    std::uint64_t handoffs = 0;      // conns given to a waiter on return (P5)
    std::uint64_t dials_started = 0;
    std::uint64_t dials_succeeded = 0;
    std::uint64_t dials_failed = 0;
    std::uint64_t puts = 0;          // put_idle_conn calls
    std::uint64_t puts_refused = 0;
    std::uint64_t closes[close_reason_count] = {};
};

class Pool {
public:
    /// `config` must pass validate_config; an invalid one is a programmer error.
    Pool(const Config& config, PoolPorts ports);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    const Config& config() const noexcept { return config_; }

    /// Interns a connection key (Go's connectMethodKey string, e.g. "|http|host:80").
    /// Allocates the first time a name is seen only.
    ///
    /// Keys are never forgotten: a KeyId is an index into the pool's per-key table, so each
    /// distinct name keeps its entry (about 170 bytes, plus the name twice when it is longer
    /// than 15 characters) until the Pool is destroyed, even when the key has no conn and no
    /// waiter left. Go deletes empty per-key map entries instead (docs/GO_MAPPING.md,
    /// divergence (i)). Limit: the first name beyond Config::size_max (2^24) distinct names
    /// is fatal ("more than 16777216 distinct connection keys"), like the pool's other bounds.
    /// An embedder that builds keys from untrusted input (arbitrary hosts) should call
    /// try_key with its own bound instead, or use one Pool per bounded set of hosts.
    KeyId key(std::string_view name);

    /// Like key(), but a new name beyond `max_keys` distinct keys (at most Config::size_max)
    /// is refused with std::nullopt instead of stopping the program: an operating condition
    /// for an embedder whose keys come from untrusted input (fail that request, "too many
    /// hosts"). A name already interned is always found, whatever the bound.
    std::optional<KeyId> try_key(std::string_view name, std::size_t max_keys = Config::size_max);

    /// How many distinct keys have been interned (they are never forgotten; see key()).
    std::size_t key_count() const noexcept { return keys_.size(); }
    std::string_view key_name(KeyId key) const;

    // ---- requests (Go: getConn, wantConn) -------------------------------------------

    /// Go's getConn (G1-G3): trace get_conn, take the most recently used live idle conn
    /// (T1-T4), else queue as a waiter for a returned conn (T5) and for a dial (D1): a dial
    /// starts now if MaxConnsPerHost allows, otherwise when a slot frees up (D6).
    GetConnResult get_conn(KeyId key);

    /// Consumes the result of a want that was announced ready, and ends the want: a
    /// later take or cancel_want of the same id is fatal. Fatal if not ready yet. An
    /// embedder whose deadline can race want_ready must remember which one it acted on.
    WantOutcome take(WantId want);

    /// The request stopped waiting (deadline, cancellation), Go's wantConn.cancel (W3).
    /// A pending want is removed from every queue at once. A dial made for it goes on and
    /// its conn is pooled (G2, G5: current Go). If a conn had already been delivered but not
    /// taken, it is returned to the pool as if put (HTTP/1) or just released (shared, X5).
    void cancel_want(WantId want);

    // ---- returning conns (Go: tryPutIdleConn, putOrCloseIdleConn) -------------------

    /// Ends a lease and offers the conn back (P1-P13): to the oldest waiter (P5), else to
    /// the idle list. On any refusal the pool closes the conn with the matching reason.
    /// Calls the put_idle_conn trace hook except for keep_alives_disabled (TR3).
    PutResult put_idle_conn(ConnId conn);

    /// Ends a lease on a conn that must not be reused (Connection: close, a cancelled
    /// request, a write error) and closes it.
    void close_conn(ConnId conn, CloseReason reason);

    /// The owner saw the conn die (server closed, read error, a 408 while idle: RM2, RM3).
    /// The pool removes it from the idle lists, releases its MaxConnsPerHost slot (D7) and
    /// calls Conn::close. A lease on it stays open until ended; a put of it is then refused
    /// as conn_broken (P2). Repeating this while a lease is still open is a no-op; once the
    /// pool has called Conn::close and no lease remains, the id is dead (see the lifecycle).
    void conn_closed(ConnId conn, CloseReason reason);

    // ---- dials (Go: dialConnFor, decConnsPerHost) ------------------------------------

    /// A dial succeeded (D5). The pool adopts `conn` (which must stay valid until the pool
    /// calls its close) and delivers it to the want it was made for, if that still waits;
    /// otherwise, and always for a shared conn, it is put into the pool. Returns the conn's
    /// id; when the want was gone and the put was refused (keep-alives off, the key at its
    /// idle cap, after close_idle_connections) Conn::close has already been called and the
    /// returned id is already dead.
    ConnId dial_done(DialId dial, Conn& conn);

    /// A dial failed (D4): the want gets the error if it still waits, and the dial's
    /// MaxConnsPerHost slot passes to the next waiter or is released (D6).
    void dial_failed(DialId dial, std::error_code error);

    // ---- pool-wide ---------------------------------------------------------------------

    /// Go's CloseIdleConnections (C1-C5): closes every idle conn, makes the next returns
    /// close their conns until the next get_conn (P6, T2), and cancels dials no want is
    /// waiting for. Conns in use are left alone.
    void close_idle_connections();

    // ---- queries -----------------------------------------------------------------------

    std::size_t idle_count() const noexcept { return lru_len_; }
    std::size_t idle_count(KeyId key) const;
    /// The idle conns of `key`, least recently used first (the order Go keeps).
    std::vector<ConnId> idle_conns(KeyId key) const;
    /// Go's connsPerHost[key]: dials in progress + open conns, counted only when
    /// MaxConnsPerHost > 0 (D8).
    int conns_per_host(KeyId key) const;
    /// Wants still waiting for a conn, all keys / one key.
    std::size_t waiting_count() const noexcept { return wants_waiting_; }
    std::size_t waiting_count(KeyId key) const;
    /// Wants with a result not yet taken.
    std::size_t ready_count() const noexcept { return wants_ready_; }
    std::size_t dials_in_progress() const noexcept { return dials_active_; }
    /// Conns adopted and not yet closed, idle or in use.
    std::size_t open_conns() const noexcept { return conns_open_; }
    std::size_t open_conns(KeyId key) const;
    bool is_idle(ConnId conn) const;
    /// False once the pool closed or retired the conn, or learned it died. Fatal for an
    /// unknown id. A retired shared conn still serves the leases held on it.
    bool is_open(ConnId conn) const;
    const PoolStats& stats() const noexcept { return stats_; }

    /// Re-derives the invariants of docs/INVARIANTS.md (INV1-INV7 and the rule checks K5,
    /// W1, W4, W5, T5, D1, D6, X1) from the raw state and returns the first violation as a
    /// one-line message, or nullopt. Costs O(conns + wants + dials). Call it between pool
    /// calls, never from inside a hook or port call.
    std::optional<std::string> check_invariants() const;

    /// For model checkers (connpool-sim check, docs/CHECKER.md): appends to `out` a binary
    /// encoding of all the state that decides how the pool behaves from here on: every conn,
    /// want and dial slot by slot number (without generations; a dial records whether the
    /// want it was started for is still the live want of its slot), each key's idle list and
    /// wait queues in order, the LRU, the free conn slots in order (free want and dial slots
    /// only by count: reusing one or another only renames slots), the counters and
    /// closeIdle. Times are encoded as `now - idle_at`, capped at `age_cap`, so a caller
    /// whose behaviour cannot tell ages at or beyond the cap apart may merge them. Two pools
    /// with the same config, equal encodings and equal ports behave alike on equal inputs, up
    /// to the numbering of want and dial slots. Read-only; the statistics are left out. Call
    /// it between pool calls.
    void append_state_for_testing(std::string& out, Duration age_cap) const;

private:
    static constexpr std::uint32_t npos = 0xffffffffu;

    struct ConnSlot {
        Conn* conn = nullptr;           // null while the slot is free
        std::unique_ptr<Timer> timer;   // idle timer; kept with the slot for the next conn
        TimePoint idle_at{};            // when it last entered the idle list (P12)
        KeyId key = 0;
        std::uint32_t generation = 1;
        std::uint32_t users = 0;        // open leases, including ones held by ready wants
        std::uint32_t want_holds = 0;   // of those, the ones held by ready wants (not yet taken)
        std::uint32_t key_prev = npos, key_next = npos;  // per-key idle list
        std::uint32_t lru_prev = npos, lru_next = npos;  // cross-key LRU
        bool in_idle = false;
        bool closed = false;            // Go: pconn.closed != nil
        bool multiplexed = false;       // Go: pconn.alt != nil
        bool reused = false;            // Go: pconn.reused (P3)
        bool counted = false;           // holds a MaxConnsPerHost slot (D7)
        bool close_deferred = false;    // retired shared conn: Conn::close when the last lease ends
        CloseReason deferred_reason = CloseReason::owner;
    };

    enum class WantState : std::uint8_t { free, waiting, ready };
    struct WantSlot {
        KeyId key = 0;
        std::uint32_t generation = 1;
        WantState state = WantState::free;
        std::uint32_t idle_prev = npos, idle_next = npos;    // Go: idleConnWait[key]
        std::uint32_t dial_prev = npos, dial_next = npos;    // Go: connsPerHostWait[key]
        bool in_idle_wait = false;
        bool in_dial_wait = false;
        std::uint32_t conn_slot = npos;  // delivered conn (ready); never from the idle list,
                                         // which get_conn hands out directly
        std::error_code error;           // delivered dial error (ready)
    };

    struct DialSlot {
        KeyId key = 0;
        std::uint32_t generation = 1;
        bool active = false;
        bool counted = false;            // holds a MaxConnsPerHost slot
        bool cancel_sent = false;
        WantId want{npos, 0};            // the want it was started for
    };

    struct Queue {  // intrusive FIFO of want slots; only waiting wants are ever in it
        std::uint32_t head = npos, tail = npos, len = 0;
    };

    struct KeyState {
        std::string name;
        std::uint32_t idle_head = npos, idle_tail = npos, idle_len = 0;  // MRU at tail
        Queue idle_wait;   // Go: idleConnWait[key]
        Queue dial_wait;   // Go: connsPerHostWait[key]
        int conns_count = 0;  // Go: connsPerHost[key]
        std::uint32_t open = 0;     // adopted conns not yet closed
        std::uint32_t waiting = 0;  // wants of this key still waiting
    };

    class PortCall;

    // Go counterparts, same names in snake case.
    std::optional<Lease> queue_for_idle_conn(KeyId key);
    void queue_for_dial(std::uint32_t want);
    void start_dial(KeyId key, std::uint32_t want, bool counted);
    void dec_conns_per_host(KeyId key);
    PutResult try_put_idle_conn(std::uint32_t slot);
    PutResult put_or_close_idle_conn(std::uint32_t slot);
    bool deliver_to_waiter(std::uint32_t slot, KeyState& ks);
    void admit_idle(std::uint32_t slot);
    void evict_lru_overflow();
    void arm_idle_timer(std::uint32_t slot);
    bool remove_idle_conn_locked(std::uint32_t slot);
    void unlink_lru(std::uint32_t slot);
    void cancel_dials_of_want(std::uint32_t w);                 // mutants only
    PutResult put_or_close_hiding_waiters(std::uint32_t slot);  // mutants only
    void close_conn_if_still_idle(std::uint32_t slot);
    void on_idle_timer(std::uint32_t slot);
    void close_locked(std::uint32_t slot, CloseReason reason, bool owner_says = false);
    void release_if_done(std::uint32_t slot);

    // want plumbing
    std::uint32_t alloc_want(KeyId key);
    void free_want(std::uint32_t w);
    void deliver(std::uint32_t w, std::uint32_t conn_slot, std::error_code error);
    void unlink_want(std::uint32_t w);
    void push_back(Queue& q, std::uint32_t w, bool idle_queue);
    void unlink(Queue& q, std::uint32_t w, bool idle_queue);
    Lease make_lease(std::uint32_t slot, bool was_idle, Duration idle_time);

    // handle checks (fatal on failure)
    std::uint32_t conn_slot_of(ConnId id, const char* op) const;
    std::uint32_t want_slot_of(WantId id, const char* op) const;
    std::uint32_t dial_slot_of(DialId id, const char* op) const;
    void check_key(KeyId key, const char* op) const;
    void enter(const char* op) const;
    TimePoint clock_now();  // ports_.clock.now(), fatal if it went backwards

    Config config_;
    PoolPorts ports_;
    std::vector<KeyState> keys_;
    std::map<std::string, KeyId, std::less<>> key_ids_;  // lookup only, never iterated for behaviour
    std::vector<ConnSlot> conns_;
    std::vector<std::uint32_t> free_conns_;
    std::vector<WantSlot> wants_;
    std::vector<std::uint32_t> free_wants_;
    std::vector<DialSlot> dials_;
    std::vector<std::uint32_t> free_dials_;
    std::uint32_t lru_head_ = npos;  // most recently added (Go: idleLRU front)
    std::uint32_t lru_tail_ = npos;  // oldest, evicted first (Go: removeOldest)
    std::size_t lru_len_ = 0;
    std::size_t wants_waiting_ = 0;
    std::size_t wants_ready_ = 0;
    std::size_t dials_active_ = 0;
    std::size_t conns_open_ = 0;
    bool close_idle_ = false;        // Go: closeIdle (C1, P6, T2)
    TimePoint clock_last_ = TimePoint::min();  // the latest Clock::now() seen; it never decreases
    mutable int port_depth_ = 0;     // >0 while a port or hook call is in progress
    PoolStats stats_;

    // check_invariants' working memory, kept between calls so that the audit allocates
    // nothing once the slot vectors stop growing (the simulator audits after every event).
    // It holds no pool state: every call clears and refills it from the raw slots.
    struct AuditKeyCounts {
        int counted = 0;               // dials and open conns holding a MaxConnsPerHost slot
        std::uint32_t open = 0;        // open conns
        std::uint32_t waiting = 0;     // waiting wants
        std::uint32_t idle_q = 0;      // waiting wants in the idle-wait queue
        std::uint32_t dial_q = 0;      // waiting wants in the dial-wait queue
    };
    struct AuditScratch {
        std::vector<std::uint8_t> conn_seen;    // per conn slot: in_key bit, in_lru bit
        std::vector<std::uint32_t> holds;       // per conn slot: ready wants holding it
        std::vector<AuditKeyCounts> per_key;
    };
    mutable AuditScratch audit_;
};

}  // namespace connpool
