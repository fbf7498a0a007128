// Default rapidcheck settings for the props suite. The pool is cheap to drive (a few
// microseconds per command), so rapidcheck's stock 100 cases per property leave most of
// the time budget unused and miss rarer mutants. When RC_PARAMS is not set at all, this
// sets it before the first property reads it. Any RC_PARAMS the caller sets (a reproduce=
// line, seed=, the `long` test setup) is left untouched.
#include <cstdlib>

namespace {

#if defined(CONNPOOL_PROPS_SANITIZED)
constexpr const char* default_rc_params = "max_success=300";
#else
constexpr const char* default_rc_params = "max_success=2000";
#endif

const bool rc_defaults_applied = [] {
    if (std::getenv("RC_PARAMS") == nullptr) setenv("RC_PARAMS", default_rc_params, 0);
    return true;
}();

}  // namespace
