// Tests of connpool::real::Client against a real server: Debian's nginx, started per test
// by NginxServer (nginx_server.hpp) on a free port of 127.0.0.1 with the keep-alive
// settings the test needs. Each test checks the client's counters and, where it says
// something about conns, nginx's own stub_status counters (conns accepted, requests).
//
// nginx is required: when it is missing these tests FAIL with a message saying how to
// install it (scripts/deps.sh does), unless CONNPOOL_SKIP_NGINX=1 asks to skip them.
#include <gtest/gtest.h>

#include <utility>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "client_loop.hpp"
#include "connpool/real/client.hpp"
#include "nginx_server.hpp"

namespace {

using namespace std::chrono_literals;
using connpool::CloseReason;
using connpool::real::ClientOptions;
using connpool::real::Request;
using connpool::real::Response;
using connpool::real::testing::ClientLoop;
using connpool::real::testing::NginxOptions;
using connpool::real::testing::NginxServer;
using connpool::real::testing::NginxStatus;
using connpool::real::testing::open_fd_count;
using connpool::real::testing::Result;

class Nginx : public ClientLoop {
protected:
    // Starts nginx; a fatal failure if it cannot (or a skip if CONNPOOL_SKIP_NGINX=1 and
    // nginx is not installed). Use through START_NGINX.
    void start_nginx(NginxOptions options = {}) {
        if (NginxServer::find_binary().empty()) {
            const char* skip = std::getenv("CONNPOOL_SKIP_NGINX");
            if (skip != nullptr && std::string(skip) == "1") GTEST_SKIP() << "nginx not installed; CONNPOOL_SKIP_NGINX=1";
            const char* env = std::getenv("CONNPOOL_NGINX");
            FAIL() << (env != nullptr ? "CONNPOOL_NGINX=" + std::string(env) + " is not an executable"
                                      : std::string("nginx is not installed"))
                   << ": these tests need Debian's nginx package (scripts/deps.sh installs it; or set "
                      "CONNPOOL_NGINX=/path/to/nginx, or CONNPOOL_SKIP_NGINX=1 to skip them)";
        }
        nginx_ = std::make_unique<NginxServer>(options);
        ASSERT_TRUE(nginx_->running()) << "nginx did not start: " << nginx_->error();
    }

    NginxStatus status() {
        auto s = nginx_->status();
        EXPECT_TRUE(s.has_value()) << "nginx stub_status did not answer";
        return s.value_or(NginxStatus{});
    }

    Result get(const std::string& path = "/") { return get_url(nginx_->url(path)); }

    // Runs `total` GETs with `concurrency` in flight, each handler starting the next;
    // returns how many failed. Bounded by `limit`.
    int run_load(int total, int concurrency, std::chrono::milliseconds limit, int post_every = 0) {
        int started = 0, completed = 0, failed = 0;
        std::function<void()> launch = [&] {
            ++started;
            Request r;
            r.url = nginx_->url();
            if (post_every > 0 && started % post_every == 0) {
                r.method = "POST";
                r.body = "abc";
            }
            client_->async_request(std::move(r), [&](std::error_code e, Response resp) {
                ++completed;
                failed += e || resp.status != 200 ? 1 : 0;
                if (started < total) launch();
            });
        };
        for (int i = 0; i < concurrency && i < total; ++i) launch();
        EXPECT_TRUE(run_until([&] { return completed == total; }, limit)) << completed << " of " << total;
        return failed + (total - completed);
    }

    std::unique_ptr<NginxServer> nginx_;
};

#define START_NGINX(...)                                       \
    do {                                                       \
        ASSERT_NO_FATAL_FAILURE(start_nginx(__VA_ARGS__));     \
        if (IsSkipped()) return;                               \
    } while (false)

// 100 sequential GETs use one conn: one dial on the client, one conn accepted by nginx
// (besides the status queries' own), 100 requests served.
TEST_F(Nginx, SequentialGetsUseOneDial) {
    START_NGINX();
    make_client();
    const NginxStatus before = status();
    for (int i = 0; i < 100; ++i) {
        Result r = get();
        ASSERT_FALSE(r.error) << r.error.message();
        ASSERT_EQ(r.response.status, 200u);
        ASSERT_EQ(r.response.body, "ok\n");
        ASSERT_EQ(r.response.reused, i > 0);
    }
    const NginxStatus after = status();
    const auto s = client_->stats();
    EXPECT_EQ(s.pool.dials_started, 1u);
    EXPECT_EQ(s.reuses, 99u);
    EXPECT_EQ(after.accepts - before.accepts, 1 + 1);     // our conn + the second status query
    EXPECT_EQ(after.requests - before.requests, 100 + 1);
}

// HEAD, POST and PUT with bodies, DELETE: nginx answers each on the same kept-alive conn
// (it reads and discards request bodies).
TEST_F(Nginx, MethodsAndBodiesShareOneConn) {
    START_NGINX();
    make_client();
    for (const char* method : {"HEAD", "POST", "PUT", "DELETE", "GET"}) {
        Request r;
        r.method = method;
        r.url = nginx_->url("/x?y=1");
        if (std::string(method) == "POST" || std::string(method) == "PUT") r.body = std::string(100000, 'b');
        Result res = request(std::move(r));
        ASSERT_FALSE(res.error) << method << ": " << res.error.message();
        EXPECT_EQ(res.response.status, 200u) << method;
        EXPECT_EQ(res.response.body, std::string(method) == "HEAD" ? "" : "ok\n") << method;
    }
    EXPECT_EQ(client_->stats().pool.dials_started, 1u);
}

// The seed documents' case at concurrency 50 against nginx: with posted handlers, a
// per-host idle cap of 2 refuses most returned conns (P7) and a share of requests dials; a
// cap of 100 dials about once per worker. nginx counts the same conns the client dialled.
TEST_F(Nginx, PerHostIdleCapDecidesTheDialShare) {
    START_NGINX();
    struct Case { int cap; };
    for (const Case c : {Case{2}, Case{100}}) {
        ClientOptions o;
        o.pool.max_idle_conns_per_host = c.cap;
        o.direct_handlers = false;
        make_client(o);
        const NginxStatus before = status();
        constexpr int total = 2000, concurrency = 50;
        EXPECT_EQ(run_load(total, concurrency, 20000ms), 0);
        const auto s = client_->stats();
        const auto dials = s.pool.dials_started;
        if (c.cap == 2) {
            EXPECT_GT(dials, static_cast<std::uint64_t>(total / 10)) << "cap 2";
            EXPECT_GT(s.pool.closes[static_cast<int>(CloseReason::too_many_idle_for_key)], 0u);
        } else {
            EXPECT_GE(dials, static_cast<std::uint64_t>(concurrency));
            EXPECT_LE(dials, static_cast<std::uint64_t>(concurrency + concurrency / 5)) << "cap 100";
        }
        const NginxStatus after = status();
        EXPECT_EQ(after.accepts - before.accepts - 1, static_cast<long>(dials)) << "nginx accepted what was dialled";
        EXPECT_EQ(after.requests - before.requests - 1, total);
        std::printf("[ info ] nginx, posted handlers, cap %d: %llu dials for %d requests\n", c.cap,
                    static_cast<unsigned long long>(dials), total);
        ASSERT_TRUE(shut_down());
        client_.reset();
    }
}

// nginx closes a conn idle for keepalive_timeout (here 300 ms): the client sees the close
// while the conn is idle (RM2, server_closed_idle), and the next GET dials and succeeds on
// its first attempt.
TEST_F(Nginx, KeepAliveTimeoutClosesIdleConnsWithoutFailingGets) {
    NginxOptions n;
    n.keepalive_timeout = 300ms;
    START_NGINX(n);
    make_client();
    for (int round = 0; round < 3; ++round) {
        Result r = get();
        ASSERT_FALSE(r.error) << r.error.message();
        EXPECT_EQ(r.response.attempts, 1);
        EXPECT_FALSE(r.response.reused);
        ASSERT_TRUE(run_until([&] { return client_->stats().open_conns == 0; }, 3000ms)) << "round " << round;
    }
    EXPECT_EQ(closes(CloseReason::server_closed_idle), 3u);
    EXPECT_EQ(client_->stats().pool.dials_started, 3u);
    EXPECT_EQ(client_->stats().errors, 0u);
}

// nginx ends every conn after keepalive_requests (here 3) responses with Connection:
// close: 600 GETs at concurrency 8 all succeed without a retry, nginx accepted exactly the
// conns the client dialled (at least 200), and each of them was closed after its third
// response (response_close, B1) or refused by the per-host idle cap on return.
TEST_F(Nginx, KeepAliveRequestsCloseConnsWithoutFailingGets) {
    NginxOptions n;
    n.keepalive_requests = 3;
    START_NGINX(n);
    make_client();
    const NginxStatus before = status();
    constexpr int total = 600;
    EXPECT_EQ(run_load(total, 8, 20000ms), 0);
    const NginxStatus after = status();
    const auto s = client_->stats();
    EXPECT_EQ(s.errors, 0u);
    EXPECT_EQ(s.retries, 0u);  // nginx says it closes; nothing is sent on a closing conn
    EXPECT_GE(s.pool.dials_started, static_cast<std::uint64_t>(total / 3));
    EXPECT_EQ(closes(CloseReason::response_close) + closes(CloseReason::too_many_idle_for_key) + s.open_conns,
              s.pool.dials_started);
    EXPECT_EQ(after.accepts - before.accepts - 1, static_cast<long>(s.pool.dials_started));
    EXPECT_EQ(after.requests - before.requests - 1, total);
}

// An idle conn is closed by the client's own timer after IdleConnTimeout (T6), and nginx
// sees it go: its active conn count falls back to the status query alone.
TEST_F(Nginx, IdleConnsCloseAfterIdleConnTimeout) {
    START_NGINX();
    ClientOptions o;
    o.pool.idle_conn_timeout = 200ms;
    make_client(o);
    ASSERT_FALSE(get().error);
    EXPECT_EQ(client_->stats().idle_conns, 1u);
    EXPECT_EQ(status().active, 2);  // our idle conn + the status query
    ASSERT_TRUE(run_until([&] { return client_->stats().open_conns == 0; }, 2000ms));
    EXPECT_EQ(closes(CloseReason::idle_timeout), 1u);
    bool drained = false;
    for (int i = 0; i < 100 && !drained; ++i) {  // nginx notices the FIN at once; bounded anyway
        drained = status().active == 1;
        if (!drained) run_for(10ms);
    }
    EXPECT_TRUE(drained) << "nginx still counts the conn the client closed";
    Result r = get();
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_FALSE(r.response.reused);
    EXPECT_EQ(client_->stats().pool.dials_started, 2u);
}

// 10,000 requests (every 5th a POST) at concurrency 16 with posted handlers, a per-host
// idle cap of 2 (thousands of dials and closes) and nginx closing each conn after 7
// requests: none fails, nginx served them all, and the process's open descriptors are
// back to their starting count.
TEST_F(Nginx, FdCountReturnsToStartAfter10000Requests) {
    NginxOptions n;
    n.keepalive_requests = 7;
    START_NGINX(n);
    make_client();  // warm up the reactor before counting
    ASSERT_FALSE(get().error);
    ASSERT_TRUE(shut_down());
    client_.reset();
    const int fds_start = open_fd_count();

    ClientOptions o;
    o.pool.max_idle_conns_per_host = 2;
    o.direct_handlers = false;
    make_client(o);
    const NginxStatus before = status();
    constexpr int total = 10000;
    EXPECT_EQ(run_load(total, 16, 30000ms, 5), 0);
    const auto s = client_->stats();
    EXPECT_GT(s.pool.dials_started, static_cast<std::uint64_t>(total / 7));
    EXPECT_GT(s.pool.closes[static_cast<int>(CloseReason::too_many_idle_for_key)], 0u);
    EXPECT_EQ(status().requests - before.requests - 1, total);
    std::printf("[ info ] nginx: %d requests, %llu dials, %llu too_many_idle_for_key and %llu response_close closes\n",
                total, static_cast<unsigned long long>(s.pool.dials_started),
                static_cast<unsigned long long>(s.pool.closes[static_cast<int>(CloseReason::too_many_idle_for_key)]),
                static_cast<unsigned long long>(s.pool.closes[static_cast<int>(CloseReason::response_close)]));
    ASSERT_TRUE(shut_down());
    client_.reset();
    EXPECT_EQ(open_fd_count(), fds_start);
}

}  // namespace
