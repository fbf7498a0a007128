// sim/src/scheduler.hpp: the virtual clock and the event queue. Events are ordered by
// deadline, then by the sequence number they were scheduled with, never by addresses.
// Races are explicit: every event due at the same instant as the earliest, or within the
// race window after it, is a candidate, and the seeded strategy picks which runs next
// (uniformly at random, or PCT-style by per-actor priorities with a few change points).
// A candidate that is not picked stays queued and runs later, at the then-current time:
// the clock never goes backwards, and no event runs more than one window after its
// deadline. At most 64 candidates (the earliest) are considered per step.
//
// Thread safety: none; one Scheduler per run.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "connpool/ports.hpp"
#include "options.hpp"
#include "rng.hpp"

namespace connpool::sim {

/// What an event does; the World dispatches on it. a and b are its arguments (ids).
enum class EventKind : std::uint8_t {
    client_wake,        // a = client: think time over, start the next request
    request_deadline,   // a = request: its per-request deadline
    want_ready,         // a = want slot, b = want generation: take the result
    dial_complete,      // a = sim dial index: the dial's outcome arrives
    response,           // a = request, b = attempt: the response arrives
    attempt_failed,     // a = request, b = attempt: EOF or RST on the conn it was sent on
    server_idle_check,  // a = conn, b = activity stamp: the server's keep-alive timeout
    client_eof,         // a = conn: the client's read loop sees the server's FIN
    timer_fire,         // a = timer, b = arm generation: the timer fires (callback queued)
    timer_callback,     // a = timer: a fired timer's callback runs
    close_idle_tick,    // the embedder calls CloseIdleConnections
    arrival,            // open loop: the next request arrives
};
const char* to_string(EventKind kind) noexcept;

struct Event {
    TimePoint due{};
    std::uint64_t seq = 0;     // scheduling order; the tie-break
    std::uint64_t actor = 0;   // who the event belongs to (PCT priorities)
    std::uint64_t a = 0, b = 0;
    EventKind kind{};
};

class Scheduler {
public:
    Scheduler(const Options& options, std::uint64_t expected_steps);

    TimePoint now() const noexcept { return now_; }
    std::size_t pending() const noexcept { return heap_.size(); }
    std::uint64_t steps() const noexcept { return steps_; }
    /// Races where more than one event was a candidate, and how often a later-scheduled
    /// or later-due one was picked over the first in (deadline, seq) order.
    std::uint64_t races() const noexcept { return races_; }
    std::uint64_t reorders() const noexcept { return reorders_; }

    void at(TimePoint due, EventKind kind, std::uint64_t actor, std::uint64_t a = 0, std::uint64_t b = 0);
    void after(Duration d, EventKind kind, std::uint64_t actor, std::uint64_t a = 0, std::uint64_t b = 0) {
        at(now_ + d, kind, actor, a, b);
    }

    /// Earliest deadline in the queue; only meaningful when pending() > 0.
    TimePoint next_due() const noexcept { return heap_.front().due; }

    /// Removes the next event, as chosen by the strategy among the racing candidates, and
    /// advances the clock to its deadline if that is later. False when the queue is empty.
    bool pop(Event& out);

private:
    static bool later(const Event& x, const Event& y) noexcept {
        return x.due != y.due ? x.due > y.due : x.seq > y.seq;
    }
    std::size_t choose(const std::vector<Event>& candidates);
    std::uint64_t priority(std::uint64_t actor);

    Strategy strategy_;
    Duration window_;
    Rng rng_;
    TimePoint now_{};
    std::uint64_t seq_ = 0;
    std::uint64_t steps_ = 0;
    std::uint64_t races_ = 0;
    std::uint64_t reorders_ = 0;
    std::vector<Event> heap_;        // min-heap by (due, seq) through std::push_heap with later()
    static constexpr std::size_t candidates_max = 64;  // racing events considered per step
    std::vector<Event> candidates_;  // scratch for pop(); kept to avoid allocation
    std::map<std::uint64_t, std::uint64_t> priorities_;  // PCT: actor -> priority (higher runs first)
    std::vector<std::uint64_t> change_points_;           // PCT: steps at which the winner is demoted, ascending
    std::size_t next_change_ = 0;
    std::uint64_t demoted_ = 0;
};

}  // namespace connpool::sim
