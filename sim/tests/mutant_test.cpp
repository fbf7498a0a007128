// A deliberately broken core, found by explore and reproduced by replay. sim/meson.build
// builds connpool-sim once more per mutant of pool/src/mutants.hpp it names, with only that
// mutant compiled in; meson passes the tools' paths in the environment:
//   CONNPOOL_SIM                    the normal tool
//   CONNPOOL_SIM_MUTANTS            the mutant names, comma-separated
//   CONNPOOL_SIM_MUTANT_<NAME>      the tool built with that mutant
// For each mutant, explore must fail and print a replay line that names the tool itself
// (connpool-sim-mutant-NAME replay ..., since the healthy connpool-sim would pass the run);
// replay of that line with the same tool must fail with the same check; and the healthy core
// must pass the same run, so the failure is the core's, not the world's.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Outcome {
    int rc = -1;
    std::string out;  // stdout and stderr
};

Outcome run(const std::string& command) {
    Outcome r;
    std::FILE* p = popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
    const int status = pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string env(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v == nullptr ? std::string() : std::string(v);
}

std::string dashed(std::string s) {
    for (char& ch : s) ch = ch == '_' ? '-' : ch;
    return s;
}

std::string upper(std::string s) {
    for (char& ch : s) ch = (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 'a' + 'A') : ch;
    return s;
}

// What each mutant breaks and the check that must catch it.
struct Expectation {
    const char* mutant;
    const char* seeds;    // explore --seeds: enough that the swarm reaches the bug
    const char* message;  // part of the violated check's message
};
constexpr Expectation expectations[] = {
    // The idle timer's callback closes its conn without asking whether it is still idle
    // (T6): a stale callback, in flight while the conn was reused and returned, closes it
    // early. Found by the world's check that idle_timeout closes come a full
    // IdleConnTimeout after the conn's last request.
    {"timer_no_still_idle_check", "100", "for idle_timeout only"},
    // A conn reported dead while idle stays on the idle lists (RM2, golang/go#15461): the
    // pool's own audit (INV1) sees a closed conn in an idle list.
    {"broken_conn_stays_idle", "40", "pool invariant: INV1: idle list of key"},
};

TEST(SimMutantCore, ExploreFindsItAndReplayReproducesIt) {
    const std::string healthy = env("CONNPOOL_SIM");
    ASSERT_FALSE(healthy.empty()) << "run through meson test: CONNPOOL_SIM is not set";
    std::vector<std::string> names;
    std::istringstream list(env("CONNPOOL_SIM_MUTANTS"));
    for (std::string name; std::getline(list, name, ',');) names.push_back(name);
    ASSERT_FALSE(names.empty()) << "CONNPOOL_SIM_MUTANTS is not set";
    for (const std::string& name : names) {
        SCOPED_TRACE(name);
        const Expectation* e = nullptr;
        for (const Expectation& x : expectations) {
            if (name == x.mutant) e = &x;
        }
        ASSERT_NE(e, nullptr) << "no expectation for mutant " << name << " in mutant_test.cpp";
        const std::string tool = env("CONNPOOL_SIM_MUTANT_" + upper(name));
        ASSERT_FALSE(tool.empty()) << "CONNPOOL_SIM_MUTANT_" << upper(name) << " is not set";

        const Outcome found = run("'" + tool + "' explore --seeds " + e->seeds + " --jobs 2");
        EXPECT_EQ(found.rc, 1) << found.out;
        const auto fail_at = found.out.find("FAIL seed ");
        ASSERT_NE(fail_at, std::string::npos) << found.out;
        const auto colon = found.out.find(": ", fail_at);
        const auto eol = found.out.find('\n', fail_at);
        ASSERT_LT(colon, eol) << found.out;
        const std::string message = found.out.substr(colon + 2, eol - colon - 2);
        EXPECT_NE(message.find(e->message), std::string::npos) << message;
        const std::string prefix = tool.substr(tool.rfind('/') + 1) + " replay ";
        EXPECT_EQ(prefix, "connpool-sim-mutant-" + dashed(name) + " replay ");
        ASSERT_EQ(found.out.compare(eol + 1, prefix.size(), prefix), 0) << found.out;
        const std::string repro = found.out.substr(eol + 1 + prefix.size(), found.out.find('\n', eol + 1) - eol - 1 - prefix.size());
        ASSERT_EQ(repro.rfind("cps1,", 0), 0u) << repro;

        const Outcome again = run("'" + tool + "' replay '" + repro + "' --summary");
        EXPECT_EQ(again.rc, 1) << again.out;
        EXPECT_NE(again.out.find("result: FAILED: " + message + "\n"), std::string::npos) << again.out;

        const Outcome fine = run("'" + healthy + "' replay '" + repro + "' --summary");
        EXPECT_EQ(fine.rc, 0) << fine.out;
        EXPECT_NE(fine.out.find("result: ok\n"), std::string::npos) << fine.out;
    }
}

}  // namespace
