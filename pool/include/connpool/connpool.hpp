// connpool/connpool.hpp: everything an embedder of the pool core needs, in one include:
// the ports (ports.hpp), the config (config.hpp), the trace hooks (trace.hpp) and the
// Pool state machine (pool.hpp).
#pragma once

#include "connpool/config.hpp"
#include "connpool/pool.hpp"
#include "connpool/ports.hpp"
#include "connpool/trace.hpp"
