// connpool/real/asio_ports.hpp: the pool core's time ports on Boost.Asio. `SteadyClock`
// reads std::chrono::steady_clock (the only place outside tests that reads a clock), and
// `AsioTimerService` builds Go-style one-shot timers (ports.hpp) on asio::steady_timer.
// The Dialer and Conn ports live inside connpool::real::Client (client.cpp), because they
// carry the HTTP connection state.
//
// Thread safety: an AsioTimerService and its timers must be used from one thread or one
// strand, the same one its executor runs callbacks on (the pool's strand in Client).
#pragma once

#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "connpool/ports.hpp"

namespace connpool::real {

/// steady_clock as the pool's Clock: never goes backwards (ports.hpp).
class SteadyClock final : public Clock {
public:
    TimePoint now() const override;
};

/// TimerService over asio::steady_timer. Timers are stronger than Go's in one way that the
/// pool allows: a callback that has not started yet never runs after stop() or reset(), so
/// stop() returns true exactly when the callback had not run, and a callback that
/// asio already queued is discarded by a generation check.
///
/// - after_func(d, cb): cb runs on `executor` about d from now, never inside after_func.
/// - Timer::stop(): true if the callback had not run yet (and now never will for this arming).
/// - Timer::reset(d): re-arms for d from now; returns whether the old arming was pending.
/// - ~Timer: no callback runs afterwards (the pending wait is cancelled and ignored).
///
/// Waits are lazy, because the pool stops and re-arms a conn's idle timer on every request
/// (take, then return): stop() only marks the timer stopped and leaves its asio wait in
/// place, and reset() to a deadline no earlier than the wait in place only records the
/// deadline; when the wait expires it either runs the callback (armed and due), waits again
/// for the rest (armed, deadline moved later), or ends (stopped). So a steady stream of
/// requests costs no asio timer operation at all. The price: a stopped timer's wait keeps
/// io_context::run busy until it expires, unless cancel_stopped_waits() ends it; the client
/// calls that when its last conn closes and at shutdown.
class AsioTimerService final : public TimerService {
public:
    explicit AsioTimerService(boost::asio::any_io_executor executor);
    ~AsioTimerService() override;
    AsioTimerService(const AsioTimerService&) = delete;
    AsioTimerService& operator=(const AsioTimerService&) = delete;

    /// The timers must be destroyed before the service.
    std::unique_ptr<Timer> after_func(Duration d, std::function<void()> callback) override;

    /// Cancels the asio waits that stopped timers still keep, so that they no longer keep
    /// io_context::run busy. Armed timers are not affected.
    void cancel_stopped_waits();

    struct State;  // one per timer, in an intrusive list while its Timer lives

private:
    boost::asio::any_io_executor executor_;
    State* timers_ = nullptr;  // head of the list of live timers
};

}  // namespace connpool::real
