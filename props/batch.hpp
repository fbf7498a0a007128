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

#include "harness.hpp"

namespace connpool::props {

template <typename Testable>
void check_batched(Testable&& testable) {
    // Loads rapidcheck's configuration, and with it the seed, before the fork, so that the
    // batch child and a per-case rerun generate the same cases.
    const rc::detail::Configuration& config = rc::detail::configuration();
    const bool batch = std::getenv("CONNPOOL_PROPS_NOFORK") == nullptr &&
                       std::getenv("CONNPOOL_PROPS_PER_CASE_FORK") == nullptr && config.reproduce.empty();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    rc::detail::TestMetadata metadata;  // as rapidcheck's own gtest integration names it
    metadata.id = std::string(info->test_case_name()) + "/" + std::string(info->name());
    metadata.description = std::string(info->name());
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
            const auto result = rc::detail::checkTestable(testable, metadata);
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
                  << "); running the property again with one fork per case to shrink and report it" << std::endl;
    }
    const auto result = rc::detail::checkTestable(std::forward<Testable>(testable), metadata);
    if (!result.template is<rc::detail::SuccessResult>()) {
        std::ostringstream os;
        rc::detail::printResultMessage(result, os);
        FAIL() << os.str() << std::endl;
    }
    if (batch) {
        ADD_FAILURE() << "the property failed with its cases batched in one process but passed with one fork per "
                         "case: its cases are not independent";
    }
}

}  // namespace connpool::props

/// A rapidcheck property run as a GoogleTest test, batched (see above).
#define CONNPOOL_PROP(TestCase, Name)                                                         \
    void connpool_propImpl_##TestCase##_##Name();                                             \
    TEST(TestCase, Name) { ::connpool::props::check_batched(&connpool_propImpl_##TestCase##_##Name); } \
    void connpool_propImpl_##TestCase##_##Name()
