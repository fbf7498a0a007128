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

int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
             RunStartHook on_run_start = nullptr);

}  // namespace connpool::sim
