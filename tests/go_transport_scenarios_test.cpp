// Idle-pool scenarios from Go's src/net/http/transport_test.go and transport_dial_test.go,
// re-expressed against the pool core: requests become get_conn/take, a finished response
// becomes put_idle_conn (or close_conn for Connection: close), a server hang-up becomes
// conn_closed, dials are completed by hand. Each test names the Go test it ports; the
// code is connpool's own. Parts of the Go tests about HTTP itself (bodies, TLS, stream
// limits) have no counterpart in the core and are left out.
#include <string>

#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class GoScenario : public PoolTestX {
protected:
    void SetUp() override { make_pool(Config{}); }
    // A whole request on `key`: get a conn (idle or dialed) and return it when done.
    ConnId round_trip(KeyId key) {
        auto r = pool().get_conn(key);
        Lease l;
        if (r.lease) {
            l = *r.lease;
        } else {
            finish_dial();
            l = take_ready(r.want);
        }
        pool().put_idle_conn(l.id);
        return l.id;
    }
    std::vector<std::string> idle_keys(const std::vector<KeyId>& keys) {
        std::vector<std::string> out;
        for (KeyId k : keys) {
            if (pool().idle_count(k) != 0) out.emplace_back(pool().key_name(k));
        }
        return out;
    }
};

// TestTransportMaxPerHostIdleConns (P7, K1): three requests in flight with
// MaxIdleConnsPerHost 2 finish one after another; the idle count goes 1, 2, 2.
TEST_F(GoScenario, TestTransportMaxPerHostIdleConns) {
    Config c;
    c.max_idle_conns_per_host = 2;
    make_pool(c);
    Lease r1 = get_dialed(a_);
    Lease r2 = get_dialed(a_);
    Lease r3 = get_dialed(a_);
    EXPECT_EQ(pool().idle_count(), 0u);
    pool().put_idle_conn(r1.id);
    EXPECT_EQ(idle_keys({a_, b_}), std::vector<std::string>{"|http|a:80"});
    EXPECT_EQ(pool().idle_count(a_), 1u);
    pool().put_idle_conn(r2.id);
    EXPECT_EQ(pool().idle_count(a_), 2u);
    EXPECT_EQ(pool().put_idle_conn(r3.id), PutResult::too_many_idle_for_key);
    EXPECT_EQ(pool().idle_count(a_), 2u);
    audit();
}

// TestTransportIdleConnTimeout_h1 (P11, T6): requests within the timeout reuse one conn;
// once the conn has been idle longer than IdleConnTimeout it is gone and the next
// request dials.
TEST_F(GoScenario, TestTransportIdleConnTimeout_h1) {
    Config c;
    c.idle_conn_timeout = 50ms;
    make_pool(c);
    const ConnId first = round_trip(a_);
    for (int i = 0; i < 5; ++i) {
        timers_.advance(20ms);
        EXPECT_EQ(round_trip(a_), first);
    }
    EXPECT_EQ(dialer_.started, 1);
    timers_.advance(50ms);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_NE(round_trip(a_), first);
    EXPECT_EQ(dialer_.started, 2);
    audit();
}

// TestIdleConnH2Crash (golang/go#16208, X1, P11, G5): an HTTP/2 dial that completes after
// its request was cancelled is pooled, and IdleConnTimeout passing afterwards crashes
// nothing: no pool timer exists for it.
TEST_F(GoScenario, TestIdleConnH2Crash) {
    Config c;
    c.idle_conn_timeout = 5ms;
    make_pool(c);
    WantId w = get_pending(a_);
    pool().cancel_want(w);
    FakeConn& h2 = finish_dial(true);
    EXPECT_TRUE(pool().is_idle(id_of(h2)));
    timers_.advance(1s);
    EXPECT_EQ(timers_.created, 0);
    EXPECT_FALSE(fake_closed(h2));
    audit();
}

// TestTransportMaxConnsPerHost (D1, D6, TR2): ten concurrent requests with MaxConnsPerHost
// 1 share a single dial, and only one GotConn reports a fresh conn; after the server drops
// the conn and CloseIdleConnections, the next request dials once more.
TEST_F(GoScenario, TestTransportMaxConnsPerHost) {
    for (bool h2 : {false, true}) {
        Config c;
        c.max_conns_per_host = 1;
        make_pool(c);
        trace_ = RecordingTrace{};
        const int dials_before = dialer_.started;
        std::vector<WantId> ws;
        for (int i = 0; i < 10; ++i) ws.push_back(get_pending(a_));
        EXPECT_EQ(dialer_.started - dials_before, 1);
        FakeConn& conn = finish_dial(h2);
        std::vector<Lease> leases;
        for (WantId w : ws) {
            if (h2) {
                leases.push_back(take_ready(w));  // X1 P5: one shared conn serves all
            } else {
                Lease l = take_ready(w);  // served one after another through P5
                pool().put_idle_conn(l.id);
            }
        }
        EXPECT_EQ(dialer_.started - dials_before, 1) << "h2=" << h2;
        if (!h2) {
            std::size_t fresh = 0;
            for (const GotConnInfo& g : trace_.got) fresh += g.reused ? 0 : 1;
            EXPECT_EQ(fresh, 1u);
            EXPECT_EQ(trace_.got.size(), 10u);
        }
        pool().conn_closed(id_of(conn), CloseReason::server_closed_idle);
        for (const Lease& l : leases) pool().close_conn(l.id, CloseReason::read_error);
        pool().close_idle_connections();
        EXPECT_EQ(pool().conns_per_host(a_), 0);
        get_pending(a_);
        EXPECT_EQ(dialer_.started - dials_before, 2);
        finish_dial(h2);
        audit();
    }
}

// TestTransportMaxConnsPerHostIncludeDialInProgress (D8, K2): with DisableKeepAlives and
// MaxConnsPerHost 1, a second request does not dial while the first dial is in progress;
// it dials once the first request's conn is closed.
TEST_F(GoScenario, TestTransportMaxConnsPerHostIncludeDialInProgress) {
    Config c;
    c.disable_keep_alives = true;
    c.max_conns_per_host = 1;
    make_pool(c);
    WantId req1 = get_pending(a_);
    EXPECT_EQ(dialer_.started, 1);
    WantId req2 = get_pending(a_);
    EXPECT_EQ(dialer_.started, 1) << "req2 dial started while req1 dial in progress";
    finish_dial();
    Lease l1 = take_ready(req1);
    EXPECT_EQ(pool().put_idle_conn(l1.id), PutResult::keep_alives_disabled);
    EXPECT_EQ(dialer_.started, 2);
    finish_dial();
    Lease l2 = take_ready(req2);
    pool().put_idle_conn(l2.id);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    audit();
}

// TestTransportMaxConnsPerHostDialCancellation (G2, G5, P5, D7): a request cancelled while
// its dial is in progress does not block the host: the next request succeeds, here with
// the very conn the cancelled request's dial produced.
TEST_F(GoScenario, TestTransportMaxConnsPerHostDialCancellation) {
    Config c;
    c.max_conns_per_host = 1;
    make_pool(c);
    WantId canceled = get_pending(a_);
    pool().cancel_want(canceled);
    WantId next = get_pending(a_);
    EXPECT_EQ(dialer_.started, 1);
    FakeConn& conn = finish_dial();
    EXPECT_FALSE(announced(canceled));
    Lease l = take_ready(next);
    EXPECT_EQ(l.id, id_of(conn));
    pool().put_idle_conn(l.id);
    EXPECT_EQ(pool().conns_per_host(a_), 1);
    audit();
}

// TestTransportRemovesDeadIdleConnections (RM2): after the server closes an idle conn the
// pool holds no idle keys, and the next request succeeds on a new conn.
TEST_F(GoScenario, TestTransportRemovesDeadIdleConnections) {
    const ConnId first = round_trip(a_);
    EXPECT_EQ(idle_keys({a_}).size(), 1u);
    pool().conn_closed(first, CloseReason::server_closed_idle);
    EXPECT_TRUE(idle_keys({a_}).empty());
    EXPECT_NE(round_trip(a_), first);
    audit();
}

// TestTransportCloseIdleConnsThenReturn (C1, P6, T2, C3): after CloseIdleConnections empties the
// pool returns are refused, until a request queues for an idle conn and re-enables pooling.
TEST_F(GoScenario, TestTransportCloseIdleConnsThenReturn) {
    std::vector<Lease> ls;
    for (int i = 0; i < 4; ++i) ls.push_back(get_dialed(a_));
    EXPECT_EQ(pool().idle_count(a_), 0u);
    EXPECT_TRUE(accepted(pool().put_idle_conn(ls[0].id)));
    EXPECT_TRUE(accepted(pool().put_idle_conn(ls[1].id)));
    EXPECT_EQ(pool().idle_count(a_), 2u);
    pool().close_idle_connections();
    EXPECT_EQ(pool().idle_count(a_), 0u);
    EXPECT_FALSE(accepted(pool().put_idle_conn(ls[2].id)));
    EXPECT_EQ(pool().idle_count(a_), 0u);
    WantId w = get_pending(a_);  // QueueForIdleConnForTesting: leaves "closeIdle" mode
    pool().cancel_want(w);
    EXPECT_TRUE(accepted(pool().put_idle_conn(ls[3].id)));
    EXPECT_EQ(pool().idle_count(a_), 1u);
    finish_dial();  // the cancelled request's dial: pooled beside it
    audit();
}

// TestIdleConnChannelLeak (T1, K2): with DisableKeepAlives, requests to many hosts leave
// nothing registered as waiting for idle conns once they are done.
TEST_F(GoScenario, TestIdleConnChannelLeak) {
    Config c;
    c.disable_keep_alives = true;
    make_pool(c);
    std::vector<KeyId> keys;
    for (int i = 0; i < 5; ++i) keys.push_back(pool().key("|http|" + std::to_string(i) + ".fake.golang:80"));
    std::vector<WantId> ws;
    for (KeyId k : keys) ws.push_back(get_pending(k));
    audit();  // T5 vs T1: the audit checks no waiter sits in an idle wait queue
    for (std::size_t i = 0; i < ws.size(); ++i) {
        finish_dial();
        pool().put_idle_conn(take_ready(ws[i]).id);
    }
    EXPECT_EQ(pool().waiting_count(), 0u);
    EXPECT_EQ(pool().ready_count(), 0u);
    EXPECT_EQ(pool().idle_count(), 0u);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// TestTransportDialCancelRace (G2, G5 in Go >=1.23): a request cancelled while its dial is
// in progress gets no result; the dial completes anyway and its conn is pooled, not leaked.
TEST_F(GoScenario, TestTransportDialCancelRace) {
    WantId w = get_pending(a_);
    pool().cancel_want(w);
    FakeConn& c = finish_dial();
    EXPECT_FALSE(announced(w));
    EXPECT_TRUE(pool().is_idle(id_of(c)));
    EXPECT_EQ(pool().open_conns(), 1u);
    EXPECT_EQ(round_trip(a_), id_of(c));
    audit();
}

// TestTransportIdleCacheKeys (K5, C1): no idle key at first, exactly the request's key
// ("|http|host:port") after one request, none after CloseIdleConnections.
TEST_F(GoScenario, TestTransportIdleCacheKeys) {
    const KeyId k = pool().key("|http|127.0.0.1:1234");
    EXPECT_TRUE(idle_keys({a_, b_, k}).empty());
    round_trip(k);
    EXPECT_EQ(idle_keys({a_, b_, k}), std::vector<std::string>{"|http|127.0.0.1:1234"});
    EXPECT_EQ(pool().key("|http|127.0.0.1:1234"), k) << "keys are interned";
    pool().close_idle_connections();
    EXPECT_TRUE(idle_keys({a_, b_, k}).empty());
    audit();
}

// TestTransportMaxIdleConns (P10): MaxIdleConns 4 and one request to each of 4 hosts keeps
// 4 idle keys; a fifth host evicts the least recently used one (host-0).
TEST_F(GoScenario, TestTransportMaxIdleConns) {
    Config c;
    c.max_idle_conns = 4;
    make_pool(c);
    std::vector<KeyId> hosts;
    for (int i = 0; i < 5; ++i) {
        hosts.push_back(pool().key("|http|host-" + std::to_string(i) + ".dns-is-faked.golang:80"));
    }
    for (int i = 0; i < 4; ++i) round_trip(hosts[i]);
    EXPECT_EQ(idle_keys(hosts).size(), 4u);
    round_trip(hosts[4]);
    const std::vector<std::string> want = {
        "|http|host-1.dns-is-faked.golang:80", "|http|host-2.dns-is-faked.golang:80",
        "|http|host-3.dns-is-faked.golang:80", "|http|host-4.dns-is-faked.golang:80"};
    EXPECT_EQ(idle_keys(hosts), want);
    EXPECT_EQ(closes_with(CloseReason::too_many_idle), 1u);
    audit();
}

// TestTransportTraceGotConnH2IdleConns (X2, golang/go#34282): GotConn is not reported for
// an HTTP/2 conn taken from the idle pool.
TEST_F(GoScenario, TestTransportTraceGotConnH2IdleConns) {
    Lease first = get_dialed(a_, true);
    Lease second = get_idle(a_);
    EXPECT_EQ(second.id, first.id);
    EXPECT_TRUE(trace_.got.empty());
    audit();
}

// transport_dial_test.go TestTransportPoolConnReusePriorConnection (T4): successive
// requests use the same HTTP/1 conn.
TEST_F(GoScenario, TestTransportPoolConnReusePriorConnection) {
    const ConnId c1 = round_trip(a_);
    EXPECT_EQ(round_trip(a_), c1);
    EXPECT_EQ(dialer_.started, 1);
    audit();
}

// TestTransportPoolConnCannotReuseConnectionInUse (INV3): two concurrent HTTP/1 requests
// use different conns.
TEST_F(GoScenario, TestTransportPoolConnCannotReuseConnectionInUse) {
    Lease r1 = get_dialed(a_);
    Lease r2 = get_dialed(a_);
    EXPECT_NE(r1.id, r2.id);
    EXPECT_EQ(dialer_.started, 2);
    pool().put_idle_conn(r1.id);
    pool().put_idle_conn(r2.id);
    audit();
}

// TestTransportPoolConnHTTP2Startup (P5 for shared conns, D5): a second request made while
// the first HTTP/2 dial is in progress starts its own dial, but both requests use the conn
// of the first dial to complete; the second dial's conn is pooled.
TEST_F(GoScenario, TestTransportPoolConnHTTP2Startup) {
    WantId rt1 = get_pending(a_);
    WantId rt2 = get_pending(a_);
    EXPECT_EQ(dialer_.started, 2);
    FakeConn& c1 = finish_dial(true);
    EXPECT_EQ(take_ready(rt1).id, id_of(c1));
    EXPECT_EQ(take_ready(rt2).id, id_of(c1));
    FakeConn& c2 = finish_dial(true);
    EXPECT_TRUE(pool().is_idle(id_of(c2)));
    EXPECT_FALSE(fake_closed(c2));
    audit();
}

// TestTransportPoolConnConnectionBecomesAvailableDuringDial (P5, G5): a conn freed while a
// second request is dialing goes to that request; a third request then gets the second
// request's dial when it completes (before its own dial), and its own dial is pooled.
TEST_F(GoScenario, TestTransportPoolConnConnectionBecomesAvailableDuringDial) {
    Lease rt1 = get_dialed(a_);
    WantId rt2 = get_pending(a_);
    pool().put_idle_conn(rt1.id);
    EXPECT_EQ(take_ready(rt2).id, rt1.id);
    WantId rt3 = get_pending(a_);
    EXPECT_EQ(dialer_.pending.size(), 2u);  // rt2's and rt3's dials
    FakeConn& c2 = finish_dial();           // rt2's dial completes first
    EXPECT_EQ(take_ready(rt3).id, id_of(c2));
    FakeConn& c3 = finish_dial();
    EXPECT_TRUE(pool().is_idle(id_of(c3)));
    audit();
}

// TestTransportPoolDisableKeepAlives (K2): with DisableKeepAlives each request dials.
TEST_F(GoScenario, TestTransportPoolDisableKeepAlives) {
    Config c;
    c.disable_keep_alives = true;
    make_pool(c);
    const ConnId c1 = round_trip(a_);
    const ConnId c2 = round_trip(a_);
    (void)c1;
    (void)c2;
    EXPECT_EQ(dialer_.started, 2);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// TestTransportPoolCancelRequestReusesConn (G5, P5): a request cancelled before its conn
// is created leaves the conn to the pool: a second request, itself dialing, gets it.
TEST_F(GoScenario, TestTransportPoolCancelRequestReusesConn) {
    WantId rt1 = get_pending(a_);
    pool().cancel_want(rt1);
    WantId rt2 = get_pending(a_);
    FakeConn& c1 = finish_dial();
    EXPECT_EQ(take_ready(rt2).id, id_of(c1));
    FakeConn& c2 = finish_dial();
    EXPECT_TRUE(pool().is_idle(id_of(c2)));
    audit();
}

// TestTransportPoolCancelRequestWithDisableKeepAlives (K2, D5): with DisableKeepAlives
// the cancelled request's conn is discarded and the next request dials anew.
TEST_F(GoScenario, TestTransportPoolCancelRequestWithDisableKeepAlives) {
    Config c;
    c.disable_keep_alives = true;
    make_pool(c);
    WantId rt1 = get_pending(a_);
    pool().cancel_want(rt1);
    FakeConn& c1 = finish_dial();
    EXPECT_EQ(c1.closed, CloseReason::keep_alives_disabled);
    WantId rt2 = get_pending(a_);
    FakeConn& c2 = finish_dial();
    EXPECT_EQ(take_ready(rt2).id, id_of(c2));
    EXPECT_EQ(dialer_.started, 2);
    audit();
}

// TestTransportPoolConnectionBroken (RM2, P2): a conn that breaks during a request is not
// reused; the next request dials.
TEST_F(GoScenario, TestTransportPoolConnectionBroken) {
    Lease rt1 = get_dialed(a_);
    pool().conn_closed(rt1.id, CloseReason::read_error);
    EXPECT_EQ(pool().put_idle_conn(rt1.id), PutResult::conn_broken);
    Lease rt2 = get_dialed(a_);
    EXPECT_NE(rt2.id, rt1.id);
    EXPECT_EQ(dialer_.started, 2);
    pool().conn_closed(rt2.id, CloseReason::read_error);
    pool().put_idle_conn(rt2.id);
    EXPECT_EQ(pool().open_conns(), 0u);
    audit();
}

// TestTransportPoolClosesConnsPastMaxIdleConnsPerHost (P7, K5): MaxIdleConnsPerHost 1,
// two conns to host1 and one to host2; when all finish (host2, then host1's second, then
// its first) host1's first conn is the one closed, and later requests reuse the others.
TEST_F(GoScenario, TestTransportPoolClosesConnsPastMaxIdleConnsPerHost) {
    Config c;
    c.max_idle_conns_per_host = 1;
    make_pool(c);
    Lease rt1 = get_dialed(a_);
    Lease rt2 = get_dialed(a_);
    Lease rt3 = get_dialed(b_);
    pool().put_idle_conn(rt3.id);
    pool().put_idle_conn(rt2.id);
    pool().put_idle_conn(rt1.id);
    EXPECT_EQ(fake(rt1).closed, CloseReason::too_many_idle_for_key);
    EXPECT_EQ(get_idle(a_).id, rt2.id);
    EXPECT_EQ(get_idle(b_).id, rt3.id);
    EXPECT_EQ(dialer_.started, 3);
    pool().put_idle_conn(rt2.id);
    pool().put_idle_conn(rt3.id);
    audit();
}

}  // namespace
}  // namespace connpool::testing
