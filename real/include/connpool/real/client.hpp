// connpool/real/client.hpp: connpool::real::Client, an asynchronous HTTP/1.1 client over
// Boost.Asio and Boost.Beast whose keep-alive pool is the verified core (connpool::Pool),
// plus its request, response, error and statistics types. Beast stays in the library's .cpp
// files (the response parser, src/response_reader.cpp): this header needs only Asio's
// executor type.
//
// What the client owns (rules from shared/go-pool-rules.md):
//   B1  a response with `Connection: close`, an HTTP/1.0 response without keep-alive, or a
//       request that asked for close: the conn is closed, never pooled.
//   B2/B3  a conn is offered back to the pool (Pool::put_idle_conn) only after the whole
//       response, body included, has been read, and before the caller's handler runs.
//   RM2/RM3  while a conn is idle a read stays pending on it: EOF, a reset, a stray
//       `HTTP/1.x 408` or any unsolicited byte removes it from the pool at once
//       (Pool::conn_closed, reason server_closed_idle or protocol_error).
//   RT2/RT3  a request that fails on a *reused* conn before any response byte arrived is
//       retried on another conn when nothing was written, or when it is replayable (GET,
//       HEAD, OPTIONS, TRACE, or an Idempotency-Key / X-Idempotency-Key header). A POST that
//       wrote its bytes is not retried. Fresh conns are never retried. At most
//       `ClientOptions::attempts_max` attempts per request.
//   B5  a request cancelled or timed out mid-response closes its conn (request_canceled).
//
// Thread safety: a Client runs everything (pool, sockets, timers, handlers) on one strand of
// the io_context whose executor it was given; the io_context may be run by one thread or
// several.
// async_request and cancel may be called from any thread. stats() must be called from the
// strand (e.g. inside a handler) or while no thread runs the io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "connpool/connpool.hpp"

namespace connpool::real {

/// The client's own error conditions. System errors (connection_refused,
/// host_not_found, ...) are passed through from Asio as they are.
enum class Error {
    invalid_url = 1,         // the URL could not be parsed
    unsupported_scheme,      // only http:// is supported
    invalid_request,         // a method or header Beast refuses to serialize
    timeout,                 // the request's timeout expired (waiting, writing or reading)
    dial_timeout,            // connecting took longer than ClientOptions::dial_timeout
    canceled,                // Client::cancel
    shut_down,               // Client::shutdown ran before the request completed
    server_closed,           // the server closed the conn before a complete response
    protocol_error,          // a malformed response (bad status line, headers, chunking)
    response_too_large,      // header or body above the configured limit
    too_many_attempts,       // retried attempts_max times (RT1 bounded)
};
const std::error_category& error_category() noexcept;
std::error_code make_error_code(Error e) noexcept;

/// A request. `url` is http://host[:port][/path][?query]; bodies are kept by value, so a
/// request can be rewound and retried (Go's GetBody, RT5).
struct Request {
    std::string method = "GET";  // GET, HEAD, POST, PUT, DELETE, or any token
    std::string url;
    /// Sent as given, after Host. Names must be tokens and values free of CR, LF and other
    /// controls (else Error::invalid_request, so no value can split the message). A Host
    /// field replaces the URL's authority; Content-Length and Transfer-Encoding are the
    /// client's (from `body`) and refused here.
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::string> body;  // present => Content-Length is sent (also when empty)
    /// Whole-request deadline (waiting for a conn, writing, reading). 0 = none.
    std::chrono::nanoseconds timeout{0};
    /// B1: ask the server to close the conn after this request.
    bool close = false;
};

struct Response {
    unsigned status = 0;
    unsigned version = 11;  // 10 or 11
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool reused = false;  // TR2: the conn had been through the pool before
    int attempts = 1;     // 1 + retries (RT1)
};

struct ClientOptions {
    Config pool = Config::go_default_transport();  // must pass validate_config
    std::chrono::nanoseconds dial_timeout = std::chrono::seconds(30);  // Go's net.Dialer default
    std::size_t response_header_limit_bytes = 64 * 1024;
    std::size_t response_body_limit_bytes = 64 * 1024 * 1024;
    int attempts_max = 10;
    TraceHooks* trace = nullptr;  // optional; runs on the strand, must not call the client
    /// true: a handler runs straight from the I/O completion that finished its request, and
    /// async_request called on the strand starts at once, so a caller that sends its next
    /// request from the handler reuses the conn just returned. false: both are posted, which
    /// is what a pool sees when its callers run elsewhere (Go's goroutines): a burst of
    /// completions returns all its conns before any caller asks again, so a small per-host
    /// idle cap closes most of them (the seed documents; connpool-load --post-handlers).
    bool direct_handlers = true;
};

/// Monotonic counters. Close counts by reason come from the pool (PoolStats::closes).
struct ClientStats {
    std::uint64_t requests = 0;   // async_request calls that reached the strand
    std::uint64_t responses = 0;  // completed with a response
    std::uint64_t errors = 0;     // completed with an error
    std::uint64_t retries = 0;    // extra attempts (RT2)
    std::uint64_t reuses = 0;     // attempts that ran on a reused conn
    std::map<std::string, std::uint64_t> errors_by_reason;  // error message -> count
    PoolStats pool;               // dials_started, closes[reason], ...
    std::size_t open_conns = 0;
    std::size_t idle_conns = 0;
};

using RequestId = std::uint64_t;

/// The parts of an http:// URL the client uses. `parse_http_url` accepts exactly the URLs
/// async_request accepts: http://host[:port][/path][?query] (host may be [IPv6]); it
/// returns Error::invalid_url or Error::unsupported_scheme otherwise. For tools that
/// check a URL before sending anything.
struct UrlParts {
    std::string host;  // without brackets
    std::string port;  // decimal, "80" by default
    std::string path;  // origin-form target, "/" at least
};
std::error_code parse_http_url(std::string_view url, UrlParts& out);

/// What async_request would complete `request` with before sending anything: Error::invalid_url
/// or Error::unsupported_scheme for its URL, Error::invalid_request for a method or header name
/// that is not a token, a header value with CR, LF or another control, or a caller's
/// Content-Length or Transfer-Encoding; empty when it would be sent. The same checks
/// async_request makes, for tools that refuse bad input before any traffic (connpool-load).
std::error_code check_request(const Request& request);

class Client {
public:
    /// `options.pool` must pass validate_config (fatal otherwise, like Pool). `executor` must
    /// be an io_context's executor or a strand of one (fatal otherwise): the client binds
    /// its sockets and timers to its own strand of that io_context.
    explicit Client(boost::asio::any_io_executor executor, ClientOptions options = {});
    /// Calls shutdown(). Requests still in flight complete with Error::shut_down if a thread
    /// still runs the io_context; otherwise their handlers are destroyed uninvoked.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Completion signature: void(std::error_code error, Response response).
    /// Sends `request` and reads its response. The handler runs exactly once, on the
    /// client's strand, never inside async_request: with an empty error and the response
    /// (any status), or with an error (Error values above or an Asio system error) and an
    /// empty Response. The handler may run directly from the completion of the client's
    /// own I/O, as Asio's composed operations do; it must not throw, and anything it
    /// starts on this client is queued or started without re-entering it. Cancellation: Client::cancel(id) or Request::timeout; either
    /// completes the request with Error::canceled / Error::timeout and, if a response was in
    /// flight, closes its conn (never reused). Boost 1.74 predates Asio's per-operation
    /// cancellation slots, hence the id.
    RequestId async_request(Request request, std::function<void(std::error_code, Response)> handler);

    /// Cancels a request in flight; a no-op for an unknown or completed id. Any thread.
    void cancel(RequestId id);

    /// Go's CloseIdleConnections (C1-C5), posted to the strand. Any thread.
    void close_idle_connections();

    /// Completes every request in flight with Error::shut_down, closes every conn and
    /// abandons every dial, so that io_context::run returns once the client is the only
    /// work left. Later requests fail with shut_down. Posted; any thread; idempotent.
    void shutdown();

    /// Snapshot of the counters. Strand only, or while the io_context is not running.
    ClientStats stats() const;

    class Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace connpool::real

template <>
struct std::is_error_code_enum<connpool::real::Error> : std::true_type {};
