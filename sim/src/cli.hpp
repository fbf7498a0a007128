// sim/src/cli.hpp: the connpool-sim command line (explore, replay, repro, merge, whatif,
// options), as a function that writes to the streams it is given, so tests drive it
// in-process. docs/SIMULATOR.md is its manual.
//
// Exit codes: 0 all runs passed, 1 a run violated a check (explore) or the replayed run
// failed (replay), 2 bad command-line input (unknown flag, bad value, malformed repro).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace connpool::sim {

/// Called with the repro string of each run just before it starts, so that a pool abort
/// (connpool: fatal) can still print the line that replays it.
using RunStartHook = void (*)(const std::string& repro);

/// The name of the normal tool. A test-only tool built against a mutated core
/// (sim/meson.build) passes its own name, so every replay line it prints names the binary
/// that reproduces the failure ("connpool-sim-mutant-NAME replay cps1,...").
inline constexpr const char* default_tool = "connpool-sim";

/// Runs one command. `tool` is the program name that replay lines print ("<tool> replay
/// <repro>", "<tool> check --replay ..."); error messages keep the "connpool-sim:" prefix.
int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             RunStartHook on_run_start = nullptr, const std::string& tool = default_tool);

}  // namespace connpool::sim
