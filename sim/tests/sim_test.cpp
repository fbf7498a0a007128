// Tests of the deterministic simulator: that a seed fixes the whole run, that every fault
// kind is injected and visible in the trace, that a deliberately broken pool (a sim-side
// wrapper that hands out wrong conns) is found by explore and reproduced by replay, and
// that bad command-line input is refused with exit 2. They drive the real pool core.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cli.hpp"
#include "options.hpp"
#include "rng.hpp"
#include "scheduler.hpp"
#include "world.hpp"

namespace connpool::sim {
namespace {

struct Cli {
    int rc = -1;
    std::string out, err;
};

// A file name in the test temp directory that no other test process uses at the same time
// (the g++, clang++ and sanitizer builds may run this suite side by side).
std::string temp_path(const std::string& name) {
    return ::testing::TempDir() + "/" + std::to_string(::getpid()) + "_" + name;
}

Cli run_cli(std::vector<std::string> args, const std::string& tool = default_tool) {
    std::ostringstream out, err;
    Cli c;
    c.rc = cli_main(args, out, err, nullptr, tool);
    c.out = out.str();
    c.err = err.str();
    return c;
}

std::string trace_text(const Options& o, RunResult* result = nullptr) {
    std::ostringstream s;
    RunResult r = run_world(o, &s);
    if (result != nullptr) *result = r;
    return s.str();
}

std::size_t count_lines(const std::string& s) {
    std::size_t n = 0;
    for (char ch : s) n += ch == '\n' ? 1 : 0;
    return n;
}

// ---- building blocks -------------------------------------------------------------------

// The generator is a pure function of (seed, stream), and below() stays in range.
TEST(SimRng, SeededAndInRange) {
    Rng a(42), b(42), c(43), d(42, 1);
    bool differs_c = false, differs_d = false;
    for (int i = 0; i < 1000; ++i) {
        const auto x = a.next();
        EXPECT_EQ(x, b.next());
        differs_c = differs_c || x != c.next();  // c and d are advanced twice per round below
        differs_d = differs_d || x != d.next();
        EXPECT_LT(c.below(7), 7u);
        const auto v = d.between(-3, 3);
        EXPECT_GE(v, -3);
        EXPECT_LE(v, 3);
    }
    EXPECT_TRUE(differs_c);
    EXPECT_TRUE(differs_d);
}

// Without a race window, events at different instants run in deadline order; events at
// one instant are all delivered, in an order the seed picks; the clock never goes back.
TEST(SimScheduler, DeadlineOrderAndSeededTies) {
    Options o;
    o.seed = 7;
    Scheduler s(o, 100);
    s.at(TimePoint{} + std::chrono::milliseconds(3), EventKind::client_wake, 1, 3);
    s.at(TimePoint{} + std::chrono::milliseconds(1), EventKind::client_wake, 1, 1);
    for (std::uint64_t i = 0; i < 5; ++i) s.at(TimePoint{} + std::chrono::milliseconds(2), EventKind::client_wake, i, 20 + i);
    std::vector<std::uint64_t> got;
    Event e;
    TimePoint last{};
    while (s.pop(e)) {
        got.push_back(e.a);
        EXPECT_GE(s.now(), last);
        last = s.now();
    }
    ASSERT_EQ(got.size(), 7u);
    EXPECT_EQ(got.front(), 1u);
    EXPECT_EQ(got.back(), 3u);
    EXPECT_GT(s.races(), 0u);
}

// With a race window, an event due up to W after the earliest may run first; it then runs
// at its own deadline and the earlier one runs late, never in the past.
TEST(SimScheduler, RaceWindowReordersWithinWindowOnly) {
    int reordered = 0;
    for (std::uint64_t seed = 0; seed < 64; ++seed) {
        Options o;
        o.seed = seed;
        o.race_window_us = 100;
        Scheduler s(o, 10);
        s.at(TimePoint{} + std::chrono::microseconds(10), EventKind::client_wake, 1, 1);
        s.at(TimePoint{} + std::chrono::microseconds(60), EventKind::client_wake, 2, 2);
        s.at(TimePoint{} + std::chrono::microseconds(500), EventKind::client_wake, 3, 3);
        Event e;
        ASSERT_TRUE(s.pop(e));
        if (e.a == 2) {
            ++reordered;
            EXPECT_EQ(s.now(), TimePoint{} + std::chrono::microseconds(60));
            ASSERT_TRUE(s.pop(e));
            EXPECT_EQ(e.a, 1u);
            EXPECT_EQ(s.now(), TimePoint{} + std::chrono::microseconds(60));  // late, not in the past
        }
        ASSERT_TRUE(s.pop(e));
        if (e.a != 3) {
            ASSERT_TRUE(s.pop(e));
        }
        EXPECT_EQ(e.a, 3u);  // outside every window: always last
    }
    EXPECT_GT(reordered, 0);
    EXPECT_LT(reordered, 64);
}

// A repro string carries every option: decoding gives back the same run.
TEST(SimRepro, RoundTripAndRejectsDamage) {
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        const Options o = swarm(seed);
        std::string error;
        const auto back = decode_repro(encode_repro(o), error);
        ASSERT_TRUE(back.has_value()) << error;
        EXPECT_EQ(encode_repro(*back), encode_repro(o));
    }
    const std::string good = encode_repro(swarm(3));
    std::string error;
    EXPECT_FALSE(decode_repro(good.substr(0, good.size() - 3), error));
    EXPECT_FALSE(decode_repro(good.substr(0, good.size() / 2), error));
    EXPECT_FALSE(decode_repro("cps0" + good.substr(4), error));
    std::string edited = good;
    edited[good.find("seed=") + 5] = edited[good.find("seed=") + 5] == '1' ? '2' : '1';
    EXPECT_FALSE(decode_repro(edited, error));
    EXPECT_NE(error.find("checksum"), std::string::npos);
}

// ---- determinism -------------------------------------------------------------------------

// The product: one seed, one trace. 200 swarm seeds, each run twice, give equal hashes and
// pass every check; a readable trace hashes the same as a silent run.
TEST(SimDeterminism, TwoHundredSeedsTwice) {
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        const Options o = swarm(seed);
        const RunResult a = run_world(o, nullptr);
        const RunResult b = run_world(o, nullptr);
        ASSERT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed << " is not deterministic: " << encode_repro(o);
        EXPECT_EQ(a.events, b.events);
        EXPECT_TRUE(a.ok) << "seed " << seed << ": " << a.failure << "\nconnpool-sim replay " << encode_repro(o);
    }
    const Options o = swarm(11);
    RunResult r1, r2;
    const std::string t1 = trace_text(o, &r1), t2 = trace_text(o, &r2);
    EXPECT_EQ(t1, t2);
    EXPECT_EQ(r1.trace_hash, run_world(o, nullptr).trace_hash);
    EXPECT_NE(run_world(swarm(12), nullptr).trace_hash, r1.trace_hash);
}

TEST(SimDeterminism, ExploreCheckDeterminismPasses) {
    const Cli c = run_cli({"explore", "--seeds", "30", "--from", "1000", "--check-determinism"});
    EXPECT_EQ(c.rc, 0) << c.out << c.err;
    EXPECT_NE(c.out.find("seeds run: 30 (each twice)"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("failures: 0"), std::string::npos) << c.out;
}

// ---- faults ---------------------------------------------------------------------------------

Options base() {
    Options o;
    o.seed = 5;
    o.clients = 8;
    o.keys = 2;
    o.duration_ms = 3000;
    o.think_ms = 10;
    o.resp_ms = 5;
    o.request_timeout_ms = 1000;
    o.idempotent_pct = 50;
    o.max_idle_per_host = 4;
    o.idle_timeout_ms = 2000;
    return o;
}

// The server's keep-alive timeout closes idle conns; the client learns through conn_closed,
// and requests that race the close fail with EOF and are retried under RT2.
TEST(SimFaults, ServerKeepAliveTimeoutAndRetry) {
    Options o = base();
    o.server_idle_ms = 15;  // about the think time: requests race the close
    o.net_delay_us = 2000;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.faults.server_idle_closes, 0u);
    EXPECT_GT(r.faults.eof_seen, 0u);
    EXPECT_GT(r.faults.sent_on_server_closed, 0u);
    EXPECT_GT(r.faults.retries, 0u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::server_closed)], 0u);  // POSTs are not retried
    EXPECT_NE(t.find("server.keepalive_close"), std::string::npos);
    EXPECT_NE(t.find("server_closed_idle (RM2, RM3: EOF)"), std::string::npos);
    EXPECT_NE(t.find("request.retry"), std::string::npos);
}

// A 408 on an idle conn closes it like an EOF (RM3); a reset on reuse fails the request,
// which is retried only when it is idempotent (RT2(f)).
TEST(SimFaults, Server408AndResetOnReuse) {
    Options o = base();
    o.server_idle_ms = 15;
    o.server_408_pct = 50;
    o.reset_on_reuse_pct = 10;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.faults.server_408s, 0u);
    EXPECT_GT(r.faults.resets_on_reuse, 0u);
    EXPECT_GT(r.faults.retries, 0u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::conn_reset)], 0u);
    EXPECT_NE(t.find("RM3: 408 on an idle conn"), std::string::npos);
    EXPECT_NE(t.find("server resets the reused conn"), std::string::npos);
}

TEST(SimFaults, CloseAfterNRequests) {
    Options o = base();
    o.close_after = 3;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.faults.close_after_closes, 0u);
    EXPECT_NE(t.find("response_close (B1)"), std::string::npos);
}

// The seed documents' NAT case: a middlebox that drops conns idle over its limit breaks
// the next request on them unless IdleConnTimeout is below the limit.
TEST(SimFaults, NatMiddleboxBreaksIdleConnsUnlessIdleTimeoutIsBelowIt) {
    Options o = base();
    o.clients = 4;
    o.think_ms = 70'000;  // up to 140 s between requests
    o.duration_ms = 1'200'000;
    o.nat_idle_ms = 60'000;
    o.server_idle_ms = 300'000;
    o.idle_timeout_ms = 90'000;  // Go's default: above the middlebox's limit
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.faults.nat_drops, 0u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::nat_reset)], 0u);
    EXPECT_NE(t.find("through a dropped NAT mapping"), std::string::npos);

    o.idle_timeout_ms = 50'000;  // below it: the pool retires conns before the middlebox does
    const RunResult fixed = run_world(o, nullptr);
    ASSERT_TRUE(fixed.ok) << fixed.failure;
    EXPECT_EQ(fixed.faults.nat_drops, 0u);
}

TEST(SimFaults, NatSwallowsServerFin) {
    Options o = base();
    o.think_ms = 200;
    o.nat_idle_ms = 100;
    o.server_idle_ms = 150;
    o.idle_timeout_ms = 1000;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.faults.nat_fins_lost, 0u);
    EXPECT_NE(t.find("FIN swallowed by the middlebox"), std::string::npos);
}

// Refused and timed-out dials fail their requests (D4: not retried); dials the pool
// cancels (C5) end early; dials that finish after their requester gave up are pooled (G5).
TEST(SimFaults, DialFailuresCancellationsAndLateDials) {
    Options o = base();
    o.dial_ms = 50;
    o.dial_refuse_pct = 20;
    o.dial_timeout_pct = 10;
    o.dial_timeout_ms = 100;
    o.request_timeout_ms = 30;  // shorter than a dial: requesters give up
    o.close_idle_every_ms = 40;
    o.max_idle_per_host = 1;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.faults.dials_refused, 0u);
    EXPECT_GT(r.faults.dials_timed_out, 0u);
    EXPECT_GT(r.faults.dials_canceled, 0u);
    EXPECT_GT(r.faults.late_dials, 0u);
    EXPECT_GT(r.faults.close_idle_calls, 0u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::deadline_waiting)], 0u);
    EXPECT_NE(t.find("will be refused"), std::string::npos);
    EXPECT_NE(t.find("will time out"), std::string::npos);
    EXPECT_NE(t.find("dialer.cancel"), std::string::npos);
    EXPECT_NE(t.find("late binding"), std::string::npos);
}

// Timers in flight: a fired timer whose callback is still queued makes stop/reset return
// false, and the stale callback lands later; the pool must shrug it off (T6).
TEST(SimFaults, TimerCallbacksInFlight) {
    std::uint64_t stop_false = 0, stale = 0;
    for (std::uint64_t seed = 0; seed < 40 && (stop_false == 0 || stale == 0); ++seed) {
        Options o = base();
        o.seed = seed;
        o.idle_timeout_ms = 12;  // about the think time: timers fire as conns are reused
        o.race_window_us = 3000;
        const RunResult r = run_world(o, nullptr);
        ASSERT_TRUE(r.ok) << r.failure << "\nconnpool-sim replay " << encode_repro(o);
        stop_false += r.faults.timer_stop_false_in_flight;
        stale += r.faults.timer_stale_callbacks;
    }
    EXPECT_GT(stop_false, 0u);
    EXPECT_GT(stale, 0u);
}

// Per-request deadlines cancel waiting requests (cancel_want) and in-flight ones (B5).
TEST(SimFaults, DeadlinesWhileWaitingAndInFlight) {
    Options o = base();
    o.resp_ms = 20;
    o.resp_spread_pct = 100;
    o.request_timeout_ms = 25;
    o.max_conns_per_host = 2;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::deadline_waiting)], 0u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::deadline_in_flight)], 0u);
    EXPECT_NE(t.find("pool.cancel_want"), std::string::npos);
    EXPECT_NE(t.find("request_canceled (B5)"), std::string::npos);
}

// Open loop: requests arrive at a rate whatever the pool does; an overloaded pool (one conn
// per host) makes them queue and miss deadlines, and still every request ends and the pool drains.
TEST(SimWorkload, OpenLoopArrivals) {
    Options o = base();
    o.rate_per_s = 2000;
    o.duration_ms = 2000;
    o.max_conns_per_host = 1;
    o.resp_ms = 2;
    o.request_timeout_ms = 50;
    RunResult r;
    const std::string t = trace_text(o, &r);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_GT(r.requests, 3000u);
    EXPECT_LT(r.requests, 5000u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::ok)], 0u);
    EXPECT_GT(r.outcomes[static_cast<int>(Outcome::deadline_waiting)], 0u);
    EXPECT_NE(t.find("arrival"), std::string::npos);
}

// Every request ends with exactly one outcome, and the pool drains at the end.
TEST(SimLiveness, EveryRequestEndsAndThePoolDrains) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        const RunResult r = run_world(swarm(seed), nullptr);
        ASSERT_TRUE(r.ok) << r.failure;
        std::uint64_t total = 0;
        for (auto n : r.outcomes) total += n;
        EXPECT_EQ(total, r.requests) << "seed " << seed;
    }
}

// ---- a broken pool is found --------------------------------------------------------------

// With --bug, a sim-side wrapper around the pool hands out a conn the pool had closed, or a
// conn already in use. explore must fail with a replay line, and replay must reproduce the
// same violation from that line alone.
void expect_found_and_replayed(const std::string& bug, const std::string& expected) {
    const Cli c = run_cli({"explore", "--seeds", "12", "--bug", bug});
    ASSERT_EQ(c.rc, 1) << c.out << c.err;
    const auto fail_at = c.out.find("FAIL seed ");
    ASSERT_NE(fail_at, std::string::npos) << c.out;
    const std::string fail_line = c.out.substr(fail_at, c.out.find('\n', fail_at) - fail_at);
    EXPECT_NE(fail_line.find(expected), std::string::npos) << fail_line;
    const std::string prefix = "connpool-sim replay ";
    const auto line_at = c.out.find(prefix, fail_at);
    ASSERT_NE(line_at, std::string::npos);
    const std::string repro = c.out.substr(line_at + prefix.size(), c.out.find('\n', line_at) - line_at - prefix.size());
    const Cli r = run_cli({"replay", repro});
    EXPECT_EQ(r.rc, 1) << r.err;
    const std::string message = fail_line.substr(fail_line.find(": ") + 2);
    EXPECT_NE(r.out.find("VIOLATION"), std::string::npos);
    EXPECT_NE(r.out.find("result: FAILED: " + message), std::string::npos) << r.out.substr(r.out.size() - 2000);
    const Cli again = run_cli({"replay", repro});
    EXPECT_EQ(again.out, r.out);  // byte for byte
}

TEST(SimBrokenPool, StaleIdleConnIsFoundAndReplayed) {
    expect_found_and_replayed("stale-idle", "after it had closed it");
}

TEST(SimBrokenPool, DoubleLeaseIsFoundAndReplayed) {
    expect_found_and_replayed("double-lease", "at once");
}

// A wrapper that loses some put_idle_conn calls leaks leases: the end-of-run liveness
// check finds conns that never close.
TEST(SimBrokenPool, LostPutIsFoundByLiveness) {
    expect_found_and_replayed("lost-put", "liveness");
}

// ---- command line -------------------------------------------------------------------------

TEST(SimCli, BadInputExitsTwoWithOneLine) {
    const std::string good = encode_repro(swarm(1));
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"frobnicate"},
        {"explore"},
        {"explore", "--seeds"},
        {"explore", "--seeds", "0"},
        {"explore", "--seeds", "ten"},
        {"explore", "--seeds", "3", "--strategy", "bfs"},
        {"explore", "--seeds", "3", "--no-such-flag", "1"},
        {"explore", "--seeds", "3", "--clients", "-4"},
        {"explore", "--seeds", "3", "--max-idle", "-1", "--no-swarm"},
        {"explore", "--seeds", "3", "stray"},
        {"explore", "--seeds", "3", "--shard", "3/3"},
        {"explore", "--seeds", "3", "--shard", "1"},
        {"explore", "--seeds", "3", "--jobs", "0"},
        {"merge"},
        {"merge", "/nonexistent/summary.jsonl"},
        {"repro", "--clients", "x"},
        {"whatif", "--compare", "clients"},
        {"whatif", "--bogus", "1"},
        {"whatif", "--compare", ""},
        {"whatif", "--compare", "clients=3", "--compare", "clients=4"},
        {"whatif", "--jobs", "0"},
        {"whatif", "--sweep", "think-ms"},
        {"whatif", "--sweep", "think-ms="},
        {"whatif", "--sweep", "=1,2"},
        {"whatif", "--sweep", "no-such-option=1,2"},
        {"whatif", "--sweep", "think-ms=1,,2"},
        {"whatif", "--sweep", "think-ms=1,2,"},
        {"whatif", "--sweep", "think-ms=-1"},
        {"whatif", "--sweep", "clients=1,x"},
        {"whatif", "--sweep", "max-idle=5,-1"},  // each value is in range; the pool config refuses -1
        {"whatif", "--sweep", "think-ms=1", "--sweep", "think-ms=2"},
        {"whatif", "--sweep", "think-ms=1", "--sweep", "clients=2", "--sweep", "resp-ms=3"},
        {"whatif", "--think-ms", "5", "--sweep", "think-ms=1,2"},
        {"whatif", "--sweep", "think-ms=1,2", "--compare", "think-ms=3"},
        {"whatif", "--sweep", "think-ms=1,2", "--sweep"},
        {"replay"},
        {"replay", "garbage"},
        {"replay", good.substr(0, good.size() - 5)},
        {"replay", good.substr(0, good.size() / 2)},
        {"replay", good, "--bogus"},
        // A repeated flag is refused, not last-wins.
        {"explore", "--seeds", "10", "--seeds", "20"},
        {"explore", "--seeds", "3", "--clients", "3", "--clients", "4"},
        {"explore", "--seeds", "3", "--no-swarm", "--no-swarm"},
        {"whatif", "--jobs", "2", "--jobs", "2"},
        {"whatif", "--clients", "3", "--clients", "3"},
        {"whatif", "--compare", "clients=5,clients=6"},
        {"repro", "--seed", "1", "--seed", "2"},
        {"replay", good, "--summary", "--summary"},
        {"replay", good, "--trace-json", "a.json", "--trace-json", "b.json"},
        {"check", "--keys", "1", "--keys", "2"},
        // A flag's value is the next argument; the next flag is not a value.
        {"explore", "--seeds=5"},
        {"whatif", "--compare=clients=5"},
        {"explore", "--seeds", "--jobs", "2"},
        {"whatif", "--compare", "--clients", "5"},
        {"repro", "--clients", "--no-swarm"},
        {"replay", good, "--trace-json", "--summary"},
        {"check", "--keys", "--cancel"},
    };
    for (const auto& args : bad) {
        const Cli c = run_cli(args);
        std::string joined;
        for (const auto& a : args) joined += a + " ";
        EXPECT_EQ(c.rc, 2) << joined;
        if (!args.empty()) {
            EXPECT_EQ(count_lines(c.err), 1u) << joined << "\n" << c.err;
        }
        EXPECT_TRUE(c.out.empty()) << joined;
    }
}

// Every replay line names the tool that printed it, so the test-only tools built against a
// mutated core (sim/meson.build) print a line that reproduces their failure, while
// connpool-sim's own lines stay "connpool-sim replay ...": explore, whatif (table and
// sweep), check, and merge of the summaries a tool wrote.
TEST(SimCli, ReplayLinesNameTheTool) {
    const std::string tool = "connpool-sim-mutant-some-bug";
    auto replay_lines = [](const std::string& out, const std::string& head) {
        std::size_t n = 0;
        for (std::size_t at = out.find(head); at != std::string::npos; at = out.find(head, at + 1)) {
            n += at == 0 || out[at - 1] == '\n' ? 1 : 0;
        }
        return n;
    };
    const Cli normal = run_cli({"explore", "--seeds", "20", "--bug", "double-lease"});
    ASSERT_EQ(normal.rc, 1) << normal.err;
    const std::size_t failures = replay_lines(normal.out, "connpool-sim replay cps1,");
    EXPECT_GT(failures, 0u) << normal.out;
    const Cli mutant = run_cli({"explore", "--seeds", "20", "--bug", "double-lease"}, tool);
    ASSERT_EQ(mutant.rc, 1) << mutant.err;
    EXPECT_EQ(replay_lines(mutant.out, tool + " replay cps1,"), failures) << mutant.out;
    EXPECT_EQ(replay_lines(mutant.out, "connpool-sim replay "), 0u) << mutant.out;

    const Cli table = run_cli({"whatif", "--clients", "10", "--duration-ms", "2000", "--bug", "double-lease"}, tool);
    ASSERT_EQ(table.rc, 1) << table.out << table.err;
    EXPECT_EQ(replay_lines(table.out, tool + " replay cps1,"), 1u) << table.out;
    const Cli sweep = run_cli({"whatif", "--clients", "10", "--duration-ms", "2000", "--bug", "double-lease", "--sweep",
                               "think-ms=1,2"}, tool);
    ASSERT_EQ(sweep.rc, 1) << sweep.out << sweep.err;
    EXPECT_EQ(replay_lines(sweep.out, tool + " replay cps1,"), 2u) << sweep.out;

    const Cli check = run_cli({"check", "--bug", "double-lease", "--keys", "1", "--requests", "2", "--conns", "2"}, tool);
    ASSERT_EQ(check.rc, 1) << check.err;
    EXPECT_NE(check.out.find("\nreplay: " + tool + " check --replay 'cpc1,"), std::string::npos) << check.out;

    const std::string file = temp_path("connpool_sim_tool_summary.jsonl");
    const Cli shard = run_cli({"explore", "--seeds", "20", "--bug", "double-lease", "--summary-json", file}, tool);
    ASSERT_EQ(shard.rc, 1) << shard.err;
    const Cli merged = run_cli({"merge", file});
    EXPECT_EQ(merged.rc, 1) << merged.err;
    EXPECT_EQ(replay_lines(merged.out, tool + " replay cps1,"), failures) << merged.out;
    std::remove(file.c_str());
}

// The messages of the CLI's refusals name the mistake and the form that works.
TEST(SimCli, RepeatedFlagsAndMissingValuesAreNamed) {
    auto err_of = [](std::vector<std::string> args) {
        const Cli c = run_cli(std::move(args));
        EXPECT_EQ(c.rc, 2);
        return c.err;
    };
    EXPECT_EQ(err_of({"explore", "--seeds", "10", "--seeds", "20"}), "connpool-sim: flag --seeds given twice\n");
    EXPECT_EQ(err_of({"explore", "--seeds=5"}),
              "connpool-sim: write --seeds 5, not --seeds=5 (a flag's value is the next argument)\n");
    EXPECT_EQ(err_of({"whatif", "--compare", "clients=5,clients=6"}), "connpool-sim: --compare sets clients twice\n");
    EXPECT_EQ(err_of({"whatif", "--compare", "--clients", "5"}), "connpool-sim: flag --compare needs a value\n");
    EXPECT_EQ(err_of({"whatif", "--compare", "clients=5", "--compare", "clients=6"}),
              "connpool-sim: flag --compare given twice\n");
    // Two --sweep flags on two options are the two axes of a grid, not a repeat.
    const Cli grid = run_cli({"whatif", "--clients", "2", "--duration-ms", "200", "--sweep", "think-ms=1,2", "--sweep",
                              "resp-ms=5,10"});
    EXPECT_EQ(grid.rc, 0) << grid.err;
}

// Shards interleave over the seed range: together they run every seed once, and merge
// reports the same failures as one unsharded campaign. A missing or repeated shard is an
// error that names the seed range and the shard; running a shard again into the same
// --summary-json file (a retried pod or array task) replaces its summary.
TEST(SimCli, ShardsCoverTheRangeAndMerge) {
    std::vector<std::string> files;
    for (int k = 0; k < 3; ++k) {
        files.push_back(temp_path("connpool_sim_shard" + std::to_string(k) + ".jsonl"));
        std::remove(files.back().c_str());
        const Cli c = run_cli({"explore", "--seeds", "40", "--shard", std::to_string(k) + "/3", "--bug", "stale-idle",
                               "--summary-json", files.back()});
        EXPECT_NE(c.rc, 2) << c.err;
    }
    const Cli whole = run_cli({"explore", "--seeds", "40", "--bug", "stale-idle", "--jobs", "2"});
    const Cli merged = run_cli({"merge", files[0], files[1], files[2]});
    EXPECT_EQ(merged.rc, whole.rc) << merged.err;
    EXPECT_NE(merged.out.find("seeds run: 40\n"), std::string::npos) << merged.out;
    auto fails = [](const std::string& s) {
        std::string f;
        for (std::size_t at = s.find("FAIL seed"); at != std::string::npos; at = s.find("FAIL seed", at + 1)) {
            f += s.substr(at, s.find('\n', at) - at) + "\n";
        }
        return f;
    };
    EXPECT_FALSE(fails(whole.out).empty());
    EXPECT_EQ(fails(merged.out), fails(whole.out));
    const Cli missing = run_cli({"merge", files[0], files[1]});
    EXPECT_EQ(missing.rc, 2);
    EXPECT_EQ(missing.err, "connpool-sim: merge: seeds 0..39, shard 2/3 is missing (2 of 3 shards present)\n");
    const Cli twice = run_cli({"merge", files[0], files[1], files[1], files[2]});
    EXPECT_EQ(twice.rc, 2);
    EXPECT_EQ(twice.err, "connpool-sim: merge: seeds 0..39, shard 1/3 is in two summaries (give each shard's file once)\n");

    // Shard 1 again, into its file: one summary in the file, and merge is unchanged.
    const Cli retried = run_cli({"explore", "--seeds", "40", "--shard", "1/3", "--bug", "stale-idle", "--summary-json",
                                 files[1]});
    EXPECT_NE(retried.rc, 2) << retried.err;
    std::FILE* f = std::fopen(files[1].c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string text;
    for (int ch; (ch = std::fgetc(f)) != EOF;) text += static_cast<char>(ch);
    std::fclose(f);
    EXPECT_EQ(count_lines(text), 1u) << text;
    EXPECT_EQ(text.rfind("{\"format\":\"connpool-sim-summary-1\",\"tool\":\"connpool-sim\",", 0), 0u) << text;
    const Cli merged_again = run_cli({"merge", files[0], files[1], files[2]});
    EXPECT_EQ(merged_again.rc, merged.rc) << merged_again.err;
    EXPECT_EQ(merged_again.out.substr(0, merged_again.out.find("events: ")), merged.out.substr(0, merged.out.find("events: ")));
    std::FILE* tmp = std::fopen((files[1] + ".tmp").c_str(), "r");
    EXPECT_EQ(tmp, nullptr);  // renamed over the file, not left behind
    if (tmp != nullptr) std::fclose(tmp);
    for (const auto& name : files) std::remove(name.c_str());
}

// Reads one whatif row ("dials ... base compare") and returns its two values.
std::pair<std::string, std::string> whatif_row(const std::string& out, const std::string& name) {
    const auto at = out.find("\n" + name + " ");
    if (at == std::string::npos) return {};
    std::istringstream line(out.substr(at + 1 + name.size(), out.find('\n', at + 1) - at - 1 - name.size()));
    std::pair<std::string, std::string> v;
    line >> v.first >> v.second;
    return v;
}

// The seed documents' first finding, from the model: 100 busy clients with Go's default of
// 2 idle conns per host churn conns (a large dial share, TIME_WAIT piling up), while a cap
// of 100 keeps them (no dials after warm-up).
TEST(SimWhatif, PerHostIdleCapOfTwoChurnsConns) {
    const Cli c = run_cli({"whatif", "--duration-ms", "10000", "--compare", "max-idle-per-host=100"});
    ASSERT_EQ(c.rc, 0) << c.out << c.err;
    const auto dials = whatif_row(c.out, "dials after warm-up (first 10%)");
    EXPECT_GT(std::stoll(dials.first), 1000) << c.out;
    EXPECT_EQ(dials.second, "0") << c.out;
    const auto tw = whatif_row(c.out, "TIME_WAIT (client) at end");
    EXPECT_GT(std::stoll(tw.first), 1000) << c.out;
    EXPECT_LT(std::stoll(tw.second), 10) << c.out;
}

// The second: a middlebox that drops conns idle over 60 s breaks requests unless
// IdleConnTimeout is below it.
TEST(SimWhatif, NatBreaksRequestsUnlessIdleTimeoutIsBelowIt) {
    const Cli c = run_cli({"whatif", "--clients", "1", "--think-ms", "40000", "--duration-ms", "3600000", "--nat-idle-ms",
                           "60000", "--idempotent-pct", "0", "--compare", "idle-timeout-ms=50000"});
    ASSERT_EQ(c.rc, 0) << c.out << c.err;
    const auto failed = whatif_row(c.out, "  failed");
    EXPECT_GT(std::stoll(failed.first), 0) << c.out;
    EXPECT_EQ(failed.second, "0") << c.out;
}

// Go's retry rule hides a fault from the failure count: with GETs (whatif's default) a
// request reset by the middlebox on a reused conn is retried on a new conn (RT2) and
// succeeds, so nothing fails, and only the attempts-failed and retries rows show what the
// middlebox costs. IdleConnTimeout below the middlebox's timeout removes that cost too. The
// header says what max-idle-per-host=0 means.
TEST(SimWhatif, RetriesShowTheCostThatGetsHide) {
    const Cli c = run_cli({"whatif", "--clients", "1", "--think-ms", "40000", "--duration-ms", "3600000", "--nat-idle-ms",
                           "60000", "--compare", "idle-timeout-ms=50000"});
    ASSERT_EQ(c.rc, 0) << c.out << c.err;
    EXPECT_NE(c.out.find("\n  max-idle-per-host=0 means Go's default of 2 idle conns per host"), std::string::npos) << c.out;
    EXPECT_EQ(whatif_row(c.out, "  failed"), std::make_pair(std::string("0"), std::string("0"))) << c.out;
    const auto attempts = whatif_row(c.out, "attempts failed on a conn");
    const auto retries = whatif_row(c.out, "retries (RT2)");
    ASSERT_FALSE(retries.first.empty()) << c.out;
    EXPECT_GT(std::stoll(retries.first), 0) << c.out;
    EXPECT_EQ(attempts.first, retries.first) << c.out;  // every one was on a reused conn, and a GET
    EXPECT_EQ(attempts.second, "0") << c.out;
    EXPECT_EQ(retries.second, "0") << c.out;
    // POSTs are not retried: every attempt that fails on a conn fails its request.
    const Cli posts = run_cli({"whatif", "--clients", "1", "--think-ms", "40000", "--duration-ms", "3600000",
                               "--nat-idle-ms", "60000", "--idempotent-pct", "0"});
    ASSERT_EQ(posts.rc, 0) << posts.out << posts.err;
    EXPECT_EQ(whatif_row(posts.out, "retries (RT2)").first, "0") << posts.out;
    EXPECT_EQ(whatif_row(posts.out, "attempts failed on a conn").first, whatif_row(posts.out, "  failed").first) << posts.out;
}

// Reads one row of a whatif --sweep grid: the cells after the row label `row` in the grid
// titled `title` ("dial share (dials / get_conn), base"). Percent signs are dropped.
std::vector<double> sweep_row(const std::string& out, const std::string& title, const std::string& row) {
    const auto at = out.find(title + "\n");
    if (at == std::string::npos) return {};
    std::istringstream lines(out.substr(at + title.size() + 1));
    std::string line;
    std::getline(lines, line);  // the column header
    while (std::getline(lines, line)) {
        std::istringstream cells(line);
        std::string label;
        cells >> label;
        if (label != row) continue;
        std::vector<double> v;
        for (std::string cell; cells >> cell;) v.push_back(std::stod(cell));
        return v;
    }
    return {};
}

// whatif --sweep, the question about the seed documents' churn: how the dial share
// moves with think time and response-time spread, under Go's 2 idle conns per host and
// under a cap that keeps every conn. With no think time a client asks for a conn the
// instant it returned one and gets that one back, so nothing churns; with think time,
// returns and requests drift apart and a conn that comes back to two idle ones is closed,
// more so as the think time grows towards the response time; a spread of response times
// makes returns burstier, which raises the churn at short think times. Requests per dialed
// conn move the other way. A cap of 100 keeps every conn whatever the think time.
TEST(SimWhatif, SweepMovesDialShareWithThinkTimeAndSpread) {
    const Cli c = run_cli({"whatif", "--clients", "10", "--duration-ms", "10000", "--sweep", "think-ms=0,2,20", "--sweep",
                           "resp-spread-pct=0,90", "--compare", "max-idle-per-host=100", "--jobs", "2"});
    ASSERT_EQ(c.rc, 0) << c.out << c.err;
    const std::string share = "dial share (dials / get_conn), ";
    const std::string per_conn = "requests per dialed conn, ";
    const auto b0 = sweep_row(c.out, share + "base", "0"), b2 = sweep_row(c.out, share + "base", "2"),
               b20 = sweep_row(c.out, share + "base", "20");
    ASSERT_EQ(b0.size(), 2u) << c.out;
    ASSERT_EQ(b2.size(), 2u) << c.out;
    ASSERT_EQ(b20.size(), 2u) << c.out;
    for (std::size_t spread = 0; spread < 2; ++spread) {
        EXPECT_LT(b0[spread], 1.0) << c.out;              // percent
        EXPECT_GT(b2[spread], b0[spread] + 5) << c.out;
        EXPECT_GT(b20[spread], b2[spread] + 5) << c.out;
    }
    EXPECT_GT(b2[1], b2[0] + 2) << c.out;  // spread 90% churns more than none at 2 ms think
    const auto r2 = sweep_row(c.out, per_conn + "base", "2"), r20 = sweep_row(c.out, per_conn + "base", "20");
    ASSERT_EQ(r2.size(), 2u) << c.out;
    ASSERT_EQ(r20.size(), 2u) << c.out;
    EXPECT_GT(r2[0], r20[0]) << c.out;
    EXPECT_GT(r2[0], r2[1]) << c.out;
    for (const char* think : {"0", "2", "20"}) {
        const auto kept = sweep_row(c.out, share + "compare", think);
        ASSERT_EQ(kept.size(), 2u) << c.out;
        for (double v : kept) EXPECT_LT(v, 1.0) << c.out;
    }
    EXPECT_NE(c.out.find("checks: passed in all 12 runs"), std::string::npos) << c.out;
    // The grid does not depend on how many threads ran it.
    const Cli one = run_cli({"whatif", "--clients", "10", "--duration-ms", "10000", "--sweep", "think-ms=0,2,20", "--sweep",
                             "resp-spread-pct=0,90", "--compare", "max-idle-per-host=100"});
    EXPECT_EQ(one.out, c.out);
}

// replay --trace-json writes Chrome Trace Event Format: conn and client tracks, pool
// counters, and the violation as an instant; writing it does not change the run.
TEST(SimCli, ReplayWritesTraceJson) {
    const std::string path = temp_path("connpool_sim_trace.json");
    Options o = swarm(7);
    o.bug = static_cast<std::int64_t>(Bug::double_lease);
    const std::string repro = encode_repro(o);
    const Cli plain = run_cli({"replay", repro, "--summary"});
    const Cli c = run_cli({"replay", repro, "--summary", "--trace-json", path});
    EXPECT_EQ(c.rc, plain.rc);
    EXPECT_EQ(c.out.substr(0, c.out.find("trace-json:")), plain.out);
    std::FILE* f = std::fopen(path.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string json;
    for (int ch; (ch = std::fgetc(f)) != EOF;) json += static_cast<char>(ch);
    std::fclose(f);
    std::remove(path.c_str());
    EXPECT_EQ(json.rfind("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[", 0), 0u);
    EXPECT_EQ(json.substr(json.size() - 4), "\n]}\n");
    for (const char* needle : {"\"ph\":\"X\"", "\"ph\":\"C\"", "\"name\":\"pool\"", "\"thread_name\"", "\"idle\"", "closed: "}) {
        EXPECT_NE(json.find(needle), std::string::npos) << needle;
    }
    if (plain.rc == 1) {
        EXPECT_NE(json.find("VIOLATION: "), std::string::npos);
    }

    // Validity as JSON and the counter series are checked with Python's json module by the
    // meson test trace_json (sim/tests/check_trace_json.py).
}

// `connpool-sim COMMAND --help` prints the usage and exits 0, as `connpool-sim --help` does.
TEST(SimCli, HelpAfterACommandPrintsUsage) {
    const Cli top = run_cli({"--help"});
    ASSERT_EQ(top.rc, 0);
    for (const char* command : {"explore", "replay", "whatif", "repro", "merge"}) {
        const Cli c = run_cli({command, "--help"});
        EXPECT_EQ(c.rc, 0) << command << ": " << c.err;
        EXPECT_EQ(c.out, top.out) << command;
        EXPECT_EQ(run_cli({command, "-h"}).out, top.out) << command;
    }
}

TEST(SimCli, ExploreReportsThroughput) {
    const Cli c = run_cli({"explore", "--seeds", "5", "--strategy", "pct", "--clients", "3"});
    EXPECT_EQ(c.rc, 0) << c.out << c.err;
    EXPECT_NE(c.out.find("seeds run: 5"), std::string::npos);
    EXPECT_NE(c.out.find("events/s"), std::string::npos);
    EXPECT_NE(c.out.find("simulated seconds per wall second"), std::string::npos);
}

}  // namespace
}  // namespace connpool::sim
