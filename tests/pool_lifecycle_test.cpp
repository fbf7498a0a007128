// Lifecycle and queries: keys (K5), counters, pool destruction, dead shared conns (X3
// analogue via conn_closed), and W3 refusals that free a MaxConnsPerHost slot.
#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class Lifecycle : public PoolTestX {
protected:
    void SetUp() override { make_pool(Config{}); }
};

// K5: keys are interned by name; distinct names (host, port, scheme, proxy, onlyH1) never
// share a pool, and key_name round-trips.
TEST_F(Lifecycle, KeysInternedAndDistinct) {
    const std::vector<std::string> names = {"|http|a:80", "|http|a:8080", "|https|a:443", "http://proxy:3128|http|",
                                            "|https,h1|a:443"};
    std::vector<KeyId> ids;
    for (const auto& n : names) ids.push_back(pool().key(n));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(pool().key(names[i]), ids[i]);
        EXPECT_EQ(pool().key_name(ids[i]), names[i]);
        for (std::size_t j = 0; j < i; ++j) EXPECT_NE(ids[i], ids[j]);
    }
    EXPECT_EQ(ids[0], a_);
    Lease l = get_dialed(ids[2]);
    pool().put_idle_conn(l.id);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i != 2) get_pending(ids[i]);  // no other key may take it
    }
    EXPECT_TRUE(pool().is_idle(l.id));
    EXPECT_EQ(dialer_.pending.back().key_name, names.back());
    audit();
}

// INV1 INV5 P9: the queries (open/idle counts per key, is_idle, idle_conns oldest first) and stats match the pool's state.
TEST_F(Lifecycle, QueriesAndStats) {
    Lease a1 = get_dialed(a_);
    Lease a2 = get_dialed(a_);
    Lease b1 = get_dialed(b_);
    EXPECT_EQ(pool().open_conns(), 3u);
    EXPECT_EQ(pool().open_conns(a_), 2u);
    EXPECT_EQ(pool().open_conns(b_), 1u);
    EXPECT_FALSE(pool().is_idle(a1.id));
    pool().put_idle_conn(a2.id);
    pool().put_idle_conn(a1.id);
    EXPECT_EQ(pool().idle_conns(a_), (std::vector<ConnId>{a2.id, a1.id}));
    EXPECT_TRUE(pool().is_idle(a1.id));
    EXPECT_EQ(pool().idle_count(), 2u);
    EXPECT_EQ(pool().idle_count(b_), 0u);
    get_idle(a_);
    const PoolStats& s = pool().stats();
    EXPECT_EQ(s.gets, 4u);
    EXPECT_EQ(s.idle_hits, 1u);
    EXPECT_EQ(s.dials_started, 3u);
    EXPECT_EQ(s.dials_succeeded, 3u);
    EXPECT_EQ(s.puts, 2u);
    EXPECT_EQ(s.puts_refused, 0u);
    pool().close_conn(b1.id, CloseReason::response_close);
    EXPECT_EQ(s.closes[static_cast<int>(CloseReason::response_close)], 1u);
    EXPECT_EQ(pool().open_conns(b_), 0u);
    EXPECT_FALSE(pool().is_idle(b1.id)) << "a dead id is simply not idle";
    audit();
}

// T6 P11: destroying a Pool closes nothing, and no idle-timer callback runs afterwards, even one already in flight.
TEST_F(Lifecycle, DestructionClosesNothingAndSilencesTimers) {
    Config c;
    c.idle_conn_timeout = 1s;
    make_pool(c);
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    FakeConn& conn = fake(l);
    timers_.hold_fires = true;
    timers_.advance(1s);
    ASSERT_EQ(timers_.in_flight(), 1u);
    pool_.reset();
    timers_.run_in_flight();
    EXPECT_EQ(timers_.callbacks_run, 0);
    EXPECT_FALSE(fake_closed(conn));
    make_pool(Config{});  // the fixture expects a pool at the end
    audit();
}

// RM2 D6: an idle conn reported dead frees its MaxConnsPerHost slot for the request
// queued for a dial.
TEST_F(Lifecycle, DeadIdleConnSlotGoesToDialWaiter) {
    Config c;
    c.max_conns_per_host = 2;
    make_pool(c);
    Lease l1 = get_dialed(a_);
    Lease l2 = get_dialed(a_);
    pool().put_idle_conn(l1.id);
    Lease again = get_idle(a_);
    WantId w = get_pending(a_);
    EXPECT_EQ(dialer_.pending.size(), 0u);
    pool().put_idle_conn(again.id);  // handed to w (P5): no slot needed
    EXPECT_EQ(take_ready(w).id, l1.id);
    WantId w2 = get_pending(a_);
    pool().conn_closed(l2.id, CloseReason::read_error);  // l2 is leased; still frees the slot
    EXPECT_EQ(dialer_.pending.size(), 1u);
    FakeConn& c3 = finish_dial();
    EXPECT_EQ(take_ready(w2).id, id_of(c3));
    pool().close_conn(l2.id, CloseReason::read_error);
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    audit();
}

// W3 P1 D6: with keep-alives off, cancelling a want that was delivered a fresh conn
// closes the conn (keep_alives_disabled), and its MaxConnsPerHost slot passes to the
// request queued for a dial.
TEST_F(Lifecycle, CancelRefusedReturnFreesSlot) {
    Config c;
    c.max_conns_per_host = 1;
    c.disable_keep_alives = true;
    make_pool(c);
    WantId w1 = get_pending(a_);
    WantId w2 = get_pending(a_);
    FakeConn& c1 = finish_dial();
    ASSERT_TRUE(announced(w1));
    EXPECT_TRUE(dialer_.pending.empty());
    pool().cancel_want(w1);
    EXPECT_EQ(c1.closed, CloseReason::keep_alives_disabled);
    ASSERT_EQ(dialer_.pending.size(), 1u);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    FakeConn& c2 = finish_dial();
    EXPECT_EQ(take_ready(w2).id, id_of(c2));
    audit();
}

// X3 analogue (#34387): a shared conn that dies while requests use it leaves the pool and
// releases its slot once; the leases are then ended with conn_broken and close_conn.
TEST_F(Lifecycle, DeadSharedConnWithLeases) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    Lease l1 = get_dialed(a_, true);
    Lease l2 = get_idle(a_);
    pool().conn_closed(l1.id, CloseReason::read_error);
    EXPECT_EQ(pool().idle_count(a_), 0u);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::conn_broken);
    pool().close_conn(l2.id, CloseReason::read_error);
    EXPECT_EQ(fake(l1).close_calls, 1);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_TRUE(trace_.puts.empty()) << "TR3: shared conns are not traced";
    Lease l3 = get_dialed(a_, true);
    EXPECT_NE(l3.id, l1.id);
    audit();
}

// close_conn says "this conn must not be reused": the pool closes it at once, even a shared
// conn that other requests still hold (unlike a pool-side retirement, which waits for the
// last lease, X1); it leaves the pool and its slot is released once (D7); the other leases
// stay open until ended, and their return is refused as conn_broken (P2).
TEST_F(Lifecycle, CloseConnOfSharedConnClosesAtOnce) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    Lease l1 = get_dialed(a_, true);
    Lease l2 = get_idle(a_);
    pool().close_conn(l1.id, CloseReason::protocol_error);
    EXPECT_EQ(fake(l1).close_calls, 1) << "closed only when the last lease ends";
    EXPECT_EQ(fake(l1).closed, CloseReason::protocol_error);
    EXPECT_FALSE(pool().is_idle(l2.id));
    EXPECT_FALSE(pool().is_open(l2.id));
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().put_idle_conn(l2.id), PutResult::conn_broken);
    EXPECT_EQ(fake(l1).close_calls, 1);
    audit();
}

// T6 with an owner close: a timer callback in flight for a conn that was taken and then
// closed by its owner does nothing, and the freed slot stays consistent.
TEST_F(Lifecycle, InFlightCallbackAfterOwnerClose) {
    Config c;
    c.idle_conn_timeout = 2s;
    make_pool(c);
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    timers_.hold_fires = true;
    timers_.advance(2s);
    Lease again = get_idle(a_);
    pool().close_conn(again.id, CloseReason::response_close);
    timers_.run_in_flight();
    EXPECT_EQ(fake(again).closed, CloseReason::response_close);
    EXPECT_EQ(fake(again).close_calls, 1);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// RM1: removing an idle conn from the middle of its key's list (here the owner reports it
// dead) stops its idle timer, takes it out of the cross-key LRU and keeps the key's other
// idle conns in order; its timer never fires and nothing is closed or released twice.
TEST_F(Lifecycle, RM1RemovalKeepsOrderStopsTimerLeavesLru) {
    Config c;
    c.idle_conn_timeout = 10s;
    c.max_idle_conns = 3;
    c.max_idle_conns_per_host = 3;
    c.max_conns_per_host = 5;
    make_pool(c);
    Lease l1 = get_dialed(a_);
    Lease l2 = get_dialed(a_);
    Lease l3 = get_dialed(a_);
    Lease lb = get_dialed(b_);
    pool().put_idle_conn(l1.id);
    pool().put_idle_conn(l2.id);
    pool().put_idle_conn(l3.id);
    EXPECT_EQ(timers_.pending(), 3u);
    pool().conn_closed(l2.id, CloseReason::server_closed_idle);
    EXPECT_EQ(pool().idle_conns(a_), (std::vector<ConnId>{l1.id, l3.id}));
    EXPECT_EQ(pool().idle_count(), 2u) << "it left the LRU too";
    EXPECT_EQ(timers_.pending(), 2u) << "its idle timer was stopped";
    EXPECT_EQ(pool().conns_per_host(a_), 2);
    // The LRU holds two conns, so a third return stays under MaxIdleConns and evicts nothing.
    EXPECT_EQ(pool().put_idle_conn(lb.id), PutResult::pooled);
    EXPECT_EQ(pool().idle_count(), 3u);
    EXPECT_FALSE(fake_closed(fake(l1)));
    timers_.advance(10s);
    EXPECT_EQ(fake(l1).closed, CloseReason::idle_timeout);
    EXPECT_EQ(fake(l3).closed, CloseReason::idle_timeout);
    EXPECT_EQ(fake(l2).closed, CloseReason::server_closed_idle);
    EXPECT_EQ(fake(l2).close_calls, 1);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    audit();
}

}  // namespace
}  // namespace connpool::testing
