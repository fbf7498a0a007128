// Checks rc_defaults.hpp: a suite's default max_success is added to whatever RC_PARAMS the
// caller set, unless that RC_PARAMS sets max_success itself, so that `RC_PARAMS=seed=5`
// keeps 2000 cases instead of falling to rapidcheck's 100. Each test sets RC_PARAMS, calls
// set_default_max_success, and restores the variable (rapidcheck has read it long before).
#include <gtest/gtest.h>

#include <rapidcheck.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "rc_defaults.hpp"

namespace connpool::props {
namespace {

// RC_PARAMS after set_default_max_success(2000), starting from `before` (nullopt: unset).
std::string with_default(const std::optional<std::string>& before) {
    const char* saved_raw = std::getenv("RC_PARAMS");
    const std::optional<std::string> saved = saved_raw == nullptr ? std::nullopt : std::optional(std::string(saved_raw));
    if (before) {
        setenv("RC_PARAMS", before->c_str(), 1);
    } else {
        unsetenv("RC_PARAMS");
    }
    set_default_max_success(2000);
    const char* after = std::getenv("RC_PARAMS");
    std::string result = after == nullptr ? "<unset>" : after;
    if (saved) {
        setenv("RC_PARAMS", saved->c_str(), 1);
    } else {
        unsetenv("RC_PARAMS");
    }
    return result;
}

TEST(RcDefaults, UnsetGetsTheSuiteDefault) { EXPECT_EQ(with_default(std::nullopt), "max_success=2000"); }

TEST(RcDefaults, OtherKeysKeepTheSuiteDefault) {
    EXPECT_EQ(with_default("seed=5"), "max_success=2000 seed=5");
    EXPECT_EQ(with_default("max_size=200 verbose_progress=1"), "max_success=2000 max_size=200 verbose_progress=1");
    EXPECT_EQ(with_default(""), "max_success=2000");
}

TEST(RcDefaults, CallersMaxSuccessWins) {
    EXPECT_EQ(with_default("max_success=20000 max_size=200"), "max_success=20000 max_size=200");
    EXPECT_EQ(with_default("seed=5 max_success=7"), "seed=5 max_success=7");
}

TEST(RcDefaults, OnlyWholeKeysCount) {
    EXPECT_FALSE(rc_params_set("no_max_success=3", "max_success"));
    EXPECT_FALSE(rc_params_set("max_successes=3", "max_success"));
    EXPECT_TRUE(rc_params_set("seed=1   max_success=3", "max_success"));
}

// The configuration this process's properties really run with: the suite default unless
// the RC_PARAMS given to the test binary set max_success.
TEST(RcDefaults, ConfigurationHasTheDefault) {
    const char* params = std::getenv("RC_PARAMS");  // as rc_defaults.cpp left it
    ASSERT_NE(params, nullptr);
    ASSERT_TRUE(rc_params_set(params, "max_success"));
    const std::string p = params;
    const auto at = p.find("max_success=");
    EXPECT_EQ(rc::detail::configuration().testParams.maxSuccess, std::stoi(p.substr(at + 12)));
}

}  // namespace
}  // namespace connpool::props
