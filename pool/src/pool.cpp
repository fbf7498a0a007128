// The pool state machine. Each Go function of the Transport's pool has one counterpart
// here with the same name in snake case; rule ids refer to shared/go-pool-rules.md.
// Every place where connpool deliberately behaves differently from Go is marked
// "Divergence from Go" and listed in docs/GO_MAPPING.md.
#include "connpool/pool.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fatal.hpp"
#include "mutants.hpp"

namespace connpool {

namespace mutant = detail::mutant;

// Marks a call out to a port or a hook, so a call back into the pool from inside it is
// caught (see the thread-safety contract in pool.hpp).
class Pool::PortCall {
public:
    explicit PortCall(const Pool& pool) : pool_(pool) { ++pool_.port_depth_; }
    ~PortCall() { --pool_.port_depth_; }
    PortCall(const PortCall&) = delete;
    PortCall& operator=(const PortCall&) = delete;

private:
    const Pool& pool_;
};

Pool::Pool(const Config& config, PoolPorts ports) : config_(config), ports_(ports) {
    if (auto error = validate_config(config)) {
        detail::fatal("Pool constructed with an invalid config: %s", error->c_str());
    }
}

Pool::~Pool() = default;

// Reads the Clock port and holds it to its contract (ports.hpp: now() never goes
// backwards). A clock that does would make idle times negative and re-arm timers wrongly,
// so it stops the program like any other broken port.
TimePoint Pool::clock_now() {
    TimePoint now;
    {
        PortCall call(*this);
        now = ports_.clock.now();
    }
    if (now < clock_last_) {
        detail::fatal("Clock::now() went backwards by %lld ns (%lld ns after %lld ns); the Clock port "
                      "must never go backwards (ports.hpp)",
                      static_cast<long long>((clock_last_ - now).count()),
                      static_cast<long long>(now.time_since_epoch().count()),
                      static_cast<long long>(clock_last_.time_since_epoch().count()));
    }
    clock_last_ = now;
    return now;
}

void Pool::enter(const char* op) const {
    if (port_depth_ != 0) {
        detail::fatal("%s called from inside a port or trace hook call; the pool is not re-entrant", op);
    }
}

KeyId Pool::key(std::string_view name) {
    enter("key");
    const std::optional<KeyId> id = try_key(name);
    if (!id) detail::fatal("more than %d distinct connection keys", Config::size_max);
    return *id;
}

std::optional<KeyId> Pool::try_key(std::string_view name, std::size_t max_keys) {
    enter("try_key");
    auto it = key_ids_.find(name);
    if (it != key_ids_.end()) return it->second;
    // Divergence from Go: a key is never forgotten. Go deletes a key's map entries once they
    // are empty; here a KeyId is an index held by the embedder and by every slot, so its entry
    // stays until the pool is destroyed, and the table is bounded (docs/GO_MAPPING.md (i)).
    if (keys_.size() >= std::min(max_keys, static_cast<std::size_t>(Config::size_max))) return std::nullopt;
    const auto id = static_cast<KeyId>(keys_.size());
    keys_.push_back(KeyState{});
    keys_.back().name = std::string(name);
    key_ids_.emplace(std::string(name), id);
    return id;
}

std::string_view Pool::key_name(KeyId key) const {
    check_key(key, "key_name");
    return keys_[key].name;
}

void Pool::check_key(KeyId key, const char* op) const {
    if (key >= keys_.size()) detail::fatal("%s: unknown key id %u", op, key);
}

std::uint32_t Pool::conn_slot_of(ConnId id, const char* op) const {
    if (id.slot >= conns_.size() || conns_[id.slot].conn == nullptr || conns_[id.slot].generation != id.generation) {
        detail::fatal("%s: unknown or stale conn id %u.%u", op, id.slot, id.generation);
    }
    return id.slot;
}

std::uint32_t Pool::want_slot_of(WantId id, const char* op) const {
    if (id.slot >= wants_.size() || wants_[id.slot].state == WantState::free ||
        wants_[id.slot].generation != id.generation) {
        detail::fatal("%s: unknown or stale want id %u.%u", op, id.slot, id.generation);
    }
    return id.slot;
}

std::uint32_t Pool::dial_slot_of(DialId id, const char* op) const {
    if (id.slot >= dials_.size() || !dials_[id.slot].active || dials_[id.slot].generation != id.generation) {
        detail::fatal("%s: unknown or finished dial id %u.%u", op, id.slot, id.generation);
    }
    return id.slot;
}

// ---- get_conn ------------------------------------------------------------------------

// Mirrors Go: (*Transport).getConn (G1-G3).
GetConnResult Pool::get_conn(KeyId key) {
    enter("get_conn");
    check_key(key, "get_conn");
    ++stats_.gets;
    if (ports_.trace != nullptr && !mutant::get_conn_trace_skipped_on_idle_hit) {  // G1: always, even when an idle conn will be used
        PortCall call(*this);
        ports_.trace->get_conn(key);
    }
    if (auto lease = queue_for_idle_conn(key)) {
        if ((!conns_[lease->id.slot].multiplexed || mutant::got_conn_for_shared) && ports_.trace != nullptr) {  // TR2, X2
            PortCall call(*this);
            ports_.trace->got_conn(GotConnInfo{lease->id, key, lease->reused, lease->was_idle, lease->idle_time});
        }
        return GetConnResult{lease, WantId{}};
    }
    if (mutant::get_conn_trace_skipped_on_idle_hit && ports_.trace != nullptr) {
        PortCall call(*this);
        ports_.trace->get_conn(key);
    }
    const std::uint32_t w = alloc_want(key);
    const WantId id{w, wants_[w].generation};
    // T5: register for a returned conn, unless keep-alives are off (T1: Go never
    // registers then, TestIdleConnChannelLeak).
    bool register_idle = !config_.disable_keep_alives || mutant::keep_alives_off_registers_waiter;
    if (mutant::dial_waiter_not_in_idle_queue && config_.max_conns_per_host > 0 &&
        keys_[key].conns_count >= config_.max_conns_per_host) {
        register_idle = false;
    }
    if (register_idle) push_back(keys_[key].idle_wait, w, true);
    queue_for_dial(w);
    return GetConnResult{std::nullopt, id};
}

// Mirrors Go: (*Transport).queueForIdleConn (T1-T4). Returns a lease when an idle conn
// was delivered. Registration as a waiter (T5) is done by the caller in the same call,
// so check-and-register stay one atomic step as in Go's fix of race #2 (fbaf881cc6).
std::optional<Lease> Pool::queue_for_idle_conn(KeyId key) {
    if (config_.disable_keep_alives) return std::nullopt;  // T1
    if constexpr (!mutant::close_idle_never_reset && !mutant::close_idle_reset_only_on_hit) close_idle_ = false;  // T2
    KeyState& ks = keys_[key];
    const TimePoint now = ks.idle_len != 0 ? clock_now() : TimePoint{};
    const bool timeout_on = config_.idle_conn_timeout > Duration::zero();
    // T4: scan from the most recently used end (LIFO). Bounded by the list length.
    for (std::uint32_t guard = ks.idle_len + 1; ks.idle_tail != npos; --guard) {
        if (guard == 0) detail::fatal("queue_for_idle_conn: idle list of key %u is cyclic", key);
        const std::uint32_t slot = mutant::fifo_reuse ? ks.idle_head : ks.idle_tail;
        ConnSlot& c = conns_[slot];
        // T3: too old by the clock even if its timer has not run yet.
        // Divergence from Go: Go spawns an async closeConnIfStillIdle and drops the conn
        // from the list but not from the LRU; here it is closed at once, which keeps INV1
        // exact. Go also compares wall-clock readings; here the injected Clock is used.
        const bool too_old = mutant::too_old_inclusive ? c.idle_at <= now - config_.idle_conn_timeout
                                                       : c.idle_at < now - config_.idle_conn_timeout;
        const bool too_old_checked = !mutant::no_too_old_check && !(mutant::too_old_skips_shared && c.multiplexed);
        if (too_old_checked && (timeout_on || mutant::too_old_without_timeout) && too_old) {
            close_conn_if_still_idle(slot);
            if constexpr (mutant::too_old_stops_scan) break;
            continue;
        }
        if constexpr (mutant::timer_stop_failure_skips_conn) {
            // Go 1.10's getIdleConn: a conn whose timer could not be stopped "is about to be
            // closed by the timer" and was skipped, but it had left the LRU, so nobody closed it.
            if (!c.multiplexed && c.timer) {
                bool stopped;
                {
                    PortCall call(*this);
                    stopped = c.timer->stop();
                }
                if (!stopped) {
                    remove_idle_conn_locked(slot);
                    continue;
                }
            }
        }
        if constexpr (mutant::close_idle_reset_only_on_hit) close_idle_ = false;
        const Duration idle_time = mutant::idle_time_not_reported ? Duration::zero() : now - c.idle_at;
        if (!c.multiplexed || mutant::shared_removed_on_delivery) {
            // Divergence from Go: the idle timer is stopped when the conn is taken. Go
            // leaves it running and relies on T6; stopping it only saves a wakeup, and a
            // callback already in flight is still handled by on_idle_timer.
            const std::uint32_t lru_prev = c.lru_prev, lru_next = c.lru_next;
            remove_idle_conn_locked(slot);
            if constexpr (mutant::idle_hit_left_in_lru) {  // linked back where it stood
                c.lru_prev = lru_prev;
                c.lru_next = lru_next;
                if (lru_prev != npos) conns_[lru_prev].lru_next = slot; else lru_head_ = slot;
                if (lru_next != npos) conns_[lru_next].lru_prev = slot; else lru_tail_ = slot;
                ++lru_len_;
            }
        }
        ++c.users;
        ++stats_.idle_hits;
        return make_lease(slot, true, idle_time);
    }
    return std::nullopt;
}

// Mirrors Go: (*Transport).queueForDial (D1).
void Pool::queue_for_dial(std::uint32_t w) {
    const KeyId key = wants_[w].key;
    KeyState& ks = keys_[key];
    if (config_.max_conns_per_host <= 0 && !mutant::max_conns_zero_counts) {
        start_dial(key, w, false);
        return;
    }
    if (ks.conns_count < config_.max_conns_per_host ||
        (mutant::max_conns_off_by_one && ks.conns_count == config_.max_conns_per_host)) {
        ++ks.conns_count;
        start_dial(key, w, true);
        return;
    }
    push_back(ks.dial_wait, w, false);
}

// Mirrors Go: (*Transport).startDialConnForLocked + dialConnFor's start (D2).
void Pool::start_dial(KeyId key, std::uint32_t w, bool counted) {
    std::uint32_t d;
    if (!free_dials_.empty()) {
        d = free_dials_.back();
        free_dials_.pop_back();
    } else {
        if (dials_.size() >= static_cast<std::size_t>(Config::size_max)) {
            detail::fatal("more than %d dials in progress", Config::size_max);
        }
        d = static_cast<std::uint32_t>(dials_.size());
        dials_.emplace_back();
    }
    DialSlot& ds = dials_[d];
    ds.key = key;
    ds.active = true;
    ds.counted = counted;
    if constexpr (!mutant::recycled_dial_keeps_cancel_flag) ds.cancel_sent = false;
    ds.want = WantId{w, wants_[w].generation};
    ++dials_active_;
    ++stats_.dials_started;
    const DialId id{d, ds.generation};
    PortCall call(*this);
    if (ports_.trace != nullptr) ports_.trace->connect_start(key, id);
    ports_.dialer.dial(id, key, keys_[key].name);
}

// Mirrors Go: (*Transport).decConnsPerHost (D6).
void Pool::dec_conns_per_host(KeyId key) {
    KeyState& ks = keys_[key];
    if (ks.conns_count <= 0) detail::fatal("connCount underflow for key %u (%s)", key, ks.name.c_str());
    // Only waiting wants are ever queued (see unlink_want), so the front inherits the slot.
    if (ks.dial_wait.head != npos && !mutant::slot_freed_not_passed) {
        const std::uint32_t w = mutant::dial_slot_to_newest_waiter ? ks.dial_wait.tail : ks.dial_wait.head;
        unlink(ks.dial_wait, w, false);
        start_dial(key, w, true);  // the count is unchanged: the slot moves to w
        if constexpr (mutant::handoff_double_count) --ks.conns_count;
        return;
    }
    --ks.conns_count;
}

// ---- wants ---------------------------------------------------------------------------

std::uint32_t Pool::alloc_want(KeyId key) {
    std::uint32_t w;
    if (!free_wants_.empty()) {
        w = free_wants_.back();
        free_wants_.pop_back();
    } else {
        if (wants_.size() >= static_cast<std::size_t>(Config::size_max)) {
            detail::fatal("more than %d requests waiting for a conn", Config::size_max);
        }
        w = static_cast<std::uint32_t>(wants_.size());
        wants_.emplace_back();
    }
    WantSlot& ws = wants_[w];
    ws.key = key;
    ws.state = WantState::waiting;
    ws.conn_slot = npos;
    ws.error = {};
    ++wants_waiting_;
    ++keys_[key].waiting;
    return w;
}

void Pool::free_want(std::uint32_t w) {
    WantSlot& ws = wants_[w];
    if (ws.state == WantState::waiting) {
        --wants_waiting_;
        --keys_[ws.key].waiting;
    }
    if (ws.state == WantState::ready) --wants_ready_;
    if constexpr (mutant::dial_queue_keeps_served_want) unlink(keys_[ws.key].dial_wait, w, false);
    ws.state = WantState::free;
    ws.conn_slot = npos;
    if constexpr (!mutant::stale_want_id_accepted) ++ws.generation;
    free_wants_.push_back(w);
}

void Pool::push_back(Queue& q, std::uint32_t w, bool idle_queue) {
    WantSlot& ws = wants_[w];
    std::uint32_t& prev = idle_queue ? ws.idle_prev : ws.dial_prev;
    std::uint32_t& next = idle_queue ? ws.idle_next : ws.dial_next;
    prev = q.tail;
    next = npos;
    if (q.tail != npos) {
        (idle_queue ? wants_[q.tail].idle_next : wants_[q.tail].dial_next) = w;
    } else {
        q.head = w;
    }
    q.tail = w;
    ++q.len;
    (idle_queue ? ws.in_idle_wait : ws.in_dial_wait) = true;
}

void Pool::unlink(Queue& q, std::uint32_t w, bool idle_queue) {
    WantSlot& ws = wants_[w];
    bool& in = idle_queue ? ws.in_idle_wait : ws.in_dial_wait;
    if (!in) return;
    std::uint32_t& prev = idle_queue ? ws.idle_prev : ws.dial_prev;
    std::uint32_t& next = idle_queue ? ws.idle_next : ws.dial_next;
    if (prev != npos) {
        (idle_queue ? wants_[prev].idle_next : wants_[prev].dial_next) = next;
    } else {
        q.head = next;
    }
    if (next != npos) {
        (idle_queue ? wants_[next].idle_prev : wants_[next].dial_prev) = prev;
    } else {
        q.tail = prev;
    }
    prev = next = npos;
    in = false;
    if (q.len == 0) detail::fatal("want queue length underflow");
    --q.len;
}

// Divergence from Go: a want that stops waiting (delivered or cancelled) leaves both of
// its queues at once, wherever it stands. Go only cleans non-waiting entries from the
// front (W5, cleanFront), so entries behind a live waiter pile up (golang/go#76784).
// Here the queues hold live waiters only, so their memory is bounded by live requests.
void Pool::unlink_want(std::uint32_t w) {
    KeyState& ks = keys_[wants_[w].key];
    unlink(ks.idle_wait, w, true);
    unlink(ks.dial_wait, w, false);
}

// Mirrors Go: (*wantConn).tryDeliver (W1). Only a waiting want can be delivered to.
void Pool::deliver(std::uint32_t w, std::uint32_t conn_slot, std::error_code error) {
    WantSlot& ws = wants_[w];
    if (ws.state != WantState::waiting) detail::fatal("deliver to a want that is not waiting (W1)");
    if constexpr (mutant::dial_queue_keeps_served_want) {
        unlink(keys_[ws.key].idle_wait, w, true);  // left in the dial queue
    } else {
        unlink_want(w);
    }
    ws.state = WantState::ready;
    --wants_waiting_;
    --keys_[ws.key].waiting;
    ++wants_ready_;
    ws.conn_slot = conn_slot;
    ws.error = error;
    if (conn_slot != npos) {  // the want holds the lease until taken or cancelled
        ++conns_[conn_slot].users;
        ++conns_[conn_slot].want_holds;
    }
    PortCall call(*this);
    ports_.listener.want_ready(WantId{w, ws.generation});
}

Lease Pool::make_lease(std::uint32_t slot, bool was_idle, Duration idle_time) {
    const ConnSlot& c = conns_[slot];
    const bool reused = mutant::reused_from_was_idle ? was_idle : c.reused;
    return Lease{ConnId{slot, c.generation}, c.conn, c.key, reused, was_idle, was_idle ? idle_time : Duration::zero()};
}

WantOutcome Pool::take(WantId id) {
    enter("take");
    const std::uint32_t w = want_slot_of(id, "take");
    WantSlot& ws = wants_[w];
    if (ws.state != WantState::ready) detail::fatal("take: want %u.%u has no result yet", id.slot, id.generation);
    WantOutcome out;
    if (ws.conn_slot != npos) {
        const std::uint32_t slot = ws.conn_slot;
        --conns_[slot].want_holds;  // the lease passes from the want to the request
        out.lease = make_lease(slot, mutant::handoff_reported_as_idle, Duration::zero());  // TR2: WasIdle only via T4
        if ((!conns_[slot].multiplexed || mutant::got_conn_for_shared) && ports_.trace != nullptr) {  // TR2, X2
            PortCall call(*this);
            const Lease& l = *out.lease;
            ports_.trace->got_conn(GotConnInfo{l.id, l.key, l.reused, l.was_idle, l.idle_time});
        }
    } else {
        out.error = ws.error;
    }
    free_want(w);
    return out;
}

// Mirrors Go: (*wantConn).cancel (W3, X5).
void Pool::cancel_want(WantId id) {
    enter("cancel_want");
    const std::uint32_t w = want_slot_of(id, "cancel_want");
    WantSlot& ws = wants_[w];
    if (ws.state == WantState::waiting) {
        if constexpr (mutant::front_only_waiter_cleanup) {
            if (ws.in_idle_wait && keys_[ws.key].idle_wait.head != w) return;  // left queued
        }
        if constexpr (mutant::cancel_cancels_dial) cancel_dials_of_want(w);
        unlink_want(w);
        free_want(w);
        return;
    }
    const std::uint32_t slot = ws.conn_slot;
    free_want(w);
    if (slot == npos) return;  // an error result: nothing to give back
    ConnSlot& c = conns_[slot];
    --c.users;
    --c.want_holds;
    if (!c.multiplexed && !mutant::cancel_loses_delivered_conn) {
        // W3: the delivered conn goes back through putOrCloseIdleConn, never lost.
        if constexpr (mutant::cancel_repool_skips_handoff) {
            put_or_close_hiding_waiters(slot);
        } else {
            put_or_close_idle_conn(slot);
        }
    }
    // X5 (#61474): a shared conn is not re-pooled; it already is, or it was refused.
    release_if_done(slot);
}

// ---- returning conns -------------------------------------------------------------------

PutResult Pool::put_idle_conn(ConnId id) {
    enter("put_idle_conn");
    const std::uint32_t slot = conn_slot_of(id, "put_idle_conn");
    ConnSlot& c = conns_[slot];
    // Leases held by ready wants do not count: a second return right after a hand-off
    // must not end the lease of the request the conn was handed to.
    if (c.users == c.want_holds && !mutant::dup_return_undetected) {
        // Go: "dup idle pconn" (P8) when the conn is idle; either way a lease ended twice.
        PortCall call(*this);
        detail::fatal("put_idle_conn: conn %u.%u (owner id %llu) returned twice: no open lease%s", id.slot,
                      id.generation, static_cast<unsigned long long>(c.conn->id()),
                      c.in_idle ? " and it is already idle (Go: dup idle pconn)" : "");
    }
    if (c.users != c.want_holds) --c.users;
    if (mutant::shared_slot_released_per_lease && c.multiplexed && c.counted && keys_[c.key].conns_count > 0) {
        dec_conns_per_host(c.key);
    }
    ++stats_.puts;
    const PutResult r = put_or_close_idle_conn(slot);
    if (!accepted(r)) ++stats_.puts_refused;
    // TR3: no trace for keep_alives_disabled, nor for shared conns (Go's HTTP/2 path
    // never calls PutIdleConn).
    if ((r != PutResult::keep_alives_disabled || mutant::put_trace_for_keep_alives_off) &&
        (!c.multiplexed || mutant::put_trace_for_shared) && ports_.trace != nullptr &&
        !(mutant::put_trace_missing_on_handoff && r == PutResult::handed_to_waiter)) {
        PortCall call(*this);
        ports_.trace->put_idle_conn(id, r);
    }
    release_if_done(slot);
    return r;
}

// Mirrors Go: (*Transport).putOrCloseIdleConn (P13).
PutResult Pool::put_or_close_idle_conn(std::uint32_t slot) {
    const PutResult r = try_put_idle_conn(slot);
    if (!accepted(r) && !conns_[slot].closed) {
        CloseReason reason = CloseReason::conn_broken;
        switch (r) {
            case PutResult::keep_alives_disabled: reason = CloseReason::keep_alives_disabled; break;
            case PutResult::close_idle: reason = CloseReason::close_idle; break;
            case PutResult::too_many_idle_for_key: reason = CloseReason::too_many_idle_for_key; break;
            default: break;
        }
        close_locked(slot, reason);
    }
    return r;
}

// Mirrors Go: (*Transport).tryPutIdleConn (P1-P12). Does not close the conn on refusal;
// the caller does (P13). Does not end a lease; the caller does.
PutResult Pool::try_put_idle_conn(std::uint32_t slot) {
    ConnSlot& c = conns_[slot];
    const bool keep_alives_off = mutant::negative_per_host_cap_ignored ? config_.disable_keep_alives
                                                                       : config_.keep_alives_off();
    if (mutant::broken_checked_before_keep_alives && c.closed) return PutResult::conn_broken;
    if (keep_alives_off && !mutant::keep_alives_off_handed_to_waiter) return PutResult::keep_alives_disabled;  // P1
    if (c.closed && !mutant::broken_conn_pooled) return PutResult::conn_broken;  // P2
    if constexpr (!mutant::reused_marked_late) c.reused = true;              // P3
    if (c.multiplexed && c.in_idle && !mutant::shared_return_reinserted) return PutResult::pooled;  // P4
    KeyState& ks = keys_[c.key];
    if (mutant::close_idle_before_handoff && close_idle_) return PutResult::close_idle;
    KeyState* waiters = &ks;
    if constexpr (mutant::handoff_ignores_key) {  // the wait queue found by a key missing a part
        for (KeyState& other : keys_) {
            if (waiters->idle_wait.head == npos && other.idle_wait.head != npos) waiters = &other;
        }
    }
    if (deliver_to_waiter(slot, *waiters)) return PutResult::handed_to_waiter;  // P5
    if (mutant::keep_alives_off_handed_to_waiter && keep_alives_off) return PutResult::keep_alives_disabled;
    if (close_idle_) return PutResult::close_idle;                           // P6
    // P7: the newcomer is refused, old ones stay. Divergence from Go: Go counts broken
    // conns that its read loop has not removed yet; here a dead conn leaves the idle list
    // in the same call that reports it (conn_closed), so only live conns count.
    std::uint32_t cap = static_cast<std::uint32_t>(config_.idle_conns_per_host_max());
    if (mutant::per_host_cap_zero_unlimited && config_.max_idle_conns_per_host == 0) cap = 0xffffffffu;
    const bool at_cap = mutant::per_key_cap_off_by_one ? ks.idle_len > cap : ks.idle_len >= cap;
    if (at_cap && !(mutant::shared_exempt_from_per_key_cap && c.multiplexed)) {
        if constexpr (!mutant::per_key_cap_evicts_oldest) return PutResult::too_many_idle_for_key;
        const std::uint32_t oldest = ks.idle_head;
        remove_idle_conn_locked(oldest);
        close_locked(oldest, CloseReason::too_many_idle_for_key);
        release_if_done(oldest);
    }
    if (c.in_idle && !mutant::dup_return_undetected) {
        detail::fatal("dup idle conn %u.%u in freelist (P8)", slot, c.generation);
    }
    if constexpr (mutant::reused_marked_late) c.reused = true;
    admit_idle(slot);        // P9, P11, P12
    evict_lru_overflow();    // P10
    return PutResult::pooled;
}

// P5: late binding. An HTTP/1 conn goes to the oldest live waiter and skips the idle list,
// its timer and every cap. A shared conn goes to every waiter and is pooled as well.
bool Pool::deliver_to_waiter(std::uint32_t slot, KeyState& ks) {
    if (ks.idle_wait.head == npos) return false;
    if (!conns_[slot].multiplexed) {
        if constexpr (mutant::no_late_binding) return false;
        ++stats_.handoffs;
        const std::uint32_t w = mutant::handoff_to_newest_waiter ? ks.idle_wait.tail : ks.idle_wait.head;
        deliver(w, slot, {});
        if constexpr (mutant::handoff_cancels_dial) cancel_dials_of_want(w);
        return true;
    }
    for (std::uint32_t guard = ks.idle_wait.len + 1; ks.idle_wait.head != npos; --guard) {
        if (guard == 0) detail::fatal("deliver_to_waiter: wait queue is cyclic");
        ++stats_.handoffs;
        deliver(mutant::shared_handoff_newest_first ? ks.idle_wait.tail : ks.idle_wait.head, slot, {});
        if constexpr (mutant::shared_handoff_first_waiter_only) break;
    }
    return mutant::shared_not_pooled_after_handoff && conns_[slot].want_holds != 0;
}

// P9, P11, P12: the conn joins the end of its key's idle list and the front of the LRU.
void Pool::admit_idle(std::uint32_t slot) {
    ConnSlot& c = conns_[slot];
    KeyState& ks = keys_[c.key];
    c.key_prev = ks.idle_tail;
    c.key_next = npos;
    if (ks.idle_tail != npos) conns_[ks.idle_tail].key_next = slot; else ks.idle_head = slot;
    ks.idle_tail = slot;
    ++ks.idle_len;
    if (mutant::idle_hit_left_in_lru && (lru_head_ == slot || c.lru_prev != npos)) unlink_lru(slot);
    c.lru_prev = npos;
    c.lru_next = lru_head_;
    if (lru_head_ != npos) conns_[lru_head_].lru_prev = slot; else lru_tail_ = slot;
    lru_head_ = slot;
    ++lru_len_;
    c.in_idle = true;
    if (!mutant::idle_at_not_refreshed || !c.reused || c.idle_at == TimePoint{}) c.idle_at = clock_now();
    if (!c.multiplexed || mutant::shared_conn_gets_idle_timer) arm_idle_timer(slot);
}

// P10: over MaxIdleConns, the globally least recently added idle conn goes, whatever its key.
void Pool::evict_lru_overflow() {
    if (config_.max_idle_conns <= 0) return;
    const auto max_idle = static_cast<std::size_t>(config_.max_idle_conns);
    while (mutant::evict_at_max_idle ? lru_len_ >= max_idle : lru_len_ > max_idle) {
        std::uint32_t oldest = mutant::evict_newest ? lru_head_ : lru_tail_;
        if constexpr (mutant::evict_other_key_first) {  // the newcomer is the LRU front
            const KeyId newcomer = conns_[lru_head_].key;
            for (std::uint32_t s = lru_tail_; s != npos; s = conns_[s].lru_prev) {
                if (conns_[s].key != newcomer) {
                    oldest = s;
                    break;
                }
            }
        }
        remove_idle_conn_locked(oldest);
        close_locked(oldest, CloseReason::too_many_idle);
        release_if_done(oldest);
    }
}

// P11: HTTP/1 conns only; the slot's timer is created once and reset afterwards.
void Pool::arm_idle_timer(std::uint32_t slot) {
    if (config_.idle_conn_timeout <= Duration::zero()) return;
    ConnSlot& c = conns_[slot];
    PortCall call(*this);
    if (c.timer) {
        if (!mutant::timer_not_rearmed_on_return) c.timer->reset(config_.idle_conn_timeout);
    } else {
        c.timer = ports_.timers.after_func(config_.idle_conn_timeout, [this, slot] { on_idle_timer(slot); });
        if (!c.timer) detail::fatal("TimerService::after_func returned no timer");
    }
}

// Mirrors Go: (*Transport).removeIdleConnLocked (RM1). Returns whether it was idle.
bool Pool::remove_idle_conn_locked(std::uint32_t slot) {
    ConnSlot& c = conns_[slot];
    if (!c.in_idle) {
        // Go's idleLRU.remove runs whether or not the conn is in idleConn[key].
        if (mutant::idle_hit_left_in_lru && (lru_head_ == slot || c.lru_prev != npos)) unlink_lru(slot);
        return false;
    }
    if (c.timer && !mutant::remove_keeps_timer) {
        PortCall call(*this);
        c.timer->stop();
    }
    KeyState& ks = keys_[c.key];
    if (c.key_prev != npos) conns_[c.key_prev].key_next = c.key_next; else ks.idle_head = c.key_next;
    if (c.key_next != npos) conns_[c.key_next].key_prev = c.key_prev; else ks.idle_tail = c.key_prev;
    --ks.idle_len;
    c.key_prev = c.key_next = npos;
    unlink_lru(slot);
    c.in_idle = false;
    return true;
}

// Mutants only (pool/src/mutants.hpp): Go <= 1.22 (G2) ran the dial on the request's
// context, so the want's end cancelled its dial.
void Pool::cancel_dials_of_want(std::uint32_t w) {
    const WantId wid{w, wants_[w].generation};
    for (std::uint32_t d = 0; d < dials_.size(); ++d) {
        DialSlot& ds = dials_[d];
        if (!ds.active || ds.cancel_sent || !(ds.want == wid)) continue;
        ds.cancel_sent = true;
        PortCall call(*this);
        ports_.dialer.cancel(DialId{d, ds.generation});
    }
}

// Mutants only: a re-pool that bypasses P5, the key's waiters hidden from the hand-off.
PutResult Pool::put_or_close_hiding_waiters(std::uint32_t slot) {
    KeyState& ks = keys_[conns_[slot].key];
    const Queue waiters = ks.idle_wait;
    ks.idle_wait = Queue{};
    const PutResult r = put_or_close_idle_conn(slot);
    ks.idle_wait = waiters;
    return r;
}

// Go's connLRU.remove: unlinks the conn from the cross-key LRU.
void Pool::unlink_lru(std::uint32_t slot) {
    ConnSlot& c = conns_[slot];
    if (lru_len_ == 0) detail::fatal("idle LRU length underflow");
    if (c.lru_prev != npos) conns_[c.lru_prev].lru_next = c.lru_next; else lru_head_ = c.lru_next;
    if (c.lru_next != npos) conns_[c.lru_next].lru_prev = c.lru_prev; else lru_tail_ = c.lru_prev;
    --lru_len_;
    c.lru_prev = c.lru_next = npos;
}

// Mirrors Go: (*Transport).closeConnIfStillIdle (T6).
void Pool::close_conn_if_still_idle(std::uint32_t slot) {
    if (!remove_idle_conn_locked(slot)) return;  // "Not idle": reused or closed meanwhile
    close_locked(slot, CloseReason::idle_timeout);
    release_if_done(slot);
}

// The idle timer callback. Timers belong to slots, so a callback may arrive for a slot
// that is free, in use, holding another conn, or re-armed after a reuse and return.
void Pool::on_idle_timer(std::uint32_t slot) {
    enter("idle timer callback");
    ConnSlot& c = conns_[slot];
    if constexpr (mutant::timer_no_still_idle_check) {
        if (c.conn != nullptr && !c.multiplexed && !c.closed) {
            remove_idle_conn_locked(slot);
            close_locked(slot, CloseReason::idle_timeout);
            release_if_done(slot);
        }
        return;
    }
    if (c.conn == nullptr || !c.in_idle || (c.multiplexed && !mutant::shared_conn_gets_idle_timer)) return;  // T6: not idle, nothing to do
    // Divergence from Go: a conn is never closed before it has been idle for the full
    // IdleConnTimeout. Go's closeConnIfStillIdle only asks "is it idle?", so a callback
    // that was already in flight when the conn was reused and returned closes a conn that
    // has just become idle. Here such an early callback re-arms the timer for the rest.
    const Duration idle_for = clock_now() - c.idle_at;
    if (idle_for < config_.idle_conn_timeout && !mutant::go_early_idle_close) {
        PortCall call(*this);
        c.timer->reset(mutant::stale_timer_rearms_full_timeout ? config_.idle_conn_timeout
                                                               : config_.idle_conn_timeout - idle_for);
        return;
    }
    close_conn_if_still_idle(slot);
}

// Mirrors Go: (*persistConn).closeLocked: the first close takes the conn out of the pool,
// releases its MaxConnsPerHost slot (D7) and closes it; later ones do nothing.
//
// A shared conn that the pool retires (refused on return, evicted, too old, closed by
// close_idle_connections) while requests still hold leases on it is closed only when the
// last lease ends: Go's closeLocked leaves an HTTP/2 conn's socket to the HTTP/2 layer,
// which finishes the streams in flight. `owner_says` (close_conn, conn_closed) closes at once.
void Pool::close_locked(std::uint32_t slot, CloseReason reason, bool owner_says) {
    ConnSlot& c = conns_[slot];
    if (c.closed) {
        if (owner_says && c.close_deferred) {
            c.close_deferred = false;
            PortCall call(*this);
            c.conn->close(c.deferred_reason);
        }
        if (mutant::repeat_close_releases_slot && owner_says && config_.max_conns_per_host > 0 &&
            keys_[c.key].conns_count > 0) {
            dec_conns_per_host(c.key);
        }
        return;
    }
    if (!(mutant::broken_conn_stays_idle && owner_says)) remove_idle_conn_locked(slot);
    c.closed = true;
    --conns_open_;
    --keys_[c.key].open;
    ++stats_.closes[static_cast<int>(reason)];
    const ConnId id{slot, c.generation};
    {
        PortCall call(*this);
        if (ports_.trace != nullptr) ports_.trace->conn_closed(id, c.key, reason);
        if (c.multiplexed && c.users != 0 && !owner_says && !mutant::shared_closed_under_live_streams) {
            c.close_deferred = true;
            c.deferred_reason = reason;
        } else {
            c.conn->close(reason);
        }
    }
    if (c.counted) {
        c.counted = false;
        if constexpr (!mutant::close_keeps_slot) dec_conns_per_host(c.key);
    }
}

// A closed conn's slot is recycled once no lease refers to it any more.
void Pool::release_if_done(std::uint32_t slot) {
    ConnSlot& c = conns_[slot];
    if (c.conn == nullptr || !c.closed || c.users != 0 || c.in_idle) return;
    if (c.close_deferred) {  // a retired shared conn: its last lease just ended
        c.close_deferred = false;
        PortCall call(*this);
        c.conn->close(c.deferred_reason);
    }
    c.conn = nullptr;
    c.in_idle = false;
    ++c.generation;
    free_conns_.push_back(slot);
}

void Pool::close_conn(ConnId id, CloseReason reason) {
    enter("close_conn");
    const std::uint32_t slot = conn_slot_of(id, "close_conn");
    ConnSlot& c = conns_[slot];
    if (c.users == c.want_holds) detail::fatal("close_conn: conn %u.%u has no open lease", id.slot, id.generation);
    --c.users;
    close_locked(slot, reason, true);
    release_if_done(slot);
}

void Pool::conn_closed(ConnId id, CloseReason reason) {
    enter("conn_closed");
    const std::uint32_t slot = conn_slot_of(id, "conn_closed");
    close_locked(slot, reason, true);  // RM2: also removes it from the idle lists
    release_if_done(slot);
}

// ---- dials -----------------------------------------------------------------------------

// Mirrors Go: (*Transport).dialConnFor, success path (D5, G5).
ConnId Pool::dial_done(DialId id, Conn& conn) {
    enter("dial_done");
    const std::uint32_t d = dial_slot_of(id, "dial_done");
    DialSlot& ds = dials_[d];
    const KeyId key = ds.key;
    const WantId want = ds.want;
    const bool counted = ds.counted;
    ds.active = false;
    ++ds.generation;
    --dials_active_;
    free_dials_.push_back(d);
    ++stats_.dials_succeeded;

    std::uint32_t slot;
    if (!free_conns_.empty()) {
        slot = free_conns_.back();
        free_conns_.pop_back();
    } else {
        if (conns_.size() >= static_cast<std::size_t>(Config::size_max)) {
            detail::fatal("more than %d open conns", Config::size_max);
        }
        slot = static_cast<std::uint32_t>(conns_.size());
        conns_.emplace_back();
    }
    ConnSlot& c = conns_[slot];
    c.conn = &conn;
    c.key = key;
    c.users = 0;
    c.want_holds = 0;
    c.in_idle = false;
    c.closed = false;
    {
        PortCall call(*this);
        c.multiplexed = conn.multiplexed();
    }
    c.reused = false;
    c.counted = counted;  // the dial's slot now belongs to the conn (D7)
    c.close_deferred = false;
    c.idle_at = TimePoint{};
    ++conns_open_;
    ++keys_[key].open;
    const ConnId cid{slot, c.generation};
    if (ports_.trace != nullptr) {
        PortCall call(*this);
        ports_.trace->connect_done(key, id, {});
    }

    const bool waiting = want.slot < wants_.size() && wants_[want.slot].generation == want.generation &&
                         (wants_[want.slot].state == WantState::waiting || mutant::dial_delivers_to_gone_want);
    if (waiting) deliver(want.slot, slot, {});
    if (!waiting || c.multiplexed) {
        // G5 late binding: the requester got another conn or gave up; the conn is pooled,
        // or handed to another waiter. No put_idle_conn trace on this path (TR3).
        if (mutant::orphan_dial_closed && !waiting && !c.multiplexed) {
            close_locked(slot, CloseReason::owner);
        } else {
            PutResult r;
            if (mutant::orphan_dial_skips_handoff && !waiting && !c.multiplexed) {
                r = put_or_close_hiding_waiters(slot);
            } else {
                r = put_or_close_idle_conn(slot);
            }
            if (mutant::orphan_dial_not_marked_reused && !c.multiplexed) c.reused = false;
            if (mutant::put_trace_on_orphan_dial && !c.multiplexed && ports_.trace != nullptr) {
                PortCall call(*this);
                ports_.trace->put_idle_conn(cid, r);
            }
        }
        release_if_done(slot);
    }
    return cid;
}

// Mirrors Go: (*Transport).dialConnFor, error path (D4).
void Pool::dial_failed(DialId id, std::error_code error) {
    enter("dial_failed");
    const std::uint32_t d = dial_slot_of(id, "dial_failed");
    // Divergence from Go: Go panics when tryDeliver gets neither conn nor error (W1);
    // a dial failure reported without a code is given io_error so it still carries a reason.
    if (!error) error = std::make_error_code(std::errc::io_error);
    DialSlot& ds = dials_[d];
    const KeyId key = ds.key;
    const WantId want = ds.want;
    const bool counted = ds.counted;
    ds.active = false;
    ++ds.generation;
    --dials_active_;
    free_dials_.push_back(d);
    ++stats_.dials_failed;
    if (ports_.trace != nullptr) {
        PortCall call(*this);
        ports_.trace->connect_done(key, id, error);
    }
    const bool waiting = want.slot < wants_.size() && wants_[want.slot].generation == want.generation &&
                         wants_[want.slot].state == WantState::waiting;
    if (waiting && !mutant::dial_error_not_delivered) deliver(want.slot, npos, error);
    if (counted && !mutant::dial_failure_keeps_slot && !(mutant::orphan_dial_failure_keeps_slot && !waiting)) {
        dec_conns_per_host(key);
    }
    if (counted && mutant::dial_failure_double_release && keys_[key].conns_count > 0) dec_conns_per_host(key);
}

// ---- pool-wide ---------------------------------------------------------------------------

// Mirrors Go: (*Transport).CloseIdleConnections (C1-C5).
void Pool::close_idle_connections() {
    enter("close_idle_connections");
    if constexpr (!mutant::close_idle_flag_not_set) close_idle_ = true;  // C1, P6
    if constexpr (mutant::close_idle_clears_waiters) {  // Go <= 1.12 dropped idleConnCh
        for (KeyState& ks : keys_) {
            while (ks.idle_wait.head != npos) unlink(ks.idle_wait, ks.idle_wait.head, true);
        }
    }
    if constexpr (mutant::close_idle_skips_shared) {
        for (std::uint32_t slot = lru_tail_; slot != npos;) {
            const std::uint32_t prev = conns_[slot].lru_prev;
            if (!conns_[slot].multiplexed) {
                remove_idle_conn_locked(slot);
                close_locked(slot, CloseReason::close_idle_conns);
                release_if_done(slot);
            }
            slot = prev;
        }
    }
    // Divergence from Go: Go walks a map (random order); here the oldest idle conn is
    // closed first so every run closes in the same order.
    for (std::size_t guard = lru_len_ + 1; lru_tail_ != npos && !mutant::close_idle_skips_shared; --guard) {
        if (guard == 0) detail::fatal("close_idle_connections: LRU is cyclic");
        const std::uint32_t slot = lru_tail_;
        remove_idle_conn_locked(slot);
        close_locked(slot, CloseReason::close_idle_conns);
        release_if_done(slot);
    }
    // C5 (Go >=1.23): dials whose requester is gone are cancelled, in dial slot order
    // (Divergence from Go: Go walks its dialsInProgress queue; the set is the same).
    for (std::uint32_t d = 0; d < dials_.size() && !mutant::close_idle_skips_orphan_dials; ++d) {
        DialSlot& ds = dials_[d];
        if (!ds.active || ds.cancel_sent) {
            if constexpr (mutant::close_idle_cancel_scan_stops_early) break;
            continue;
        }
        const WantId w = ds.want;
        const bool waiting = w.slot < wants_.size() && wants_[w.slot].generation == w.generation &&
                             wants_[w.slot].state == WantState::waiting;
        if (waiting && !mutant::close_idle_cancels_live_dials) {
            if constexpr (mutant::close_idle_cancel_scan_stops_early) break;
            continue;
        }
        ds.cancel_sent = true;
        PortCall call(*this);
        ports_.dialer.cancel(DialId{d, ds.generation});
    }
}

// ---- queries ---------------------------------------------------------------------------------

std::size_t Pool::idle_count(KeyId key) const {
    check_key(key, "idle_count");
    return keys_[key].idle_len;
}

std::vector<ConnId> Pool::idle_conns(KeyId key) const {
    check_key(key, "idle_conns");
    std::vector<ConnId> out;
    for (std::uint32_t s = keys_[key].idle_head; s != npos; s = conns_[s].key_next) {
        out.push_back(ConnId{s, conns_[s].generation});
    }
    return out;
}

int Pool::conns_per_host(KeyId key) const {
    check_key(key, "conns_per_host");
    return keys_[key].conns_count;
}

std::size_t Pool::waiting_count(KeyId key) const {
    check_key(key, "waiting_count");
    return keys_[key].waiting;
}

std::size_t Pool::open_conns(KeyId key) const {
    check_key(key, "open_conns");
    return keys_[key].open;
}

bool Pool::is_idle(ConnId id) const {
    return id.slot < conns_.size() && conns_[id.slot].conn != nullptr &&
           conns_[id.slot].generation == id.generation && conns_[id.slot].in_idle;
}

bool Pool::is_open(ConnId id) const {
    const std::uint32_t slot = conn_slot_of(id, "is_open");
    return !conns_[slot].closed;
}

}  // namespace connpool

// ---- model checker support -----------------------------------------------------------------

namespace connpool {

namespace {

// Small values take one byte; the rest an escape byte and eight bytes.
void put_value(std::string& out, std::uint64_t v) {
    if (v < 0xff) {
        out.push_back(static_cast<char>(v));
        return;
    }
    out.push_back(static_cast<char>(0xff));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

void Pool::append_state_for_testing(std::string& out, Duration age_cap) const {
    const TimePoint now = ports_.clock.now();
    put_value(out, close_idle_ ? 1 : 0);
    put_value(out, keys_.size());
    for (const KeyState& ks : keys_) {
        put_value(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(ks.conns_count)));
        put_value(out, ks.open);
        put_value(out, ks.waiting);
        put_value(out, ks.idle_len);
        for (std::uint32_t s = ks.idle_head, guard = 0; s != npos && guard <= conns_.size(); s = conns_[s].key_next, ++guard) {
            put_value(out, s);
        }
        for (int which = 0; which < 2; ++which) {
            const Queue& q = which == 0 ? ks.idle_wait : ks.dial_wait;
            put_value(out, q.len);
            for (std::uint32_t w = q.head, guard = 0; w != npos && guard <= wants_.size(); ++guard) {
                put_value(out, w);
                w = which == 0 ? wants_[w].idle_next : wants_[w].dial_next;
            }
        }
    }
    put_value(out, lru_len_);
    for (std::uint32_t s = lru_head_, guard = 0; s != npos && guard <= conns_.size(); s = conns_[s].lru_next, ++guard) {
        put_value(out, s);
    }
    put_value(out, conns_.size());
    for (const ConnSlot& c : conns_) {
        const Duration age = now - c.idle_at;
        const Duration capped = age < age_cap ? age : age_cap;
        const unsigned flags = (c.conn != nullptr ? 1u : 0u) | (c.timer ? 2u : 0u) | (c.in_idle ? 4u : 0u) |
                               (c.closed ? 8u : 0u) | (c.multiplexed ? 16u : 0u) | (c.reused ? 32u : 0u) |
                               (c.counted ? 64u : 0u) | (c.close_deferred ? 128u : 0u);
        put_value(out, flags);
        if (c.conn == nullptr) continue;
        put_value(out, c.key);
        put_value(out, c.users);
        put_value(out, c.want_holds);
        put_value(out, static_cast<std::uint64_t>(c.deferred_reason));
        put_value(out, static_cast<std::uint64_t>(capped.count()));
    }
    put_value(out, free_conns_.size());
    for (const std::uint32_t s : free_conns_) put_value(out, s);
    put_value(out, wants_.size());
    for (const WantSlot& ws : wants_) {
        put_value(out, static_cast<std::uint64_t>(ws.state));
        if (ws.state == WantState::free) continue;
        put_value(out, ws.key);
        put_value(out, (ws.in_idle_wait ? 1u : 0u) | (ws.in_dial_wait ? 2u : 0u));
        put_value(out, ws.conn_slot);
        put_value(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(ws.error.value())));
    }
    // Free want and dial slots by count only: which one is reused next only renames slots,
    // and nothing the pool does depends on a want's or a dial's slot number. (Conn slots keep
    // their order: each keeps its timer, whose callbacks may still be in flight.)
    put_value(out, free_wants_.size());
    put_value(out, dials_.size());
    for (const DialSlot& ds : dials_) {
        put_value(out, ds.active ? 1 : 0);
        if (!ds.active) continue;
        const bool want_live = ds.want.slot < wants_.size() && wants_[ds.want.slot].generation == ds.want.generation;
        put_value(out, ds.key);
        put_value(out, (ds.counted ? 1u : 0u) | (ds.cancel_sent ? 2u : 0u) | (want_live ? 4u : 0u));
        put_value(out, ds.want.slot);
    }
    put_value(out, free_dials_.size());
}

}  // namespace connpool
