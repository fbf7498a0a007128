// bench/alloc_counter.hpp: a count of every heap allocation made through global operator
// new (all variants) in the benchmark binary. The replacements live in alloc_counter.cpp,
// a translation unit of their own so the compiler cannot inline them into callers (GCC 12
// then reports a false -Wmismatched-new-delete at -O2).
#pragma once

#include <cstdint>

namespace bench {

/// Allocations since program start, all threads.
std::uint64_t allocations() noexcept;

}  // namespace bench
