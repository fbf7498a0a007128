// Guards against the pool bugs Go's Transport has had. Each test reproduces the shape of
// one golang/go issue in connpool's terms and fails if the bug were reintroduced here.
#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class GoRegression : public PoolTestX {
protected:
    void limit(int max_conns_per_host, Duration idle_timeout = Duration::zero()) {
        Config c;
        c.max_conns_per_host = max_conns_per_host;
        c.idle_conn_timeout = idle_timeout;
        make_pool(c);
    }
};

// golang/go#65705 (D3, D7): a want cancelled while queued for a MaxConnsPerHost slot neither
// holds nor leaks one, and a failed dial made for a cancelled want releases its slot.
TEST_F(GoRegression, Issue65705SlotReleasedForSkippedOrFailedOrphanDial) {
    // Go 1.22.0 skipped the dial of a satisfied or cancelled want without decConnsPerHost, so the
    // host hung at its limit forever.
    limit(1);
    Lease l1 = get_dialed(a_);
    WantId queued = get_pending(a_);
    pool().cancel_want(queued);
    pool().close_conn(l1.id, CloseReason::response_close);
    EXPECT_EQ(pool().conns_per_host(a_), 0) << "slot leaked to a cancelled want";
    EXPECT_EQ(dialer_.started, 1);
    WantId w = get_pending(a_);
    EXPECT_EQ(dialer_.started, 2) << "the host is stuck at its limit";
    pool().cancel_want(w);
    fail_dial();
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    WantId w3 = get_pending(a_);
    EXPECT_EQ(dialer_.started, 3);
    finish_dial();
    pool().put_idle_conn(take_ready(w3).id);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();
}

// golang/go#61474 (X5, W3): cancelling wants that were delivered a shared conn leaves the conn
// open and pooled and its MaxConnsPerHost count intact, even with the key's idle list full.
TEST_F(GoRegression, Issue61474SharedConnNotRepooledOnCancel) {
    // Go re-pooled the HTTP/2 conn in wantConn.cancel; a refusal then closed it and released its
    // slot while HTTP/2 still used it, and the second release underflowed connCount.
    limit(3);
    WantId wa = get_pending(a_);
    WantId wb = get_pending(a_);
    FakeConn& x = finish_dial(true);  // served to wa and (P5, all waiters) wb, and pooled
    ASSERT_TRUE(announced(wa));
    ASSERT_TRUE(announced(wb));
    FakeConn& y = finish_dial(true);  // wb's own dial: pooled too, the key's list is now full
    EXPECT_EQ(pool().idle_count(a_), 2u);
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    pool().cancel_want(wa);
    pool().cancel_want(wb);
    EXPECT_FALSE(fake_closed(x));
    EXPECT_FALSE(fake_closed(y));
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    EXPECT_EQ(pool().idle_count(a_), 2u);
    EXPECT_TRUE(trace_.puts.empty());
    audit();
    // A shared conn closed (C1) while a ready want still holds it: the later cancel
    // releases nothing more.
    WantId wc = get_pending(b_);
    FakeConn& z = finish_dial(true);
    ASSERT_TRUE(announced(wc));
    pool().close_idle_connections();  // closes x, y; retires z, which wc still holds
    EXPECT_FALSE(z.closed.has_value());
    EXPECT_EQ(pool().conns_per_host(b_), 0);
    pool().cancel_want(wc);  // the last lease on z ends: now it is closed
    EXPECT_EQ(z.closed, CloseReason::close_idle_conns);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().conns_per_host(b_), 0);
    EXPECT_EQ(z.close_calls, 1);
    audit();
}

// golang/go#34941 (X3, RM1, D7): learning twice that a conn is dead (owner report twice, report
// after a pool close, lease end after a report) releases its slot exactly once. Ports the
// pool side of Go's TestTransportDecrementConnWhenIdleConnRemoved.
TEST_F(GoRegression, Issue34941NoDoubleReleaseOnRepeatedRemoval) {
    // Go called decConnsPerHost even when removeIdleConn found the conn already gone, releasing
    // one slot twice.
    limit(2, 10s);
    Lease l1 = get_dialed(a_);
    Lease l2 = get_dialed(a_);
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    pool().conn_closed(l1.id, CloseReason::read_error);
    pool().conn_closed(l1.id, CloseReason::read_error);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::conn_broken);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    pool().put_idle_conn(l2.id);
    timers_.advance(10s);  // the pool closes l2 (idle timeout)
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(fake(l2).close_calls, 1);
    // A fresh pair: the owner reports one dead while it is idle, then the timer passes.
    Lease l3 = get_dialed(a_);
    pool().put_idle_conn(l3.id);
    pool().conn_closed(l3.id, CloseReason::server_closed_idle);
    timers_.advance(10s);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(fake(l3).close_calls, 1);
    audit();
}

// golang/go#32336 / #29889 (P5, T5, W4): a conn returned while a request waits (unable to dial at
// MaxConnsPerHost, or with its dial in progress) goes to that request, not to the idle list.
// In Go the #32336 deadlock showed up in TestTransportMaxConnsPerHost (ported in
// go_transport_scenarios_test.cpp).
TEST_F(GoRegression, Issue32336WaiterGetsReturnedConn) {
    // Go lost such hand-offs (the waiter was registered apart from the idle check) and the request
    // hung.
    limit(1);
    Lease l1 = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(dialer_.started, 1);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::handed_to_waiter);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(take_ready(w).id, l1.id);
    // And with a dial in progress for the waiter (no limit): same, #29889's race.
    limit(0);
    Lease m1 = get_dialed(a_);
    WantId w2 = get_pending(a_);
    EXPECT_EQ(pool().put_idle_conn(m1.id), PutResult::handed_to_waiter);
    EXPECT_EQ(take_ready(w2).id, m1.id);
    audit();
}

// P8 INV2 ("dup idle pconn in freelist"): the same conn never appears twice in the idle
// structures, whatever mix of reuse, hand-off and W3 re-pooling it goes through.
TEST_F(GoRegression, NoDuplicateIdleEntries) {
    limit(0, 30s);
    Lease l = get_dialed(a_);
    for (int i = 0; i < 3; ++i) {
        pool().put_idle_conn(l.id);
        l = get_idle(a_);
        WantId w = get_pending(a_);
        pool().put_idle_conn(l.id);  // hand-off
        pool().cancel_want(w);       // W3: re-pooled
        EXPECT_EQ(pool().idle_count(a_), 1u);
        audit();
        l = get_idle(a_);
        finish_dial();  // w's orphan dial: pooled beside it
        pool().put_idle_conn(l.id);
        EXPECT_EQ(pool().idle_conns(a_).size(), 2u);
        EXPECT_NE(pool().idle_conns(a_)[0], pool().idle_conns(a_)[1]);
        // Drop the orphan to stay at one conn.
        Lease top = get_idle(a_);
        Lease other = get_idle(a_);
        pool().close_conn(top.id == l.id ? other.id : top.id, CloseReason::owner);
        l = top.id == l.id ? top : other;
    }
    pool().put_idle_conn(l.id);
    audit();
}

// D6 INV5 ("connCount underflow"): a long mixed sequence of dials, failures, closes,
// evictions, timeouts and cancels brings every key's count back to exactly 0, without the
// underflow fatal and with the audit clean after each step.
TEST_F(GoRegression, ConnCountNeverUnderflows) {
    Config c;
    c.max_conns_per_host = 2;
    c.max_idle_conns = 3;
    c.idle_conn_timeout = 5s;
    make_pool(c);
    std::vector<Lease> held;
    std::vector<WantId> waiting;
    for (int round = 0; round < 30; ++round) {
        const KeyId k = round % 3 == 0 ? b_ : a_;
        switch (round % 6) {
            case 0: waiting.push_back(get_pending(k)); break;
            case 1:
                if (!dialer_.pending.empty()) finish_dial(round % 4 == 1);
                break;
            case 2:
                if (!dialer_.pending.empty()) fail_dial();
                break;
            case 3:
                if (!waiting.empty()) {
                    pool().cancel_want(waiting.front());
                    waiting.erase(waiting.begin());
                }
                break;
            case 4: timers_.advance(3s); break;
            case 5: pool().close_idle_connections(); break;
        }
        // Take every ready want; return or close the conns alternately.
        for (auto it = waiting.begin(); it != waiting.end();) {
            if (announced(*it)) {
                auto out = pool().take(*it);
                if (out.lease) held.push_back(*out.lease);
                it = waiting.erase(it);
            } else {
                ++it;
            }
        }
        while (!held.empty()) {
            Lease l = held.back();
            held.pop_back();
            if (round % 2 == 0) pool().put_idle_conn(l.id); else pool().close_conn(l.id, CloseReason::owner);
        }
        audit();
        EXPECT_GE(pool().conns_per_host(a_), 0);
        EXPECT_LE(pool().conns_per_host(a_), 2);
    }
    for (WantId w : waiting) pool().cancel_want(w);
    while (!dialer_.pending.empty()) fail_dial();
    pool().close_idle_connections();
    // Shared conns served to cancelled wants stay pooled until closed above.
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().conns_per_host(b_), 0);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// T6 (the race closeConnIfStillIdle exists for): an idle conn closed by its timer is never handed
// out, and a conn handed out while its timer fires is never closed by it.
TEST_F(GoRegression, IdleConnNeverHandedOutWhileTimerClosesIt) {
    limit(0, 10s);
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    timers_.advance(10s);  // callback runs: closed
    EXPECT_EQ(fake(l).closed, CloseReason::idle_timeout);
    WantId w = get_pending(a_);  // must not get the closed conn
    EXPECT_EQ(dialer_.started, 2);
    finish_dial();
    Lease fresh = take_ready(w);
    EXPECT_NE(fresh.id, l.id);
    pool().put_idle_conn(fresh.id);
    timers_.hold_fires = true;
    timers_.advance(10s);  // in flight
    Lease taken = get_idle(a_);
    timers_.run_in_flight();
    EXPECT_FALSE(fake_closed(fake(taken)));
    EXPECT_TRUE(pool().is_open(taken.id));
    pool().put_idle_conn(taken.id);
    audit();
}

// golang/go#29889 (D6, D7, INV5): when a conn closes while a request waits for a
// MaxConnsPerHost slot, the slot passes to that request; the count is not decremented
// first, so a third request cannot dial past the limit.
TEST_F(GoRegression, Issue29889SlotPassesToWaiterWithoutDecrement) {
    // Go 1.11 decremented connPerHostCount and also woke the waiter, which then dialed:
    // with MaxConnsPerHost=1 two conns were open at once.
    limit(1);
    Lease a = get_dialed(a_);
    WantId b = get_pending(a_);          // queued for the slot, no dial
    EXPECT_EQ(dialer_.started, 1);
    pool().close_conn(a.id, CloseReason::response_close);
    EXPECT_EQ(dialer_.started, 2) << "the waiter did not get the freed slot";
    EXPECT_EQ(pool().conns_per_host(a_), 1) << "the slot was released and handed on: counted once";
    WantId c = get_pending(a_);          // must queue, not dial a second conn
    EXPECT_EQ(dialer_.started, 2) << "a third request dialed past MaxConnsPerHost=1";
    finish_dial();
    Lease lb = take_ready(b);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    pool().put_idle_conn(lb.id);         // P5: handed to c, still one conn
    EXPECT_EQ(take_ready(c).id, lb.id);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();
}

// golang/go#66442 and #59017 (G2, G5, D5): a dial started for a request that then got an
// idle conn is not cancelled; its conn is pooled when it arrives and keeps its slot.
TEST_F(GoRegression, Issue66442DialNotCanceledWhenIdleConnReused) {
    // Go 1.22 cancelled that dial with the request's context, so a burst after a quiet
    // period dialed and threw away conns it would have needed a moment later.
    limit(2, 30s);
    Lease first = get_dialed(a_);
    WantId w = get_pending(a_);          // dial #2 starts for it
    EXPECT_EQ(pool().put_idle_conn(first.id), PutResult::handed_to_waiter);
    Lease got = take_ready(w);           // served by the returned conn
    EXPECT_TRUE(dialer_.canceled.empty()) << "the orphaned dial was cancelled";
    FakeConn& late = finish_dial();      // the dial finishes afterwards
    EXPECT_FALSE(fake_closed(late));
    EXPECT_TRUE(pool().is_idle(id_of(late)));
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    pool().put_idle_conn(got.id);
    EXPECT_EQ(pool().idle_count(a_), 2u);
    audit();
}

// golang/go#25621 (T3, T6): a client that polls exactly every IdleConnTimeout takes its
// conn at the instant the idle timer fires, again and again. The conn is either reused
// (timer stopped in time) or closed and replaced; it is never both, and nothing piles up.
TEST_F(GoRegression, Issue25621PollingAtIdleTimeoutLeaksNothing) {
    // Go 1.10 leaked a goroutine per poll when the timer fired as the conn was reused.
    limit(0, 30ms);
    Lease l = get_dialed(a_);
    for (int poll = 0; poll < 50; ++poll) {
        pool().put_idle_conn(l.id);
        timers_.hold_fires = poll % 2 == 0;   // odd polls: the callback runs at once
        timers_.advance(30ms);                // the instant the timer fires
        const auto r = pool().get_conn(a_);
        timers_.run_in_flight();              // a stale callback lands after the take
        if (r.lease) {
            l = *r.lease;
            EXPECT_TRUE(pool().is_open(l.id)) << "poll " << poll << ": handed out a closed conn";
        } else {
            finish_dial();
            l = take_ready(r.want);
        }
        EXPECT_FALSE(fake_closed(fake(l))) << "poll " << poll;
        EXPECT_EQ(pool().open_conns(), 1u) << "poll " << poll << ": conns piled up";
        EXPECT_EQ(pool().waiting_count(), 0u);
        audit();
    }
    pool().put_idle_conn(l.id);
    timers_.hold_fires = false;
    timers_.advance(30ms);
    EXPECT_EQ(pool().open_conns(), 0u);
}

// golang/go#41600 (W3, P5, D6): with MaxConnsPerHost=1 and MaxIdleConns=1, requests whose
// cancellation races the delivery of the only conn never strand it; the next request
// always gets it. Go's test for the issue: TestCancelRequestWhenSharingConnection.
TEST_F(GoRegression, Issue41600CancelRacingDeliveryNeverStrandsTheOnlyConn) {
    // Go returned "unexpected error" and could hang: a zero-length response put the conn back
    // while a cancel for the same request raced it.
    Config c;
    c.max_conns_per_host = 1;
    c.max_idle_conns = 1;
    make_pool(c);
    Lease l = get_dialed(a_);
    for (int i = 0; i < 20; ++i) {
        WantId racing = get_pending(a_);
        pool().put_idle_conn(l.id);       // delivered to the racing request...
        ASSERT_TRUE(announced(racing));
        pool().cancel_want(racing);       // ...which was cancelled before taking it
        EXPECT_EQ(pool().idle_count(a_), 1u) << "round " << i << ": the conn was lost";
        EXPECT_EQ(pool().conns_per_host(a_), 1);
        l = get_idle(a_);                 // the next request gets it at once
        audit();
    }
    pool().put_idle_conn(l.id);
    EXPECT_EQ(dialer_.started, 1);
}

}  // namespace
}  // namespace connpool::testing
