// nginx_server.hpp: Debian's nginx as a child process of the test, for the real suite's
// tests against a real server. Each NginxServer writes a config into a fresh directory under
// /tmp (one process: `master_process off`, no daemon, access log off, pid file, error log
// and temp paths in that directory, nothing from /etc/nginx), listens on a free port of
// 127.0.0.1, and is stopped and its directory removed by the destructor. It works as root
// and as any other user. If the test process dies, the kernel kills nginx too
// (PR_SET_PDEATHSIG). Every wait is bounded.
//
// The binary: $CONNPOOL_NGINX if set, else `nginx` in /usr/sbin, /usr/local/sbin, /usr/bin
// or $PATH.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>

namespace connpool::real::testing {

struct NginxOptions {
    /// nginx's keepalive_timeout: an idle keep-alive conn is closed after this (0: no keep-alive).
    std::chrono::milliseconds keepalive_timeout = std::chrono::seconds(75);
    /// nginx's keepalive_requests: the Nth response on a conn carries Connection: close.
    int keepalive_requests = 1000;
};

/// nginx's stub_status counters.
struct NginxStatus {
    long active = -1;    // client conns open now, the status query's own included
    long accepts = -1;   // conns accepted since start, the status query's own included
    long requests = -1;  // requests served since start, the status query included
};

class NginxServer {
public:
    explicit NginxServer(NginxOptions options = {});
    /// Stops nginx (SIGTERM, then SIGKILL if it is still there after 2 s) and removes its directory.
    ~NginxServer();
    NginxServer(const NginxServer&) = delete;
    NginxServer& operator=(const NginxServer&) = delete;

    /// Whether nginx is up and accepting; if not, error() says why (with nginx's own log).
    bool running() const { return pid_ > 0; }
    const std::string& error() const { return error_; }
    unsigned short port() const { return port_; }
    std::string url(const std::string& path = "/") const;

    /// GET /status (stub_status) on a conn of its own, which counts in the figures. Bounded
    /// by a 2 s socket timeout; nullopt if nginx did not answer.
    std::optional<NginxStatus> status() const;

    /// The nginx binary that would be used, or "" if there is none.
    static std::string find_binary();

private:
    bool start_once(const std::string& binary, NginxOptions options, bool& port_taken);
    void stop();

    std::string dir_;
    std::string error_;
    pid_t pid_ = -1;
    unsigned short port_ = 0;
};

}  // namespace connpool::real::testing
