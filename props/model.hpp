// A plain reference model of Go's Transport idle-conn pool rules (shared/go-pool-rules.md)
// plus connpool's documented divergences (docs/GO_MAPPING.md), for the property suites.
//
// Written from the rules, not from pool/src: plain std::vector state and linear scans,
// no intrusive lists, no slot recycling. Entities are named by model indexes:
//   conn i  = the i-th conn adopted by dial_done (the harness tells the model its ConnId slot,
//             which only matters for idle timers: connpool keeps one timer per conn slot)
//   want i  = the i-th get_conn that did not return a lease at once
//   dial i  = the i-th dial started
// Every operation appends what it expects the pool to do to `log` (Conn::close calls,
// conn_closed hooks, want_ready announcements, dial starts and cancels, trace results), in
// the order the pool must do it. Calls that the pool treats as programmer errors throw
// ModelError (the harness never makes them on purpose).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "connpool/config.hpp"
#include "connpool/ports.hpp"
#include "connpool/trace.hpp"

namespace connpool::props {

struct ModelError : std::logic_error {
    using std::logic_error::logic_error;
};

struct MConn {
    int key = 0;
    bool shared = false;          // multiplexed, Go's alt != nil
    std::uint32_t slot = 0;       // ConnId slot (timers belong to slots)
    int users = 0;                // request leases + ready wants holding it
    bool idle = false;
    bool closed = false;          // pool's view: closed or retired (is_open false)
    bool close_called = false;    // Conn::close was called
    std::optional<CloseReason> deferred;  // retired shared conn, Conn::close waits for last lease
    bool dead = false;            // closed, no lease, id stale
    bool reused = false;          // P3
    bool counted = false;         // holds a MaxConnsPerHost slot (D7)
    TimePoint idle_at{};          // P12
};

enum class WState { waiting, ready, done };

struct MWant {
    int key = 0;
    WState state = WState::waiting;
    int conn = -1;        // delivered conn (ready)
    bool error = false;   // delivered dial error (ready)
    std::error_code error_code;  // which error (D4; an empty dial error arrives as io_error)
};

struct MDial {
    int key = 0;
    int want = -1;
    bool counted = false;
    bool active = true;
    bool cancel_sent = false;
};

struct MLease {  // what get_conn / take hand out
    int conn = -1;
    bool reused = false;
    bool was_idle = false;
    Duration idle_time{0};
};

// What TraceHooks::got_conn reports (TR2): conn, Reused, WasIdle, IdleTime.
struct MGot {
    int conn = -1;
    bool reused = false;
    bool was_idle = false;
    Duration idle_time{0};
    friend bool operator==(const MGot&, const MGot&) = default;
};

struct MGetResult {
    std::optional<MLease> lease;
    int want = -1;
};

// Expected side effects of one operation, in order.
struct MLog {
    std::vector<std::pair<int, CloseReason>> close_calls;  // Conn::close(reason)
    std::vector<std::pair<int, CloseReason>> close_hooks;  // TraceHooks::conn_closed
    std::vector<int> ready;                                // WantListener::want_ready
    std::vector<int> dials;                                // Dialer::dial (model dial index)
    std::vector<int> cancels;                              // Dialer::cancel (set semantics)
    std::vector<std::pair<int, PutResult>> put_traces;     // TraceHooks::put_idle_conn
    std::vector<MGot> got_traces;                          // TraceHooks::got_conn
    std::vector<std::uint32_t> timers_created;             // slots whose timer was created now
    void clear() { *this = MLog{}; }
};

struct SlotTimer {
    std::optional<TimePoint> due;  // pending deadline
};

class Model {
public:
    Model(const Config& cfg, int nkeys, TimePoint start)
        : cfg(cfg), now(start), idle(static_cast<std::size_t>(nkeys)), idle_wait(static_cast<std::size_t>(nkeys)),
          dial_wait(static_cast<std::size_t>(nkeys)), conns_count(static_cast<std::size_t>(nkeys), 0) {}

    // ---- state (public for the harness to compare and to pick command targets) ----------
    Config cfg;
    TimePoint now;
    std::vector<MConn> conns;
    std::vector<MWant> wants;
    std::vector<MDial> dials;
    std::vector<std::vector<int>> idle;       // per key, least recently used first (MRU at end)
    std::vector<int> lru;                     // all idle conns, oldest first
    std::vector<std::vector<int>> idle_wait;  // Go idleConnWait, FIFO, waiting wants only
    std::vector<std::vector<int>> dial_wait;  // Go connsPerHostWait, FIFO, waiting wants only
    std::vector<int> conns_count;             // Go connsPerHost
    bool close_idle = false;                  // Go closeIdle
    std::map<std::uint32_t, SlotTimer> timers;
    MLog log;
    std::uint64_t handoffs = 0;               // PoolStats::handoffs: P5 deliveries

    bool timeout_on() const { return cfg.idle_conn_timeout > Duration::zero(); }
    int per_host_cap() const {
        return cfg.max_idle_conns_per_host != 0 ? cfg.max_idle_conns_per_host : 2;  // K1
    }
    bool keep_alives_off() const { return cfg.disable_keep_alives || cfg.max_idle_conns_per_host < 0; }  // K2

    // ---- requests ----------------------------------------------------------------------
    MGetResult get_conn(int key) {
        if (!cfg.disable_keep_alives) {  // T1
            close_idle = false;           // T2
            auto& list = idle[idx(key)];
            while (!list.empty()) {       // T4: MRU first
                const int c = list.back();
                MConn& mc = conns[idx(c)];
                if (timeout_on() && mc.idle_at < now - cfg.idle_conn_timeout) {  // T3, closed at once (div. d)
                    remove_idle(c);
                    close_locked(c, CloseReason::idle_timeout, false);
                    release_if_done(c);
                    continue;
                }
                const Duration idle_time = now - mc.idle_at;
                if (!mc.shared) remove_idle(c);  // X1: shared conns stay pooled
                ++mc.users;
                if (!mc.shared) log.got_traces.push_back(MGot{c, mc.reused, true, idle_time});
                return MGetResult{MLease{c, mc.reused, true, idle_time}, -1};
            }
        }
        const int w = static_cast<int>(wants.size());
        wants.push_back(MWant{key, WState::waiting, -1, false, {}});
        if (!cfg.disable_keep_alives) idle_wait[idx(key)].push_back(w);  // T5
        queue_for_dial(w);
        return MGetResult{std::nullopt, w};
    }

    // Returns the outcome: lease (conn >= 0) or error (conn < 0).
    MLease take(int w) {
        MWant& mw = wants[idx(w)];
        if (mw.state != WState::ready) throw ModelError("take of a want that is not ready");
        mw.state = WState::done;
        if (mw.error) return MLease{-1, false, false, Duration{0}};
        const MConn& mc = conns[idx(mw.conn)];
        if (!mc.shared) log.got_traces.push_back(MGot{mw.conn, mc.reused, false, Duration{0}});
        return MLease{mw.conn, mc.reused, false, Duration{0}};
    }

    void cancel_want(int w) {
        MWant& mw = wants[idx(w)];
        if (mw.state == WState::done) throw ModelError("cancel of a finished want");
        if (mw.state == WState::waiting) {
            unqueue(w);
            mw.state = WState::done;
            return;
        }
        mw.state = WState::done;
        if (mw.error) return;
        const int c = mw.conn;
        MConn& mc = conns[idx(c)];
        --mc.users;
        if (!mc.shared) put_or_close(c);  // W3; X5: shared conns are only released
        release_if_done(c);
    }

    // ---- returning conns -----------------------------------------------------------------
    PutResult put_idle_conn(int c) {
        MConn& mc = conns[idx(c)];
        if (mc.dead || mc.users <= 0) throw ModelError("put without an open lease");
        --mc.users;
        const PutResult r = put_or_close(c);
        if (r != PutResult::keep_alives_disabled && !mc.shared) log.put_traces.emplace_back(c, r);  // TR3
        release_if_done(c);
        return r;
    }

    void close_conn(int c, CloseReason reason) {
        MConn& mc = conns[idx(c)];
        if (mc.dead || mc.users <= 0) throw ModelError("close_conn without an open lease");
        --mc.users;
        close_locked(c, reason, true);
        release_if_done(c);
    }

    void conn_closed(int c, CloseReason reason) {
        if (conns[idx(c)].dead) throw ModelError("conn_closed of a dead conn");
        close_locked(c, reason, true);  // RM2
        release_if_done(c);
    }

    // ---- dials ---------------------------------------------------------------------------
    // A dial succeeded; the pool adopted the conn into ConnId slot `slot`. Returns conn index.
    int dial_done(int d, bool shared, std::uint32_t slot) {
        MDial& md = dials[idx(d)];
        if (!md.active) throw ModelError("dial_done of a finished dial");
        md.active = false;
        const int c = static_cast<int>(conns.size());
        MConn mc;
        mc.key = md.key;
        mc.shared = shared;
        mc.slot = slot;
        mc.counted = md.counted;
        conns.push_back(mc);
        const bool waiting = wants[idx(md.want)].state == WState::waiting;
        if (waiting) deliver(md.want, c, false);
        if (!waiting || shared) {  // G5, D5
            put_or_close(c);
            release_if_done(c);
        }
        return c;
    }

    void dial_failed(int d, std::error_code ec) {
        MDial& md = dials[idx(d)];
        if (!md.active) throw ModelError("dial_failed of a finished dial");
        md.active = false;
        if (wants[idx(md.want)].state == WState::waiting) {  // D4
            deliver(md.want, -1, true);
            // divergence (h) 4: a failure without an error is delivered as io_error
            wants[idx(md.want)].error_code = ec ? ec : std::make_error_code(std::errc::io_error);
        }
        if (md.counted) dec_conns_per_host(md.key);
    }

    // ---- pool-wide -----------------------------------------------------------------------
    void close_idle_connections() {
        close_idle = true;  // C1
        while (!lru.empty()) {  // divergence (f): oldest first
            const int c = lru.front();
            remove_idle(c);
            close_locked(c, CloseReason::close_idle_conns, false);
            release_if_done(c);
        }
        for (std::size_t d = 0; d < dials.size(); ++d) {  // C5
            MDial& md = dials[d];
            if (!md.active || md.cancel_sent) continue;
            if (wants[idx(md.want)].state == WState::waiting) continue;
            md.cancel_sent = true;
            log.cancels.push_back(static_cast<int>(d));
        }
    }

    // ---- time and timers -----------------------------------------------------------------
    void set_now(TimePoint t) {
        if (t < now) throw ModelError("clock went backwards");
        now = t;
    }
    // The timer of `slot` fired (its callback is now due: run at once or held in flight).
    void timer_fired(std::uint32_t slot) {
        auto it = timers.find(slot);
        if (it == timers.end()) throw ModelError("fire of an unknown timer");
        it->second.due.reset();
    }
    // A callback of `slot`'s timer runs now (on time, early, or stale).
    void timer_callback(std::uint32_t slot) {
        const int c = occupant(slot);
        if (c < 0) return;
        MConn& mc = conns[idx(c)];
        if (!mc.idle || mc.shared) return;  // T6: not idle
        const Duration idle_for = now - mc.idle_at;
        if (idle_for < cfg.idle_conn_timeout) {  // divergence (a): re-armed for the rest
            timers[slot].due = mc.idle_at + cfg.idle_conn_timeout;
            return;
        }
        remove_idle(c);
        close_locked(c, CloseReason::idle_timeout, false);
        release_if_done(c);
    }
    // The conn (not dead) that currently occupies `slot`, or -1.
    int occupant(std::uint32_t slot) const {
        for (std::size_t i = 0; i < conns.size(); ++i) {
            if (!conns[i].dead && conns[i].slot == slot) return static_cast<int>(i);
        }
        return -1;
    }

    // ---- queries -------------------------------------------------------------------------
    int waiting_count(int key) const {
        int n = 0;
        for (const auto& w : wants) n += (w.key == key && w.state == WState::waiting) ? 1 : 0;
        return n;
    }
    int waiting_count() const {
        int n = 0;
        for (const auto& w : wants) n += w.state == WState::waiting ? 1 : 0;
        return n;
    }
    int ready_count() const {
        int n = 0;
        for (const auto& w : wants) n += w.state == WState::ready ? 1 : 0;
        return n;
    }
    int dials_in_progress() const {
        int n = 0;
        for (const auto& d : dials) n += d.active ? 1 : 0;
        return n;
    }
    int open_conns(int key = -1) const {
        int n = 0;
        for (const auto& c : conns) n += (!c.closed && (key < 0 || c.key == key)) ? 1 : 0;
        return n;
    }

private:
    static std::size_t idx(int i) {
        if (i < 0) throw ModelError("negative index");
        return static_cast<std::size_t>(i);
    }
    static void erase_value(std::vector<int>& v, int x) {
        auto it = std::find(v.begin(), v.end(), x);
        if (it != v.end()) v.erase(it);
    }

    void unqueue(int w) {  // divergence (b): leaves both queues wherever it stands
        erase_value(idle_wait[idx(wants[idx(w)].key)], w);
        erase_value(dial_wait[idx(wants[idx(w)].key)], w);
    }

    void deliver(int w, int c, bool error) {  // W1
        MWant& mw = wants[idx(w)];
        if (mw.state != WState::waiting) throw ModelError("deliver to a want that is not waiting");
        unqueue(w);
        mw.state = WState::ready;
        mw.conn = c;
        mw.error = error;
        if (c >= 0) ++conns[idx(c)].users;
        log.ready.push_back(w);
    }

    void queue_for_dial(int w) {  // D1
        const int key = wants[idx(w)].key;
        if (cfg.max_conns_per_host <= 0) {
            start_dial(key, w, false);
        } else if (conns_count[idx(key)] < cfg.max_conns_per_host) {
            ++conns_count[idx(key)];
            start_dial(key, w, true);
        } else {
            dial_wait[idx(key)].push_back(w);
        }
    }

    void start_dial(int key, int w, bool counted) {
        dials.push_back(MDial{key, w, counted, true, false});
        log.dials.push_back(static_cast<int>(dials.size()) - 1);
    }

    void dec_conns_per_host(int key) {  // D6
        if (cfg.max_conns_per_host <= 0) return;
        if (conns_count[idx(key)] <= 0) throw ModelError("connCount underflow");
        auto& q = dial_wait[idx(key)];
        if (!q.empty()) {
            const int w = q.front();
            q.erase(q.begin());
            start_dial(key, w, true);
            return;
        }
        --conns_count[idx(key)];
    }

    PutResult put_or_close(int c) {  // P13
        const PutResult r = try_put(c);
        if (r != PutResult::pooled && r != PutResult::handed_to_waiter && !conns[idx(c)].closed) {
            CloseReason reason = CloseReason::conn_broken;
            if (r == PutResult::keep_alives_disabled) reason = CloseReason::keep_alives_disabled;
            if (r == PutResult::close_idle) reason = CloseReason::close_idle;
            if (r == PutResult::too_many_idle_for_key) reason = CloseReason::too_many_idle_for_key;
            close_locked(c, reason, false);
        }
        return r;
    }

    PutResult try_put(int c) {
        MConn& mc = conns[idx(c)];
        if (keep_alives_off()) return PutResult::keep_alives_disabled;  // P1
        if (mc.closed) return PutResult::conn_broken;                   // P2
        mc.reused = true;                                               // P3
        if (mc.shared && mc.idle) return PutResult::pooled;             // P4
        auto& q = idle_wait[idx(mc.key)];
        if (!q.empty()) {  // P5
            if (!mc.shared) {
                deliver(q.front(), c, false);
                ++handoffs;
                return PutResult::handed_to_waiter;
            }
            while (!q.empty()) {
                deliver(q.front(), c, false);
                ++handoffs;
            }
        }
        if (close_idle) return PutResult::close_idle;  // P6
        if (static_cast<int>(idle[idx(mc.key)].size()) >= per_host_cap()) return PutResult::too_many_idle_for_key;  // P7
        if (mc.idle) throw ModelError("dup idle conn (P8)");
        // P9, P12, P11
        idle[idx(mc.key)].push_back(c);
        lru.push_back(c);
        mc.idle = true;
        mc.idle_at = now;
        if (!mc.shared && timeout_on()) {
            if (timers.find(mc.slot) == timers.end()) log.timers_created.push_back(mc.slot);
            timers[mc.slot].due = now + cfg.idle_conn_timeout;
        }
        // P10
        if (cfg.max_idle_conns > 0) {
            while (static_cast<int>(lru.size()) > cfg.max_idle_conns) {
                const int old = lru.front();
                remove_idle(old);
                close_locked(old, CloseReason::too_many_idle, false);
                release_if_done(old);
            }
        }
        return PutResult::pooled;
    }

    void remove_idle(int c) {  // RM1
        MConn& mc = conns[idx(c)];
        if (!mc.idle) return;
        auto it = timers.find(mc.slot);
        if (it != timers.end()) it->second.due.reset();  // divergence (e): timer stopped
        erase_value(idle[idx(mc.key)], c);
        erase_value(lru, c);
        mc.idle = false;
    }

    void close_locked(int c, CloseReason reason, bool owner_says) {
        MConn& mc = conns[idx(c)];
        if (mc.closed) {
            if (owner_says && mc.deferred) {
                log.close_calls.emplace_back(c, *mc.deferred);
                mc.close_called = true;
                mc.deferred.reset();
            }
            return;
        }
        remove_idle(c);
        mc.closed = true;
        log.close_hooks.emplace_back(c, reason);
        if (mc.shared && mc.users > 0 && !owner_says) {
            mc.deferred = reason;
        } else {
            log.close_calls.emplace_back(c, reason);
            mc.close_called = true;
        }
        if (mc.counted) {  // D7
            mc.counted = false;
            dec_conns_per_host(mc.key);
        }
    }

    void release_if_done(int c) {
        MConn& mc = conns[idx(c)];
        if (mc.dead || !mc.closed || mc.users != 0 || mc.idle) return;
        if (mc.deferred) {
            log.close_calls.emplace_back(c, *mc.deferred);
            mc.close_called = true;
            mc.deferred.reset();
        }
        mc.dead = true;
    }
};

}  // namespace connpool::props
