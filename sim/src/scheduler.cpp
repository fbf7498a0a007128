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
      window_(std::chrono::microseconds(options.race_window_us)),
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
    heap_.push_back(Event{due, seq_++, actor, a, b, kind});
    std::push_heap(heap_.begin(), heap_.end(), later);
}

std::uint64_t Scheduler::priority(std::uint64_t actor) {
    auto it = priorities_.find(actor);
    if (it != priorities_.end()) return it->second;
    // Fresh actors get a random priority above every demoted one.
    const std::uint64_t p = (rng_.next() >> 1) | (1ULL << 62);
    priorities_.emplace(actor, p);
    return p;
}

std::size_t Scheduler::choose(const std::vector<Event>& candidates) {
    if (strategy_ == Strategy::random) return static_cast<std::size_t>(rng_.below(candidates.size()));
    std::size_t best = 0;
    std::uint64_t best_priority = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const std::uint64_t p = priority(candidates[i].actor);
        if (i == 0 || p > best_priority) {
            best = i;
            best_priority = p;
        }
    }
    return best;
}

bool Scheduler::pop(Event& out) {
    if (heap_.empty()) return false;
    ++steps_;
    // The window is measured from the earliest event's own deadline, not from now: so no
    // event is ever delivered more than one window after its deadline, and a strategy that
    // keeps preferring other actors (PCT) cannot starve it.
    const TimePoint horizon = heap_.front().due + window_;
    // Fast path: in a binary heap the second-earliest event is a child of the root.
    const bool rival = (heap_.size() > 1 && heap_[1].due <= horizon) || (heap_.size() > 2 && heap_[2].due <= horizon);
    if (!rival) {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        out = heap_.back();
        heap_.pop_back();
    } else {
        candidates_.clear();
        // Bounded by the queue size: every candidate is removed from the heap once.
        while (!heap_.empty() && heap_.front().due <= horizon && candidates_.size() < candidates_max) {
            std::pop_heap(heap_.begin(), heap_.end(), later);
            candidates_.push_back(heap_.back());
            heap_.pop_back();
        }
        const std::size_t pick = choose(candidates_);
        ++races_;
        if (pick != 0) ++reorders_;
        out = candidates_[pick];
        for (std::size_t i = 0; i < candidates_.size(); ++i) {
            if (i == pick) continue;
            heap_.push_back(candidates_[i]);
            std::push_heap(heap_.begin(), heap_.end(), later);
        }
        if (strategy_ == Strategy::pct && next_change_ < change_points_.size() &&
            steps_ >= change_points_[next_change_]) {
            ++next_change_;
            priorities_[out.actor] = demoted_++;  // below every fresh priority
        }
    }
    if (out.due > now_) now_ = out.due;
    return true;
}

}  // namespace connpool::sim
