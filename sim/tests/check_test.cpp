// Tests of `connpool-sim check`, the bounded exhaustive model checker: that small bounds of
// the real pool core are explored to the end with no violation (the configurations below
// each switch on the rules of one area: timers, caps, MaxConnsPerHost, CloseIdleConnections,
// keep-alives off, shared conns); that the search is deterministic; that a deliberately broken
// harness (--bug) is found with a shortest counterexample whose printed replay line
// reproduces it; and that bad command-line input and malformed replay strings exit 2 with
// one line. `meson test --suite check`; with CONNPOOL_CHECK_LONG=1 (the `long` test setup)
// the configurations run at larger bounds.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "check.hpp"
#include "cli.hpp"

namespace connpool::sim {
namespace {

// If the pool core stops the process (connpool: fatal, e.g. in a mutant build), print the
// replay line of the path that was running: the search runs paths breadth first, so it is
// a shortest path to the abort.
char current_path[4096];
std::size_t current_path_len = 0;

void remember_path(const std::string& repro) {
    current_path_len = repro.size() < sizeof current_path ? repro.size() : sizeof current_path - 1;
    std::memcpy(current_path, repro.data(), current_path_len);
}

extern "C" void print_path_on_abort(int) {
    static const char head[] = "\ncheck_tests: the pool aborted on this path; replay it with:\nconnpool-sim check --replay '";
    if (current_path_len != 0) {
        ssize_t ignored = write(2, head, sizeof head - 1);
        ignored = write(2, current_path, current_path_len);
        ignored = write(2, "'\n", 2);
        (void)ignored;
    }
    std::signal(SIGABRT, SIG_DFL);
    std::raise(SIGABRT);
}

const bool abort_handler_installed = [] {
    std::signal(SIGABRT, print_path_on_abort);
    return true;
}();

bool long_run() {
    const char* v = std::getenv("CONNPOOL_CHECK_LONG");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

struct Cli {
    int rc = -1;
    std::string out, err;
};

Cli run_cli(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    Cli c;
    c.rc = cli_main(args, out, err);
    c.out = out.str();
    c.err = err.str();
    return c;
}

CheckOptions options(std::initializer_list<std::pair<const char*, const char*>> settings) {
    CheckOptions o;
    for (const auto& [name, value] : settings) {
        const auto error = set_check_option(o, name, value);
        EXPECT_FALSE(error.has_value()) << *error;
    }
    EXPECT_FALSE(validate_check(o).has_value());
    return o;
}

std::string report_text(const CheckReport& r, const CheckOptions& o) {
    std::ostringstream s;
    s << r.distinct << " distinct states, " << r.transitions << " transitions, " << r.quiescent
      << " quiescent, depth " << r.max_depth << ", " << r.depth_cut << " cut, " << r.wall_s << " s";
    if (r.violation) s << "\nVIOLATION: " << *r.violation << "\nreplay: connpool-sim check --replay '"
                       << encode_check_repro(o, r.counterexample) << "'";
    return s.str();
}

using Settings = std::initializer_list<std::pair<const char*, const char*>>;

// Runs one configuration to the end of its bounds and expects no violation. Under the long
// setup (CONNPOOL_CHECK_LONG=1) `longer` is applied on top: more requests, conns or depth.
void expect_clean(Settings settings, Settings longer) {
    CheckOptions o = options(settings);
    if (long_run()) {
        for (const auto& [name, value] : longer) {
            const auto error = set_check_option(o, name, value);
            ASSERT_FALSE(error.has_value()) << *error;
        }
    }
    const CheckReport r = run_check(o, remember_path);
    SCOPED_TRACE(encode_check_repro(o, {}));
    EXPECT_FALSE(r.violation.has_value()) << report_text(r, o);
    EXPECT_FALSE(r.state_limit_hit);
    EXPECT_GT(r.quiescent, 0u);      // liveness was checked somewhere
    EXPECT_GT(r.transitions, r.distinct / 2);
    std::printf("    %s\n", report_text(r, o).c_str());
}

// ---- the correct core passes, exhaustively ---------------------------------------------------

// Idle timers, LIFO reuse, T3, stale callbacks, late binding: one key, two conns, three
// requests, IdleConnTimeout 2 ticks. Explored to the end (no state at the depth bound).
TEST(CheckSearch, TimersAndReuseExhaustive) {
    CheckOptions o = options({{"keys", "1"}, {"conns", "2"}, {"requests", "3"}, {"depth", "60"}});
    if (long_run()) o = options({{"keys", "1"}, {"conns", "3"}, {"requests", "4"}, {"depth", "60"}});
    const CheckReport r = run_check(o, remember_path);
    EXPECT_FALSE(r.violation.has_value()) << report_text(r, o);
    EXPECT_EQ(r.depth_cut, 0u) << "the bounds should be explored to the end";
    EXPECT_GT(r.quiescent, 0u);
    EXPECT_GT(r.max_depth, 10);
}

// MaxIdleConns 2 over two keys: a return over the cap evicts the least recently used idle
// conn whatever its key, here one of the returning conn's own key (P10). Depth 12 is the
// shortest path to that: two conns of k0 and one of k1, all leased, then returned.
TEST(CheckSearch, LruAcrossKeys) {
    expect_clean({{"keys", "2"}, {"conns", "3"}, {"requests", "3"}, {"max-idle", "2"}, {"depth", "12"}}, {{"depth", "15"}});
}

// Go's default per-key cap of 2 (MaxIdleConnsPerHost 0): a third idle conn is refused (K1, P7).
TEST(CheckSearch, DefaultPerKeyCap) {
    expect_clean({{"keys", "1"}, {"conns", "3"}, {"requests", "3"}, {"depth", "14"}}, {{"depth", "60"}});
}

// MaxConnsPerHost 1 with cancels and server closes: the dial queue, slot hand-over, W3, RM2.
TEST(CheckSearch, MaxConnsPerHostWithCancelAndServerClose) {
    expect_clean({{"keys", "1"}, {"conns", "2"}, {"requests", "3"}, {"max-conns-per-host", "1"}, {"cancel", "1"},
                  {"server-close", "1"}, {"depth", "60"}},
                 {{"conns", "3"}, {"requests", "4"}});
}

// CloseIdleConnections with cancels: C1, C5 (orphan dials cancelled), P6 and its reset (T2).
TEST(CheckSearch, CloseIdleConnections) {
    expect_clean({{"keys", "1"}, {"conns", "2"}, {"requests", "3"}, {"close-idle", "1"}, {"cancel", "1"}, {"depth", "11"}},
                 {{"depth", "14"}});
}

// Keep-alives off, two ways (DisableKeepAlives, MaxIdleConnsPerHost < 0): T1, P1, with dead conns.
TEST(CheckSearch, KeepAlivesOff) {
    expect_clean({{"keys", "1"}, {"conns", "2"}, {"requests", "2"}, {"keep-alives-off", "1"}, {"server-close", "1"},
                  {"cancel", "1"}, {"depth", "60"}},
                 {{"conns", "3"}, {"requests", "3"}});
    expect_clean({{"keys", "1"}, {"conns", "2"}, {"requests", "2"}, {"max-idle-per-host", "-1"}, {"server-close", "1"},
                  {"depth", "60"}},
                 {{"conns", "3"}, {"requests", "3"}});
}

// Shared (HTTP/2 style) conns: X1-X5, with cancels, server closes and CloseIdleConnections.
TEST(CheckSearch, SharedConns) {
    expect_clean({{"keys", "1"}, {"conns", "2"}, {"requests", "3"}, {"shared", "1"}, {"cancel", "1"}, {"server-close", "1"},
                  {"close-idle", "1"}, {"max-idle-per-host", "1"}, {"depth", "9"}},
                 {{"depth", "12"}});
}

// Shared conns under MaxConnsPerHost 1 (D7, D8, X1): a shared conn holds one slot however
// many requests use it, and only its close releases it; with cancels and server closes, to
// the end of the search (no state at the depth bound). golang/go#27753's shape.
TEST(CheckSearch, SharedConnsUnderMaxConnsPerHost) {
    expect_clean({{"keys", "1"}, {"conns", "2"}, {"requests", "3"}, {"shared", "1"}, {"max-conns-per-host", "1"},
                  {"cancel", "1"}, {"server-close", "1"}, {"depth", "40"}},
                 {{"requests", "4"}});
}

// No IdleConnTimeout: time passes, and the pool must not care how long a conn was idle.
// MaxIdleConns 1 and MaxIdleConnsPerHost 1 over two keys: P7 refuses a second idle conn of
// a key, P10 evicts the other key's.
TEST(CheckSearch, NoIdleTimeoutSmallCaps) {
    expect_clean({{"keys", "2"}, {"conns", "2"}, {"requests", "2"}, {"idle-timeout", "0"}, {"max-idle", "1"},
                  {"max-idle-per-host", "1"}, {"depth", "60"}},
                 {{"conns", "3"}, {"requests", "3"}});
}

// The same bounds give the same search, count for count, and the fingerprint merges states:
// far fewer distinct states than transitions.
TEST(CheckSearch, Deterministic) {
    const CheckOptions o = options({{"keys", "2"}, {"conns", "2"}, {"requests", "2"}, {"cancel", "1"}, {"depth", "12"}});
    const CheckReport a = run_check(o);
    const CheckReport b = run_check(o);
    EXPECT_EQ(a.distinct, b.distinct);
    EXPECT_EQ(a.explored, b.explored);
    EXPECT_EQ(a.transitions, b.transitions);
    EXPECT_EQ(a.quiescent, b.quiescent);
    EXPECT_EQ(a.max_depth, b.max_depth);
    EXPECT_EQ(a.depth_cut, b.depth_cut);
    EXPECT_LT(a.distinct * 2, a.transitions) << "the visited set should merge many paths";
}

// A deeper bound explores a superset: never fewer states.
TEST(CheckSearch, DepthBoundIsMonotone) {
    CheckOptions o = options({{"keys", "1"}, {"conns", "2"}, {"requests", "2"}});
    std::uint64_t last = 0;
    for (int depth = 2; depth <= 12; depth += 2) {
        o.depth = depth;
        const CheckReport r = run_check(o);
        ASSERT_FALSE(r.violation.has_value()) << report_text(r, o);
        EXPECT_GE(r.distinct, last) << "depth " << depth;
        last = r.distinct;
    }
}

// ---- it can fail: a broken harness is found, shortest first, and replays -----------------------

struct BugCase {
    const char* bug;
    const char* message;  // a fragment of the violation
};

// Each --bug is found; the counterexample is shortest (no violation within one event less:
// the search is breadth first); its replay string reproduces the same violation through
// replay_check_path and through the command line (`check --replay` and `replay`).
TEST(CheckBugs, FoundShortestAndReplayed) {
    for (const BugCase& bc : {BugCase{"stale-idle", "which was closed"}, BugCase{"double-lease", "leased to two requests"},
                              BugCase{"lost-put", "conn lost"}}) {
        SCOPED_TRACE(bc.bug);
        CheckOptions o = options({{"bug", bc.bug}, {"depth", "12"}});
        const CheckReport r = run_check(o);
        ASSERT_TRUE(r.violation.has_value()) << report_text(r, o);
        EXPECT_NE(r.violation->find(bc.message), std::string::npos) << *r.violation;
        ASSERT_FALSE(r.counterexample.empty());

        CheckOptions shorter = o;
        shorter.depth = static_cast<int>(r.counterexample.size()) - 1;
        const CheckReport none = run_check(shorter);
        EXPECT_FALSE(none.violation.has_value()) << "a shorter counterexample exists: " << report_text(none, shorter);

        const std::string repro = encode_check_repro(o, r.counterexample);
        std::string error;
        const auto decoded = decode_check_repro(repro, error);
        ASSERT_TRUE(decoded.has_value()) << error;
        EXPECT_EQ(decoded->second, r.counterexample);
        std::ostringstream trace;
        const auto again = replay_check_path(decoded->first, decoded->second, trace, error);
        EXPECT_TRUE(error.empty()) << error;
        ASSERT_TRUE(again.has_value()) << trace.str();
        EXPECT_EQ(*again, *r.violation);
        EXPECT_NE(trace.str().find("VIOLATION: " + *r.violation), std::string::npos) << trace.str();

        const Cli cli = run_cli({"check", "--replay", repro});
        EXPECT_EQ(cli.rc, 1) << cli.err;
        EXPECT_NE(cli.out.find("result: VIOLATION: " + *r.violation), std::string::npos) << cli.out;
        const Cli alias = run_cli({"replay", repro});
        EXPECT_EQ(alias.rc, 1) << alias.err;
        EXPECT_EQ(alias.out, cli.out);
    }
}

// The check command prints the counts, the violation, the readable trace and the replay
// line, and exits 1; the printed replay line, run as printed, exits 1 again.
TEST(CheckCli, ViolationReportAndReplayLine) {
    const Cli c = run_cli({"check", "--bug", "double-lease", "--keys", "1", "--requests", "2", "--conns", "2"});
    EXPECT_EQ(c.rc, 1) << c.err;
    EXPECT_TRUE(c.err.empty()) << c.err;
    for (const char* part : {"states: ", "depth: ", "states/s", "VIOLATION after 4 events", "get k0", "dial d0 ok",
                             "take r0", "BUG double-lease", "replay: connpool-sim check --replay 'cpc1,"}) {
        EXPECT_NE(c.out.find(part), std::string::npos) << part << "\n" << c.out;
    }
    const auto at = c.out.find("--replay '");
    ASSERT_NE(at, std::string::npos);
    const auto end = c.out.find('\'', at + 10);
    const Cli again = run_cli({"check", "--replay", c.out.substr(at + 10, end - at - 10)});
    EXPECT_EQ(again.rc, 1) << again.err;
}

TEST(CheckCli, CleanRunExitsZero) {
    const Cli c = run_cli({"check", "--keys", "1", "--conns", "1", "--requests", "2", "--depth", "40"});
    EXPECT_EQ(c.rc, 0) << c.err << c.out;
    EXPECT_NE(c.out.find("result: no violation; exhaustive"), std::string::npos) << c.out;
    const Cli cut = run_cli({"check", "--keys", "1", "--conns", "1", "--requests", "2", "--depth", "3"});
    EXPECT_EQ(cut.rc, 0) << cut.err;
    EXPECT_NE(cut.out.find("deeper states exist"), std::string::npos) << cut.out;
}

// A path that passes replays with exit 0.
TEST(CheckCli, ReplayOfACleanPathExitsZero) {
    CheckOptions o;
    const std::vector<CheckEvent> path{{CheckEventKind::get, 0}, {CheckEventKind::dial_ok, 0}, {CheckEventKind::take, 0},
                                       {CheckEventKind::put, 0}};
    const Cli c = run_cli({"check", "--replay", encode_check_repro(o, path)});
    EXPECT_EQ(c.rc, 0) << c.err << c.out;
    EXPECT_NE(c.out.find("r0 puts c0 -> pooled"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("result: no violation on this path"), std::string::npos) << c.out;
}

// `trace_first`: the replay printed the trace of the events before the one that is not
// enabled (it runs the path once, printing as it goes, so a pool abort still shows the trace).
void expect_usage_error(const std::vector<std::string>& args, const char* fragment, bool trace_first = false) {
    const Cli c = run_cli(args);
    std::string joined;
    for (const std::string& a : args) joined += a + " ";
    EXPECT_EQ(c.rc, 2) << joined << "\n" << c.out;
    EXPECT_EQ(c.out.empty(), !trace_first) << joined << "\n" << c.out;
    ASSERT_FALSE(c.err.empty()) << joined;
    EXPECT_EQ(c.err.find('\n'), c.err.size() - 1) << "not one line: " << c.err;
    EXPECT_NE(c.err.find(fragment), std::string::npos) << c.err;
}

TEST(CheckCli, BadInputExitsTwoWithOneLine) {
    expect_usage_error({"check", "--keys", "0"}, "--keys '0' is not an integer in [1, 4]");
    expect_usage_error({"check", "--keys", "x"}, "--keys 'x'");
    expect_usage_error({"check", "--requests", "11"}, "--requests '11'");
    expect_usage_error({"check", "--depth"}, "needs a value");
    expect_usage_error({"check", "--bogus", "1"}, "unknown check option 'bogus'");
    expect_usage_error({"check", "stray"}, "unexpected argument 'stray'");
    expect_usage_error({"check", "--bug", "nope"}, "--bug 'nope'");
    expect_usage_error({"check", "--max-states", "0"}, "--max-states '0'");
    expect_usage_error({"check", "--shared", "--keep-alives-off"}, "not supported");
    expect_usage_error({"check", "--shared", "--max-idle-per-host", "-1"}, "not supported");
    expect_usage_error({"check", "--replay", "x", "--keys", "2"}, "--replay takes the replay string alone");
}

TEST(CheckCli, MalformedReplayExitsTwoWithOneLine) {
    CheckOptions o;
    const std::vector<CheckEvent> path{{CheckEventKind::get, 0}, {CheckEventKind::dial_ok, 0}};
    const std::string good = encode_check_repro(o, path);
    auto with_checksum = [](std::string body) {  // a well-formed checksum over an edited body
        std::uint32_t h = 2166136261u;
        for (const char ch : body) {
            h ^= static_cast<unsigned char>(ch);
            h *= 16777619u;
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, "%08x", h);
        return body + ",ck=" + buf;
    };
    const std::string body = good.substr(0, good.rfind(",ck="));
    expect_usage_error({"check", "--replay", "cps1,seed=1"}, "starts with 'cpc1,'");
    expect_usage_error({"check", "--replay", body}, "no checksum");
    expect_usage_error({"check", "--replay", good.substr(0, good.size() - 1)}, "checksum mismatch");
    expect_usage_error({"check", "--replay", body.substr(0, body.size() - 1) + "1" + good.substr(body.size())},
                       "checksum mismatch");
    expect_usage_error({"check", "--replay", with_checksum(body + ".z9")}, "'z9' is not an event token");
    expect_usage_error({"check", "--replay", with_checksum(body + ".t7")}, "is not enabled", true);
    expect_usage_error({"check", "--replay", with_checksum(body + ".g9")}, "is not enabled", true);
    expect_usage_error({"check", "--replay", with_checksum("cpc1,keys=2,path=g0")}, "lacks fields");
    expect_usage_error({"check", "--replay", with_checksum("cpc1,keys=9" + body.substr(body.find(",conns")))},
                       "--keys '9'");
    expect_usage_error({"check", "--replay", with_checksum(body + ",keys=2")}, "appears twice");
    expect_usage_error({"check", "--replay", with_checksum(body + ",depth=3")}, "search bound");
    expect_usage_error({"replay", with_checksum(body + ".t7")}, "is not enabled", true);
}

}  // namespace
}  // namespace connpool::sim
