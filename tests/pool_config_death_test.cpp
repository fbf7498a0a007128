// Configuration (K1-K4, validate_config) and programmer errors that must stop the program
// with a one-line "connpool: fatal:" message (P8 dup idle conn, stale handles, take of a
// pending want, re-entry from a port or hook).
#include <gmock/gmock.h>

#include <functional>
#include <memory>
#include <string>

#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

// K4: Config::go_default_transport matches http.DefaultTransport's pool settings.
TEST(ConfigTest, GoDefaultTransport) {
    const Config c = Config::go_default_transport();
    EXPECT_EQ(c.max_idle_conns, 100);
    EXPECT_EQ(c.idle_conn_timeout, Duration(90s));
    EXPECT_EQ(c.max_idle_conns_per_host, 0);
    EXPECT_EQ(c.idle_conns_per_host_max(), 2);  // K1
    EXPECT_EQ(c.max_conns_per_host, 0);
    EXPECT_FALSE(c.disable_keep_alives);
    EXPECT_FALSE(validate_config(c).has_value());
}

// K1 K2 K3: the derived settings: default per-key cap 2, explicit cap, keep-alives off.
TEST(ConfigTest, DerivedSettings) {
    Config c;
    EXPECT_FALSE(validate_config(c).has_value());
    EXPECT_EQ(c.idle_conns_per_host_max(), Config::default_max_idle_conns_per_host);
    EXPECT_EQ(Config::default_max_idle_conns_per_host, 2);
    EXPECT_FALSE(c.keep_alives_off());
    c.max_idle_conns_per_host = 5;
    EXPECT_EQ(c.idle_conns_per_host_max(), 5);
    c.max_idle_conns_per_host = -1;
    EXPECT_TRUE(c.keep_alives_off());
    EXPECT_FALSE(validate_config(c).has_value()) << "negative per-host cap is Go's keep-alives off";
    c.max_idle_conns_per_host = 0;
    c.disable_keep_alives = true;
    EXPECT_TRUE(c.keep_alives_off());
}

std::string message_for(Config c) {
    auto m = validate_config(c);
    return m ? *m : std::string("<accepted>");
}

// K1-K3 validate_config: each rejected setting gets a one-line message naming the field and the problem.
TEST(ConfigTest, ValidationMessages) {
    Config c;
    c.max_idle_conns = -1;
    EXPECT_THAT(message_for(c), ::testing::HasSubstr("max_idle_conns = -1 is negative"));
    c = Config{};
    c.max_idle_conns = Config::size_max + 1;
    EXPECT_THAT(message_for(c), ::testing::HasSubstr("max_idle_conns = 16777217 is larger than the limit"));
    c = Config{};
    c.max_idle_conns = Config::size_max;
    EXPECT_EQ(message_for(c), "<accepted>");
    c = Config{};
    c.max_idle_conns_per_host = Config::size_max + 1;
    EXPECT_THAT(message_for(c), ::testing::StartsWith("max_idle_conns_per_host = "));
    c = Config{};
    c.max_conns_per_host = -3;
    EXPECT_THAT(message_for(c), ::testing::HasSubstr("max_conns_per_host = -3 is negative; use 0 for no limit"));
    c = Config{};
    c.max_conns_per_host = Config::size_max + 1;
    EXPECT_THAT(message_for(c), ::testing::StartsWith("max_conns_per_host = "));
    c = Config{};
    c.idle_conn_timeout = -1ns;
    EXPECT_THAT(message_for(c), ::testing::HasSubstr("idle_conn_timeout = -1ns is negative"));
    c = Config{};
    c.idle_conn_timeout = Config::idle_conn_timeout_max + 1ns;
    EXPECT_THAT(message_for(c), ::testing::HasSubstr("longer than ten years"));
    c = Config{};
    c.idle_conn_timeout = Config::idle_conn_timeout_max;
    EXPECT_EQ(message_for(c), "<accepted>");
    for (const std::string& m : {message_for([] { Config x; x.max_idle_conns = -1; return x; }()),
                                 message_for([] { Config x; x.idle_conn_timeout = -5s; return x; }())}) {
        EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
    }
}

// P1-P13 TR3: the names of close reasons and put results are stable, as traces and reports print them.
TEST(ConfigTest, ReasonNames) {
    EXPECT_EQ(to_string(CloseReason::idle_timeout), "idle_timeout");
    EXPECT_EQ(to_string(CloseReason::too_many_idle_for_key), "too_many_idle_for_key");
    EXPECT_EQ(to_string(CloseReason::owner), "owner");
    EXPECT_EQ(to_string(PutResult::handed_to_waiter), "handed_to_waiter");
    EXPECT_EQ(to_string(PutResult::close_idle), "close_idle");
    EXPECT_TRUE(accepted(PutResult::pooled));
    EXPECT_TRUE(accepted(PutResult::handed_to_waiter));
    EXPECT_FALSE(accepted(PutResult::conn_broken));
}

class PoolDeathTest : public PoolTestX {
protected:
    void SetUp() override {
        GTEST_FLAG_SET(death_test_style, "threadsafe");
        make_pool(Config{});
    }
};

// P8: returning the same conn twice (a lease ended twice, Go's "dup idle pconn") is fatal.
TEST_F(PoolDeathTest, DuplicatePut) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    EXPECT_DEATH(pool().put_idle_conn(l.id), "connpool: fatal: .*returned twice.*dup idle pconn");
    audit();
}

// P8 INV3: ending a lease twice (close_conn after put_idle_conn) is fatal too.
// P5 P8: returning a conn twice right after it was handed to a waiter is caught too; the
// second return must not end the lease now held for the waiting request (found by the
// props suite: it used to be accepted, and the conn was later leased to two requests).
TEST_F(PoolDeathTest, DuplicatePutAfterHandoff) {
    Lease l = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(pool().put_idle_conn(l.id), PutResult::handed_to_waiter);
    EXPECT_DEATH(pool().put_idle_conn(l.id), "connpool: fatal: put_idle_conn: .*returned twice");
    EXPECT_DEATH(pool().close_conn(l.id, CloseReason::owner), "connpool: fatal: close_conn: .*no open lease");
    Lease handed = take_ready(w);
    EXPECT_EQ(handed.id, l.id);
    EXPECT_EQ(pool().put_idle_conn(handed.id), PutResult::pooled);
    audit();
}

TEST_F(PoolDeathTest, CloseAfterPut) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    EXPECT_DEATH(pool().close_conn(l.id, CloseReason::owner), "connpool: fatal: close_conn: .*no open lease");
    EXPECT_TRUE(pool().is_idle(l.id));
    audit();
}

// INV2: an id the pool never issued is fatal for every entry point taking a ConnId.
TEST_F(PoolDeathTest, UnknownConnId) {
    get_dialed(a_);
    EXPECT_DEATH(pool().put_idle_conn(ConnId{99, 1}), "connpool: fatal: put_idle_conn: unknown or stale conn id");
    EXPECT_DEATH(pool().conn_closed(ConnId{0, 77}, CloseReason::owner), "connpool: fatal: conn_closed: unknown");
    EXPECT_DEATH(pool().is_open(ConnId{5, 1}), "connpool: fatal: is_open: unknown");
    audit();
}

// INV2 INV7: a stale id (conn closed, slot recycled) is fatal and never silently names the new tenant.
TEST_F(PoolDeathTest, StaleConnId) {
    Lease l = get_dialed(a_);
    pool().close_conn(l.id, CloseReason::response_close);
    Lease next = get_dialed(a_);
    ASSERT_EQ(next.id.slot, l.id.slot);
    EXPECT_DEATH(pool().put_idle_conn(l.id), "connpool: fatal: put_idle_conn: unknown or stale conn id");
    EXPECT_TRUE(pool().is_open(next.id));
    pool().put_idle_conn(next.id);
    audit();
}

// W1 divergence (c): a want or dial id whose slot was recycled is stale: fatal, never the new
// tenant (a cancel or take of a finished request must not end a later request's wait).
TEST_F(PoolDeathTest, StaleWantAndDialIdsAfterSlotReuse) {
    WantId w1 = get_pending(a_);
    const DialId d1 = dialer_.pending.front().id;
    pool().cancel_want(w1);
    fail_dial();  // d1's slot is free again
    WantId w2 = get_pending(a_);
    ASSERT_EQ(w2.slot, w1.slot) << "fixture expectation: the want slot is recycled";
    ASSERT_EQ(dialer_.pending.front().id.slot, d1.slot) << "fixture expectation: the dial slot is recycled";
    EXPECT_DEATH(pool().cancel_want(w1), "connpool: fatal: cancel_want: unknown or stale want id");
    EXPECT_DEATH(pool().take(w1), "connpool: fatal: take: unknown or stale want id");
    EXPECT_DEATH(pool().dial_failed(d1, std::make_error_code(std::errc::timed_out)),
                 "connpool: fatal: dial_failed: unknown or finished dial");
    EXPECT_EQ(pool().waiting_count(), 1u);
    const DialId d2 = dialer_.pending.front().id;
    FakeConn& c2 = finish_dial();  // a dial that succeeded ...
    pool().put_idle_conn(take_ready(w2).id);
    pool().cancel_want(get_pending(b_));  // ... and a new dial in its slot
    ASSERT_EQ(dialer_.pending.front().id.slot, d2.slot) << "fixture expectation: the dial slot is recycled";
    EXPECT_DEATH(pool().dial_done(d2, c2), "connpool: fatal: dial_done: unknown or finished dial");
    audit();
}

// W1 W2: take of a want with no result yet is fatal, as are a second take/cancel, a finished dial and an unknown key.
TEST_F(PoolDeathTest, TakeOfPendingWant) {
    WantId w = get_pending(a_);
    EXPECT_DEATH(pool().take(w), "connpool: fatal: take: want .* has no result yet");
    finish_dial();
    pool().put_idle_conn(take_ready(w).id);
    EXPECT_DEATH(pool().take(w), "connpool: fatal: take: unknown or stale want id");
    EXPECT_DEATH(pool().cancel_want(w), "connpool: fatal: cancel_want: unknown or stale want id");
    EXPECT_DEATH(pool().dial_done(DialId{0, 1}, *conns_.back()), "connpool: fatal: dial_done: unknown or finished dial");
    EXPECT_DEATH(pool().get_conn(KeyId{42}), "connpool: fatal: get_conn: unknown key id 42");
    audit();
}

// K3: a pool built from a config that validate_config rejects stops the program.
TEST_F(PoolDeathTest, InvalidConfig) {
    Config c;
    c.max_conns_per_host = -1;
    EXPECT_DEATH(make_pool(c), "connpool: fatal: Pool constructed with an invalid config: max_conns_per_host");
    audit();
}

// Re-entry: a listener that calls back into the pool from want_ready is caught.
struct ReentrantListener final : WantListener {
    Pool* pool = nullptr;
    void want_ready(WantId w) override { pool->take(w); }
};
// Re-entry: a dialer that completes synchronously from inside dial() is caught.
struct SyncFailingDialer final : Dialer {
    Pool* pool = nullptr;
    void dial(DialId id, KeyId, std::string_view) override {
        pool->dial_failed(id, std::make_error_code(std::errc::connection_refused));
    }
    void cancel(DialId) override {}
};
// Re-entry: a trace hook that asks for a conn is caught.
struct ReentrantTrace final : TraceHooks {
    Pool* pool = nullptr;
    void get_conn(KeyId key) override { pool->get_conn(key); }
};

// T5 W1 (single-threaded contract): a WantListener calling take from inside want_ready is caught as re-entry.
TEST(PoolReentryDeathTest, FromListener) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    FakeClock clock;
    FakeTimerService timers{clock};
    FakeDialer dialer;
    ReentrantListener listener;
    Pool pool(Config{}, PoolPorts{clock, timers, dialer, listener, nullptr});
    listener.pool = &pool;
    const KeyId k = pool.key("|http|x:80");
    const WantId w = pool.get_conn(k).want;
    (void)w;
    FakeConn conn(1, false);
    EXPECT_DEATH(pool.dial_done(dialer.pending.front().id, conn),
                 "connpool: fatal: take called from inside a port or trace hook call");
    EXPECT_FALSE(pool.check_invariants().has_value());
}

// D2 (Dialer contract): a dialer completing synchronously from inside dial() is caught as re-entry.
TEST(PoolReentryDeathTest, FromDialer) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    FakeClock clock;
    FakeTimerService timers{clock};
    SyncFailingDialer dialer;
    RecordingListener listener;
    Pool pool(Config{}, PoolPorts{clock, timers, dialer, listener, nullptr});
    dialer.pool = &pool;
    const KeyId k = pool.key("|http|x:80");
    EXPECT_DEATH(pool.get_conn(k), "connpool: fatal: dial_failed called from inside a port");
    EXPECT_FALSE(pool.check_invariants().has_value());
}

// TR1: a trace hook calling get_conn from inside the get_conn hook is caught as re-entry.
TEST(PoolReentryDeathTest, FromTraceHook) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    FakeClock clock;
    FakeTimerService timers{clock};
    FakeDialer dialer;
    RecordingListener listener;
    ReentrantTrace trace;
    Pool pool(Config{}, PoolPorts{clock, timers, dialer, listener, &trace});
    trace.pool = &pool;
    const KeyId k = pool.key("|http|x:80");
    EXPECT_DEATH(pool.get_conn(k), "connpool: fatal: get_conn called from inside a port");
    EXPECT_FALSE(pool.check_invariants().has_value());
}

// A timer service that, against its contract, runs the callback from inside reset().
struct EagerTimer final : Timer {
    std::function<void()> cb;
    bool stop() override { return false; }
    bool reset(Duration) override {
        cb();
        return false;
    }
};
struct EagerTimers final : TimerService {
    std::unique_ptr<Timer> after_func(Duration, std::function<void()> cb) override {
        auto t = std::make_unique<EagerTimer>();
        t->cb = std::move(cb);
        return t;
    }
};

// P11 T6: an idle-timer callback run from inside Timer::reset (contract breach) is caught as re-entry.
TEST(PoolReentryDeathTest, FromTimerService) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    FakeClock clock;
    EagerTimers timers;
    FakeDialer dialer;
    RecordingListener listener;
    Config c;
    c.idle_conn_timeout = 1s;
    Pool pool(c, PoolPorts{clock, timers, dialer, listener, nullptr});
    const KeyId k = pool.key("|http|x:80");
    FakeConn conn(1, false);
    const WantId w = pool.get_conn(k).want;
    ConnId id = pool.dial_done(dialer.pending.front().id, conn);
    pool.take(w);
    pool.put_idle_conn(id);  // creates the timer
    auto again = pool.get_conn(k);
    ASSERT_TRUE(again.lease.has_value());
    // This return re-arms the timer with reset(), which runs the callback at once.
    EXPECT_DEATH(pool.put_idle_conn(id), "connpool: fatal: idle timer callback called from inside a port");
    EXPECT_FALSE(pool.check_invariants().has_value());
}

// ports.hpp: Clock::now() must never go backwards. The pool remembers the latest reading and
// stops, naming the contract, when a later one is earlier; an equal reading is fine.
TEST_F(PoolDeathTest, ClockGoingBackwardsIsFatal) {
    Config c;
    c.idle_conn_timeout = 10s;
    make_pool(c);
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);  // reads the clock (P12)
    Lease again = get_idle(a_);  // reads it again at the same instant (T3)
    EXPECT_EQ(again.id, l.id);
    clock_.set(clock_.now() - 1ns);
    EXPECT_DEATH(pool().put_idle_conn(again.id),
                 "connpool: fatal: Clock::now\\(\\) went backwards by 1 ns.*must never go backwards");
}

}  // namespace
}  // namespace connpool::testing
