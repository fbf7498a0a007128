// real_test_server: the in-process test server as a program, for connpool-load demos.
// Usage: real_test_server SECONDS [KEEP_ALIVE_TIMEOUT_MS]. Prints "port N", serves on
// 127.0.0.1 for SECONDS (at most 3600), then exits.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "test_server.hpp"

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: real_test_server SECONDS [KEEP_ALIVE_TIMEOUT_MS]\n");
        return 2;
    }
    const long seconds = std::strtol(argv[1], nullptr, 10);
    if (seconds <= 0 || seconds > 3600) {
        std::fprintf(stderr, "real_test_server: SECONDS must be 1..3600\n");
        return 2;
    }
    connpool::real::testing::TestServer server;
    if (argc == 3) server.behavior.keep_alive_timeout_ms = std::atoi(argv[2]);
    std::printf("port %u\n", server.port());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    std::printf("accepted %d requests %d\n", server.accepted.load(), server.requests.load());
    return 0;
}
