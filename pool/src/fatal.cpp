#include "fatal.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace connpool::detail {

void fatal(const char* format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(message, sizeof message, format, args);
    va_end(args);
    std::fprintf(stderr, "connpool: fatal: %s\n", message);
    std::fflush(stderr);
    std::abort();
}

}  // namespace connpool::detail
