// connpool::real::Client: the Dialer, Conn and WantListener ports on Asio sockets, and the
// HTTP/1.1 exchange: the request head is written here, the response is parsed by
// detail::ResponseReader (Boost.Beast's parser, response_reader.hpp).
//
// Shape: every object lives on one strand. The pool decides (which conn, dial or wait,
// pool or close); this file does one async operation at a time and feeds the outcome back:
//
//   Op (one request)     waiting -(lease)-> active -(response read)-> put_idle_conn / close_conn
//                              \-(cancel_want on timeout/cancel)     \-(error) close_conn, maybe retry
//   HttpConn (one socket) always has one read outstanding while it is open and no complete
//                         response is waiting to be handed over. With a request active, the
//                         bytes go to the conn's ResponseReader; with none, any completion
//                         means a dead idle conn (RM2/RM3).
//
// The hot path is one non-blocking write (the request usually fits the socket buffer, so
// no async write is started) and one read completion per response, with no allocation
// but the Op, the response's headers and body, and whatever the caller's handler needs.
#include <utility>  // before Asio: Boost 1.74 forgets it (toolchain.md)

#include "connpool/real/client.hpp"

#include <array>
#include <charconv>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unordered_map>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include "connpool/real/asio_ports.hpp"
#include "response_reader.hpp"

namespace connpool::real {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The client's objects are bound to a strand of the io_context's own executor type, not to
// any_io_executor: every completion then dispatches without type-erased executor copies.
using IoExecutor = asio::io_context::executor_type;
using Strand = asio::strand<IoExecutor>;
using Socket = asio::basic_stream_socket<tcp, Strand>;
using Resolver = asio::ip::basic_resolver<tcp, Strand>;
using SteadyTimer = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Strand>;

namespace {

// ---- URLs ----------------------------------------------------------------------------------

// The parts of an http:// URL, as views into the URL string.
struct UrlView {
    std::string_view host;       // without brackets
    std::string_view port;       // as written, "80" when absent
    unsigned port_number = 80;
    bool bracketed = false;      // an [IPv6] literal
    std::string_view path;       // origin-form target; empty means "/"
    bool path_is_query = false;  // the path starts with '?': "/" goes before it
};

// http://host[:port][/path][?query]; no userinfo, no fragment sent. One pass over the URL:
// it runs for every request.
std::error_code parse_url(std::string_view url, UrlView& out) {
    constexpr std::string_view http_prefix = "http://";
    bool is_http = url.size() >= http_prefix.size();
    for (std::size_t i = 0; is_http && i < http_prefix.size(); ++i) {
        const char ch = url[i] >= 'A' && url[i] <= 'Z' ? static_cast<char>(url[i] - 'A' + 'a') : url[i];
        is_http = ch == http_prefix[i];
    }
    if (!is_http) {
        const std::size_t scheme_end = url.find("://");
        return scheme_end == std::string_view::npos || scheme_end == 0 ? Error::invalid_url : Error::unsupported_scheme;
    }
    // The authority ends at the first '/', '?' or '#'. Controls, spaces, backslashes and '@'
    // (userinfo) are refused.
    const std::size_t authority_begin = http_prefix.size();
    std::size_t i = authority_begin;
    std::size_t last_colon = std::string_view::npos, close_bracket = std::string_view::npos;
    for (; i < url.size(); ++i) {
        const char ch = url[i];
        if (ch == '/' || ch == '?' || ch == '#') break;
        if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f || ch == '\\' || ch == '@') return Error::invalid_url;
        if (ch == ':') last_colon = i;
        if (ch == ']') close_bracket = i;
    }
    const std::string_view authority = url.substr(authority_begin, i - authority_begin);
    if (authority.empty()) return Error::invalid_url;
    std::string_view host = authority, port = "80";
    out.bracketed = authority.front() == '[';
    if (out.bracketed) {
        if (close_bracket == std::string_view::npos) return Error::invalid_url;
        host = url.substr(authority_begin + 1, close_bracket - authority_begin - 1);
        if (close_bracket + 1 < i) {
            if (url[close_bracket + 1] != ':') return Error::invalid_url;
            port = url.substr(close_bracket + 2, i - close_bracket - 2);
        }
    } else if (last_colon != std::string_view::npos) {
        host = url.substr(authority_begin, last_colon - authority_begin);
        port = url.substr(last_colon + 1, i - last_colon - 1);
    }
    if (host.empty() || port.empty() || port.size() > 5) return Error::invalid_url;
    unsigned port_number = 0;
    for (char ch : port) {
        if (ch < '0' || ch > '9') return Error::invalid_url;
        port_number = port_number * 10 + static_cast<unsigned>(ch - '0');
    }
    if (port_number == 0 || port_number > 65535) return Error::invalid_url;
    // The path and query go into the request line as they are: no spaces or controls. The
    // fragment is not sent.
    const std::size_t path_begin = i;
    for (; i < url.size() && url[i] != '#'; ++i) {
        if (static_cast<unsigned char>(url[i]) <= ' ' || url[i] == 0x7f) return Error::invalid_url;
    }
    out.host = host;
    out.port = port;
    out.port_number = port_number;
    out.path = url.substr(path_begin, i - path_begin);
    out.path_is_query = !out.path.empty() && out.path.front() == '?';
    return {};
}

// RFC 9110 5.6.2: token = 1*tchar.
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) return false;
    }
    return true;
}

// RFC 9110 5.5: no CR, LF, NUL or other controls but HTAB (Go's ValidHeaderFieldValue).
bool is_field_value(std::string_view s) {
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c < ' ' && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool is_idempotent_method(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m.empty();
}

std::uint64_t pack(WantId w) { return (std::uint64_t{w.generation} << 32) | w.slot; }

// The request line and header fields (RFC 9112 3, 5), validated so that no caller value
// can split the message: the method and field names must be tokens, values must not
// contain CR, LF or other controls. A Host field replaces the URL's authority (virtual
// hosting); framing is the client's: Content-Length is set from the body, and a caller's
// Content-Length or Transfer-Encoding is refused.
std::error_code build_head(const Request& request, const UrlView& url, bool close, std::string& head) {
    using namespace std::string_view_literals;
    const std::string_view method = request.method.empty() ? "GET"sv : std::string_view(request.method);
    if (!is_token(method)) return Error::invalid_request;
    std::size_t size = method.size() + url.path.size() + url.host.size() + 64;
    bool host_given = false;
    for (const auto& [name, value] : request.headers) {
        if (!is_token(name) || !is_field_value(value)) return Error::invalid_request;
        if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) return Error::invalid_request;
        host_given = host_given || iequals(name, "Host");
        size += name.size() + value.size() + 4;
    }
    if (request.body) size += 40;
    head.clear();
    head.reserve(size);
    head.append(method).append(" "sv);
    if (url.path.empty() || url.path_is_query) head.append("/"sv);
    head.append(url.path).append(" HTTP/1.1\r\n"sv);
    if (!host_given) {
        head.append("Host: "sv);
        if (url.bracketed) head.append("["sv).append(url.host).append("]"sv);
        else head.append(url.host);
        if (url.port_number != 80) {
            char digits[8];
            const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, url.port_number);
            head.append(":"sv).append(digits, static_cast<std::size_t>(end - digits));
        }
        head.append("\r\n"sv);
    }
    for (const auto& [name, value] : request.headers) head.append(name).append(": "sv).append(value).append("\r\n"sv);
    if (request.body) {
        char digits[24];
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, request.body->size());
        head.append("Content-Length: "sv).append(digits, static_cast<std::size_t>(end - digits)).append("\r\n"sv);
    }
    if (close) head.append("Connection: close\r\n"sv);  // B1; Go also sends it when DisableKeepAlives is set
    head.append("\r\n"sv);
    return {};
}

// Bytes read per socket read. A response larger than this is read in several reads.
constexpr std::size_t read_chunk_bytes = 16 * 1024;

}  // namespace

std::error_code parse_http_url(std::string_view url, UrlParts& out) {
    UrlView v;
    if (std::error_code e = parse_url(url, v)) return e;
    out.host.assign(v.host);
    out.port = std::to_string(v.port_number);
    out.path = v.path.empty() ? "/" : (v.path_is_query ? "/" + std::string(v.path) : std::string(v.path));
    return {};
}

std::error_code check_request(const Request& request) {
    UrlView url;
    if (std::error_code e = parse_url(request.url, url)) return e;
    std::string head;  // built and dropped: build_head is where async_request refuses a request
    return build_head(request, url, false, head);
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
    std::string host;  // from the URL, for the pool key and the dialer
    std::string port;  // decimal
    std::string head;  // request line and fields, built once: a retry resends it (RT5)
    std::function<void(std::error_code, Response)> handler;
    KeyId key = 0;
    bool replayable = false;    // RT3
    bool head_method = false;   // a HEAD response has no body
    std::optional<SteadyTimer> deadline;

    enum class Phase : std::uint8_t { starting, waiting, active, done } phase = Phase::starting;
    WantId want{};
    std::shared_ptr<HttpConn> conn;  // while active
    ConnId lease{};
    bool reused = false;
    int attempts = 0;

    // Per attempt, reset by use_lease.
    bool write_done = false;
    bool read_done = false;
    bool response_started = false;  // a byte of the response arrived (no retry after that)
    boost::system::error_code write_error;
    std::size_t bytes_written = 0;
    std::error_code read_error;
};

class Client::Impl final : public std::enable_shared_from_this<Client::Impl>, public Dialer, public WantListener {
public:
    Impl(asio::io_context& ioc, ClientOptions options);
    ~Impl() override = default;

    Strand strand_;

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
    void start_read(const std::shared_ptr<HttpConn>& c);
    void on_read(const std::shared_ptr<HttpConn>& c, const boost::system::error_code& ec, std::size_t n);
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
        Socket socket;
        Resolver resolver;
        SteadyTimer timer;
        bool done = false;
        bool timed_out = false;
        bool canceled = false;
        explicit DialOp(const Strand& s) : socket(s), resolver(s), timer(s) {}
    };

    void get_conn_for(const std::shared_ptr<Op>& op);
    void on_want_ready(WantId want);
    void use_lease(const std::shared_ptr<Op>& op, const Lease& lease);
    void write_request(const std::shared_ptr<Op>& op);
    void on_written(const std::shared_ptr<Op>& op, const boost::system::error_code& ec, std::size_t n);
    void maybe_end_attempt(const std::shared_ptr<Op>& op);
    void end_attempt_ok(const std::shared_ptr<Op>& op);
    void end_attempt_failed(const std::shared_ptr<Op>& op, std::error_code error, CloseReason reason, bool retryable);
    void on_connected(const std::shared_ptr<DialOp>& d, const boost::system::error_code& ec);
    void abandon_dial(DialOp& d);
    KeyId key_for(const Op& op);
    void add_op(const std::shared_ptr<Op>& op);
    void remove_op(RequestId id);

    using OpMap = std::unordered_map<RequestId, std::shared_ptr<Op>>;
    std::vector<Endpoint> endpoints_;  // by KeyId
    OpMap ops_;                        // every request not done
    std::vector<OpMap::node_type> spare_op_nodes_;  // recycled map nodes: no allocation per request
    std::unordered_map<std::uint64_t, std::shared_ptr<Op>> wants_;  // pack(WantId) -> waiting op
    std::unordered_map<std::uint32_t, std::shared_ptr<DialOp>> dials_;  // DialId.slot -> dial in progress
    std::unordered_map<std::uint64_t, std::shared_ptr<HttpConn>> conns_;  // serial -> open conn
    std::uint64_t next_conn_serial_ = 1;
    // The last key looked up, so that a stream of requests to one host builds no key name.
    std::string last_host_, last_port_, key_scratch_;
    KeyId last_key_ = 0;
    bool have_last_key_ = false;
    SteadyClock clock_;
    AsioTimerService timers_;
    std::unique_ptr<Pool> pool_;  // last: destroyed first, while the ports above still exist

    friend class HttpConn;
};

// A TCP connection. Owned by Impl::conns_ until the pool closes it; async handlers hold
// extra references, so it outlives its close until they ran.
class HttpConn final : public Conn, public std::enable_shared_from_this<HttpConn> {
public:
    HttpConn(Client::Impl& impl, std::uint64_t serial, Socket socket)
        : impl_(impl), serial_(serial), socket_(std::move(socket)) {}
    std::uint64_t id() const override { return serial_; }
    bool multiplexed() const override { return false; }
    void close(CloseReason) override {
        closed_ = true;
        op_.reset();
        boost::system::error_code ignored;
        socket_.close(ignored);  // completes the outstanding read and write with operation_aborted
        impl_.conn_gone(*this);  // last: may drop the owning reference
    }

    Client::Impl& impl_;
    const std::uint64_t serial_;
    Socket socket_;
    boost::beast::flat_buffer buffer_;  // bytes read and not yet parsed
    detail::ResponseReader reader_;      // the active request's response
    ConnId pool_id_{};
    bool closed_ = false;        // the pool closed it (Conn::close); never mention pool_id_ again
    bool reading_ = false;       // an async_read_some is outstanding
    std::shared_ptr<Op> op_;     // the active request, if any (it holds a reference to us too,
                                 // until the attempt ends: both links are cut together)
};

namespace {
asio::io_context& io_context_of(const asio::any_io_executor& executor) {
    // The executor types io_context hands out: plain, work-tracking, or a strand of either.
    using Plain = asio::io_context::basic_executor_type<std::allocator<void>, 0>;
    using Tracked = asio::io_context::basic_executor_type<std::allocator<void>, 4>;
    if (const auto* e = executor.target<Plain>()) return e->context();
    if (const auto* e = executor.target<Tracked>()) return e->context();
    if (const auto* e = executor.target<asio::strand<Plain>>()) return e->get_inner_executor().context();
    if (const auto* e = executor.target<asio::strand<Tracked>>()) return e->get_inner_executor().context();
    std::fprintf(stderr, "connpool: fatal: Client: the executor must be a boost::asio::io_context's (or a strand of one)\n");
    std::abort();
}
}  // namespace

Client::Impl::Impl(asio::io_context& ioc, ClientOptions options)
    : strand_(asio::make_strand(ioc.get_executor())), options_(std::move(options)), timers_(strand_) {
    pool_ = std::make_unique<Pool>(options_.pool, PoolPorts{clock_, timers_, *this, *this, options_.trace});
}

void Client::Impl::conn_gone(HttpConn& c) {
    conns_.erase(c.serial_);
    // No conn left: no idle timer is armed, so lazy timer waits must not keep run() busy.
    if (conns_.empty()) timers_.cancel_stopped_waits();
}

void Client::Impl::add_op(const std::shared_ptr<Op>& op) {
    if (spare_op_nodes_.empty()) {
        ops_.emplace(op->id, op);
        return;
    }
    OpMap::node_type node = std::move(spare_op_nodes_.back());
    spare_op_nodes_.pop_back();
    node.key() = op->id;
    node.mapped() = op;
    ops_.insert(std::move(node));
}

void Client::Impl::remove_op(RequestId id) {
    OpMap::node_type node = ops_.extract(id);
    if (node.empty()) return;
    node.mapped().reset();
    constexpr std::size_t spare_op_nodes_max = 1024;
    if (spare_op_nodes_.size() < spare_op_nodes_max) spare_op_nodes_.push_back(std::move(node));
}

// ---- requests ----------------------------------------------------------------------------------

KeyId Client::Impl::key_for(const Op& op) {
    if (have_last_key_ && op.host == last_host_ && op.port == last_port_) return last_key_;
    key_scratch_.assign("|http|").append(op.host).append(":").append(op.port);
    const KeyId key = pool_->key(key_scratch_);
    if (endpoints_.size() <= key) endpoints_.resize(key + 1);
    if (endpoints_[key].host.empty()) endpoints_[key] = Endpoint{op.host, op.port};
    last_host_ = op.host;
    last_port_ = op.port;
    last_key_ = key;
    have_last_key_ = true;
    return key;
}

void Client::Impl::start(const std::shared_ptr<Op>& op) {
    ++stats_.requests;
    if (shut_down_) return finish(op, Error::shut_down, {}, Invoke::post);  // start may run inside async_request
    add_op(op);
    op->key = key_for(*op);
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
    op->write_done = op->read_done = op->response_started = false;
    op->write_error = {};
    op->read_error = {};
    op->bytes_written = 0;
    c->op_ = op;
    c->reader_.start({options_.response_header_limit_bytes, options_.response_body_limit_bytes}, op->head_method);
    if (!c->reading_) start_read(op->conn);
    write_request(op);
}

// The head and body in one gather write. The socket is non-blocking, so the first try is
// synchronous and usually writes everything; only the rest, if any, goes to async_write.
// An error is reported through a posted on_written, never from here: use_lease may run
// inside async_request, where no handler may run.
void Client::Impl::write_request(const std::shared_ptr<Op>& op) {
    HttpConn& c = *op->conn;
    const std::string_view body = op->request.body ? std::string_view(*op->request.body) : std::string_view{};
    const std::size_t total = op->head.size() + body.size();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(op->head), asio::buffer(body.data(), body.size())};
    boost::system::error_code ec;
    std::size_t n = c.socket_.write_some(buffers, ec);
    if (!ec && n == total) {
        op->write_done = true;
        op->bytes_written = n;
        return;
    }
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        asio::post(strand_, [self = shared_from_this(), op, keep = op->conn, ec] { self->on_written(op, ec, 0); });
        return;
    }
    if (ec) n = 0;
    if (n < op->head.size()) {
        buffers[0] = asio::buffer(op->head.data() + n, op->head.size() - n);
    } else {
        buffers[0] = asio::const_buffer();
        buffers[1] = asio::buffer(body.data() + (n - op->head.size()), total - n);
    }
    // The handler holds the conn: the write uses its socket until the handler runs, even
    // after a cancel closed the conn and dropped the pool's reference.
    asio::async_write(c.socket_, buffers,
                      [self = shared_from_this(), op, keep = op->conn, n](const boost::system::error_code& e, std::size_t m) {
                          self->on_written(op, e, n + m);
                      });
}

void Client::Impl::on_written(const std::shared_ptr<Op>& op, const boost::system::error_code& ec, std::size_t n) {
    if (op->phase != Op::Phase::active || op->conn == nullptr || op->conn->op_ != op) return;
    op->write_done = true;
    op->write_error = ec;
    op->bytes_written = n;
    maybe_end_attempt(op);
}

void Client::Impl::start_read(const std::shared_ptr<HttpConn>& c) {
    c->reading_ = true;
    c->socket_.async_read_some(c->buffer_.prepare(read_chunk_bytes),
                               [self = shared_from_this(), c](const boost::system::error_code& ec, std::size_t n) {
                                   self->on_read(c, ec, n);
                               });
}

void Client::Impl::on_read(const std::shared_ptr<HttpConn>& c, const boost::system::error_code& ec, std::size_t n) {
    c->reading_ = false;
    if (c->closed_) return;
    c->buffer_.commit(n);
    if (c->op_ == nullptr) {
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
    std::shared_ptr<Op> op = c->op_;
    if (n > 0) op->response_started = true;
    if (ec && ec != asio::error::eof) {
        // A reset or another socket error, before or during the response (Go: peek failed).
        op->read_done = true;
        op->read_error = ec;
        return maybe_end_attempt(op);
    }
    detail::ResponseReader& reader = c->reader_;
    if (reader.state() == detail::ResponseReader::State::need_more && c->buffer_.size() > 0) {
        const auto data = c->buffer_.data();
        c->buffer_.consume(reader.feed(static_cast<const char*>(data.data()), data.size()));
    }
    if (ec == asio::error::eof) reader.feed_eof();
    switch (reader.state()) {
        case detail::ResponseReader::State::idle:  // not reachable: use_lease started it
        case detail::ResponseReader::State::need_more:
            return start_read(c);
        case detail::ResponseReader::State::done:
            op->read_done = true;
            return maybe_end_attempt(op);
        case detail::ResponseReader::State::failed:
            op->read_done = true;
            op->read_error = reader.error();
            return maybe_end_attempt(op);
    }
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
    detail::ResponseReader& reader = c->reader_;
    Response response = std::move(reader.response());
    response.reused = op->reused;
    response.attempts = op->attempts;
    // B1: Connection: close, HTTP/1.0 without keep-alive, or a request that asked to close.
    // A body delimited by EOF (no length, not chunked) leaves a conn the server closed.
    const bool keep = reader.keep_alive() && !op->request.close && response.status != 101 && !op->write_error &&
                      !reader.eof_delimited();
    const bool clean = c->buffer_.size() == 0;  // bytes past the response are unsolicited
    c->op_.reset();
    op->phase = Op::Phase::done;
    if (keep && clean) {
        start_read(c);                        // RM2: watch the conn while it is idle
        pool_->put_idle_conn(op->lease);      // B2/B3: before the caller's handler runs
    } else {
        pool_->close_conn(op->lease, clean ? CloseReason::response_close : CloseReason::protocol_error);
    }
    finish(op, {}, std::move(response));
}

void Client::Impl::end_attempt_failed(const std::shared_ptr<Op>& op, std::error_code error, CloseReason reason,
                                      bool retryable) {
    std::shared_ptr<HttpConn> c = std::move(op->conn);
    c->op_.reset();
    pool_->close_conn(op->lease, reason);
    if (retryable && !shut_down_) {
        ++stats_.retries;
        return get_conn_for(op);  // RT1: another conn; the head and body are kept (RT5)
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
            c->op_.reset();
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
    remove_op(op->id);
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
    d->socket.non_blocking(true, ignored);  // write_request's first, synchronous try
    auto c = std::make_shared<HttpConn>(*this, next_conn_serial_++, std::move(d->socket));
    conns_.emplace(c->serial_, c);
    const ConnId id = pool_->dial_done(d->id, *c);
    if (c->closed_) return;  // refused inside dial_done; the id is already dead
    c->pool_id_ = id;
    start_read(c);
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
    timers_.cancel_stopped_waits();
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
    impl_ = std::make_shared<Impl>(io_context_of(executor), std::move(options));
}

Client::~Client() { shutdown(); }

RequestId Client::async_request(Request request, std::function<void(std::error_code, Response)> handler) {
    auto op = std::make_shared<Op>();
    op->id = impl_->next_id_.fetch_add(1, std::memory_order_relaxed);
    op->handler = std::move(handler);
    op->request = std::move(request);  // first: the views below point into op->request
    const Request& r = op->request;
    UrlView url;
    std::error_code error = parse_url(r.url, url);
    if (!error) {
        const bool close = r.close || impl_->options_.pool.disable_keep_alives;
        error = build_head(r, url, close, op->head);
        op->host.assign(url.host);
        if (url.port.front() != '0') op->port.assign(url.port);
        else op->port = std::to_string(url.port_number);  // one key for :080 and :80
    }
    op->head_method = r.method == "HEAD";
    op->replayable = is_idempotent_method(r.method);
    for (const auto& [name, value] : r.headers) {
        if (iequals(name, "Idempotency-Key") || iequals(name, "X-Idempotency-Key")) op->replayable = true;
    }
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
