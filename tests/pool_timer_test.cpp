// Idle timers: IdleConnTimeout arming (P11), the tooOld clock check (T3), and the races
// between a timer callback and a reuse (T6 plus connpool's documented divergence: a conn
// is never closed before it has been idle a full IdleConnTimeout). Timers are driven by
// FakeTimerService; `hold_fires` leaves a fired callback "in flight" to be run later.
#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class IdleTimer : public PoolTestX {
protected:
    void SetUp() override {
        Config c;
        c.idle_conn_timeout = 10s;
        make_pool(c);
    }
};

// P11 T6: an idle HTTP/1 conn is closed with idle_timeout exactly IdleConnTimeout after it
// was pooled, not a nanosecond earlier, and leaves the idle list.
TEST_F(IdleTimer, IdleConnClosesAfterTimeout) {
    Lease l = get_dialed(a_);
    ASSERT_EQ(pool().put_idle_conn(l.id), PutResult::pooled);
    EXPECT_EQ(timers_.pending(), 1u);
    timers_.advance(10s - 1ns);
    EXPECT_TRUE(pool().is_open(l.id));
    EXPECT_TRUE(pool().is_idle(l.id));
    FakeConn& c = fake(l);
    timers_.advance(1ns);
    ASSERT_TRUE(c.closed.has_value());
    EXPECT_EQ(*c.closed, CloseReason::idle_timeout);
    EXPECT_EQ(c.close_calls, 1);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(pool().open_conns(), 0u);
    EXPECT_EQ(closes_with(CloseReason::idle_timeout), 1u);
    audit();
}

// T6 + the race Go's closeConnIfStillIdle guards: the idle timer has fired (callback in
// flight) at the very instant the conn is taken; when the callback runs the conn is no
// longer idle, so it stays open and leased.
TEST_F(IdleTimer, TimerInFlightWhenConnTakenLeavesItOpen) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    timers_.hold_fires = true;
    timers_.advance(10s);  // fires, callback held
    ASSERT_EQ(timers_.in_flight(), 1u);
    Lease again = get_idle(a_);  // idle exactly 10s: not tooOld (T3 uses strict Before)
    ASSERT_EQ(again.id, l.id);
    EXPECT_EQ(again.idle_time, Duration(10s));
    timers_.run_in_flight();
    EXPECT_EQ(timers_.callbacks_run, 1);
    EXPECT_TRUE(pool().is_open(again.id));
    EXPECT_FALSE(pool().is_idle(again.id));
    EXPECT_FALSE(fake_closed(fake(again)));
    EXPECT_EQ(pool().open_conns(), 1u);
    audit();
    // The lease is still good: the conn can be returned and is pooled.
    EXPECT_EQ(pool().put_idle_conn(again.id), PutResult::pooled);
    audit();
}

// T6 + divergence from Go: a callback in flight from the previous idle period, run after
// the conn was reused AND returned, must not close the conn that just became idle; the
// conn then closes exactly IdleConnTimeout after its latest return.
TEST_F(IdleTimer, StaleCallbackAfterReuseAndReturnDoesNotCloseEarly) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);  // idle at t0
    const TimePoint t0 = clock_.now();
    timers_.hold_fires = true;
    timers_.advance(10s);  // timer fired at t0+10s, callback held
    Lease again = get_idle(a_);
    timers_.advance(1s);
    ASSERT_EQ(pool().put_idle_conn(again.id), PutResult::pooled);  // idle again at t0+11s
    timers_.run_in_flight();  // Go would close the conn here
    ASSERT_FALSE(fake_closed(fake(again))) << "closed by a stale timer callback";
    EXPECT_TRUE(pool().is_open(l.id));
    EXPECT_TRUE(pool().is_idle(l.id));
    EXPECT_FALSE(fake_closed(fake(again)));
    audit();
    timers_.hold_fires = false;
    timers_.advance_to(t0 + 21s - 1ns);
    EXPECT_TRUE(pool().is_idle(l.id)) << "closed before a full IdleConnTimeout of idleness";
    timers_.advance_to(t0 + 21s);
    ASSERT_TRUE(fake(again).closed.has_value());
    EXPECT_EQ(*fake(again).closed, CloseReason::idle_timeout);
    EXPECT_EQ(pool().idle_count(), 0u);
    audit();
}

// Divergence (a) P11: a stale callback that runs some time after the conn was reused and
// returned re-arms the timer for the REST of IdleConnTimeout, counted from the return, not
// for a full IdleConnTimeout from the callback: the conn still closes exactly
// IdleConnTimeout after its latest return.
TEST_F(IdleTimer, LateStaleCallbackRearmsForTheRest) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    const TimePoint t0 = clock_.now();
    timers_.hold_fires = true;
    timers_.advance(10s);  // fired at t0+10s, callback held
    Lease again = get_idle(a_);
    timers_.advance(1s);
    ASSERT_EQ(pool().put_idle_conn(again.id), PutResult::pooled);  // idle again at t0+11s
    timers_.advance(4s);  // t0+15s: the held callback runs only now
    timers_.run_in_flight();
    ASSERT_TRUE(pool().is_idle(l.id)) << "closed by a stale timer callback";
    ASSERT_EQ(timers_.pending_ids().size(), 1u);
    EXPECT_EQ(timers_.entries_.at(timers_.pending_ids()[0]).due, t0 + 21s)
        << "the idle timer must be due IdleConnTimeout after the latest return";
    timers_.hold_fires = false;
    timers_.advance_to(t0 + 21s - 1ns);
    EXPECT_TRUE(pool().is_idle(l.id));
    timers_.advance_to(t0 + 21s);
    EXPECT_EQ(fake(again).closed, CloseReason::idle_timeout) << "idle longer than IdleConnTimeout";
    audit();
}

// T6: a stale callback after a reuse without return leaves the leased conn alone; once it
// is returned later it gets a full IdleConnTimeout from that return.
TEST_F(IdleTimer, StaleCallbackAfterReuseOnly) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    timers_.hold_fires = true;
    timers_.advance(10s);
    Lease again = get_idle(a_);
    timers_.run_in_flight();
    EXPECT_TRUE(pool().is_open(again.id));
    timers_.hold_fires = false;
    timers_.advance(30s);  // in use for a long time: no timer may close it
    EXPECT_TRUE(pool().is_open(again.id));
    EXPECT_FALSE(fake_closed(fake(again)));
    const TimePoint back = clock_.now();
    pool().put_idle_conn(again.id);
    timers_.advance_to(back + 10s - 1ns);
    EXPECT_TRUE(pool().is_idle(again.id));
    timers_.advance_to(back + 10s);
    EXPECT_EQ(fake(again).closed, CloseReason::idle_timeout);
    audit();
}

// T6 with slot recycling: a callback in flight for a conn that was then closed must not
// close the next conn that reuses the same pool slot and is idle for less than the timeout.
TEST_F(IdleTimer, StaleCallbackNeverClosesNextTenantOfSlot) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    timers_.hold_fires = true;
    timers_.advance(10s);
    Lease again = get_idle(a_);
    pool().close_conn(again.id, CloseReason::response_close);  // slot freed
    Lease next = get_dialed(a_);
    EXPECT_EQ(next.id.slot, l.id.slot) << "fixture expectation: the slot is recycled";
    EXPECT_NE(next.id, l.id);
    pool().put_idle_conn(next.id);
    timers_.run_in_flight();
    EXPECT_TRUE(pool().is_idle(next.id));
    EXPECT_FALSE(fake_closed(fake(next)));
    timers_.hold_fires = false;
    timers_.advance(10s);
    EXPECT_EQ(fake(next).closed, CloseReason::idle_timeout);
    audit();
}

// T3 (Go >=1.14): a conn idle longer than IdleConnTimeout by the clock is retired (idle_timeout)
// and a dial started even though its timer has not run, while exactly IdleConnTimeout old is
// still usable.
TEST_F(IdleTimer, TooOldConnRetiredWhenTimerHasNotRun) {
    Lease l1 = get_dialed(a_);
    Lease l2 = get_dialed(a_);
    pool().put_idle_conn(l1.id);
    clock_.set(clock_.now() + 5s);  // the clock moves, timers do not fire
    pool().put_idle_conn(l2.id);
    clock_.set(clock_.now() + 5s);
    // l2 (MRU, idle 5s) is taken first (T4 LIFO); l1 is idle exactly 10s: still usable.
    Lease first = get_idle(a_);
    EXPECT_EQ(first.id, l2.id);
    pool().put_idle_conn(first.id);  // l2 is now the MRU, idle_at = now
    clock_.set(clock_.now() + 1ns);
    // l1 is now 10s+1ns old but sits behind l2: the scan stops at the first usable conn.
    Lease second = get_idle(a_);
    EXPECT_EQ(second.id, l2.id);
    EXPECT_TRUE(pool().is_idle(l1.id));
    // Now the only idle conn (l1) is too old: retired, and a new dial starts.
    const int dials = dialer_.started;
    WantId w = get_pending(a_);
    EXPECT_EQ(fake(l1).closed, CloseReason::idle_timeout);
    EXPECT_EQ(pool().idle_count(a_), 0u);
    EXPECT_EQ(dialer_.started, dials + 1);
    finish_dial();
    Lease fresh = take_ready(w);
    EXPECT_FALSE(fresh.reused);
    pool().put_idle_conn(second.id);
    pool().put_idle_conn(fresh.id);
    audit();
}

// T3 T4: when every idle conn of the key is too old, one scan retires them all (stopping
// their timers) and the request falls through to a dial.
TEST_F(IdleTimer, TooOldScanRetiresAll) {
    Lease l1 = get_dialed(a_);
    Lease l2 = get_dialed(a_);
    pool().put_idle_conn(l1.id);
    pool().put_idle_conn(l2.id);
    clock_.set(clock_.now() + 11s);
    const int dials = dialer_.started;
    get_pending(a_);
    EXPECT_EQ(fake(l1).closed, CloseReason::idle_timeout);
    EXPECT_EQ(fake(l2).closed, CloseReason::idle_timeout);
    EXPECT_EQ(dialer_.started, dials + 1);
    EXPECT_EQ(timers_.pending(), 0u) << "timers of retired conns must be stopped";
    audit();
}

// P11: a reused conn's timer is re-armed (not duplicated) on each return; only one timer
// object exists per conn slot.
TEST_F(IdleTimer, TimerReusedPerSlot) {
    Lease l = get_dialed(a_);
    for (int i = 0; i < 5; ++i) {
        pool().put_idle_conn(l.id);
        timers_.advance(3s);
        l = get_idle(a_);
    }
    EXPECT_EQ(timers_.created, 1);
    EXPECT_EQ(timers_.pending(), 0u) << "taking a conn stops its timer (divergence: Go leaves it running)";
    pool().put_idle_conn(l.id);
    EXPECT_EQ(timers_.pending(), 1u);
    audit();
}

// K3 P11: IdleConnTimeout 0 means no limit: no timer is created and the conn stays idle.
TEST_F(PoolTestX, NoTimeoutNoTimer) {
    make_pool(Config{});
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    timers_.advance(std::chrono::hours(24 * 365));
    EXPECT_EQ(timers_.created, 0);
    Lease again = get_idle(a_);
    EXPECT_EQ(again.id, l.id);
    EXPECT_EQ(again.idle_time, Duration(std::chrono::hours(24 * 365)));
    pool().put_idle_conn(again.id);
    audit();
}

}  // namespace
}  // namespace connpool::testing
