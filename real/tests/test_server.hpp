// test_server.hpp: an in-process HTTP/1.1 server on 127.0.0.1:0 (Boost.Beast, its own
// io_context thread) whose misbehaviour the test controls through `Behavior`, for the
// real backend's tests and load-tool demos. Beast stays in test_server.cpp.
//
// Thread safety: Behavior fields and counters are atomics, read by the server thread at
// each step and set by the test thread at any time.
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace connpool::real::testing {

struct Behavior {
    /// Close a conn that stays idle this long after a response (keep-alive timeout). 0 = never.
    std::atomic<int> keep_alive_timeout_ms{0};
    /// After the Nth response on a conn, close it silently (no Connection: close). 0 = never.
    std::atomic<int> close_after_responses{0};
    /// The Nth request on a conn is read in full and the conn closed without a response. 0 = never.
    std::atomic<int> drop_request_number{0};
    /// The Nth request on a conn is read in full and the conn reset (RST, SO_LINGER 0). 0 = never.
    std::atomic<int> reset_request_number{0};
    /// A conn idle this long after a response gets an unsolicited 408 and is closed. 0 = never.
    std::atomic<int> idle_408_after_ms{0};
    /// Answer with: 0 a good response, 1 a garbage status line, 2 a bad Content-Length,
    /// 3 broken chunked encoding, 4 an oversized header block (80 KiB), 5 headers and 10 of
    /// 100 promised body bytes, then nothing (the conn stays open: a stalled body), 6 a good
    /// response followed by 4 stray bytes, 7 a good response and 30 ms later 4 unsolicited bytes.
    std::atomic<int> malformed{0};
    /// Wait this long before answering ("slow headers").
    std::atomic<int> response_delay_ms{0};
    /// Answer HTTP/1.0 without keep-alive (the conn is then closed by the server).
    std::atomic<bool> http10{false};
    /// Add Connection: close and close after the response.
    std::atomic<bool> connection_close{false};
    /// Status code of the good responses (0 and the malformed cases aside).
    std::atomic<int> status{200};
    /// Body size for GET responses (bytes of 'x'); POST/PUT echo the request body.
    std::atomic<int> body_bytes{2};
};

class TestServer {
public:
    TestServer();  // listens on 127.0.0.1:0 and starts its thread
    ~TestServer();  // stops the thread, closes every conn
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    unsigned short port() const;
    std::string url(const std::string& path = "/") const;

    Behavior behavior;
    std::atomic<int> accepted{0};     // conns accepted
    std::atomic<int> requests{0};     // requests read in full
    std::atomic<int> posts{0};        // of which POST
    std::atomic<int> open_conns{0};   // server-side conns open now

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

/// A port on 127.0.0.1 that refuses connections (bound, then closed).
unsigned short refused_port();

/// A listener on 127.0.0.1 whose accept queue is full and never drained, so the kernel
/// drops new SYNs and a connect hangs until its own timeout: a dial-timeout target that
/// stays on loopback.
class BlackholeListener {
public:
    BlackholeListener();
    ~BlackholeListener();
    BlackholeListener(const BlackholeListener&) = delete;
    BlackholeListener& operator=(const BlackholeListener&) = delete;
    unsigned short port() const { return port_; }

private:
    int listener_ = -1;
    int fillers_[4] = {-1, -1, -1, -1};
    unsigned short port_ = 0;
};

}  // namespace connpool::real::testing
