// Asio implementations of the Clock and TimerService ports (asio_ports.hpp).
#include "connpool/real/asio_ports.hpp"

#include <chrono>
#include <cstdint>
#include <utility>

#include <boost/asio/steady_timer.hpp>

namespace connpool::real {

TimePoint SteadyClock::now() const {
    const auto since = std::chrono::steady_clock::now().time_since_epoch();
    return TimePoint(std::chrono::duration_cast<Duration>(since));
}

namespace {

// The state a pending wait refers to. A wait carries the generation it was armed with;
// stop/reset/~AsioTimer bump the generation, so an older wait that asio already queued
// finds a mismatch and does nothing. Waits hold the state by shared_ptr, so it outlives
// the AsioTimer if a cancelled wait is still queued.
struct TimerState {
    TimerState(const boost::asio::any_io_executor& ex, std::function<void()> cb)
        : timer(ex), callback(std::move(cb)) {}
    boost::asio::steady_timer timer;
    std::function<void()> callback;
    std::uint64_t generation = 0;
    bool pending = false;  // armed and its callback has not run
};

class AsioTimer final : public Timer {
public:
    AsioTimer(const boost::asio::any_io_executor& ex, std::function<void()> cb)
        : state_(std::make_shared<TimerState>(ex, std::move(cb))) {}
    ~AsioTimer() override {
        stop();
        state_->callback = nullptr;  // drops whatever the callback captured, now
    }
    AsioTimer(const AsioTimer&) = delete;
    AsioTimer& operator=(const AsioTimer&) = delete;

    bool stop() override {
        const bool was_pending = state_->pending;
        state_->pending = false;
        ++state_->generation;
        state_->timer.cancel();  // the cancelled wait completes soon, so io_context::run can return
        return was_pending;
    }

    bool reset(Duration d) override {
        const bool was_pending = stop();
        state_->pending = true;
        const std::uint64_t generation = state_->generation;
        state_->timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(d));
        state_->timer.async_wait([state = state_, generation](const boost::system::error_code&) {
            // Whether asio says "expired" or "aborted" does not matter: only the latest arming,
            // still pending, may run the callback.
            if (state->generation != generation || !state->pending) return;
            state->pending = false;
            if (state->callback) state->callback();
        });
        return was_pending;
    }

private:
    std::shared_ptr<TimerState> state_;
};

}  // namespace

std::unique_ptr<Timer> AsioTimerService::after_func(Duration d, std::function<void()> callback) {
    auto timer = std::make_unique<AsioTimer>(executor_, std::move(callback));
    timer->reset(d);
    return timer;
}

}  // namespace connpool::real
