// Basic pool behaviour: take and return, LIFO reuse, caps, waiters. Each test names the
// rules of shared/go-pool-rules.md it covers and drives the pool through the fixtures.
#include "pool_fixture.hpp"

namespace connpool::testing {
namespace {

class Basic : public PoolTest {};

// P9 T4 TR2: a returned conn is reused by the next request for its key, with Reused and
// WasIdle set and IdleTime measured on the injected clock.
TEST_F(Basic, ReturnedConnIsReusedFromIdle) {
    make_pool(Config{});
    Lease first = get_dialed(a_);
    EXPECT_FALSE(first.reused);
    EXPECT_EQ(pool().put_idle_conn(first.id), PutResult::pooled);
    timers_.advance(3s);
    Lease second = get_idle(a_);
    EXPECT_EQ(second.id, first.id);
    EXPECT_TRUE(second.reused);
    EXPECT_TRUE(second.was_idle);
    EXPECT_EQ(second.idle_time, Duration(3s));
    EXPECT_EQ(dialer_.started, 1);
    ASSERT_EQ(trace_.got.size(), 2u);
    EXPECT_TRUE(trace_.got[1].was_idle);
    audit();
}

// K5: conns never cross keys.
TEST_F(Basic, KeysNeverShare) {
    make_pool(Config{});
    Lease l = get_dialed(a_);
    pool().put_idle_conn(l.id);
    get_pending(b_);
    EXPECT_EQ(dialer_.started, 2);
    EXPECT_EQ(pool().idle_count(a_), 1u);
    audit();
}

// K1 and divergence (i): keys are interned for the pool's lifetime. try_key refuses a new
// name beyond the embedder's bound with a value (no fatal stop, nothing interned), while a
// name already known is always found; key() is try_key at Config::size_max.
TEST_F(Basic, TryKeyRefusesNewNamesBeyondTheBound) {
    make_pool(Config{});
    const std::size_t known = pool().key_count();  // the fixture's keys
    ASSERT_GE(known, 2u);
    EXPECT_EQ(pool().try_key("|http|a:80", known), std::optional<KeyId>(a_));
    EXPECT_EQ(pool().try_key("|http|new.test:80", known), std::nullopt);
    EXPECT_EQ(pool().key_count(), known);  // the refused name was not interned
    const std::optional<KeyId> added = pool().try_key("|http|new.test:80", known + 1);
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(*added, static_cast<KeyId>(known));
    EXPECT_EQ(pool().key("|http|new.test:80"), *added);
    EXPECT_EQ(pool().try_key("|http|new.test:80", 0), added);  // known names ignore the bound
    EXPECT_EQ(pool().key_count(), known + 1);
    audit();
}

}  // namespace
}  // namespace connpool::testing
