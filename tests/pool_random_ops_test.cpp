// Seeded random walks over the whole API (gets, takes, cancels, puts, closes, owner
// reports, dial outcomes, timers with in-flight callbacks, CloseIdleConnections) with the
// audit after every step, plus end-to-end properties no single scenario covers.
#include <random>
#include <set>

#include "pool_test_util.hpp"

namespace connpool::testing {
namespace {

class RandomOps : public PoolTestX, public ::testing::WithParamInterface<unsigned> {};

// INV1-INV7 D7 W1 T6: under random operation sequences the audit stays clean after every
// step, no conn is closed twice, no want gets two results, get_conn never hands out a
// closed conn, MaxConnsPerHost is never exceeded, and draining brings every count to 0.
TEST_P(RandomOps, AuditHoldsAfterEveryStep) {
    std::mt19937 rng(GetParam());
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    Config c;
    c.max_conns_per_host = static_cast<int>(pick(4));       // 0 = unlimited
    c.max_idle_conns = static_cast<int>(pick(4));           // 0 = unlimited
    c.max_idle_conns_per_host = static_cast<int>(pick(4)) - 1;  // -1 = keep-alives off
    c.idle_conn_timeout = pick(3) == 0 ? Duration::zero() : Duration(std::chrono::seconds(1 + pick(5)));
    c.disable_keep_alives = pick(8) == 0;
    make_pool(c);
    const KeyId keys[2] = {a_, b_};
    std::vector<Lease> leases;
    std::vector<WantId> wants;
    std::size_t seen_ready = 0;
    std::set<std::pair<std::uint32_t, std::uint32_t>> announced_once;

    for (int step = 0; step < 400; ++step) {
        switch (pick(12)) {
            case 0:
            case 1: {
                auto r = pool().get_conn(keys[pick(2)]);
                if (r.lease) {
                    ASSERT_TRUE(pool().is_open(r.lease->id)) << "T4/T6: idle hit on a closed conn";
                    leases.push_back(*r.lease);
                } else {
                    wants.push_back(r.want);
                }
                break;
            }
            case 2:
                if (!dialer_.pending.empty()) {
                    const std::size_t i = pick(dialer_.pending.size());  // sequenced: same walk on every compiler
                    const bool shared = pick(5) == 0;
                    finish_dial_at(i, shared);
                }
                break;
            case 3:
                if (!dialer_.pending.empty()) fail_dial_at(pick(dialer_.pending.size()));
                break;
            case 4:
            case 5:
                if (!leases.empty()) {
                    const std::size_t i = pick(leases.size());
                    const Lease l = leases[i];
                    leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
                    if (pick(4) == 0) {
                        pool().close_conn(l.id, CloseReason::response_close);
                    } else {
                        pool().put_idle_conn(l.id);
                    }
                }
                break;
            case 6:
                if (!wants.empty()) {
                    const std::size_t i = pick(wants.size());
                    pool().cancel_want(wants[i]);
                    wants.erase(wants.begin() + static_cast<std::ptrdiff_t>(i));
                }
                break;
            case 7:
                if (!leases.empty()) {
                    pool().conn_closed(leases[pick(leases.size())].id, CloseReason::read_error);
                } else {
                    auto idle = pool().idle_conns(keys[pick(2)]);
                    if (!idle.empty()) pool().conn_closed(idle[pick(idle.size())], CloseReason::server_closed_idle);
                }
                break;
            case 8: timers_.hold_fires = pick(2) == 0; [[fallthrough]];
            case 9: timers_.advance(std::chrono::milliseconds(pick(3000))); break;
            case 10: timers_.run_in_flight(); break;
            case 11:
                if (pick(4) == 0) pool().close_idle_connections();
                break;
        }
        // Take announced wants (each must be announced once and still be ours).
        for (; seen_ready < listener_.ready.size(); ++seen_ready) {
            const WantId w = listener_.ready[seen_ready];
            ASSERT_TRUE(announced_once.insert({w.slot, w.generation}).second) << "W1: want announced twice";
        }
        for (auto it = wants.begin(); it != wants.end();) {
            if (announced(*it) && pick(3) != 0) {
                auto out = pool().take(*it);
                if (out.lease) leases.push_back(*out.lease);
                it = wants.erase(it);
            } else {
                ++it;
            }
        }
        auto v = pool().check_invariants();
        ASSERT_FALSE(v.has_value()) << "step " << step << ": " << *v;
        if (c.max_conns_per_host > 0) {
            ASSERT_LE(pool().conns_per_host(a_), c.max_conns_per_host);
            ASSERT_LE(pool().conns_per_host(b_), c.max_conns_per_host);
        }
    }
    for (const auto& conn : conns_) ASSERT_LE(conn->close_calls, 1) << "a conn was closed twice";

    // Drain: end every want and lease, fail every dial, close the idle conns.
    timers_.hold_fires = false;
    timers_.run_in_flight();
    // Cancelling a ready want may hand its conn to another of `wants` (P5); that one is
    // cancelled in turn by this loop, so every want ends exactly once.
    for (WantId w : wants) pool().cancel_want(w);
    for (const Lease& l : leases) pool().close_conn(l.id, CloseReason::owner);
    EXPECT_EQ(pool().waiting_count(), 0u);
    while (!dialer_.pending.empty()) fail_dial();  // no want is left to receive anything
    pool().close_idle_connections();
    EXPECT_EQ(pool().open_conns(), 0u);
    EXPECT_EQ(pool().waiting_count(), 0u);
    EXPECT_EQ(pool().ready_count(), 0u);
    EXPECT_EQ(pool().dials_in_progress(), 0u);
    EXPECT_EQ(pool().conns_per_host(a_), 0);
    EXPECT_EQ(pool().conns_per_host(b_), 0);
    for (const auto& conn : conns_) EXPECT_LE(conn->close_calls, 1);
    audit();
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomOps, ::testing::Range(1u, 61u));

}  // namespace
}  // namespace connpool::testing
