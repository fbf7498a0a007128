// Caps and pool-wide operations: MaxConnsPerHost with its dial queue (D1-D8, W4), the
// per-key idle cap (K1, P7), the cross-key LRU (P10), LIFO reuse (T4), keep-alives off
// (K2, P1, T1), removal of dead conns (RM2, P2) and CloseIdleConnections (C1-C5).
#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class Caps : public PoolTestX {
protected:
    void limit(int max_conns_per_host) {
        Config c;
        c.max_conns_per_host = max_conns_per_host;
        make_pool(c);
    }
};

// D1 D8: with MaxConnsPerHost 1 a second request does not dial while the first conn (or
// dial) holds the slot; dials in progress count.
TEST_F(Caps, MaxConnsPerHostQueuesTheDial) {
    limit(1);
    WantId w1 = get_pending(a_);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    WantId w2 = get_pending(a_);
    EXPECT_EQ(dialer_.started, 1) << "D8: the dial in progress holds the slot";
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    finish_dial();
    Lease l1 = take_ready(w1);
    EXPECT_FALSE(announced(w2));
    EXPECT_EQ(dialer_.started, 1);
    // K5: another key is not limited by a's count.
    get_pending(b_);
    EXPECT_EQ(dialer_.started, 2);
    EXPECT_EQ(pool().conns_per_host(b_), 1);
    pool().close_conn(l1.id, CloseReason::response_close);
    audit();
}

// D6 D7: when a counted conn closes, its slot passes to the oldest waiter for a dial
// (count unchanged); ending the lease afterwards releases nothing more.
TEST_F(Caps, SlotHandedToNextWaiterWhenConnCloses) {
    limit(1);
    Lease l1 = get_dialed(a_);
    WantId w2 = get_pending(a_);
    WantId w3 = get_pending(a_);
    EXPECT_EQ(dialer_.started, 1);
    pool().conn_closed(l1.id, CloseReason::read_error);  // owner saw it die, lease still open
    EXPECT_EQ(dialer_.started, 2);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();  // INV6: the closed but still leased conn no longer holds a slot
    pool().conn_closed(l1.id, CloseReason::read_error);  // repeated: no-op
    pool().close_conn(l1.id, CloseReason::read_error);  // the lease ends
    EXPECT_EQ(pool().conns_per_host(a_), 1) << "D7: released exactly once";
    EXPECT_EQ(dialer_.started, 2) << "w3 still waits for a slot";
    finish_dial();
    Lease l2 = take_ready(w2);
    EXPECT_FALSE(announced(w3));
    pool().close_conn(l2.id, CloseReason::response_close);
    EXPECT_EQ(dialer_.started, 3);
    finish_dial();
    Lease l3 = take_ready(w3);
    pool().put_idle_conn(l3.id);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();
}

// D4 D6: a failed dial releases its slot to the next waiter, and the failed want gets the
// error; with no waiter the count drops to 0.
TEST_F(Caps, SlotHandedToNextWaiterWhenDialFails) {
    limit(1);
    WantId w1 = get_pending(a_);
    WantId w2 = get_pending(a_);
    fail_dial();
    EXPECT_EQ(take_error(w1), std::make_error_code(std::errc::connection_refused));
    EXPECT_EQ(dialer_.started, 2);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    fail_dial();
    EXPECT_TRUE(take_error(w2));
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().dials_in_progress(), 0u);
    audit();
}

// W4 P5 D6: a waiter queued for a dial slot is served by a returned conn; it leaves the
// dial queue too, so a later slot release starts no dial for it.
TEST_F(Caps, WaiterInDialQueueServedByReturnedConn) {
    limit(1);
    Lease l1 = get_dialed(a_);
    WantId w2 = get_pending(a_);
    WantId w3 = get_pending(a_);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::handed_to_waiter);
    Lease l2 = take_ready(w2);
    EXPECT_EQ(l2.id, l1.id);
    EXPECT_EQ(pool().put_idle_conn(l2.id), PutResult::handed_to_waiter);
    Lease l3 = take_ready(w3);
    EXPECT_EQ(pool().waiting_count(), 0u);
    pool().close_conn(l3.id, CloseReason::response_close);
    EXPECT_EQ(dialer_.started, 1) << "a served waiter must not inherit the slot";
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    audit();
}

// D6: a cancelled waiter never inherits a slot; the next live one does.
TEST_F(Caps, CancelledDialWaiterSkipped) {
    limit(1);
    Lease l1 = get_dialed(a_);
    WantId w2 = get_pending(a_);
    WantId w3 = get_pending(a_);
    pool().cancel_want(w2);
    pool().close_conn(l1.id, CloseReason::response_close);
    ASSERT_EQ(dialer_.pending.size(), 1u);
    FakeConn& c = finish_dial();
    EXPECT_FALSE(announced(w2));
    EXPECT_EQ(take_ready(w3).id, id_of(c));
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    pool().put_idle_conn(id_of(c));
    audit();
}

// D7 INV5: idle timeout, LRU eviction, per-key refusal and CloseIdleConnections each
// release a counted slot exactly once; the count returns to 0 and never underflows.
TEST_F(Caps, EveryCloseReleasesItsSlotOnce) {
    Config c;
    c.max_conns_per_host = 4;
    c.max_idle_conns = 2;
    c.idle_conn_timeout = 10s;
    make_pool(c);
    Lease a1 = get_dialed(a_);
    Lease a2 = get_dialed(a_);
    Lease a3 = get_dialed(a_);
    Lease a4 = get_dialed(a_);
    EXPECT_EQ(pool().conns_per_host(a_), 4);
    pool().put_idle_conn(a1.id);
    pool().put_idle_conn(a2.id);
    EXPECT_EQ(pool().put_idle_conn(a3.id), PutResult::too_many_idle_for_key);  // P7
    EXPECT_EQ(pool().conns_per_host(a_), 3);
    Lease b1 = get_dialed(b_);
    pool().put_idle_conn(b1.id);  // P10 evicts a1
    EXPECT_EQ(fake(a1).closed, CloseReason::too_many_idle);
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    timers_.advance(10s);  // a2, b1 time out
    EXPECT_EQ(fake(a2).closed, CloseReason::idle_timeout);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    EXPECT_EQ(pool().conns_per_host(b_), 0);
    pool().put_idle_conn(a4.id);
    pool().close_idle_connections();
    EXPECT_EQ(fake(a4).closed, CloseReason::close_idle_conns);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// K1 P7: with MaxIdleConnsPerHost unset the per-key cap is 2; a third returned conn is the
// one refused (too_many_idle_for_key) and the two older idle conns are kept.
TEST_F(Caps, PerKeyCapRefusesNewcomer) {
    make_pool(Config{});
    Lease c1 = get_dialed(a_);
    Lease c2 = get_dialed(a_);
    Lease c3 = get_dialed(a_);
    EXPECT_EQ(pool().put_idle_conn(c1.id), PutResult::pooled);
    EXPECT_EQ(pool().put_idle_conn(c2.id), PutResult::pooled);
    EXPECT_EQ(pool().put_idle_conn(c3.id), PutResult::too_many_idle_for_key);
    EXPECT_EQ(fake(c3).closed, CloseReason::too_many_idle_for_key);
    EXPECT_FALSE(fake_closed(fake(c1)));
    EXPECT_FALSE(fake_closed(fake(c2)));
    EXPECT_EQ(pool().idle_conns(a_), (std::vector<ConnId>{c1.id, c2.id}));
    EXPECT_EQ(trace_.puts.back(), PutResult::too_many_idle_for_key);  // TR3 reports refusals
    EXPECT_EQ(pool().stats().puts_refused, 1u);
    audit();
}

// K1 P7: an explicit MaxIdleConnsPerHost of 3 keeps three.
TEST_F(Caps, ExplicitPerKeyCap) {
    Config c;
    c.max_idle_conns_per_host = 3;
    make_pool(c);
    std::vector<Lease> ls;
    for (int i = 0; i < 4; ++i) ls.push_back(get_dialed(a_));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(pool().put_idle_conn(ls[i].id), PutResult::pooled);
    EXPECT_EQ(pool().put_idle_conn(ls[3].id), PutResult::too_many_idle_for_key);
    EXPECT_EQ(pool().idle_count(a_), 3u);
    audit();
}

// P10: above MaxIdleConns the globally least recently pooled conn is evicted, whatever its
// key (here b's, then a's own oldest); the put itself succeeds.
TEST_F(Caps, LruEvictsOldestAcrossKeys) {
    Config c;
    c.max_idle_conns = 2;
    make_pool(c);
    Lease a1 = get_dialed(a_);
    Lease a2 = get_dialed(a_);
    Lease b1 = get_dialed(b_);
    pool().put_idle_conn(b1.id);
    pool().put_idle_conn(a1.id);
    EXPECT_EQ(pool().put_idle_conn(a2.id), PutResult::pooled);
    EXPECT_EQ(fake(b1).closed, CloseReason::too_many_idle);
    EXPECT_EQ(pool().idle_count(b_), 0u);
    EXPECT_EQ(pool().idle_conns(a_), (std::vector<ConnId>{a1.id, a2.id}));
    Lease b2 = get_dialed(b_);
    EXPECT_EQ(pool().put_idle_conn(b2.id), PutResult::pooled);
    EXPECT_EQ(fake(a1).closed, CloseReason::too_many_idle);
    EXPECT_EQ(pool().idle_conns(a_), (std::vector<ConnId>{a2.id}));
    EXPECT_EQ(pool().idle_count(), 2u);
    EXPECT_EQ(closes_with(CloseReason::too_many_idle), 2u);
    audit();
}

// P9 P10: a reused and returned conn moves to the young end of the LRU.
TEST_F(Caps, LruOrderRefreshedByReuse) {
    Config c;
    c.max_idle_conns = 2;
    make_pool(c);
    Lease a1 = get_dialed(a_);
    Lease b1 = get_dialed(b_);
    Lease b2 = get_dialed(b_);
    pool().put_idle_conn(a1.id);
    pool().put_idle_conn(b1.id);
    Lease again = get_idle(a_);  // a1 leaves the LRU
    pool().put_idle_conn(again.id);  // and re-enters at the young end
    pool().put_idle_conn(b2.id);
    EXPECT_EQ(fake(b1).closed, CloseReason::too_many_idle);
    EXPECT_TRUE(pool().is_idle(a1.id));
    audit();
}

// T4: idle conns are reused most recently returned first (LIFO).
TEST_F(Caps, LifoReuse) {
    Config c;
    c.max_idle_conns_per_host = 3;
    make_pool(c);
    Lease c1 = get_dialed(a_);
    Lease c2 = get_dialed(a_);
    Lease c3 = get_dialed(a_);
    pool().put_idle_conn(c1.id);
    pool().put_idle_conn(c2.id);
    pool().put_idle_conn(c3.id);
    EXPECT_EQ(get_idle(a_).id, c3.id);
    EXPECT_EQ(get_idle(a_).id, c2.id);
    EXPECT_EQ(get_idle(a_).id, c1.id);
    get_pending(a_);
    EXPECT_EQ(dialer_.started, 4);
    audit();
}

// K2 P1 T1 TR3: with DisableKeepAlives every return is refused (keep_alives_disabled, conn
// closed, no put trace), even when a request waits: waiters are never registered for
// returned conns, only for their dial (TestIdleConnChannelLeak).
TEST_F(Caps, DisableKeepAlives) {
    Config c;
    c.disable_keep_alives = true;
    make_pool(c);
    Lease l1 = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::keep_alives_disabled);
    EXPECT_EQ(fake(l1).closed, CloseReason::keep_alives_disabled);
    EXPECT_FALSE(announced(w));
    EXPECT_TRUE(trace_.puts.empty());
    EXPECT_EQ(pool().idle_count(), 0u);
    finish_dial();
    Lease l2 = take_ready(w);
    EXPECT_FALSE(l2.reused);
    pool().put_idle_conn(l2.id);
    EXPECT_EQ(pool().open_conns(), 0u);
    EXPECT_EQ(pool().stats().puts_refused, 2u);
    audit();
}

// K2 P1: a negative MaxIdleConnsPerHost also turns keep-alives off, and the refusal comes
// before the hand-off, so a waiting request does not get the returned conn either.
TEST_F(Caps, NegativePerHostCapDisablesReuse) {
    Config c;
    c.max_idle_conns_per_host = -1;
    make_pool(c);
    EXPECT_TRUE(pool().config().keep_alives_off());
    Lease l1 = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::keep_alives_disabled);
    EXPECT_FALSE(announced(w));
    EXPECT_TRUE(trace_.puts.empty());
    FakeConn& c2 = finish_dial();
    Lease l2 = take_ready(w);
    EXPECT_EQ(l2.id, id_of(c2));
    pool().put_idle_conn(l2.id);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// K2 D5: with keep-alives off, a dial whose requester went away is closed, not pooled
// (TestTransportPoolCancelRequestWithDisableKeepAlives).
TEST_F(Caps, OrphanDialClosedWhenKeepAlivesOff) {
    Config c;
    c.disable_keep_alives = true;
    make_pool(c);
    pool().cancel_want(get_pending(a_));
    FakeConn& orphan = finish_dial();
    EXPECT_EQ(orphan.closed, CloseReason::keep_alives_disabled);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// RM2: an idle conn the owner reports dead leaves the idle list at once and the next
// request dials.
TEST_F(Caps, DeadIdleConnRemoved) {
    make_pool(Config{});
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    FakeConn& c = fake(l);
    pool().conn_closed(l.id, CloseReason::server_closed_idle);
    EXPECT_EQ(c.closed, CloseReason::server_closed_idle);
    EXPECT_EQ(c.close_calls, 1);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(pool().open_conns(), 0u);
    get_pending(a_);
    EXPECT_EQ(dialer_.started, 2);
    audit();
}

// RM2 P2: a leased conn reported dead is refused on return (conn_broken) and closed only
// once, with the owner's reason; it is not handed to a waiter.
TEST_F(Caps, DeadLeasedConnRefusedOnPut) {
    make_pool(Config{});
    Lease l = get_dialed(a_);
    WantId w = get_pending(a_);
    pool().conn_closed(l.id, CloseReason::read_error);
    EXPECT_FALSE(pool().is_open(l.id));
    EXPECT_EQ(pool().put_idle_conn(l.id), PutResult::conn_broken);
    EXPECT_EQ(fake(l).close_calls, 1);
    EXPECT_EQ(fake(l).closed, CloseReason::read_error);
    EXPECT_FALSE(announced(w));
    EXPECT_EQ(trace_.puts.back(), PutResult::conn_broken);
    finish_dial();
    pool().put_idle_conn(take_ready(w).id);
    audit();
}

// C1 C2: CloseIdleConnections closes every idle conn (close_idle_conns) but leaves conns
// in use alone; such a conn returned afterwards is refused with close_idle (P6).
TEST_F(Caps, CloseIdleLeavesBusyConnsThenRefusesTheirReturn) {
    make_pool(Config{});
    Lease busy = get_dialed(a_);
    Lease i1 = get_dialed(a_);
    Lease i2 = get_dialed(b_);
    pool().put_idle_conn(i1.id);
    pool().put_idle_conn(i2.id);
    pool().close_idle_connections();
    EXPECT_EQ(fake(i1).closed, CloseReason::close_idle_conns);
    EXPECT_EQ(fake(i2).closed, CloseReason::close_idle_conns);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_TRUE(pool().is_open(busy.id));
    EXPECT_FALSE(fake_closed(fake(busy)));
    EXPECT_EQ(pool().put_idle_conn(busy.id), PutResult::close_idle);
    EXPECT_EQ(fake(busy).closed, CloseReason::close_idle);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// C2 P5: after CloseIdleConnections a returned conn still goes to a request that was
// already waiting (the hand-off comes before the close_idle check).
TEST_F(Caps, CloseIdleStillHandsToWaiter) {
    make_pool(Config{});
    Lease busy = get_dialed(a_);
    WantId w = get_pending(a_);
    pool().close_idle_connections();
    EXPECT_TRUE(dialer_.canceled.empty()) << "C5: w still waits, its dial is not orphaned";
    ASSERT_EQ(pool().put_idle_conn(busy.id), PutResult::handed_to_waiter);
    EXPECT_EQ(take_ready(w).id, busy.id);
    audit();
}

// C3 T2: the next get_conn re-enables pooling after CloseIdleConnections.
TEST_F(Caps, GetConnResetsCloseIdle) {
    make_pool(Config{});
    Lease busy = get_dialed(a_);
    pool().close_idle_connections();
    WantId w = get_pending(b_);  // any key resets the flag
    EXPECT_EQ(pool().put_idle_conn(busy.id), PutResult::pooled);
    EXPECT_FALSE(fake_closed(fake(busy)));
    finish_dial();
    EXPECT_EQ(pool().put_idle_conn(take_ready(w).id), PutResult::pooled);
    EXPECT_EQ(pool().idle_count(), 2u);
    audit();
}

// C5 G5: CloseIdleConnections cancels dials whose want is gone (once), not dials a want
// still waits for; a cancelled dial may still succeed, and its conn is then closed (P6).
TEST_F(Caps, CloseIdleCancelsOrphanDials) {
    limit(2);
    WantId orphan = get_pending(a_);
    WantId live = get_pending(b_);
    pool().cancel_want(orphan);
    pool().close_idle_connections();
    ASSERT_EQ(dialer_.canceled.size(), 1u);
    EXPECT_EQ(dialer_.canceled[0], dialer_.pending[0].id);
    pool().close_idle_connections();
    EXPECT_EQ(dialer_.canceled.size(), 1u) << "a dial is cancelled once";
    FakeConn& late = finish_dial();  // the orphan dial won the race with its cancel
    EXPECT_EQ(late.closed, CloseReason::close_idle);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().conns_per_host(b_), 1);
    fail_dial(std::make_error_code(std::errc::timed_out));
    EXPECT_TRUE(take_error(live));
    EXPECT_EQ(pool().conns_per_host(b_), 0);
    audit();
}

// C5: dial slots are recycled; CloseIdleConnections cancels each orphan dial once per
// dial, so an orphan dial in a slot whose previous dial was already cancelled is still
// cancelled.
TEST_F(Caps, CloseIdleCancelsOrphanDialInRecycledDialSlot) {
    make_pool(Config{});
    pool().cancel_want(get_pending(a_));
    pool().close_idle_connections();
    ASSERT_EQ(dialer_.canceled.size(), 1u);
    fail_dial(std::make_error_code(std::errc::operation_canceled));
    pool().cancel_want(get_pending(a_));  // a new orphan dial, in the recycled dial slot
    ASSERT_EQ(dialer_.pending.size(), 1u);
    ASSERT_EQ(dialer_.pending.front().id.slot, dialer_.canceled[0].slot) << "fixture expectation: the slot is recycled";
    pool().close_idle_connections();
    ASSERT_EQ(dialer_.canceled.size(), 2u) << "C5: the second orphan dial was not cancelled";
    EXPECT_EQ(dialer_.canceled[1], dialer_.pending.front().id);
    audit();
}

// C5: CloseIdleConnections looks at every dial in progress: a live dial or an already
// cancelled dial ahead of an orphan dial (in dial slot order) does not stop the scan.
TEST_F(Caps, CloseIdleCancelsEveryOrphanDialWhateverIsAhead) {
    make_pool(Config{});
    WantId live = get_pending(a_);   // dial slot 0: its request still waits
    WantId early = get_pending(b_);  // dial slot 1: orphaned and cancelled first
    pool().cancel_want(early);
    pool().close_idle_connections();
    ASSERT_EQ(dialer_.canceled.size(), 1u);
    EXPECT_EQ(dialer_.canceled[0], dialer_.pending[1].id);
    pool().cancel_want(get_pending(b_));  // dial slot 2: orphaned later
    pool().close_idle_connections();
    ASSERT_EQ(dialer_.canceled.size(), 2u) << "C5: the later orphan dial was not cancelled";
    EXPECT_EQ(dialer_.canceled[1], dialer_.pending[2].id);
    EXPECT_FALSE(announced(live));
    finish_dial_at(0);
    EXPECT_TRUE(announced(live));
    audit();
}

// G5 P5: an orphaned dial that completes after CloseIdleConnections still serves a request
// of its key that was already waiting (the hand-off precedes the close_idle refusal).
TEST_F(Caps, OrphanDialAfterCloseIdleServesWaiter) {
    limit(2);
    WantId orphan = get_pending(a_);
    WantId live = get_pending(a_);
    pool().cancel_want(orphan);
    pool().close_idle_connections();
    FakeConn& late = finish_dial();
    EXPECT_FALSE(fake_closed(late));
    EXPECT_EQ(take_ready(live).id, id_of(late));
    FakeConn& second = finish_dial();  // live's own dial: nobody waits, close_idle still set
    EXPECT_EQ(second.closed, CloseReason::close_idle);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();
}

// C5 D4: a cancelled orphan dial that reports failure releases its slot.
TEST_F(Caps, CancelledOrphanDialFailureReleasesSlot) {
    limit(1);
    pool().cancel_want(get_pending(a_));
    pool().close_idle_connections();
    ASSERT_EQ(dialer_.canceled.size(), 1u);
    fail_dial(std::make_error_code(std::errc::operation_canceled));
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    get_pending(a_);
    EXPECT_EQ(dialer_.started, 2);
    audit();
}

// D3 D6 W4, connpool's form of D3 (divergence (h9)): a request queued for a MaxConnsPerHost
// slot and then served by a returned conn leaves the dial queue at once, so a slot freed
// while its result is still untaken starts no dial for it and is released instead. Go's D3
// skips the dial of such a want and must release its slot (golang/go#65705).
TEST_F(Caps, D3ServedWaiterGetsNoDialFromAFreedSlot) {
    limit(2);
    Lease l0 = get_dialed(a_);
    Lease l1 = get_dialed(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(dialer_.started, 2);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::handed_to_waiter);
    pool().close_conn(l0.id, CloseReason::response_close);  // frees a slot before w takes its conn
    EXPECT_EQ(dialer_.started, 2) << "a slot freed after w was served must not dial for it";
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    EXPECT_EQ(take_ready(w).id, l1.id);
    audit();
}

}  // namespace
}  // namespace connpool::testing
