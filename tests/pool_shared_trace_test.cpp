// Shared (multiplexed, HTTP/2 style) conns (X1-X5, P4, P5, P11) and the trace hooks
// (TR1-TR3): what each hook reports and when it must stay silent.
#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class Shared : public PoolTestX {
protected:
    void SetUp() override {
        Config c;
        c.idle_conn_timeout = 10s;
        make_pool(c);
    }
};

// X1 D5 X2: a shared conn is delivered to its requester AND pooled; later requests get the
// same conn from the idle list without removing it; no got_conn trace for shared conns.
TEST_F(Shared, SharedConnPooledAndShared) {
    WantId w = get_pending(a_);
    FakeConn& s = finish_dial(true);
    EXPECT_TRUE(pool().is_idle(id_of(s)));
    Lease l1 = take_ready(w);
    Lease l2 = get_idle(a_);
    Lease l3 = get_idle(a_);
    EXPECT_EQ(l2.id, l1.id);
    EXPECT_EQ(l3.id, l1.id);
    EXPECT_TRUE(pool().is_idle(l1.id));
    EXPECT_EQ(pool().idle_count(a_), 1u);
    EXPECT_EQ(dialer_.started, 1);
    EXPECT_TRUE(trace_.got.empty()) << "X2: GotConn is the HTTP/2 layer's business";
    EXPECT_EQ(trace_.get_conns, 3);  // TR1 still fires
    audit();
}

// P11 X1: a shared conn never gets a pool idle timer; advancing far beyond the timeout
// leaves it open (TestIdleConnH2Crash: no crash, no close from a timer).
TEST_F(Shared, NoIdleTimerForSharedConn) {
    Lease l = get_dialed(a_, true);
    EXPECT_EQ(pool().put_idle_conn(l.id), PutResult::pooled);  // P4: no-op
    timers_.advance(1h);
    EXPECT_EQ(timers_.created, 0);
    EXPECT_TRUE(pool().is_open(l.id));
    EXPECT_TRUE(pool().is_idle(l.id));
    audit();
}

// X1 T3 (derived): the tooOld check still retires a shared conn IdleConnTimeout after it
// was first pooled, when a request scans the idle list.
TEST_F(Shared, TooOldSharedConnRetiredOnScan) {
    Lease l = get_dialed(a_, true);
    pool().put_idle_conn(l.id);
    clock_.set(clock_.now() + 10s + 1ns);
    get_pending(a_);
    EXPECT_EQ(fake(l).closed, CloseReason::idle_timeout);
    EXPECT_EQ(dialer_.started, 2);
    audit();
}

// P4 TR3: returning a shared conn that is already pooled changes nothing (no second idle
// entry, no dup fatal, no hand-off accounting, no put trace).
TEST_F(Shared, ReturnOfPooledSharedConnIsNoOp) {
    Lease l1 = get_dialed(a_, true);
    Lease l2 = get_idle(a_);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::pooled);
    EXPECT_EQ(pool().put_idle_conn(l2.id), PutResult::pooled);
    EXPECT_EQ(pool().idle_count(), 1u);
    EXPECT_EQ(pool().stats().handoffs, 0u);
    EXPECT_FALSE(fake_closed(fake(l1)));
    EXPECT_TRUE(trace_.puts.empty()) << "TR3: no PutIdleConn trace for shared conns";
    audit();
}

// P5 (HTTP/2 branch) D5: a shared conn arriving while several requests wait is delivered
// to every waiter at once, and pooled as well; the other dials, finishing later, are
// pooled up to the per-key cap and the surplus refused (P7 counts shared conns, X1).
TEST_F(Shared, SharedConnServesAllWaiters) {
    WantId w1 = get_pending(a_);
    WantId w2 = get_pending(a_);
    WantId w3 = get_pending(a_);
    FakeConn& s = finish_dial(true);
    // w1 gets its own dial (D5), then the waiters in FIFO order (P5, W4).
    EXPECT_EQ(listener_.ready, (std::vector<WantId>{w1, w2, w3}));
    for (WantId w : {w1, w2, w3}) EXPECT_EQ(take_ready(w).id, id_of(s));
    EXPECT_EQ(pool().waiting_count(), 0u);
    EXPECT_EQ(pool().stats().handoffs, 2u);
    FakeConn& s2 = finish_dial(true);
    FakeConn& s3 = finish_dial(true);
    EXPECT_TRUE(pool().is_idle(id_of(s2)));
    EXPECT_EQ(s3.closed, CloseReason::too_many_idle_for_key);
    EXPECT_EQ(pool().idle_count(a_), 2u);
    audit();
}

// X5 W3 (golang/go#61474): cancelling a want that was delivered a shared conn does not
// re-pool or close it, and does not touch the MaxConnsPerHost count; the conn's single
// close later releases its slot exactly once.
TEST_F(Shared, CancelAfterSharedDeliveryDoesNotRepool) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    WantId w = get_pending(a_);
    FakeConn& s = finish_dial(true);
    ASSERT_TRUE(announced(w));
    pool().cancel_want(w);
    EXPECT_FALSE(fake_closed(s));
    EXPECT_TRUE(pool().is_idle(id_of(s)));
    EXPECT_EQ(pool().idle_count(), 1u);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    EXPECT_TRUE(trace_.puts.empty());
    audit();
    pool().conn_closed(id_of(s), CloseReason::read_error);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(s.close_calls, 1);
    audit();
}

// X5 D7: a ready want still holds a shared conn that dies; cancelling the want afterwards
// neither re-pools the dead conn nor releases its slot a second time.
TEST_F(Shared, CancelAfterSharedConnDied) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    WantId w = get_pending(a_);
    FakeConn& s = finish_dial(true);
    pool().conn_closed(id_of(s), CloseReason::read_error);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    pool().cancel_want(w);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(s.close_calls, 1);
    audit();
}

// X1 D8: a shared conn counts once toward MaxConnsPerHost however many requests use it.
TEST_F(Shared, SharedConnCountsOnce) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    Lease l1 = get_dialed(a_, true);
    Lease l2 = get_idle(a_);
    Lease l3 = get_idle(a_);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    pool().put_idle_conn(l1.id);
    pool().put_idle_conn(l2.id);
    pool().put_idle_conn(l3.id);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();
}

// X1 P10 P12: shared conns count toward MaxIdleConns and are evicted by the LRU like any
// idle conn; their idle time runs from their first pooling, since P4 returns change nothing.
TEST_F(Shared, SharedConnsInLruAndIdleTimeFromFirstPooling) {
    Config c;
    c.max_idle_conns = 2;
    make_pool(c);
    Lease s1 = get_dialed(a_, true);
    timers_.advance(5s);
    Lease again = get_idle(a_);
    EXPECT_EQ(again.idle_time, Duration(5s));
    EXPECT_TRUE(again.was_idle);
    pool().put_idle_conn(again.id);  // P4: idle_at not refreshed
    timers_.advance(3s);
    Lease third = get_idle(a_);
    EXPECT_EQ(third.idle_time, Duration(8s));
    Lease h1 = get_dialed(b_);
    Lease s2 = get_dialed(b_, true);  // LRU: s1 (oldest), s2; h1 is leased
    EXPECT_EQ(pool().idle_count(), 2u);
    pool().put_idle_conn(h1.id);  // three idle: s1 evicted
    // s1 still carries two requests (s1, third): it is retired, out of the pool with its
    // slot released, and closed when the last of them ends, as Go leaves it to HTTP/2.
    EXPECT_FALSE(pool().is_idle(s1.id));
    EXPECT_FALSE(pool().is_open(s1.id));
    EXPECT_FALSE(fake(s1).closed.has_value());
    EXPECT_TRUE(pool().is_idle(s2.id));
    EXPECT_TRUE(pool().is_idle(h1.id));
    EXPECT_EQ(pool().put_idle_conn(s1.id), PutResult::conn_broken);
    EXPECT_FALSE(fake(s1).closed.has_value());
    EXPECT_EQ(pool().put_idle_conn(third.id), PutResult::conn_broken);
    EXPECT_EQ(fake(s1).closed, CloseReason::too_many_idle);
    EXPECT_EQ(fake(s1).close_calls, 1);
    audit();
}

class Trace : public PoolTestX {
protected:
    void SetUp() override { make_pool(Config{}); }
};

// TR1 G1: get_conn is traced for every request: idle hit, dial, and with keep-alives off.
TEST_F(Trace, GetConnAlwaysTraced) {
    Lease l = get_dialed(a_);
    EXPECT_EQ(trace_.get_conns, 1);
    pool().put_idle_conn(l.id);
    Lease again = get_idle(a_);
    EXPECT_EQ(trace_.get_conns, 2);
    get_pending(a_);
    EXPECT_EQ(trace_.get_conns, 3);
    pool().put_idle_conn(again.id);
    audit();
}

// TR2: a fresh dial reports Reused=false WasIdle=false; an idle hit reports Reused,
// WasIdle and the idle time; a hand-off (P5) reports Reused but not WasIdle.
TEST_F(Trace, GotConnFields) {
    Lease held = get_dialed(a_);
    ASSERT_EQ(trace_.got.size(), 1u);
    EXPECT_FALSE(trace_.got[0].reused);
    EXPECT_FALSE(trace_.got[0].was_idle);
    EXPECT_EQ(trace_.got[0].conn, held.id);
    EXPECT_EQ(trace_.got[0].key, a_);
    pool().put_idle_conn(held.id);
    timers_.advance(7s);
    Lease idle = get_idle(a_);
    ASSERT_EQ(trace_.got.size(), 2u);
    EXPECT_TRUE(trace_.got[1].reused);
    EXPECT_TRUE(trace_.got[1].was_idle);
    EXPECT_EQ(trace_.got[1].idle_time, Duration(7s));
    WantId w = get_pending(a_);
    timers_.advance(2s);
    pool().put_idle_conn(idle.id);
    EXPECT_EQ(trace_.got.size(), 2u) << "got_conn fires on take, not on delivery";
    Lease handed = take_ready(w);
    ASSERT_EQ(trace_.got.size(), 3u);
    EXPECT_TRUE(trace_.got[2].reused);
    EXPECT_FALSE(trace_.got[2].was_idle);
    EXPECT_EQ(trace_.got[2].idle_time, Duration::zero());
    EXPECT_EQ(handed.idle_time, Duration::zero());
    pool().put_idle_conn(handed.id);
    finish_dial();  // w's own dial, now an orphan: pooled
    audit();
}

// TR2 P3: a conn from a dial whose requester went away was put through the pool, so the
// request that later picks it up sees Reused=true even though it never carried a request.
TEST_F(Trace, OrphanDialReportsReused) {
    pool().cancel_want(get_pending(a_));
    finish_dial();
    Lease l = get_idle(a_);
    EXPECT_TRUE(l.reused);
    ASSERT_EQ(trace_.got.size(), 1u);
    EXPECT_TRUE(trace_.got[0].reused);
    EXPECT_TRUE(trace_.got[0].was_idle);
    pool().put_idle_conn(l.id);
    audit();
}

// TR3: put_idle_conn is traced with its outcome (pooled, handed_to_waiter, refusals), but
// not on the D5 and W3 internal put paths.
TEST_F(Trace, PutTraceOutcomes) {
    Lease l1 = get_dialed(a_);
    Lease l2 = get_dialed(a_);
    Lease l3 = get_dialed(a_);
    WantId w = get_pending(a_);
    pool().put_idle_conn(l1.id);  // handed_to_waiter
    pool().put_idle_conn(l2.id);  // pooled
    ASSERT_EQ(trace_.puts.size(), 2u);
    EXPECT_EQ(trace_.puts[0], PutResult::handed_to_waiter);
    EXPECT_EQ(trace_.puts[1], PutResult::pooled);
    finish_dial();  // w's dial: orphan, pooled via D5 without a trace
    EXPECT_EQ(trace_.puts.size(), 2u);
    EXPECT_EQ(pool().idle_count(a_), 2u);
    pool().put_idle_conn(l3.id);  // over the cap of 2
    ASSERT_EQ(trace_.puts.size(), 3u);
    EXPECT_EQ(trace_.puts[2], PutResult::too_many_idle_for_key);
    WantId w2 = get_pending(b_);
    finish_dial();
    pool().cancel_want(w2);  // W3 put: no trace
    EXPECT_EQ(trace_.puts.size(), 3u);
    pool().put_idle_conn(take_ready(w).id);
    EXPECT_EQ(trace_.puts.size(), 4u);
    audit();
}

// D2 D4 D5 P13: the connect_start, connect_done and conn_closed hooks fire once per event, with the dial error or close reason.
TEST_F(Trace, LifecycleHooks) {
    WantId w1 = get_pending(a_);
    WantId w2 = get_pending(a_);
    EXPECT_EQ(trace_.connect_starts, 2);
    finish_dial();
    fail_dial();
    ASSERT_EQ(trace_.connect_dones.size(), 2u);
    EXPECT_FALSE(trace_.connect_dones[0]);
    EXPECT_EQ(trace_.connect_dones[1], std::make_error_code(std::errc::connection_refused));
    Lease l = take_ready(w1);
    take_error(w2);
    pool().close_conn(l.id, CloseReason::write_error);
    ASSERT_EQ(trace_.closes.size(), 1u);
    EXPECT_EQ(trace_.closes[0], CloseReason::write_error);
    EXPECT_EQ(pool().stats().closes[static_cast<int>(CloseReason::write_error)], 1u);
    audit();
}

// TR1-TR3: the trace port is optional; a pool without hooks dials, pools, reuses and closes the same way.
TEST(TraceOptional, PoolWithoutHooks) {
    FakeClock clock;
    FakeTimerService timers{clock};
    FakeDialer dialer;
    RecordingListener listener;
    Pool pool(Config{}, PoolPorts{clock, timers, dialer, listener, nullptr});
    const KeyId k = pool.key("|http|x:80");
    auto r = pool.get_conn(k);
    ASSERT_FALSE(r.lease);
    FakeConn conn(1, false);
    ConnId id = pool.dial_done(dialer.pending.front().id, conn);
    auto out = pool.take(r.want);
    ASSERT_TRUE(out.lease);
    EXPECT_EQ(out.lease->id, id);
    EXPECT_EQ(pool.put_idle_conn(id), PutResult::pooled);
    EXPECT_EQ(pool.get_conn(k).lease->id, id);
    pool.close_conn(id, CloseReason::owner);
    EXPECT_EQ(conn.closed, CloseReason::owner);
    EXPECT_FALSE(pool.check_invariants().has_value());
}

// X1 D5 D7: with keep-alives off, a fresh shared conn is delivered to its requester and then
// refused by the pool (P1); it must stay usable for that request (Go leaves an HTTP/2
// conn's socket to the HTTP/2 layer) and be closed only when the lease ends.
TEST_F(Shared, RefusedSharedConnServesItsLeaseThenCloses) {
    Config c;
    c.disable_keep_alives = true;
    c.max_conns_per_host = 1;
    make_pool(c);
    WantId w = get_pending(a_);
    FakeConn& s = finish_dial(true);
    EXPECT_FALSE(s.closed.has_value()) << "closed in the call that delivered it";
    EXPECT_EQ(pool().conns_per_host(a_), 0) << "D7: the retired conn's slot is released";
    Lease l = take_ready(w);
    EXPECT_FALSE(s.closed.has_value());
    EXPECT_EQ(pool().put_idle_conn(l.id), PutResult::keep_alives_disabled);
    EXPECT_EQ(s.closed, CloseReason::keep_alives_disabled);
    EXPECT_EQ(s.close_calls, 1);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// C1 C4 X1: CloseIdleConnections while a shared conn's dial is in flight: the conn arrives,
// is delivered, is refused (P6) and retired, but closes only when its request is done.
// An owner report of its death closes it at once.
TEST_F(Shared, SharedConnRetiredByCloseIdleClosesAfterLastLease) {
    WantId w = get_pending(a_);
    pool().close_idle_connections();
    FakeConn& s = finish_dial(true);
    Lease l = take_ready(w);
    EXPECT_FALSE(pool().is_open(l.id));
    EXPECT_FALSE(s.closed.has_value());
    audit();
    pool().conn_closed(l.id, CloseReason::read_error);  // the owner saw it die
    EXPECT_EQ(s.closed, CloseReason::close_idle);
    EXPECT_EQ(s.close_calls, 1);
    pool().close_conn(l.id, CloseReason::read_error);  // ends the lease; no second close
    EXPECT_EQ(s.close_calls, 1);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// C4 C1 X1: CloseIdleConnections also closes idle shared conns (Go calls the HTTP/2
// transport's CloseIdleConnections as well). One that no request uses closes at once with
// close_idle_conns; one still carrying a request leaves the pool at once (a new request
// dials) and is closed when that request ends.
TEST_F(Shared, C4CloseIdleClosesIdleSharedConnsAndRetiresBusyOnes) {
    Lease busy = get_dialed(a_, true);  // delivered and pooled; its lease stays open
    Lease quiet = get_dialed(b_, true);
    EXPECT_EQ(pool().put_idle_conn(quiet.id), PutResult::pooled);  // P4: still idle, no lease left
    EXPECT_EQ(pool().idle_count(), 2u);
    pool().close_idle_connections();
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(fake(quiet).closed, CloseReason::close_idle_conns);
    EXPECT_FALSE(pool().is_open(busy.id));
    EXPECT_FALSE(fake_closed(fake(busy))) << "closed under a live request";
    get_pending(a_);
    EXPECT_EQ(dialer_.started, 3) << "the retired conn is not handed out again";
    EXPECT_EQ(pool().put_idle_conn(busy.id), PutResult::conn_broken);
    EXPECT_EQ(fake(busy).closed, CloseReason::close_idle_conns);
    EXPECT_EQ(fake(busy).close_calls, 1);
    audit();
}

}  // namespace
}  // namespace connpool::testing
