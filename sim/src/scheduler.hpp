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
    /// Events queued at once, at most: a run that needs more is stopped by the World
    /// (overflowed() turns true and the event is dropped). 16,777,215 events.
    static constexpr std::size_t pending_max = (std::size_t{1} << 24) - 1;

    Scheduler(const Options& options, std::uint64_t expected_steps);

    TimePoint now() const noexcept { return now_; }
    std::size_t pending() const noexcept { return heap_.size(); }
    std::uint64_t steps() const noexcept { return steps_; }
    /// Races where more than one event was a candidate, and how often a later-scheduled
    /// or later-due one was picked over the first in (deadline, seq) order.
    std::uint64_t races() const noexcept { return races_; }
    std::uint64_t reorders() const noexcept { return reorders_; }
    /// True once at() had to drop an event because pending_max were queued.
    bool overflowed() const noexcept { return overflowed_; }

    void at(TimePoint due, EventKind kind, std::uint64_t actor, std::uint64_t a = 0, std::uint64_t b = 0);
    void after(Duration d, EventKind kind, std::uint64_t actor, std::uint64_t a = 0, std::uint64_t b = 0) {
        at(now_ + d, kind, actor, a, b);
    }

    /// Earliest deadline in the queue; only meaningful when pending() > 0.
    TimePoint next_due() const noexcept { return TimePoint{Duration{heap_.front().due}}; }

    /// Removes the next event, as chosen by the strategy among the racing candidates, and
    /// advances the clock to its deadline if that is later. False when the queue is empty.
    bool pop(Event& out);

private:
    // The queue is a 4-ary min-heap of 16-byte keys (deadline, then seq and the slot of the
    // event's payload packed in one word: seq above, slot in the low slot_bits), so a level
    // of the heap is one cache line; payloads sit in a slab of recycled slots. (due, seq)
    // is a strict total order, since seq is unique: the candidate set of a step and the
    // order they are offered to the strategy in depend only on what is queued, never on
    // the heap's layout or on which slot an event got. seq stays below 2^40 because every
    // scheduled event is either popped (the World caps steps at 2e9) or pending.
    static constexpr int slot_bits = 24;
    struct Key {
        std::int64_t due;      // nanoseconds since the start of the run
        std::uint64_t order;   // seq << slot_bits | slot
    };
    struct Payload {
        std::uint64_t actor, a, b;
        EventKind kind;
    };
    // (due, order) as one 128-bit number, so that a comparison is a compare and a
    // subtract-with-borrow and picking the least of four keys needs no branches. due is
    // never negative (nothing is scheduled before the start of the run), so it compares
    // the same unsigned.
    __extension__ using Rank = unsigned __int128;
    static Rank rank(const Key& k) noexcept {
        return (static_cast<Rank>(static_cast<std::uint64_t>(k.due)) << 64) | k.order;
    }
    static bool before(const Key& x, const Key& y) noexcept { return rank(x) < rank(y); }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void remove_at(std::size_t i, Event& out) noexcept;
    bool collect_candidates(std::int64_t horizon);
    std::size_t choose(bool sorted, bool& first);
    bool known_priority(std::uint64_t actor, std::uint64_t& p) const;
    std::uint64_t priority(std::uint64_t actor);
    void set_priority(std::uint64_t actor, std::uint64_t p);

    Strategy strategy_;
    std::int64_t window_ns_;
    Rng rng_;
    TimePoint now_{};
    std::uint64_t seq_ = 0;
    std::uint64_t steps_ = 0;
    std::uint64_t races_ = 0;
    std::uint64_t reorders_ = 0;
    bool overflowed_ = false;
    std::vector<Key> heap_;
    std::vector<Payload> slab_;
    std::vector<std::uint32_t> free_slots_;
    static constexpr std::size_t candidates_max = 64;  // racing events considered per step
    static constexpr std::size_t walk_max = 256;       // racing events collected before walking best-first
    // Scratch for pop(), kept to avoid allocation: the heap positions of the racing events
    // (the first candidates_max in (due, seq) order), and the walks' frontier.
    std::vector<std::uint32_t> candidates_;
    std::vector<std::uint32_t> frontier_;
    // PCT: actor -> priority (higher runs first). Actors are (class << 32 | index): classes
    // below 8 are looked up in a table per class, others in the map. unset = no priority yet.
    static constexpr std::uint64_t unset = ~0ULL;
    std::vector<std::uint64_t> class_priorities_[8];
    std::map<std::uint64_t, std::uint64_t> other_priorities_;
    std::vector<std::uint64_t> change_points_;           // PCT: steps at which the winner is demoted, ascending
    std::size_t next_change_ = 0;
    std::uint64_t demoted_ = 0;
};

}  // namespace connpool::sim
