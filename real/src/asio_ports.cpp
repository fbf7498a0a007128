// Asio implementations of the Clock and TimerService ports (asio_ports.hpp).
#include "connpool/real/asio_ports.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include <boost/asio/steady_timer.hpp>

namespace connpool::real {

TimePoint SteadyClock::now() const {
    const auto since = std::chrono::steady_clock::now().time_since_epoch();
    return TimePoint(std::chrono::duration_cast<Duration>(since));
}

// The state a pending wait refers to. A wait carries the generation it was started with;
// arming a new wait or destroying the timer bumps the generation, so an older wait that
// asio already queued finds a mismatch and does nothing. Waits hold the state by
// shared_ptr, so it outlives the AsioTimer if a cancelled wait is still queued.
struct AsioTimerService::State {
    State(const boost::asio::any_io_executor& ex, std::function<void()> cb) : timer(ex), callback(std::move(cb)) {}
    boost::asio::steady_timer timer;
    std::function<void()> callback;
    std::chrono::steady_clock::time_point deadline;     // of the current arming, while pending
    std::chrono::steady_clock::time_point wait_expiry;  // of the asio wait in flight, while waiting
    std::uint64_t generation = 0;
    bool pending = false;  // armed and its callback has not run
    bool waiting = false;  // an asio wait of the current generation is in flight
    State* prev = nullptr;  // the service's list of live timers
    State* next = nullptr;
};

namespace {

using State = AsioTimerService::State;

void start_wait(const std::shared_ptr<State>& state, std::chrono::steady_clock::time_point expiry);

void on_wait(const std::shared_ptr<State>& state, std::uint64_t generation) {
    // Whether asio says "expired" or "aborted" does not matter: only the wait of the
    // current generation counts, and the deadline decides.
    if (state->generation != generation) return;
    state->waiting = false;
    if (!state->pending) return;  // stopped since: the lazy wait just ends
    if (std::chrono::steady_clock::now() < state->deadline) {
        start_wait(state, state->deadline);  // re-armed later than this wait: wait for the rest
        return;
    }
    state->pending = false;
    if (state->callback) state->callback();
}

void start_wait(const std::shared_ptr<State>& state, std::chrono::steady_clock::time_point expiry) {
    const std::uint64_t generation = ++state->generation;
    state->waiting = true;
    state->wait_expiry = expiry;
    state->timer.expires_at(expiry);
    state->timer.async_wait(
        [state, generation](const boost::system::error_code&) { on_wait(state, generation); });
}

class AsioTimer final : public Timer {
public:
    AsioTimer(State*& list, const boost::asio::any_io_executor& ex, std::function<void()> cb)
        : list_(list), state_(std::make_shared<State>(ex, std::move(cb))) {
        state_->next = list_;
        if (list_ != nullptr) list_->prev = state_.get();
        list_ = state_.get();
    }
    ~AsioTimer() override {
        state_->pending = false;
        ++state_->generation;  // whatever wait is queued is now stale
        if (state_->waiting) state_->timer.cancel();  // so io_context::run can return
        state_->waiting = false;
        state_->callback = nullptr;  // drops whatever the callback captured, now
        if (state_->prev != nullptr) state_->prev->next = state_->next; else list_ = state_->next;
        if (state_->next != nullptr) state_->next->prev = state_->prev;
        state_->prev = state_->next = nullptr;
    }
    AsioTimer(const AsioTimer&) = delete;
    AsioTimer& operator=(const AsioTimer&) = delete;

    bool stop() override {
        const bool was_pending = state_->pending;
        state_->pending = false;  // lazy: the wait in flight, if any, ends when it expires
        return was_pending;
    }

    bool reset(Duration d) override {
        const bool was_pending = state_->pending;
        state_->pending = true;
        state_->deadline = std::chrono::steady_clock::now() +
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
        if (state_->waiting && state_->wait_expiry <= state_->deadline) return was_pending;  // it will look again
        if (state_->waiting) state_->timer.cancel();  // expires too late: replaced below (stale generation)
        start_wait(state_, state_->deadline);
        return was_pending;
    }

private:
    State*& list_;
    std::shared_ptr<State> state_;
};

}  // namespace

AsioTimerService::AsioTimerService(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

AsioTimerService::~AsioTimerService() {
    if (timers_ != nullptr) {
        std::fprintf(stderr, "connpool: fatal: AsioTimerService destroyed before its timers\n");
        std::abort();
    }
}

std::unique_ptr<Timer> AsioTimerService::after_func(Duration d, std::function<void()> callback) {
    auto timer = std::make_unique<AsioTimer>(timers_, executor_, std::move(callback));
    timer->reset(d);
    return timer;
}

void AsioTimerService::cancel_stopped_waits() {
    for (State* s = timers_; s != nullptr; s = s->next) {
        if (s->pending || !s->waiting) continue;
        ++s->generation;
        s->waiting = false;
        s->timer.cancel();
    }
}

}  // namespace connpool::real
