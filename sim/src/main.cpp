// connpool-sim entry point. If the pool core stops the program (connpool: fatal, which
// aborts), the SIGABRT handler still prints the line that replays the run in progress.
//
// CONNPOOL_SIM_TOOL is the program name that replay lines print. sim/meson.build compiles
// this file again for each test-only tool built against a mutated core, with the tool's own
// name, so that its replay lines name the binary that reproduces the failure.
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli.hpp"

#ifndef CONNPOOL_SIM_TOOL
#define CONNPOOL_SIM_TOOL "connpool-sim"
#endif

namespace {

constexpr char tool[] = CONNPOOL_SIM_TOOL;
constexpr char abort_head[] = "\nconnpool-sim: the run aborted (see the error above); replay it with:\n" CONNPOOL_SIM_TOOL " replay ";

// Per thread: with explore --jobs, the aborting thread prints its own run.
thread_local char current_repro[4096];
thread_local std::size_t current_repro_len = 0;

void remember(const std::string& repro) {
    current_repro_len = repro.size() < sizeof current_repro ? repro.size() : sizeof current_repro - 1;
    std::memcpy(current_repro, repro.data(), current_repro_len);
}

extern "C" void on_abort(int) {
    if (current_repro_len != 0) {
        ssize_t ignored = write(2, abort_head, sizeof abort_head - 1);
        ignored = write(2, current_repro, current_repro_len);
        ignored = write(2, "\n", 1);
        (void)ignored;
    }
    std::signal(SIGABRT, SIG_DFL);
    std::raise(SIGABRT);
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGABRT, on_abort);
#ifdef __GLIBC__
    // A campaign runs thousands of short simulations, each of which grows its vectors to a
    // few megabytes and frees them. By default glibc hands such blocks back to the kernel
    // (munmap, heap trimming) and the next run page-faults them in again: a tenth of the
    // time of a campaign of small runs. Keep freed memory for the next run instead.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);  // glibc's largest on 64-bit
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
#endif
    std::vector<std::string> args(argv + 1, argv + argc);
    const int rc = connpool::sim::cli_main(args, std::cout, std::cerr, remember, tool);
    std::cout.flush();
    return rc;
}
