// Scheduler: the event heap and the race strategies.
#include "scheduler.hpp"

#include <algorithm>

namespace connpool::sim {

const char* to_string(EventKind kind) noexcept {
    switch (kind) {
        case EventKind::client_wake: return "client_wake";
        case EventKind::request_deadline: return "request_deadline";
        case EventKind::want_ready: return "want_ready";
        case EventKind::dial_complete: return "dial_complete";
        case EventKind::response: return "response";
        case EventKind::attempt_failed: return "attempt_failed";
        case EventKind::server_idle_check: return "server_idle_check";
        case EventKind::client_eof: return "client_eof";
        case EventKind::timer_fire: return "timer_fire";
        case EventKind::timer_callback: return "timer_callback";
        case EventKind::close_idle_tick: return "close_idle_tick";
        case EventKind::arrival: return "arrival";
    }
    return "?";
}

Scheduler::Scheduler(const Options& options, std::uint64_t expected_steps)
    : strategy_(options.strategy_kind()),
      window_ns_(std::chrono::duration_cast<Duration>(std::chrono::microseconds(options.race_window_us)).count()),
      rng_(options.seed, 2) {
    if (strategy_ == Strategy::pct) {
        // PCT (Burckhardt et al.): d-1 priority change points at random steps.
        for (std::int64_t i = 0; i + 1 < options.pct_depth; ++i) {
            change_points_.push_back(rng_.below(std::max<std::uint64_t>(expected_steps, 1)));
        }
        std::sort(change_points_.begin(), change_points_.end());
    }
}

void Scheduler::at(TimePoint due, EventKind kind, std::uint64_t actor, std::uint64_t a, std::uint64_t b) {
    if (due < now_) due = now_;  // nothing is scheduled in the past
    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
        slab_[slot] = Payload{actor, a, b, kind};
    } else if (slab_.size() < pending_max) {
        slot = static_cast<std::uint32_t>(slab_.size());
        slab_.push_back(Payload{actor, a, b, kind});
    } else {
        overflowed_ = true;  // the World stops the run
        return;
    }
    heap_.push_back(Key{due.time_since_epoch().count(), (seq_++ << slot_bits) | slot});
    sift_up(heap_.size() - 1);
}

void Scheduler::sift_up(std::size_t i) noexcept {
    const Key k = heap_[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 4;
        if (!before(k, heap_[parent])) break;
        heap_[i] = heap_[parent];
        i = parent;
    }
    heap_[i] = k;
}

void Scheduler::sift_down(std::size_t i) noexcept {
    const std::size_t n = heap_.size();
    Key* const h = heap_.data();
    const Key k = h[i];
    // Which child is least is a coin toss for the branch predictor, so it is picked with
    // conditional moves.
    auto less = [](const Key& x, const Key& y) { return before(x, y); };
    for (;;) {
        const std::size_t first = 4 * i + 1;
        if (first >= n) break;
        std::size_t best = first;
        if (first + 4 <= n) {
            const std::size_t b01 = less(h[first + 1], h[first]) ? first + 1 : first;
            const std::size_t b23 = less(h[first + 3], h[first + 2]) ? first + 3 : first + 2;
            best = less(h[b23], h[b01]) ? b23 : b01;
        } else {
            for (std::size_t c = first + 1; c < n; ++c) best = less(h[c], h[best]) ? c : best;
        }
        if (!less(h[best], k)) break;
        h[i] = h[best];
        i = best;
    }
    h[i] = k;
}

// Takes the event at heap position i out: its payload slot is recycled and the last key
// takes its place, moving up or down.
void Scheduler::remove_at(std::size_t i, Event& out) noexcept {
    const Key k = heap_[i];
    const auto slot = static_cast<std::uint32_t>(k.order & ((std::uint64_t{1} << slot_bits) - 1));
    const Payload& p = slab_[slot];
    out = Event{TimePoint{Duration{k.due}}, k.order >> slot_bits, p.actor, p.a, p.b, p.kind};
    free_slots_.push_back(slot);
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
        heap_[i] = heap_[last];
        heap_.pop_back();
        if (i > 0 && before(heap_[i], heap_[(i - 1) / 4])) {
            sift_up(i);
        } else {
            sift_down(i);
        }
    } else {
        heap_.pop_back();
    }
}

std::uint64_t Scheduler::priority(std::uint64_t actor) {
    const std::uint64_t cls = actor >> 32;
    std::uint64_t* slot = nullptr;
    if (cls < 8) {
        std::vector<std::uint64_t>& table = class_priorities_[cls];
        const std::size_t index = static_cast<std::uint32_t>(actor);
        if (index >= table.size()) table.resize(index + 1, unset);
        slot = &table[index];
        if (*slot != unset) return *slot;
    } else {
        auto it = other_priorities_.find(actor);
        if (it != other_priorities_.end()) return it->second;
    }
    // Fresh actors get a random priority above every demoted one.
    const std::uint64_t p = (rng_.next() >> 1) | (1ULL << 62);
    if (slot != nullptr) {
        *slot = p;
    } else {
        other_priorities_.emplace(actor, p);
    }
    return p;
}

void Scheduler::set_priority(std::uint64_t actor, std::uint64_t p) {
    const std::uint64_t cls = actor >> 32;
    if (cls < 8) {
        std::vector<std::uint64_t>& table = class_priorities_[cls];
        const std::size_t index = static_cast<std::uint32_t>(actor);
        if (index >= table.size()) table.resize(index + 1, unset);
        table[index] = p;
    } else {
        other_priorities_[actor] = p;
    }
}

// Whether the actor already has a PCT priority, and which; draws nothing.
bool Scheduler::known_priority(std::uint64_t actor, std::uint64_t& p) const {
    const std::uint64_t cls = actor >> 32;
    if (cls < 8) {
        const std::vector<std::uint64_t>& table = class_priorities_[cls];
        const std::size_t index = static_cast<std::uint32_t>(actor);
        if (index >= table.size() || table[index] == unset) return false;
        p = table[index];
        return true;
    }
    auto it = other_priorities_.find(actor);
    if (it == other_priorities_.end()) return false;
    p = it->second;
    return true;
}

// The candidates (heap positions, in no particular order unless sorted) -> the heap
// position of the one to run; `first` says whether it is the earliest in (due, seq) order.
// Both strategies choose exactly as if the candidates were listed in (due, seq) order.
std::size_t Scheduler::choose(bool sorted, bool& first) {
    auto earlier = [this](std::uint32_t x, std::uint32_t y) { return before(heap_[x], heap_[y]); };
    if (strategy_ == Strategy::random) {
        // The k-th in (due, seq) order, found by selection rather than by sorting.
        const auto k = static_cast<std::size_t>(rng_.below(candidates_.size()));
        if (!sorted) std::nth_element(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(), earlier);
        first = k == 0;
        return candidates_[k];
    }
    // PCT: the highest priority runs; equal priorities (events of one actor) go to the
    // earliest. An actor seen for the first time draws its priority here, and those draws
    // happen in (due, seq) order, so the candidates are sorted only when one is fresh.
    auto actor_of = [this](std::uint32_t pos) {
        return slab_[heap_[pos].order & ((std::uint64_t{1} << slot_bits) - 1)].actor;
    };
    std::size_t best = 0, earliest = 0;
    std::uint64_t best_priority = 0;
    bool fresh = false;
    for (std::size_t i = 0; i < candidates_.size(); ++i) {
        std::uint64_t p;
        if (!known_priority(actor_of(candidates_[i]), p)) {
            fresh = true;
            break;
        }
        if (i == 0 || p > best_priority || (p == best_priority && earlier(candidates_[i], candidates_[best]))) {
            best = i;
            best_priority = p;
        }
        if (earlier(candidates_[i], candidates_[earliest])) earliest = i;
    }
    if (fresh) {
        if (!sorted) std::sort(candidates_.begin(), candidates_.end(), earlier);
        best = 0;
        earliest = 0;
        for (std::size_t i = 0; i < candidates_.size(); ++i) {
            const std::uint64_t p = priority(actor_of(candidates_[i]));
            if (i == 0 || p > best_priority) {
                best = i;
                best_priority = p;
            }
        }
    }
    first = best == earliest;
    return candidates_[best];
}

// The earliest candidates_max queued events due by `horizon`, found in place: in a
// min-heap the events due by then form a subtree at the root. A depth-first walk collects
// the subtree; if it is large, a best-first walk (a small frontier heap of positions)
// visits only the earliest candidates_max, in order, so a step never costs more than
// O(k log k) for k = candidates_max whatever the queue holds. Returns whether candidates_
// is sorted in (due, seq) order.
bool Scheduler::collect_candidates(std::int64_t horizon) {
    const std::size_t n = heap_.size();
    candidates_.clear();
    frontier_.clear();
    frontier_.push_back(0);
    while (!frontier_.empty() && candidates_.size() <= walk_max) {
        const std::uint32_t i = frontier_.back();
        frontier_.pop_back();
        candidates_.push_back(i);
        const std::size_t first = 4 * static_cast<std::size_t>(i) + 1;
        for (std::size_t c = first; c < first + 4 && c < n; ++c) {
            if (heap_[c].due <= horizon) frontier_.push_back(static_cast<std::uint32_t>(c));
        }
    }
    auto earlier = [this](std::uint32_t x, std::uint32_t y) { return before(heap_[x], heap_[y]); };
    if (frontier_.empty()) {
        if (candidates_.size() > candidates_max) {
            std::nth_element(candidates_.begin(), candidates_.begin() + candidates_max, candidates_.end(), earlier);
            candidates_.resize(candidates_max);
        }
        return false;
    }
    candidates_.clear();
    frontier_.clear();
    auto after_pos = [&earlier](std::uint32_t x, std::uint32_t y) { return earlier(y, x); };
    frontier_.push_back(0);
    while (!frontier_.empty() && candidates_.size() < candidates_max) {
        std::pop_heap(frontier_.begin(), frontier_.end(), after_pos);
        const std::uint32_t i = frontier_.back();
        frontier_.pop_back();
        candidates_.push_back(i);
        const std::size_t first = 4 * static_cast<std::size_t>(i) + 1;
        for (std::size_t c = first; c < first + 4 && c < n; ++c) {
            if (heap_[c].due > horizon) continue;
            frontier_.push_back(static_cast<std::uint32_t>(c));
            std::push_heap(frontier_.begin(), frontier_.end(), after_pos);
        }
    }
    return true;
}

bool Scheduler::pop(Event& out) {
    if (heap_.empty()) return false;
    ++steps_;
    // The window is measured from the earliest event's own deadline, not from now: so no
    // event is ever delivered more than one window after its deadline, and a strategy that
    // keeps preferring other actors (PCT) cannot starve it.
    const std::int64_t horizon = heap_.front().due + window_ns_;
    // Fast path: in a 4-ary heap the second-earliest event is a child of the root.
    bool rival = false;
    for (std::size_t c = 1; c < 5 && c < heap_.size(); ++c) rival = rival || heap_[c].due <= horizon;
    if (!rival) {
        remove_at(0, out);
    } else {
        // The candidates stay in the heap; only the one picked is removed.
        const bool sorted = collect_candidates(horizon);
        bool first = true;
        const std::size_t at = choose(sorted, first);
        ++races_;
        if (!first) ++reorders_;
        remove_at(at, out);
        if (strategy_ == Strategy::pct && next_change_ < change_points_.size() &&
            steps_ >= change_points_[next_change_]) {
            ++next_change_;
            set_priority(out.actor, demoted_++);  // below every fresh priority
        }
    }
    if (out.due > now_) now_ = out.due;
    return true;
}

}  // namespace connpool::sim
