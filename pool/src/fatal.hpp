// Internal: how the core stops on a programmer error (Go's log.Fatalf / panic for
// "dup idle pconn" and "connCount underflow"). Always on, in every build type.
#pragma once

namespace connpool::detail {

/// Prints "connpool: fatal: <message>" on stderr and aborts. printf-style.
[[noreturn]] void fatal(const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

}  // namespace connpool::detail
