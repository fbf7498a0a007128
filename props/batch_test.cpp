// Self-check of the batched property runner (props/batch.hpp): a property whose case
// aborts the process, or hangs, while every other case passes must still fail, be shrunk
// and print the command that replays it alone, exactly as with one fork per case. Otherwise
// batching could hide the `connpool: fatal:` aborts the props suite exists to catch. They
// run with Reporting::self_test, so a passing run prints no reproduce= line, and skip
// themselves while RC_PARAMS holds a reproduce=.
#include <gtest/gtest.h>
#include <gtest/gtest-spi.h>

#include <rapidcheck.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "batch.hpp"
#include "harness.hpp"

namespace connpool::props {
namespace {

// Aborts (as connpool's fatal() does) for one value out of twenty; shrinks to exactly 7.
void aborts_on_seven() {
    const int x = *rc::gen::inRange(0, 20);
    const auto failure = run_isolated([x] {
        if (x == 7) {
            std::fprintf(stderr, "connpool: fatal: deliberate abort for x == 7\n");
            std::abort();
        }
    });
    if (failure) RC_FAIL(*failure);
}

// Hangs past its case timeout for one value out of twenty.
void hangs_on_three() {
    const int x = *rc::gen::inRange(0, 20);
    const auto failure = run_isolated(
        [x] {
            if (x == 3) std::this_thread::sleep_for(std::chrono::seconds(30));
        },
        1);
    if (failure) RC_FAIL(*failure);
}

void always_passes() {
    const int x = *rc::gen::inRange(0, 20);
    const auto failure = run_isolated([x] {
        if (x < 0) throw CheckFailure("impossible");
    });
    if (failure) RC_FAIL(*failure);
}

// Runs a deliberately failing property through check_batched and checks its one fatal
// failure: it names what went wrong and ends with the command that replays it alone.
void expect_reported(void (*property)(), const std::string& what) {
    ::testing::TestPartResultArray failures;
    {
        ::testing::ScopedFakeTestPartResultReporter capture(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
        check_batched(property, Reporting::self_test);
    }
    ASSERT_EQ(failures.size(), 1) << "expected exactly one failure";
    const ::testing::TestPartResult& failure = failures.GetTestPartResult(0);
    EXPECT_TRUE(failure.fatally_failed());
    const std::string message = failure.message();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string filter = std::string("--gtest_filter=") + info->test_suite_name() + "." + info->name();
    EXPECT_NE(message.find(what), std::string::npos) << message;
    EXPECT_NE(message.find("replay this property alone: RC_PARAMS=\"reproduce="), std::string::npos) << message;
    EXPECT_NE(message.find(filter), std::string::npos) << message;
}

// The self-tests fail on purpose. A replay's reproduce= names only the property being
// replayed, so their expected failure would not come: they skip themselves then.
constexpr const char* skip_reason =
    "RC_PARAMS holds a reproduce=: this self-test fails on purpose and is not run during a replay";

TEST(BatchedProps, AbortInOneCaseIsReportedAndShrunk) {
    if (replaying()) GTEST_SKIP() << skip_reason;
    expect_reported(&aborts_on_seven, "deliberate abort for x == 7");
}

TEST(BatchedProps, HangInOneCaseIsReported) {
    if (replaying()) GTEST_SKIP() << skip_reason;
    expect_reported(&hangs_on_three, "case timed out");
}

TEST(BatchedProps, PassingPropertyPasses) { check_batched(&always_passes); }

}  // namespace
}  // namespace connpool::props
