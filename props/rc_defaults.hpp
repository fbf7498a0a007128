// The props suites' default case counts: set_default_max_success() makes a suite's own
// max_success apply whenever RC_PARAMS does not set max_success itself. rapidcheck's stock
// default is 100 cases, and RC_PARAMS replaces the whole default configuration: without this,
// setting any RC_PARAMS (`seed=5`, say) would silently cut a suite from 2000 cases to 100.
// Called from a static initializer, before the first property loads rapidcheck's
// configuration (rc::detail::configuration() reads RC_PARAMS once, on first use).
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>

namespace connpool::props {

// True if the RC_PARAMS string `params` sets key `key`. RC_PARAMS is a list of key=value
// words separated by spaces; a value with spaces is quoted, and a quoted value holding
// "key=" is not mistaken for the key itself because only a word's start is compared.
inline bool rc_params_set(const std::string& params, const std::string& key) {
    std::istringstream words(params);
    std::string word;
    while (words >> word) {
        if (word.compare(0, key.size() + 1, key + "=") == 0) return true;
    }
    return false;
}

// Puts `max_success=<cases>` in front of RC_PARAMS unless RC_PARAMS already sets max_success.
// Everything else the caller set (seed=, max_size=, reproduce=, ...) is kept as it was.
inline void set_default_max_success(int cases) {
    const char* current = std::getenv("RC_PARAMS");
    const std::string params = current == nullptr ? "" : current;
    if (rc_params_set(params, "max_success")) return;
    std::string combined = "max_success=" + std::to_string(cases);
    if (!params.empty()) combined += " " + params;
    setenv("RC_PARAMS", combined.c_str(), 1);
}

}  // namespace connpool::props
