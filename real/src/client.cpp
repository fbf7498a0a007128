// connpool::real::Client: the Dialer, Conn and WantListener ports on Asio sockets, and the
// HTTP/1.1 exchange on Boost.Beast. The only Beast translation unit of the library.
//
// Shape: every object lives on one strand. The pool decides (which conn, dial or wait,
// pool or close); this file does one async operation at a time and feeds the outcome back:
//
//   Op (one request)     waiting -(lease)-> active -(response read)-> put_idle_conn / close_conn
//                              \-(cancel_want on timeout/cancel)     \-(error) close_conn, maybe retry
//   HttpConn (one socket) always has one read outstanding while it is open and no response
//                         is being parsed: the "peek". It completes with the next response's
//                         first bytes when a request is active, or reports a dead idle conn
//                         (RM2/RM3) when none is.
#include <utility>  // before Asio: Boost 1.74 forgets it (toolchain.md)

#include "connpool/real/client.hpp"

#include <atomic>
#include <cstdio>
#include <string_view>
#include <unordered_map>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "connpool/real/asio_ports.hpp"

namespace connpool::real {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// ---- errors ------------------------------------------------------------------------------

namespace {
class ErrorCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "connpool.real"; }
    std::string message(int value) const override {
        switch (static_cast<Error>(value)) {
            case Error::invalid_url: return "invalid URL";
            case Error::unsupported_scheme: return "unsupported URL scheme (only http)";
            case Error::invalid_request: return "invalid request";
            case Error::timeout: return "request timeout";
            case Error::dial_timeout: return "dial timeout";
            case Error::canceled: return "request canceled";
            case Error::shut_down: return "client shut down";
            case Error::server_closed: return "server closed the connection before a complete response";
            case Error::protocol_error: return "malformed HTTP response";
            case Error::response_too_large: return "response header or body too large";
            case Error::too_many_attempts: return "too many attempts";
        }
        return "unknown connpool.real error";
    }
};
}  // namespace

const std::error_category& error_category() noexcept {
    static const ErrorCategory category;
    return category;
}
std::error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), error_category()}; }

namespace {

// ---- URLs ----------------------------------------------------------------------------------

struct Target {
    std::string host;       // without brackets
    std::string port;       // decimal
    std::string host_header;
    std::string path;       // origin-form target, "/" at least
};

// http://host[:port][/path][?query]; no userinfo, no fragment sent.
std::error_code parse_url(std::string_view url, Target& out) {
    constexpr std::string_view http_prefix = "http://";
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return Error::invalid_url;
    std::string scheme(url.substr(0, scheme_end));
    for (char& ch : scheme) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    if (scheme != "http") return Error::unsupported_scheme;
    std::string_view rest = url.substr(http_prefix.size());
    std::size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view path = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (const std::size_t hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return Error::invalid_url;
    std::string_view host = authority, port = "80";
    if (authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return Error::invalid_url;
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return Error::invalid_url;
            port = after.substr(1);
        }
    } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.size() > 5) return Error::invalid_url;
    unsigned port_number = 0;
    for (char ch : port) {
        if (ch < '0' || ch > '9') return Error::invalid_url;
        port_number = port_number * 10 + static_cast<unsigned>(ch - '0');
    }
    if (port_number == 0 || port_number > 65535) return Error::invalid_url;
    for (char ch : host) {
        if (static_cast<unsigned char>(ch) <= ' ' || ch == '/' || ch == '\\') return Error::invalid_url;
    }
    out.host.assign(host);
    out.port = std::to_string(port_number);
    const bool bracket = authority.front() == '[';
    out.host_header = bracket ? "[" + out.host + "]" : out.host;
    if (port_number != 80) out.host_header += ":" + out.port;
    out.path = path.empty() ? "/" : (path.front() == '?' ? "/" + std::string(path) : std::string(path));
    return {};
}

bool is_idempotent_method(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m.empty();
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::uint64_t pack(WantId w) { return (std::uint64_t{w.generation} << 32) | w.slot; }

}  // namespace

std::error_code parse_http_url(std::string_view url, UrlParts& out) {
    Target t;
    if (std::error_code e = parse_url(url, t)) return e;
    out = UrlParts{std::move(t.host), std::move(t.port), std::move(t.path)};
    return {};
}

// ---- the implementation ----------------------------------------------------------------------

struct Endpoint {
    std::string host;
    std::string port;
};

class HttpConn;

// One request, across its attempts (RT1).
struct Op {
    RequestId id = 0;
    Request request;
    Target target;
    http::request<http::string_body> message;
    std::function<void(std::error_code, Response)> handler;
    KeyId key = 0;
    bool replayable = false;  // RT3
    std::optional<asio::steady_timer> deadline;

    enum class Phase : std::uint8_t { starting, waiting, active, done } phase = Phase::starting;
    WantId want{};
    std::shared_ptr<HttpConn> conn;  // while active
    ConnId lease{};
    bool reused = false;
    int attempts = 0;

    // Per attempt, reset by begin_attempt.
    std::optional<http::response_parser<http::string_body>> parser;
    bool write_done = false;
    bool read_done = false;
    bool response_started = false;  // a byte of the response arrived (no retry after that)
    boost::system::error_code write_error;
    std::size_t bytes_written = 0;
    std::error_code read_error;
};

class Client::Impl final : public std::enable_shared_from_this<Client::Impl>, public Dialer, public WantListener {
public:
    Impl(asio::any_io_executor executor, ClientOptions options);
    ~Impl() override = default;

    asio::strand<asio::any_io_executor> strand_;

    // Entry points, all on the strand.
    void start(const std::shared_ptr<Op>& op);
    void cancel_op(const std::shared_ptr<Op>& op, std::error_code error);
    void cancel_by_id(RequestId id);
    void do_shutdown();

    // Ports.
    void dial(DialId dial, KeyId key, std::string_view key_name) override;
    void cancel(DialId dial) override;
    void want_ready(WantId want) override;

    // HttpConn plumbing.
    void start_peek(const std::shared_ptr<HttpConn>& c);
    void on_peek(const std::shared_ptr<HttpConn>& c, const boost::system::error_code& ec, std::size_t n);
    void conn_gone(HttpConn& c);

    ClientStats stats() const;
    void close_idle() { pool_->close_idle_connections(); }
    enum class Invoke : std::uint8_t { direct, post };
    void finish(const std::shared_ptr<Op>& op, std::error_code error, Response response, Invoke how = Invoke::direct);

    ClientOptions options_;
    ClientStats stats_;

    std::atomic<RequestId> next_id_{1};
    bool shut_down_ = false;

private:
    struct DialOp {
        DialId id{};
        tcp::socket socket;
        tcp::resolver resolver;
        asio::steady_timer timer;
        bool done = false;
        bool timed_out = false;
        bool canceled = false;
        explicit DialOp(const asio::strand<asio::any_io_executor>& s) : socket(s), resolver(s), timer(s) {}
    };

    void get_conn_for(const std::shared_ptr<Op>& op);
    void on_want_ready(WantId want);
    void use_lease(const std::shared_ptr<Op>& op, const Lease& lease);
    void on_written(const std::shared_ptr<Op>& op, const boost::system::error_code& ec, std::size_t n);
    void start_parse(const std::shared_ptr<Op>& op);
    void on_response(const std::shared_ptr<Op>& op, const boost::system::error_code& ec);
    void maybe_end_attempt(const std::shared_ptr<Op>& op);
    void end_attempt_ok(const std::shared_ptr<Op>& op);
    void end_attempt_failed(const std::shared_ptr<Op>& op, std::error_code error, CloseReason reason, bool retryable);
    void on_connected(const std::shared_ptr<DialOp>& d, const boost::system::error_code& ec);
    void abandon_dial(DialOp& d);

    std::vector<Endpoint> endpoints_;  // by KeyId
    std::unordered_map<RequestId, std::shared_ptr<Op>> ops_;        // every request not done
    std::unordered_map<std::uint64_t, std::shared_ptr<Op>> wants_;  // pack(WantId) -> waiting op
    std::unordered_map<std::uint32_t, std::shared_ptr<DialOp>> dials_;  // DialId.slot -> dial in progress
    std::unordered_map<std::uint64_t, std::shared_ptr<HttpConn>> conns_;  // serial -> open conn
    std::uint64_t next_conn_serial_ = 1;
    SteadyClock clock_;
    AsioTimerService timers_;
    std::unique_ptr<Pool> pool_;  // last: destroyed first, while the ports above still exist

    friend class HttpConn;
};

// A TCP connection. Owned by Impl::conns_ until the pool closes it; async handlers hold
// extra references, so it outlives its close until they ran.
class HttpConn final : public Conn, public std::enable_shared_from_this<HttpConn> {
public:
    HttpConn(Client::Impl& impl, std::uint64_t serial, tcp::socket socket)
        : impl_(impl), serial_(serial), socket_(std::move(socket)) {}
    std::uint64_t id() const override { return serial_; }
    bool multiplexed() const override { return false; }
    void close(CloseReason) override {
        closed_ = true;
        boost::system::error_code ignored;
        socket_.close(ignored);  // completes the outstanding read and write with operation_aborted
        impl_.conn_gone(*this);  // last: may drop the owning reference
    }

    Client::Impl& impl_;
    const std::uint64_t serial_;
    tcp::socket socket_;
    beast::flat_buffer buffer_;  // bytes read and not yet parsed
    ConnId pool_id_{};
    bool closed_ = false;        // the pool closed it (Conn::close); never mention pool_id_ again
    bool peeking_ = false;       // an async_read_some is outstanding
    Op* op_ = nullptr;           // the active request, if any (Op owns a reference to us)
};

Client::Impl::Impl(asio::any_io_executor executor, ClientOptions options)
    : strand_(asio::make_strand(executor)), options_(std::move(options)), timers_(strand_) {
    pool_ = std::make_unique<Pool>(options_.pool, PoolPorts{clock_, timers_, *this, *this, options_.trace});
}

void Client::Impl::conn_gone(HttpConn& c) { conns_.erase(c.serial_); }

// ---- requests ----------------------------------------------------------------------------------

void Client::Impl::start(const std::shared_ptr<Op>& op) {
    ++stats_.requests;
    if (shut_down_) return finish(op, Error::shut_down, {}, Invoke::post);  // start may run inside async_request
    ops_.emplace(op->id, op);
    std::string key_name = "|http|" + op->target.host + ":" + op->target.port;
    op->key = pool_->key(key_name);
    if (endpoints_.size() <= op->key) endpoints_.resize(op->key + 1);
    if (endpoints_[op->key].host.empty()) endpoints_[op->key] = Endpoint{op->target.host, op->target.port};
    if (op->request.timeout.count() > 0) {
        op->deadline.emplace(strand_);
        op->deadline->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(op->request.timeout));
        op->deadline->async_wait([self = shared_from_this(), op](const boost::system::error_code& ec) {
            if (ec || op->phase == Op::Phase::done) return;
            self->cancel_op(op, Error::timeout);
        });
    }
    get_conn_for(op);
}

// One attempt starts by asking the pool (Go's getConn, G1-G3).
void Client::Impl::get_conn_for(const std::shared_ptr<Op>& op) {
    if (op->attempts >= options_.attempts_max) return finish(op, Error::too_many_attempts, {});
    ++op->attempts;
    op->phase = Op::Phase::waiting;
    GetConnResult r = pool_->get_conn(op->key);
    if (r.lease) return use_lease(op, *r.lease);
    op->want = r.want;
    wants_.emplace(pack(r.want), op);
}

void Client::Impl::want_ready(WantId want) {
    // Called inside a pool call: only record it (pool.hpp).
    asio::post(strand_, [self = shared_from_this(), want] { self->on_want_ready(want); });
}

void Client::Impl::on_want_ready(WantId want) {
    auto it = wants_.find(pack(want));
    if (it == wants_.end()) return;  // the op gave up and called cancel_want first
    std::shared_ptr<Op> op = std::move(it->second);
    wants_.erase(it);
    WantOutcome outcome = pool_->take(want);
    if (!outcome.lease) return finish(op, outcome.error, {});
    if (!pool_->is_open(outcome.lease->id)) {
        // The conn died between delivery and take (RM2 while it waited here): end the lease
        // and ask again; nothing was written, so any request may go on (RT2 d).
        pool_->close_conn(outcome.lease->id, CloseReason::conn_broken);
        return get_conn_for(op);
    }
    use_lease(op, *outcome.lease);
}

void Client::Impl::use_lease(const std::shared_ptr<Op>& op, const Lease& lease) {
    auto* c = static_cast<HttpConn*>(lease.conn);
    op->phase = Op::Phase::active;
    op->conn = c->shared_from_this();
    op->lease = lease.id;
    op->reused = lease.reused;
    if (lease.reused) ++stats_.reuses;
    op->parser.reset();
    op->write_done = op->read_done = op->response_started = false;
    op->write_error = {};
    op->read_error = {};
    op->bytes_written = 0;
    c->op_ = op.get();
    if (!c->peeking_) start_peek(op->conn);
    // The handler holds the conn: Beast's operation uses its socket until the handler runs,
    // even after a cancel closed the conn and dropped the pool's reference.
    http::async_write(c->socket_, op->message,
                      [self = shared_from_this(), op, keep = op->conn](const boost::system::error_code& ec, std::size_t n) {
                          self->on_written(op, ec, n);
                      });
}

void Client::Impl::on_written(const std::shared_ptr<Op>& op, const boost::system::error_code& ec, std::size_t n) {
    if (op->phase != Op::Phase::active || op->conn == nullptr || op->conn->op_ != op.get()) return;
    op->write_done = true;
    op->write_error = ec;
    op->bytes_written = n;
    maybe_end_attempt(op);
}

void Client::Impl::start_peek(const std::shared_ptr<HttpConn>& c) {
    c->peeking_ = true;
    c->socket_.async_read_some(c->buffer_.prepare(8192),
                               [self = shared_from_this(), c](const boost::system::error_code& ec, std::size_t n) {
                                   self->on_peek(c, ec, n);
                               });
}

void Client::Impl::on_peek(const std::shared_ptr<HttpConn>& c, const boost::system::error_code& ec, std::size_t n) {
    c->peeking_ = false;
    if (c->closed_) return;
    c->buffer_.commit(n);
    Op* op = c->op_;
    if (op == nullptr) {
        // Idle, or delivered to a want not yet taken: nothing is expected (RM2, RM3).
        CloseReason reason = CloseReason::protocol_error;  // unsolicited bytes
        const auto data = c->buffer_.data();
        const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
        if (ec == asio::error::eof) {
            reason = CloseReason::server_closed_idle;
        } else if (ec) {
            reason = CloseReason::read_error;
        } else if (bytes.size() >= 12 && bytes.substr(0, 7) == "HTTP/1." && bytes.substr(9, 3) == "408") {
            reason = CloseReason::server_closed_idle;  // a stray 408 while idle (#32310)
        }
        pool_->conn_closed(c->pool_id_, reason);
        return;
    }
    std::shared_ptr<Op> active = ops_.count(op->id) ? ops_[op->id] : nullptr;
    if (!active) return;
    if (ec) {
        // The server closed or reset before the first response byte (Go: peek failed).
        active->read_done = true;
        active->read_error = ec == asio::error::eof ? std::error_code(Error::server_closed) : std::error_code(ec);
        return maybe_end_attempt(active);
    }
    active->response_started = true;
    start_parse(active);
}

void Client::Impl::start_parse(const std::shared_ptr<Op>& op) {
    op->parser.emplace();
    op->parser->header_limit(static_cast<std::uint32_t>(options_.response_header_limit_bytes));
    op->parser->body_limit(options_.response_body_limit_bytes);
    if (op->message.method() == http::verb::head) op->parser->skip(true);
    // As in use_lease, the handler holds the conn whose socket and buffer Beast uses.
    http::async_read(op->conn->socket_, op->conn->buffer_, *op->parser,
                     [self = shared_from_this(), op, keep = op->conn](const boost::system::error_code& ec, std::size_t) {
                         self->on_response(op, ec);
                     });
}

void Client::Impl::on_response(const std::shared_ptr<Op>& op, const boost::system::error_code& ec) {
    if (op->phase != Op::Phase::active || op->conn == nullptr || op->conn->op_ != op.get()) return;
    if (!ec) {
        const unsigned status = op->parser->get().result_int();
        if (status >= 100 && status < 200 && status != 101) return start_parse(op);  // 1xx: read on
    }
    op->read_done = true;
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        op->read_error = Error::response_too_large;
    } else if (ec == asio::error::eof || ec == http::error::partial_message || ec == http::error::end_of_stream) {
        op->read_error = Error::server_closed;
    } else if (ec && ec.category() == boost::system::error_code(http::error::body_limit).category()) {  // other Beast http errors
        op->read_error = Error::protocol_error;
    } else if (ec) {
        op->read_error = ec;
    }
    maybe_end_attempt(op);
}

// An attempt ends once both halves are done, or at once on a write error.
void Client::Impl::maybe_end_attempt(const std::shared_ptr<Op>& op) {
    const bool reused = op->reused;
    if (op->read_done && !op->read_error && op->write_done) {
        // A complete response wins over a write error: a server may answer early (413) and
        // close before reading the rest of the body; end_attempt_ok then closes the conn.
        return end_attempt_ok(op);
    }
    if (op->write_done && op->write_error && !op->read_done) {
        // Go: a write error with nothing written is nothingWrittenError (RT2 d); our bodies
        // can always be rewound, so any method may retry then. Otherwise only replayable ones.
        const bool retryable = reused && !op->response_started && (op->bytes_written == 0 || op->replayable);
        std::error_code e = op->write_error;
        if (op->write_error == asio::error::broken_pipe || op->write_error == asio::error::connection_reset)
            e = Error::server_closed;
        return end_attempt_failed(op, e, CloseReason::write_error, retryable);
    }
    if (!op->read_done || !op->write_done) return;
    if (op->read_error) {
        const bool nothing_written = op->write_error && op->bytes_written == 0;  // RT2 d
        const bool retryable = reused && !op->response_started && (op->replayable || nothing_written);  // RT2 c, e, f
        CloseReason reason = CloseReason::read_error;
        if (op->read_error == Error::protocol_error || op->read_error == Error::response_too_large)
            reason = CloseReason::protocol_error;
        return end_attempt_failed(op, op->read_error, reason, retryable);
    }
    end_attempt_ok(op);
}

void Client::Impl::end_attempt_ok(const std::shared_ptr<Op>& op) {
    std::shared_ptr<HttpConn> c = std::move(op->conn);
    const bool need_eof = op->parser->need_eof();
    http::response<http::string_body> message = op->parser->release();
    Response response;
    response.status = message.result_int();
    response.version = message.version();
    response.reused = op->reused;
    response.attempts = op->attempts;
    for (const auto& field : message)
        response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    response.body = std::move(message.body());
    // B1: Connection: close, HTTP/1.0 without keep-alive, or a request that asked to close.
    // A body delimited by EOF (no length, not chunked) leaves a conn the server closed.
    const bool keep = message.keep_alive() && !op->request.close && response.status != 101 && !op->write_error &&
                      !need_eof;
    const bool clean = c->buffer_.size() == 0;  // bytes past the response are unsolicited
    c->op_ = nullptr;
    op->phase = Op::Phase::done;
    if (keep && clean) {
        start_peek(c);                        // RM2: watch the conn while it is idle
        pool_->put_idle_conn(op->lease);      // B2/B3: before the caller's handler runs
    } else {
        pool_->close_conn(op->lease, clean ? CloseReason::response_close : CloseReason::protocol_error);
    }
    finish(op, {}, std::move(response));
}

void Client::Impl::end_attempt_failed(const std::shared_ptr<Op>& op, std::error_code error, CloseReason reason,
                                      bool retryable) {
    std::shared_ptr<HttpConn> c = std::move(op->conn);
    c->op_ = nullptr;
    pool_->close_conn(op->lease, reason);
    if (retryable && !shut_down_) {
        ++stats_.retries;
        return get_conn_for(op);  // RT1: another conn; the message is kept, so the body rewinds (RT5)
    }
    finish(op, error, {});
}

void Client::Impl::cancel_op(const std::shared_ptr<Op>& op, std::error_code error) {
    switch (op->phase) {
        case Op::Phase::done: return;
        case Op::Phase::starting: break;
        case Op::Phase::waiting:
            wants_.erase(pack(op->want));
            pool_->cancel_want(op->want);  // W3: a conn already delivered goes back to the pool
            break;
        case Op::Phase::active: {
            std::shared_ptr<HttpConn> c = std::move(op->conn);
            c->op_ = nullptr;
            pool_->close_conn(op->lease, CloseReason::request_canceled);  // B5: never reused
            break;
        }
    }
    finish(op, error, {});
}

void Client::Impl::cancel_by_id(RequestId id) {
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    std::shared_ptr<Op> op = it->second;
    cancel_op(op, Error::canceled);
}

void Client::Impl::finish(const std::shared_ptr<Op>& op, std::error_code error, Response response, Invoke how) {
    op->phase = Op::Phase::done;
    ops_.erase(op->id);
    if (op->deadline) op->deadline->cancel();
    if (error) {
        ++stats_.errors;
        ++stats_.errors_by_reason[error.message()];
    } else {
        ++stats_.responses;
    }
    // Never inside async_request and never inside a pool call. Every caller of finish runs
    // from a completion handler on the strand, after its pool calls returned, except start(),
    // which may run inline in async_request and therefore asks for a post. Invoking the
    // handler directly (as Asio's composed operations do) lets a caller that sends its next
    // request from the handler reuse the conn that was just returned, before other
    // completions queued on the loop take or refuse it.
    if (how == Invoke::post || !options_.direct_handlers) {
        asio::post(strand_, [handler = std::move(op->handler), error, response = std::move(response)]() mutable {
            handler(error, std::move(response));
        });
        return;
    }
    auto handler = std::move(op->handler);
    handler(error, std::move(response));
}

// ---- dialing ----------------------------------------------------------------------------------

void Client::Impl::dial(DialId id, KeyId key, std::string_view) {
    // Inside a pool call: start async work only; the outcome is reported from a handler.
    auto d = std::make_shared<DialOp>(strand_);
    d->id = id;
    dials_[id.slot] = d;
    const Endpoint& ep = endpoints_.at(key);
    d->timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.dial_timeout));
    d->timer.async_wait([self = shared_from_this(), d](const boost::system::error_code& ec) {
        if (ec || d->done) return;
        d->timed_out = true;
        self->abandon_dial(*d);
    });
    boost::system::error_code parse_error;
    const auto address = asio::ip::make_address(ep.host, parse_error);
    if (!parse_error) {
        const auto port = static_cast<unsigned short>(std::stoul(ep.port));
        d->socket.async_connect(tcp::endpoint(address, port),
                                [self = shared_from_this(), d](const boost::system::error_code& ec) {
                                    self->on_connected(d, ec);
                                });
        return;
    }
    d->resolver.async_resolve(
        ep.host, ep.port,
        [self = shared_from_this(), d](const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
            if (d->done) return;
            if (ec || d->timed_out || d->canceled) return self->on_connected(d, ec ? ec : asio::error::operation_aborted);
            asio::async_connect(d->socket, results,
                                [self, d](const boost::system::error_code& ec2, const tcp::endpoint&) {
                                    self->on_connected(d, ec2);
                                });
        });
}

void Client::Impl::abandon_dial(DialOp& d) {
    boost::system::error_code ignored;
    d.resolver.cancel();
    d.socket.close(ignored);
}

void Client::Impl::cancel(DialId id) {
    // C5 hint; the dial reports dial_failed(canceled) from its handler.
    auto it = dials_.find(id.slot);
    if (it == dials_.end() || !(it->second->id == id) || it->second->done) return;
    it->second->canceled = true;
    abandon_dial(*it->second);
}

void Client::Impl::on_connected(const std::shared_ptr<DialOp>& d, const boost::system::error_code& ec) {
    if (d->done) return;
    d->done = true;
    d->timer.cancel();
    dials_.erase(d->id.slot);
    if (ec || d->timed_out || d->canceled) {
        std::error_code error = ec;
        if (d->timed_out) error = Error::dial_timeout;
        else if (d->canceled) error = Error::canceled;
        pool_->dial_failed(d->id, error);
        return;
    }
    boost::system::error_code ignored;
    d->socket.set_option(tcp::no_delay(true), ignored);
    auto c = std::make_shared<HttpConn>(*this, next_conn_serial_++, std::move(d->socket));
    conns_.emplace(c->serial_, c);
    const ConnId id = pool_->dial_done(d->id, *c);
    if (c->closed_) return;  // refused inside dial_done; the id is already dead
    c->pool_id_ = id;
    start_peek(c);
}

// ---- pool-wide ----------------------------------------------------------------------------------

void Client::Impl::do_shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    std::vector<std::shared_ptr<Op>> ops;
    ops.reserve(ops_.size());
    for (auto& [id, op] : ops_) ops.push_back(op);
    for (auto& op : ops) cancel_op(op, Error::shut_down);
    pool_->close_idle_connections();
    std::vector<std::shared_ptr<DialOp>> dials;
    for (auto& [slot, d] : dials_) dials.push_back(d);
    for (auto& d : dials) {
        if (d->done) continue;
        d->done = true;
        d->timer.cancel();
        abandon_dial(*d);
        dials_.erase(d->id.slot);
        pool_->dial_failed(d->id, Error::shut_down);
    }
    // Every want was cancelled and every lease ended with close idle set, so the pool
    // closed every conn it had (P6). A conn still here would be a bug in this file.
    if (!conns_.empty()) std::fprintf(stderr, "connpool::real: %zu conns left open at shutdown\n", conns_.size());
}

ClientStats Client::Impl::stats() const {
    ClientStats s = stats_;
    s.pool = pool_->stats();
    s.open_conns = pool_->open_conns();
    s.idle_conns = pool_->idle_count();
    return s;
}

// ---- Client ---------------------------------------------------------------------------------

Client::Client(asio::any_io_executor executor, ClientOptions options) {
    if (auto error = validate_config(options.pool)) {
        std::fprintf(stderr, "connpool: fatal: Client: %s\n", error->c_str());
        std::abort();
    }
    if (options.attempts_max < 1) options.attempts_max = 1;
    impl_ = std::make_shared<Impl>(std::move(executor), std::move(options));
}

Client::~Client() { shutdown(); }

RequestId Client::async_request(Request request, std::function<void(std::error_code, Response)> handler) {
    auto op = std::make_shared<Op>();
    op->id = impl_->next_id_.fetch_add(1, std::memory_order_relaxed);
    op->handler = std::move(handler);
    std::error_code error = parse_url(request.url, op->target);
    if (!error) {
        try {
            auto& m = op->message;
            const http::verb verb = http::string_to_verb(request.method);
            if (verb == http::verb::unknown) m.method_string(request.method);
            else m.method(verb);
            m.target(op->target.path);
            m.version(11);
            m.set(http::field::host, op->target.host_header);
            for (const auto& [name, value] : request.headers) {
                m.insert(name, value);
                if (iequals(name, "Idempotency-Key") || iequals(name, "X-Idempotency-Key")) op->replayable = true;
            }
            if (request.body) {
                m.body() = std::move(*request.body);  // the message keeps it for retries (RT5)
                m.content_length(m.body().size());
            }
            // B1; Go also sends Connection: close when DisableKeepAlives is set.
            if (request.close || impl_->options_.pool.disable_keep_alives) m.keep_alive(false);
        } catch (const std::exception&) {
            error = Error::invalid_request;
        }
    }
    op->replayable = op->replayable || is_idempotent_method(request.method);
    op->request = std::move(request);
    if (!error && impl_->options_.direct_handlers && impl_->strand_.running_in_this_thread()) {
        // Called from a handler: start now, so a conn just returned is reused (T4) before
        // other queued completions run. The handler still never runs in here (start posts).
        impl_->start(op);
        return op->id;
    }
    asio::post(impl_->strand_, [self = impl_, op, error] {
        if (error) {
            ++self->stats_.requests;
            self->finish(op, error, {});
            return;
        }
        self->start(op);
    });
    return op->id;
}

void Client::cancel(RequestId id) {
    asio::post(impl_->strand_, [self = impl_, id] { self->cancel_by_id(id); });
}

void Client::close_idle_connections() {
    asio::post(impl_->strand_, [self = impl_] { self->close_idle(); });
}

void Client::shutdown() {
    if (!impl_) return;
    asio::post(impl_->strand_, [self = impl_] { self->do_shutdown(); });
}

ClientStats Client::stats() const { return impl_->stats(); }

}  // namespace connpool::real
