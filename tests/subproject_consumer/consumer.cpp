// Checks that the subproject's headers and library are usable: a Go default config
// validates and a pool interns a key.
#include <connpool/connpool.hpp>

#include <cstdio>

int main() {
    const connpool::Config config = connpool::Config::go_default_transport();
    const bool ok = !connpool::validate_config(config) && config.idle_conns_per_host_max() == 2;
    std::puts(ok ? "subproject consumer: OK" : "subproject consumer: FAILED");
    return ok ? 0 : 1;
}
