// Batched properties: CONNPOOL_PROP(Suite, Name) defines a rapidcheck property as a
// GoogleTest test, like RC_GTEST_PROP, but runs it faster without giving anything up.
//
// Every case of a pool property runs isolated (harness.hpp, run_isolated) so that a
// `connpool: fatal:` abort, a crash or a hang is a failure rapidcheck can shrink and print a
// reproduce line for. Forking a child per case costs about 0.8 ms on the CI VM, more than most
// cases themselves. So a batched property first runs ALL of its cases in ONE forked child,
// each case in-process there. Only "every case passed" is taken from that child. The moment
// any case fails (a check, an abort, a crash, a hang past the case timeout) the child ends,
// and the property is run again from the start in this process with one fork per case and
// the same seed: it meets the same failing case (rapidcheck's generation depends only on the
// seed), shrinks it and prints it exactly as an unbatched run would. If that per-case rerun
// passes, the disagreement itself is reported as a failure.
//
// Why a pass from the batch child is trustworthy: each case builds its own Pool and fakes and
// the pool core has no global state, so a case's verdict cannot depend on the cases that ran
// before it in the same process, short of memory corruption, which the ASan+UBSan build
// (which runs this suite too) turns into an abort, hence a fallback to the per-case run.
//
// The per-case mode is used directly when a reproduce= is set, with CONNPOOL_PROPS_NOFORK
// (everything in-process, for gdb), or with CONNPOOL_PROPS_PER_CASE_FORK=1.
//
// A failure message ends with the one command that replays that property alone:
// `RC_PARAMS="reproduce=..." <this binary> --gtest_filter=Suite.Name`, its reproduce= naming
// only this property. While a reproduce= is set, a property it does not name is skipped
// (GTEST_SKIP), not reported as passing. The self-tests that fail on purpose run with
// Reporting::self_test, so that their failures stay out of rapidcheck's exit summary.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>

#include "harness.hpp"

namespace connpool::props {

// How check_batched reports a property.
enum class Reporting {
    // A property of the suite. rapidcheck's global listener records a failure (its summary at
    // exit lists every failed property of the run), the failure message ends with the one
    // command that replays this property alone, and a reproduce= in RC_PARAMS that does not
    // name this property skips it.
    suite,
    // A self-test property that fails on purpose (batch_test.cpp, sim_props.cpp): it runs
    // with a listener that records nothing and ignores RC_PARAMS' reproduce=, so a passing run
    // never ends with rapidcheck's "Some of your RapidCheck properties had failures ...
    // reproduce=" summary. Its callers skip it while a reproduce= is set.
    self_test,
};

// A rapidcheck listener that records nothing (the global one feeds the exit summary).
class QuietListener final : public rc::detail::TestListener {
public:
    void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
    void onShrinkTried(const rc::detail::CaseDescription&, bool) override {}
    void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

// rapidcheck's id for the running GoogleTest test, as its own gtest integration names it.
inline rc::detail::TestMetadata current_test_metadata() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    rc::detail::TestMetadata metadata;
    metadata.id = std::string(info->test_suite_name()) + "/" + std::string(info->name());
    metadata.description = std::string(info->name());
    return metadata;
}

// True when RC_PARAMS holds a reproduce= (a replay): self-tests then skip themselves.
inline bool replaying() { return !rc::detail::configuration().reproduce.empty(); }

// The command that runs the current GoogleTest test alone with RC_PARAMS `rc_params`:
// this executable (absolute path) with --gtest_filter naming only this test.
inline std::string replay_command(const std::string& rc_params) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const std::string path = n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string("<test binary>");
    return "RC_PARAMS=\"" + rc_params + "\" " + path + " --gtest_filter=" + info->test_suite_name() + "." +
           info->name();
}

// The RC_PARAMS value that replays `failure` of the property `id`, and nothing else:
// `reproduce=...`, taken from rapidcheck's own configuration string (whose other words,
// such as a seed, a reproduce= does not need).
inline std::string reproduce_params(const std::string& id, const rc::detail::FailureResult& failure) {
    rc::detail::Configuration only_this;
    only_this.reproduce.emplace(id, failure.reproduce);
    std::istringstream words(rc::detail::configToString(only_this));
    std::string word;
    while (words >> word) {
        if (word.rfind("reproduce=", 0) == 0) return word;
    }
    return rc::detail::configToString(only_this);  // not expected: the whole string still replays
}

// Set by the seed corpus runner (tests/seeds/replay_corpus.py) for a reproduce= of a bug
// that has been fixed: the reproduced case must now pass, which rapidcheck reports as an error.
inline bool corpus_expects_pass() { return std::getenv("CONNPOOL_PROPS_CORPUS") != nullptr; }

// rapidcheck's reproduceProperty result when the replayed case did not fail.
inline bool reproduced_case_passed(const rc::detail::TestResult& result) {
    return result.template is<rc::detail::Error>() &&
           result.template get<rc::detail::Error>().description == "Reproduced result is not a failure";
}

// Runs a self-test property once, quietly (Reporting::self_test), and returns its result.
template <typename Testable>
rc::detail::TestResult check_self_test(Testable&& testable, const rc::detail::TestMetadata& metadata) {
    QuietListener quiet;
    const std::unordered_map<std::string, rc::detail::Reproduce> no_reproduce;
    return rc::detail::checkTestable(std::forward<Testable>(testable), metadata,
                                     rc::detail::configuration().testParams, quiet, no_reproduce);
}

template <typename Testable>
void check_batched(Testable&& testable, Reporting reporting = Reporting::suite) {
    // Loads rapidcheck's configuration, and with it the seed, before the fork, so that the
    // batch child and a per-case rerun generate the same cases.
    const rc::detail::Configuration& config = rc::detail::configuration();
    const rc::detail::TestMetadata metadata = current_test_metadata();
    const bool suite = reporting == Reporting::suite;
    const bool reproducing = suite && !config.reproduce.empty();
    if (reproducing && config.reproduce.count(metadata.id) == 0) {
        GTEST_SKIP() << "RC_PARAMS reproduce= replays other properties, not " << metadata.id;
    }
    const auto check = [&](auto&& t) {
        if (suite) return rc::detail::checkTestable(t, metadata);
        return check_self_test(t, metadata);
    };
    const bool batch = std::getenv("CONNPOOL_PROPS_NOFORK") == nullptr &&
                       std::getenv("CONNPOOL_PROPS_PER_CASE_FORK") == nullptr && !reproducing;
    if (batch) {
        std::fflush(stdout);
        std::fflush(stderr);
        std::cout.flush();
        const pid_t pid = fork();
        if (pid < 0) {
            ADD_FAILURE() << "fork failed";
            return;
        }
        if (pid == 0) {
            batch_child = true;
            const int devnull = open("/dev/null", O_WRONLY);  // a failure is reported by the rerun
            if (devnull >= 0) dup2(devnull, 2);
            const auto result = check(testable);
            if (!result.template is<rc::detail::SuccessResult>()) _exit(batch_case_failed);
            if (!result.template get<rc::detail::SuccessResult>().distribution.empty()) {  // RC_TAG counts
                rc::detail::printResultMessage(result, std::cout);
                std::cout << std::endl;
            }
            std::cout.flush();
            std::fflush(stdout);
            _exit(0);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;  // every case passed
        std::cout << "connpool props: a case failed in the batched run ("
                  << (WIFSIGNALED(status) ? std::string("signal ") + strsignal(WTERMSIG(status))
                                          : "exit " + std::to_string(WEXITSTATUS(status)))
                  << "); running the property again with one fork per case to shrink and report it"
                  << (suite ? "" : " (a self-test: this failure is expected)") << std::endl;
    }
    const auto result = check(testable);
    if (reproducing && corpus_expects_pass() && reproduced_case_passed(result)) {
        std::cout << "connpool props: the reproduced case of " << metadata.id << " passes" << std::endl;
        return;
    }
    if (!result.template is<rc::detail::SuccessResult>()) {
        std::ostringstream os;
        rc::detail::printResultMessage(result, os);
        if (reproducing && reproduced_case_passed(result)) {
            os << "\nthe replayed case passes in this build: the bug is fixed, or this is not the build that "
                  "failed (the seed corpus replays fixed cases with CONNPOOL_PROPS_CORPUS=1, docs/TESTING.md)";
        }
        if (result.template is<rc::detail::FailureResult>()) {
            os << "\nreplay this property alone: "
               << replay_command(reproduce_params(metadata.id, result.template get<rc::detail::FailureResult>()));
        }
        FAIL() << os.str() << std::endl;
    }
    if (batch) {
        ADD_FAILURE() << "the property failed with its cases batched in one process but passed with one fork per "
                         "case: its cases are not independent. The batched run: "
                      << replay_command(rc::detail::configToMinimalString(config));
    }
}

}  // namespace connpool::props

/// A rapidcheck property run as a GoogleTest test, batched (see above).
#define CONNPOOL_PROP(TestCase, Name)                                                         \
    void connpool_propImpl_##TestCase##_##Name();                                             \
    TEST(TestCase, Name) { ::connpool::props::check_batched(&connpool_propImpl_##TestCase##_##Name); } \
    void connpool_propImpl_##TestCase##_##Name()
