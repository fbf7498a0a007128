// The simulator-driven property: for generated seeds and options, a whole simulator run
// (sim/src/world.hpp: the real pool core, simulated dialer, servers, NAT and clients, racing
// events reordered by the seeded scheduler) passes every check: the pool's invariant audit
// after every event, the world's checks (no HTTP/1 conn used twice at once, no request sent
// on a conn the pool closed, every request ends with a reason, per-host counts equal open
// conns) and liveness at the end (the pool drains to zero conns, waiters and dials).
//
// rapidcheck draws each option from a small list whose first entry is the simplest (one
// key, one client, no fault), so a failure shrinks towards the fewest moving parts. Each
// case runs in a forked child (props/harness.hpp), so a `connpool: fatal:` abort is a
// failure like any other. A failure prints two lines that reproduce it: rapidcheck's
// RC_PARAMS="reproduce=..." and the simulator's `connpool-sim replay '<repro>'`, which
// prints the run's full trace.
#include <gtest/gtest.h>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdlib>
#include <string>

#include "batch.hpp"
#include "harness.hpp"
#include "options.hpp"
#include "rc_defaults.hpp"
#include "world.hpp"

namespace connpool::props {
namespace {

// Fewer cases than the pool-level properties: one case is a whole simulated run (a few
// thousand events) in a forked child. A max_success in RC_PARAMS wins; any other RC_PARAMS
// (seed=, reproduce=) keeps this default (rc_defaults.hpp).
#if defined(CONNPOOL_PROPS_SANITIZED)
constexpr int default_max_success = 40;
#else
constexpr int default_max_success = 1000;
#endif
const bool rc_defaults_applied = [] {
    set_default_max_success(default_max_success);
    return true;
}();

template <typename T>
rc::Gen<T> one_of(std::initializer_list<T> values) {
    return rc::gen::elementOf(std::vector<T>(values));
}

// Options within the bounds of the simulator's swarm draws (sim/src/options.cpp, swarm()),
// simplest first, with a shorter workload so that a case takes milliseconds.
sim::Options gen_options(sim::Bug bug) {
    using std::int64_t;
    sim::Options o;
    o.seed = *rc::gen::inRange<std::uint64_t>(0, 1u << 30);
    o.strategy = *one_of<int64_t>({0, 1});
    o.race_window_us = *one_of<int64_t>({0, 50, 500, 2000});
    o.pct_depth = *one_of<int64_t>({1, 3, 10});
    o.timer_lag_us = *one_of<int64_t>({0, 200, 5000});
    o.keys = *rc::gen::inRange<int64_t>(1, 4);
    o.clients = *one_of<int64_t>({1, 2, 4, 8, 16});
    o.think_ms = *one_of<int64_t>({0, 1, 5, 20, 200});
    o.duration_ms = *one_of<int64_t>({200, 500, 1000, 2000});
    o.request_timeout_ms = *one_of<int64_t>({2000, 500, 100, 20});
    o.idempotent_pct = *one_of<int64_t>({100, 90, 50, 0});
    o.close_idle_every_ms = *one_of<int64_t>({0, 300});
    o.max_idle = *one_of<int64_t>({0, 1, 3, 100});
    o.max_idle_per_host = *one_of<int64_t>({0, 1, 2, 4, 100, -1});
    o.max_conns_per_host = *one_of<int64_t>({0, 1, 2, 4});
    o.idle_timeout_ms = *one_of<int64_t>({0, 30, 100, 500, 90000});
    o.keep_alives_off = *one_of<int64_t>({0, 1});
    o.resp_ms = *one_of<int64_t>({0, 1, 5, 20});
    o.resp_spread_pct = *one_of<int64_t>({0, 50, 100});
    o.server_idle_ms = *one_of<int64_t>({0, 1, 20, 100, 500});
    o.close_after = *one_of<int64_t>({0, 1, 3, 10});
    o.nat_idle_ms = *one_of<int64_t>({0, 50, 400});
    o.server_408_pct = *one_of<int64_t>({0, 50});
    o.reset_on_reuse_pct = *one_of<int64_t>({0, 2, 20});
    o.net_delay_us = *one_of<int64_t>({0, 100, 1000, 5000});
    o.dial_ms = *one_of<int64_t>({0, 1, 5, 50});
    o.dial_refuse_pct = *one_of<int64_t>({0, 5, 30});
    o.dial_timeout_pct = *one_of<int64_t>({0, 5});
    o.dial_timeout_ms = *one_of<int64_t>({50, 300});
    o.rate_per_s = *one_of<int64_t>({0, 20, 200, 2000});
    o.bug = static_cast<int64_t>(bug);
    return o;
}

// The property body, shared by the suite's property and by the self-check below.
void simulator_checks_pass(sim::Bug bug) {
    const sim::Options o = gen_options(bug);
    if (const auto bad = sim::validate(o)) RC_DISCARD("options the simulator refuses: " + *bad);
    const std::string repro = sim::encode_repro(o);
    RC_TAG(o.max_conns_per_host > 0 ? "max-conns-per-host" : "unlimited");
    const auto failure = run_isolated(
        [&] {
            const sim::RunResult r = sim::run_world(o, nullptr);
            if (!r.ok) throw CheckFailure(r.failure);
        },
        60);
    if (failure) RC_FAIL(*failure + "\nreplay the run with its trace: connpool-sim replay '" + repro + "'");
}

// INV1-INV7 and the world checks and liveness of docs/SIMULATOR.md, on generated runs.
CONNPOOL_PROP(SimProps, simulator_checks_pass) { simulator_checks_pass(sim::Bug::none); }

// The property can fail: with a deliberate fault in the simulator's wrapper around the
// pool (a closed conn handed to a request; a conn in use handed to a second request), the
// same property must find a counterexample. The failures are found quietly
// (Reporting::self_test in batch.hpp), so that a passing run does not end with rapidcheck's
// reproduce= summary; the test skips itself during a replay.
TEST(SimProps, property_finds_a_broken_wrapper) {
    if (replaying()) {
        GTEST_SKIP() << "RC_PARAMS holds a reproduce=: this self-test fails on purpose and is not run during a replay";
    }
    for (const sim::Bug bug : {sim::Bug::stale_idle, sim::Bug::double_lease}) {
        rc::detail::TestMetadata metadata = current_test_metadata();
        metadata.id += "/bug" + std::to_string(static_cast<int>(bug));
        const auto result = check_self_test([bug] { simulator_checks_pass(bug); }, metadata);
        EXPECT_TRUE(result.is<rc::detail::FailureResult>())
            << "the simulator property did not notice bug " << static_cast<int>(bug);
    }
}

}  // namespace
}  // namespace connpool::props
