// Default rapidcheck settings for the pool_props suite. The pool is cheap to drive (a few
// microseconds per command), so rapidcheck's stock 100 cases per property leave most of
// the time budget unused and miss rarer mutants. This sets max_success before the first
// property reads RC_PARAMS, unless RC_PARAMS sets max_success itself; every other key the
// caller sets (a reproduce= line, seed=, the `long` test setup's max_size) is kept.
#include "rc_defaults.hpp"

namespace {

#if defined(CONNPOOL_PROPS_SANITIZED)
constexpr int default_max_success = 300;
#else
constexpr int default_max_success = 2000;
#endif

const bool rc_defaults_applied = [] {
    connpool::props::set_default_max_success(default_max_success);
    return true;
}();

}  // namespace
