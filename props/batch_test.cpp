// Self-check of the batched property runner (props/batch.hpp): a property whose case
// aborts the process, or hangs, while every other case passes must still fail, be shrunk
// and print a reproduce line, exactly as with one fork per case. Otherwise batching could
// hide the `connpool: fatal:` aborts the props suite exists to catch.
#include <gtest/gtest.h>
#include <gtest/gtest-spi.h>

#include <rapidcheck.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

TEST(BatchedProps, AbortInOneCaseIsReportedAndShrunk) {
    std::printf("connpool: the failure printed below is expected: the property aborts on purpose\n");
    EXPECT_FATAL_FAILURE(check_batched(&aborts_on_seven), "deliberate abort for x == 7");
}

TEST(BatchedProps, HangInOneCaseIsReported) {
    std::printf("connpool: the failure printed below is expected: the property hangs on purpose\n");
    EXPECT_FATAL_FAILURE(check_batched(&hangs_on_three), "case timed out");
}

TEST(BatchedProps, PassingPropertyPasses) { check_batched(&always_passes); }

}  // namespace
}  // namespace connpool::props
