// client_loop.hpp: the real suite's GoogleTest fixture base: an io_context driven from the
// test thread with bounded loops, a connpool::real::Client on it, and helpers to send a
// request and wait for it, to read the pool's counters, and to shut the client down and
// check that the loop then runs out of work. Used by real_test.cpp (in-process server) and
// nginx_test.cpp (nginx).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <dirent.h>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>

#include "connpool/real/client.hpp"

namespace connpool::real::testing {

inline int open_fd_count() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (readdir(d) != nullptr) ++n;
        closedir(d);
    }
    return n;
}

struct Result {
    bool done = false;
    std::error_code error;
    Response response;
};

class ClientLoop : public ::testing::Test {
protected:
    void make_client(ClientOptions options = {}) {
        client_ = std::make_unique<Client>(ioc_.get_executor(), std::move(options));
    }

    // Runs the loop until `done` or `limit` passes; true if `done`.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            if (ioc_.stopped()) ioc_.restart();
            ioc_.run_one_for(std::chrono::milliseconds(10));
        }
        return done();
    }
    void run_for(std::chrono::milliseconds d) {
        run_until([] { return false; }, d);
    }

    Result request(Request r) {
        auto result = std::make_shared<Result>();
        client_->async_request(std::move(r), [result](std::error_code e, Response resp) {
            EXPECT_FALSE(result->done) << "handler ran twice";
            result->done = true;
            result->error = e;
            result->response = std::move(resp);
        });
        EXPECT_TRUE(run_until([&] { return result->done; })) << "request did not complete";
        return *result;
    }
    Result get_url(const std::string& url) {
        Request r;
        r.url = url;
        return request(std::move(r));
    }

    // Shuts the client down and checks that the loop then runs out of work.
    bool shut_down() {
        client_->shutdown();
        if (ioc_.stopped()) ioc_.restart();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while (std::chrono::steady_clock::now() < deadline) {
            if (ioc_.run_for(std::chrono::milliseconds(100)) == 0 && ioc_.stopped()) return true;
            if (ioc_.stopped()) return true;
        }
        return false;
    }

    void TearDown() override {
        if (client_) {
            EXPECT_TRUE(shut_down()) << "io_context still had work after shutdown";
            client_.reset();
        }
    }

    std::uint64_t closes(CloseReason r) const { return client_->stats().pool.closes[static_cast<int>(r)]; }

    boost::asio::io_context ioc_;
    std::unique_ptr<Client> client_;
};

}  // namespace connpool::real::testing
