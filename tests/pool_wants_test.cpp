// Waiters (Go's wantConn): late binding of returned conns (P5), FIFO order (W4), dials
// that finish after their requester was served (G5, D5), and cancellation before and
// after delivery (W3, W5 with connpool's divergence: cancelled wants leave every queue).
#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class Wants : public PoolTestX {
protected:
    void SetUp() override { make_pool(Config{}); }
};

// P5 G3: a conn returned while a request waits is handed straight to it (not pooled), and
// the waiter's own dial, finishing later, is pooled instead (G5, D5).
TEST_F(Wants, ReturnedConnGoesToWaiterNotIdleList) {
    Lease held = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(dialer_.pending.size(), 1u);
    EXPECT_EQ(pool().put_idle_conn(held.id), PutResult::handed_to_waiter);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(pool().waiting_count(), 0u);
    EXPECT_EQ(pool().ready_count(), 1u);
    Lease got = take_ready(w);
    EXPECT_EQ(got.id, held.id);
    EXPECT_TRUE(got.reused);      // P3: it went through tryPutIdleConn
    EXPECT_FALSE(got.was_idle);   // TR2: a hand-off is not an idle hit
    EXPECT_EQ(got.idle_time, Duration::zero());
    FakeConn& late = finish_dial();
    EXPECT_TRUE(pool().is_idle(id_of(late)));
    EXPECT_FALSE(fake_closed(late));
    EXPECT_EQ(pool().stats().handoffs, 1u);
    audit();
}

// P5 W4: waiters are served oldest first, and a cancelled waiter is skipped.
TEST_F(Wants, LateBindingIsFifoAndSkipsCancelled) {
    Lease c1 = get_dialed(a_);
    Lease c2 = get_dialed(a_);
    Lease c3 = get_dialed(a_);
    WantId w1 = get_pending(a_);
    WantId w2 = get_pending(a_);
    WantId w3 = get_pending(a_);
    WantId w4 = get_pending(a_);
    pool().cancel_want(w2);
    EXPECT_EQ(pool().put_idle_conn(c3.id), PutResult::handed_to_waiter);
    ASSERT_TRUE(announced(w1)) << "P5: the oldest waiter must be served first";
    EXPECT_EQ(take_ready(w1).id, c3.id);
    EXPECT_EQ(pool().put_idle_conn(c1.id), PutResult::handed_to_waiter);
    EXPECT_EQ(take_ready(w3).id, c1.id);
    EXPECT_FALSE(announced(w4));
    EXPECT_EQ(pool().put_idle_conn(c2.id), PutResult::handed_to_waiter);
    EXPECT_EQ(take_ready(w4).id, c2.id);
    EXPECT_EQ(pool().waiting_count(), 0u);
    EXPECT_FALSE(announced(w2));
    audit();
}

// K5 P5: a returned conn is only handed to a waiter of its own key.
TEST_F(Wants, LateBindingRespectsKeys) {
    Lease ca = get_dialed(a_);
    WantId wb = get_pending(b_);
    EXPECT_EQ(pool().put_idle_conn(ca.id), PutResult::pooled);
    EXPECT_FALSE(announced(wb));
    EXPECT_EQ(pool().waiting_count(b_), 1u);
    finish_dial();
    Lease lb = take_ready(wb);
    EXPECT_EQ(pool().key_name(lb.key), "|http|b:80");
    audit();
}

// G5 D5 with MaxConnsPerHost: a dial that finishes after its requester got a returned
// conn is pooled, and keeps its MaxConnsPerHost slot (conns_per_host unchanged).
TEST_F(Wants, LateDialIsPooledAndKeepsItsSlot) {
    Config c;
    c.max_conns_per_host = 2;
    make_pool(c);
    Lease held = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    pool().put_idle_conn(held.id);
    Lease got = take_ready(w);
    EXPECT_EQ(got.id, held.id);
    FakeConn& late = finish_dial();
    EXPECT_TRUE(pool().is_idle(id_of(late)));
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    EXPECT_TRUE(trace_.puts.size() == 1u) << "D5: no put trace for the late dial (TR3)";
    // The pooled late conn is reused by the next request, marked reused (P3, TR2).
    Lease next = get_idle(a_);
    EXPECT_EQ(next.id, id_of(late));
    EXPECT_TRUE(next.reused);
    pool().put_idle_conn(next.id);
    pool().put_idle_conn(got.id);
    audit();
}

// W3: cancelling a want whose conn was delivered but not taken returns the conn to the
// pool; it is never lost and its lease is ended.
TEST_F(Wants, CancelAfterDeliveryRepoolsConn) {
    WantId w = get_pending(a_);
    FakeConn& c = finish_dial();
    ASSERT_TRUE(announced(w));
    EXPECT_EQ(pool().ready_count(), 1u);
    pool().cancel_want(w);
    EXPECT_EQ(pool().ready_count(), 0u);
    ASSERT_TRUE(pool().is_idle(id_of(c))) << "W3: the delivered conn was lost";
    EXPECT_FALSE(fake_closed(c));
    EXPECT_TRUE(trace_.puts.empty()) << "TR3: no put trace on the W3 path";
    Lease again = get_idle(a_);
    EXPECT_EQ(again.id, id_of(c));
    EXPECT_TRUE(again.reused);  // P3 applies to the W3 put as well
    pool().put_idle_conn(again.id);
    audit();
}

// W3 P5: a conn delivered to a want that is then cancelled goes to the next waiter.
TEST_F(Wants, CancelAfterDeliveryHandsToNextWaiter) {
    Lease held = get_dialed(a_);
    WantId w1 = get_pending(a_);
    WantId w2 = get_pending(a_);
    pool().put_idle_conn(held.id);
    ASSERT_TRUE(announced(w1));
    pool().cancel_want(w1);
    ASSERT_TRUE(announced(w2));
    EXPECT_EQ(take_ready(w2).id, held.id);
    audit();
}

// W3 P6: cancelling a delivered want after CloseIdleConnections closes the conn
// (close_idle) rather than leaking or pooling it.
TEST_F(Wants, CancelAfterDeliveryDuringCloseIdleClosesConn) {
    WantId w = get_pending(a_);
    FakeConn& c = finish_dial();
    pool().close_idle_connections();
    pool().cancel_want(w);
    EXPECT_EQ(c.closed, CloseReason::close_idle);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// W3 for an error result: cancelling a want that got a dial error just frees it.
TEST_F(Wants, CancelAfterErrorDelivery) {
    WantId w = get_pending(a_);
    fail_dial();
    ASSERT_TRUE(announced(w));
    pool().cancel_want(w);
    EXPECT_EQ(pool().ready_count(), 0u);
    EXPECT_EQ(pool().waiting_count(), 0u);
    audit();
}

// W2 G2 G5: a pending want that is cancelled leaves all queues at once; its dial goes on
// and the conn is pooled when it arrives, with no want left behind.
TEST_F(Wants, CancelPendingThenDialCompletes) {
    WantId w = get_pending(a_);
    pool().cancel_want(w);
    EXPECT_EQ(pool().waiting_count(), 0u);
    EXPECT_EQ(pool().dials_in_progress(), 1u);
    EXPECT_TRUE(dialer_.canceled.empty());
    FakeConn& c = finish_dial();
    EXPECT_FALSE(announced(w));
    EXPECT_TRUE(pool().is_idle(id_of(c)));
    EXPECT_EQ(pool().ready_count(), 0u);
    audit();
}

// G5 D5 W1: the dial of a cancelled request belongs to nobody; when the request's slot has
// been reused by a new request, the old dial's conn is not delivered to the new one as if it
// had dialed for it. With keep-alives off the orphan conn is closed (P1) and the new request
// waits for its own dial (no waiter registration, T1).
TEST_F(Wants, OrphanDialNotDeliveredToNextTenantOfWantSlot) {
    Config c;
    c.disable_keep_alives = true;
    make_pool(c);
    WantId w1 = get_pending(a_);
    pool().cancel_want(w1);
    WantId w2 = get_pending(a_);
    ASSERT_EQ(w2.slot, w1.slot) << "fixture expectation: the want slot is recycled";
    FakeConn& orphan = finish_dial();  // w1's dial
    EXPECT_EQ(orphan.closed, CloseReason::keep_alives_disabled);
    EXPECT_FALSE(announced(w2)) << "w1's dial was delivered to w2";
    FakeConn& own = finish_dial();
    EXPECT_EQ(take_ready(w2).id, id_of(own));
    audit();
}

// W3 W5 (divergence: non-front entries removed): a storm of cancels in arbitrary order
// leaves waiting_count 0 and every wait queue empty, with or without MaxConnsPerHost.
TEST_F(Wants, CancelStormLeavesNothingBehind) {
    for (int limit : {0, 1, 3}) {
        Config c;
        c.max_conns_per_host = limit;
        make_pool(c);
        std::vector<WantId> ws;
        for (int i = 0; i < 40; ++i) ws.push_back(get_pending(a_));
        EXPECT_EQ(pool().waiting_count(a_), 40u);
        // Cancel odd ones first (entries behind live waiters), then the rest back to front.
        for (std::size_t i = 1; i < ws.size(); i += 2) pool().cancel_want(ws[i]);
        audit();
        EXPECT_EQ(pool().waiting_count(a_), 20u);
        for (std::size_t i = ws.size(); i-- > 0;) {
            if (i % 2 == 0) pool().cancel_want(ws[i]);
        }
        EXPECT_EQ(pool().waiting_count(), 0u);
        EXPECT_EQ(pool().waiting_count(a_), 0u);
        audit();
        // Dials already started still finish and are pooled; none was started for the
        // wants that waited for a slot.
        const std::size_t started = dialer_.pending.size();
        EXPECT_EQ(started, limit == 0 ? 40u : static_cast<std::size_t>(limit));
        while (!dialer_.pending.empty()) finish_dial();
        EXPECT_EQ(pool().idle_count(a_), std::min<std::size_t>(started, 2));  // K1 cap 2
        EXPECT_TRUE(dialer_.pending.empty()) << "a slot went to a cancelled want";
        EXPECT_EQ(pool().conns_per_host(a_), limit == 0 ? 0 : std::min(limit, 2));
        audit();
    }
}

// W5 (divergence, golang/go#76784): get/cancel churn behind one live waiter does not pile
// up queue entries; the queue holds just the live waiter (audit checks queue lengths).
TEST_F(Wants, ChurnBehindLiveWaiterIsBounded) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    Lease held = get_dialed(a_);
    WantId live = get_pending(a_);  // in both queues, behind nothing
    for (int i = 0; i < 1000; ++i) pool().cancel_want(get_pending(a_));
    EXPECT_EQ(pool().waiting_count(a_), 1u);
    audit();
    EXPECT_EQ(pool().put_idle_conn(held.id), PutResult::handed_to_waiter);
    EXPECT_EQ(take_ready(live).id, held.id);
    EXPECT_EQ(dialer_.started, 1);
    audit();
}

// W1 INV7: a want gets exactly one result: once a returned conn was delivered, its own
// dial's outcome goes elsewhere (here: a dial error is swallowed, the slot released).
TEST_F(Wants, OneResultPerWant) {
    Config c;
    c.max_conns_per_host = 2;
    make_pool(c);
    Lease held = get_dialed(a_);
    WantId w = get_pending(a_);
    pool().put_idle_conn(held.id);
    fail_dial();
    EXPECT_EQ(std::count(listener_.ready.begin(), listener_.ready.end(), w), 1);
    auto out = pool().take(w);
    ASSERT_TRUE(out.lease.has_value());
    EXPECT_FALSE(out.error);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    pool().put_idle_conn(out.lease->id);
    audit();
}

// D4 G4: a dial error is delivered to its waiting want as an error outcome.
TEST_F(Wants, DialErrorDelivered) {
    WantId w = get_pending(a_);
    fail_dial(std::make_error_code(std::errc::host_unreachable));
    EXPECT_EQ(take_error(w), std::make_error_code(std::errc::host_unreachable));
    EXPECT_EQ(pool().stats().dials_failed, 1u);
    ASSERT_EQ(trace_.connect_dones.size(), 1u);
    EXPECT_TRUE(trace_.connect_dones[0]);
    audit();
}

// D4: a dial reported failed without an error code still delivers a non-empty error.
TEST_F(Wants, DialFailureWithoutCodeStillAnError) {
    WantId w = get_pending(a_);
    fail_dial(std::error_code{});
    EXPECT_TRUE(take_error(w));
    audit();
}

// G3: get_conn asks the idle list first and dials only on a miss. An idle hit returns a
// lease at once with no dial and no want; a miss queues the request both for a returned
// conn (T5) and for a dial (D1), and whichever comes first serves it (W4).
TEST_F(Wants, G3IdleListFirstThenBothQueues) {
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    const int dials = dialer_.started;
    Lease hit = get_idle(a_);
    EXPECT_EQ(hit.id, l.id);
    EXPECT_EQ(dialer_.started, dials) << "an idle hit dials nothing";
    EXPECT_EQ(pool().waiting_count(), 0u);
    WantId w = get_pending(a_);
    EXPECT_EQ(dialer_.started, dials + 1) << "a miss dials at once (no MaxConnsPerHost)";
    EXPECT_EQ(pool().waiting_count(a_), 1u);
    EXPECT_EQ(pool().put_idle_conn(hit.id), PutResult::handed_to_waiter) << "it waits for a returned conn too";
    EXPECT_EQ(take_ready(w).id, l.id);
    EXPECT_EQ(pool().waiting_count(), 0u);
    audit();
}

// G4: a request stops waiting when its deadline passes or it is cancelled; the embedder then
// calls cancel_want (Go's deferred w.cancel). A result that arrives afterwards is not
// announced to it (a late dial error is dropped, a late conn is pooled, G5), and a result
// that was announced but not taken when the deadline won is given back (W3), not lost.
TEST_F(Wants, G4DeadlineBeforeOrAfterTheResult) {
    WantId w1 = get_pending(a_);
    pool().cancel_want(w1);  // the deadline fired before the dial failed
    fail_dial();
    EXPECT_FALSE(announced(w1));
    EXPECT_EQ(pool().ready_count(), 0u);
    WantId w2 = get_pending(a_);
    pool().cancel_want(w2);  // the deadline fired before the dial succeeded
    FakeConn& late = finish_dial();
    EXPECT_FALSE(announced(w2));
    EXPECT_TRUE(pool().is_idle(id_of(late)));
    // The result is announced, but the deadline fires before the request takes it.
    Lease held = get_idle(a_);
    WantId w3 = get_pending(a_);
    EXPECT_EQ(pool().put_idle_conn(held.id), PutResult::handed_to_waiter);
    ASSERT_TRUE(announced(w3));
    pool().cancel_want(w3);
    EXPECT_TRUE(pool().is_idle(held.id)) << "W3: the untaken conn goes back to the pool";
    EXPECT_EQ(pool().ready_count(), 0u);
    EXPECT_EQ(pool().waiting_count(), 0u);
    audit();
}

}  // namespace
}  // namespace connpool::testing
