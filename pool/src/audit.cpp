// Pool::check_invariants: re-derives the invariants of docs/INVARIANTS.md from the raw
// slots and lists, trusting none of the cached counters, and reports the first violation.
// Its per-slot and per-key tallies live in Pool::audit_ (cleared on every call), so a call
// allocates nothing unless the pool grew since the last one, or a check fails.
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "connpool/pool.hpp"

namespace connpool {

namespace {
template <typename... Args>
std::string format(const char* fmt, Args... args) {
    char buf[256];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}
}  // namespace

std::optional<std::string> Pool::check_invariants() const {
    const std::size_t n_conns = conns_.size();
    constexpr std::uint8_t in_key = 1, in_lru = 2;
    // resize + memset rather than assign(n, 0), which fills element by element.
    std::vector<std::uint8_t>& seen = audit_.conn_seen;
    seen.resize(n_conns);
    if (n_conns != 0) std::memset(seen.data(), 0, n_conns * sizeof seen[0]);
    std::vector<AuditKeyCounts>& per_key = audit_.per_key;
    per_key.assign(keys_.size(), AuditKeyCounts{});
    const auto cap = static_cast<std::uint32_t>(config_.keep_alives_off() ? 0 : config_.idle_conns_per_host_max());

    // INV1, INV2, INV4 (per key): each key's idle list is a well-linked chain of distinct,
    // open conns of that key, within the per-key cap.
    std::size_t idle_total = 0;
    for (KeyId k = 0; k < keys_.size(); ++k) {
        const KeyState& ks = keys_[k];
        std::uint32_t len = 0, prev = npos;
        for (std::uint32_t s = ks.idle_head; s != npos; prev = s, s = conns_[s].key_next) {
            if (s >= n_conns) return format("INV1: key %u idle list names slot %u out of range", k, s);
            const ConnSlot& c = conns_[s];
            if (seen[s] & in_key) return format("INV2: conn slot %u appears twice in idle lists", s);
            seen[s] |= in_key;
            if (c.conn == nullptr || c.closed) return format("INV1: idle list of key %u holds closed conn slot %u", k, s);
            if (!c.in_idle) return format("INV1: conn slot %u is in key %u's idle list but not marked idle", s, k);
            if (c.key != k) return format("K5: conn slot %u of key %u is in key %u's idle list", s, c.key, k);
            if (c.key_prev != prev) return format("INV1: key %u idle list back-link broken at slot %u", k, s);
            if (!c.multiplexed && c.users != 0) return format("INV3: HTTP/1 conn slot %u is idle and leased", s);
            if (++len > n_conns) return format("INV1: key %u idle list is cyclic", k);
        }
        if (ks.idle_tail != prev) return format("INV1: key %u idle list tail is wrong", k);
        if (len != ks.idle_len) return format("INV1: key %u idle_len %u but list holds %u", k, ks.idle_len, len);
        if (len > cap) return format("INV4: key %u holds %u idle conns, cap %u", k, len, cap);
        idle_total += len;
    }

    // INV1, INV2, INV4 (global): the LRU holds exactly the idle conns, each once.
    std::size_t lru_len = 0;
    std::uint32_t prev = npos;
    for (std::uint32_t s = lru_head_; s != npos; prev = s, s = conns_[s].lru_next) {
        if (s >= n_conns) return format("INV1: LRU names slot %u out of range", s);
        if (seen[s] & in_lru) return format("INV2: conn slot %u appears twice in the LRU", s);
        seen[s] |= in_lru;
        if (!(seen[s] & in_key)) return format("INV1: conn slot %u is in the LRU but in no idle list", s);
        if (conns_[s].lru_prev != prev) return format("INV1: LRU back-link broken at slot %u", s);
        if (++lru_len > n_conns) return std::string("INV1: LRU is cyclic");
    }
    if (lru_tail_ != prev) return std::string("INV1: LRU tail is wrong");
    if (lru_len != idle_total) return format("INV1: LRU holds %zu conns, idle lists %zu", lru_len, idle_total);
    if (lru_len != lru_len_) return format("INV1: lru_len_ %zu but LRU holds %zu", lru_len_, lru_len);
    if (config_.max_idle_conns > 0 && lru_len > static_cast<std::size_t>(config_.max_idle_conns)) {
        return format("INV4: %zu idle conns, MaxIdleConns %d", lru_len, config_.max_idle_conns);
    }

    // The wants are tallied before the conn slots, so that one pass over the slots can
    // also compare each slot's want_holds. The first failure is still the one a pass per
    // kind would report (conn slots, then wants, then want counters, then holds): a want
    // failure stops the want pass and is returned once the conn slots have been checked.
    std::vector<std::uint32_t>& holds_per_conn = audit_.holds;
    holds_per_conn.resize(n_conns);
    if (n_conns != 0) std::memset(holds_per_conn.data(), 0, n_conns * sizeof holds_per_conn[0]);
    std::size_t waiting = 0, ready = 0, wfree = 0;
    const std::optional<std::string> want_failure = [&]() -> std::optional<std::string> {
        const WantSlot* const want_slots = wants_.data();
        const auto n_wants = static_cast<std::uint32_t>(wants_.size());
        for (std::uint32_t w = 0; w < n_wants; ++w) {
            const WantSlot& ws = want_slots[w];
            switch (ws.state) {
                case WantState::free:
                    ++wfree;
                    if (ws.in_idle_wait || ws.in_dial_wait) return format("W5: free want %u is queued", w);
                    break;
                case WantState::waiting:
                    ++waiting;
                    if (ws.in_idle_wait == config_.disable_keep_alives) {
                        return format("T5: waiting want %u idle-queue membership wrong", w);
                    }
                    if (ws.in_dial_wait && config_.max_conns_per_host <= 0) {
                        return format("D1: want %u in dial queue with no limit", w);
                    }
                    if (ws.in_idle_wait) ++per_key[ws.key].idle_q;
                    ++per_key[ws.key].waiting;
                    if (ws.in_dial_wait) ++per_key[ws.key].dial_q;
                    break;
                case WantState::ready:
                    ++ready;
                    if (ws.in_idle_wait || ws.in_dial_wait) return format("W5: ready want %u is still queued", w);
                    if (ws.conn_slot == npos && !ws.error) return format("W1: ready want %u has neither conn nor error", w);
                    if (ws.conn_slot != npos) {
                        if (ws.conn_slot >= n_conns || conns_[ws.conn_slot].conn == nullptr) {
                            return format("INV7: ready want %u holds a recycled conn slot", w);
                        }
                        if (conns_[ws.conn_slot].users == 0) return format("INV7: ready want %u holds an unleased conn", w);
                        ++holds_per_conn[ws.conn_slot];
                    }
                    break;
            }
        }
        return std::nullopt;
    }();

    // Conn slots: every open conn is accounted for; closed ones linger only while leased.
    std::size_t open = 0;
    std::size_t free_count = 0;
    std::uint32_t holds_wrong = npos;  // first slot whose want_holds disagrees with the wants
    const ConnSlot* const slots = conns_.data();
    const std::uint32_t* const holds = holds_per_conn.data();
    const std::uint8_t* const seen_flags = seen.data();
    for (std::uint32_t s = 0; s < n_conns; ++s) {
        const ConnSlot& c = slots[s];
        if ((c.want_holds != holds[s] || c.want_holds > c.users) && holds_wrong == npos) holds_wrong = s;
        if (c.conn == nullptr) {
            ++free_count;
            if (c.in_idle || c.users != 0) return format("INV1: free conn slot %u is idle or leased", s);
            continue;
        }
        if (c.in_idle != ((seen_flags[s] & in_key) != 0)) {
            return format("INV1: conn slot %u in_idle flag disagrees with lists", s);
        }
        if (c.close_deferred && (!c.closed || !c.multiplexed)) {
            return format("X1: conn slot %u has a deferred close but is not a retired shared conn", s);
        }
        if (c.closed) {
            if (c.users == 0) return format("INV7: closed conn slot %u has no lease but was not recycled", s);
            if (c.counted) return format("INV6: closed conn slot %u still holds a MaxConnsPerHost slot", s);
            continue;
        }
        ++open;
        ++per_key[c.key].open;
        if (c.counted) ++per_key[c.key].counted;
        if (c.counted && config_.max_conns_per_host <= 0) return format("INV5: conn slot %u counted with no limit", s);
        if (!c.multiplexed && c.users > 1) return format("INV3: HTTP/1 conn slot %u has %u leases", s, c.users);
        if (!c.multiplexed && !c.in_idle && c.users == 0) {
            return format("INV7: HTTP/1 conn slot %u is open, not idle and not leased: lost", s);
        }
        if (c.multiplexed && !c.in_idle) return format("X1: shared conn slot %u is open but not pooled", s);
    }
    if (free_count != free_conns_.size()) return format("INV2: %zu free conn slots, free list %zu", free_count, free_conns_.size());
    if (open != conns_open_) return format("INV5: %zu open conns, counter says %zu", open, conns_open_);

    // Wants: waiting ones sit in the right queues, ready ones in none; queues hold only
    // waiting wants (the no-leak divergence from Go's W5), each once.
    if (want_failure) return want_failure;
    if (waiting != wants_waiting_ || ready != wants_ready_) return std::string("INV7: want counters disagree with slots");
    if (holds_wrong != npos) {
        return format("INV7: conn slot %u: %u leases held by ready wants, %u ready wants hold it", holds_wrong,
                      conns_[holds_wrong].want_holds, holds_per_conn[holds_wrong]);
    }
    if (wfree != free_wants_.size()) return std::string("INV7: want free list disagrees with slots");
    for (KeyId k = 0; k < keys_.size(); ++k) {
        for (int which = 0; which < 2; ++which) {
            const bool idle_queue = which == 0;
            const Queue& q = idle_queue ? keys_[k].idle_wait : keys_[k].dial_wait;
            std::uint32_t len = 0, p = npos;
            for (std::uint32_t w = q.head; w != npos; p = w, w = idle_queue ? wants_[w].idle_next : wants_[w].dial_next) {
                if (w >= wants_.size() || wants_[w].state != WantState::waiting || wants_[w].key != k) {
                    return format("W5: key %u wait queue holds a want that is not waiting for it", k);
                }
                if ((idle_queue ? wants_[w].idle_prev : wants_[w].dial_prev) != p) {
                    return format("W4: key %u wait queue back-link broken", k);
                }
                if (++len > wants_.size()) return format("W4: key %u wait queue is cyclic", k);
            }
            if (q.tail != p || q.len != len || len != (idle_queue ? per_key[k].idle_q : per_key[k].dial_q)) {
                return format("W4: key %u wait queue length or tail is wrong", k);
            }
        }
    }

    // INV5/INV6: per key, the MaxConnsPerHost count is exactly the counted dials in
    // progress plus the counted open conns, and never above the limit.
    std::size_t active = 0;
    for (const DialSlot& d : dials_) {
        if (!d.active) continue;
        ++active;
        if (d.counted) ++per_key[d.key].counted;
    }
    if (active != dials_active_) return format("INV5: %zu dials active, counter says %zu", active, dials_active_);
    if (dials_.size() - active != free_dials_.size()) return std::string("INV5: dial free list disagrees with slots");
    for (KeyId k = 0; k < keys_.size(); ++k) {
        const int count = keys_[k].conns_count;
        const AuditKeyCounts& seen_k = per_key[k];
        if (count != seen_k.counted) {
            return format("INV5: key %u connsPerHost %d but %d dials+conns hold a slot", k, count, seen_k.counted);
        }
        if (count < 0) return format("INV5: key %u connsPerHost negative", k);
        if (config_.max_conns_per_host > 0 && count > config_.max_conns_per_host) {
            return format("INV5: key %u connsPerHost %d over MaxConnsPerHost %d", k, count, config_.max_conns_per_host);
        }
        if (seen_k.open != keys_[k].open) return format("INV5: key %u open counter wrong", k);
        if (seen_k.waiting != keys_[k].waiting) return format("W2: key %u waiting counter wrong", k);
        // D6: a waiter for a dial slot with slots free would wait forever.
        if (seen_k.dial_q != 0 && count < config_.max_conns_per_host) {
            return format("D6: key %u has %u dial waiters but only %d of %d slots used", k, seen_k.dial_q, count,
                          config_.max_conns_per_host);
        }
    }
    return std::nullopt;
}

}  // namespace connpool
