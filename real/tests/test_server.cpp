// The in-process Beast test server (test_server.hpp): one session per accepted conn, each
// step reading the Behavior atomics so a test can change them between requests.
#include <utility>

#include "test_server.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <optional>
#include <thread>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace connpool::real::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct TestServer::Impl {
    explicit Impl(TestServer& s)
        : server(s), acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          port(acceptor.local_endpoint().port()) {}
    TestServer& server;
    asio::io_context ioc;
    tcp::acceptor acceptor;
    const unsigned short port;
    std::thread thread;
    void accept();
};

namespace {

struct Session : std::enable_shared_from_this<Session> {
    Session(TestServer& s, tcp::socket sock) : server(s), socket(std::move(sock)), idle_timer(socket.get_executor()),
                                               delay_timer(socket.get_executor()) {
        ++server.open_conns;
    }
    ~Session() { --server.open_conns; }

    TestServer& server;
    tcp::socket socket;
    boost::beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    asio::steady_timer idle_timer;
    asio::steady_timer delay_timer;
    std::string raw;  // raw bytes being written (malformed answers, 408)
    http::response<http::string_body> response;
    int served = 0;
    bool closed = false;

    void close() {
        if (closed) return;
        closed = true;
        error_code ignored;
        idle_timer.cancel();
        delay_timer.cancel();
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
    }

    void read() {
        const Behavior& b = server.behavior;
        const int idle_408 = b.idle_408_after_ms.load();
        const int keep_alive = b.keep_alive_timeout_ms.load();
        if (served > 0 && (idle_408 > 0 || keep_alive > 0)) {
            idle_timer.expires_after(std::chrono::milliseconds(idle_408 > 0 ? idle_408 : keep_alive));
            idle_timer.async_wait([self = shared_from_this(), idle_408](const error_code& ec) {
                if (ec || self->closed) return;
                if (idle_408 > 0) {
                    self->raw = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
                    asio::async_write(self->socket, asio::buffer(self->raw),
                                      [self](const error_code&, std::size_t) { self->close(); });
                } else {
                    self->close();
                }
            });
        }
        parser.emplace();
        parser->body_limit(64 * 1024 * 1024);
        http::async_read(socket, buffer, *parser, [self = shared_from_this()](const error_code& ec, std::size_t) {
            self->on_read(ec);
        });
    }

    void on_read(const error_code& ec) {
        idle_timer.cancel();
        if (ec || closed) return close();
        ++server.requests;
        ++served;
        const http::request<http::string_body>& req = parser->get();
        if (req.method() == http::verb::post) ++server.posts;
        const Behavior& b = server.behavior;
        if (b.drop_request_number.load() == served) return close();
        if (b.reset_request_number.load() == served) {
            error_code ignored;
            socket.set_option(asio::socket_base::linger(true, 0), ignored);
            closed = true;
            socket.close(ignored);  // RST
            return;
        }
        const int delay = b.response_delay_ms.load();
        if (delay > 0) {
            delay_timer.expires_after(std::chrono::milliseconds(delay));
            delay_timer.async_wait([self = shared_from_this()](const error_code& e) {
                if (!e && !self->closed) self->respond();
            });
            return;
        }
        respond();
    }

    void respond() {
        const Behavior& b = server.behavior;
        const http::request<http::string_body>& req = parser->get();
        switch (b.malformed.load()) {
            case 1: raw = "garbage\r\n\r\n"; break;
            case 2: raw = "HTTP/1.1 200 OK\r\nContent-Length: banana\r\n\r\n"; break;
            case 3: raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"; break;
            case 4: raw = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(80 * 1024, 'a') + "\r\nContent-Length: 0\r\n\r\n"; break;
            case 5: raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"; break;
            case 6: raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK"; break;
            case 7: raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; break;
            default: break;
        }
        if (!raw.empty()) {
            if (b.malformed.load() == 7) {  // a good response, then unsolicited bytes 30 ms later
                asio::async_write(socket, asio::buffer(raw), [self = shared_from_this()](const error_code&, std::size_t) {
                    self->delay_timer.expires_after(std::chrono::milliseconds(30));
                    self->delay_timer.async_wait([self](const error_code& e) {
                        if (e || self->closed) return;
                        self->raw = "JUNK";
                        asio::async_write(self->socket, asio::buffer(self->raw), [self](const error_code&, std::size_t) {
                            self->socket.async_read_some(self->buffer.prepare(1024),
                                                         [self](const error_code&, std::size_t) { self->close(); });
                        });
                    });
                });
                return;
            }
            if (b.malformed.load() == 5 || b.malformed.load() == 6) {  // keep the conn open, read nothing more
                asio::async_write(socket, asio::buffer(raw), [self = shared_from_this()](const error_code&, std::size_t) {
                    // Park the session on a read that ends when the client closes.
                    self->socket.async_read_some(self->buffer.prepare(1024),
                                                 [self](const error_code&, std::size_t) { self->close(); });
                });
                return;
            }
            asio::async_write(socket, asio::buffer(raw), [self = shared_from_this()](const error_code&, std::size_t) {
                self->close();
            });
            return;
        }
        response = {};
        response.result(static_cast<unsigned>(b.status.load()));
        response.version(b.http10.load() ? 10 : 11);
        response.set(http::field::server, "connpool-test");
        if (req.method() == http::verb::post || req.method() == http::verb::put) {
            response.body() = req.body();
        } else if (req.method() != http::verb::head) {
            response.body().assign(static_cast<std::size_t>(b.body_bytes.load()), 'x');
        }
        const bool keep = !b.http10.load() && !b.connection_close.load() && req.keep_alive();
        response.keep_alive(keep);
        if (req.method() == http::verb::head) {
            response.content_length(static_cast<std::size_t>(b.body_bytes.load()));
        } else {
            response.prepare_payload();
        }
        http::async_write(socket, response, [self = shared_from_this(), keep](const error_code& ec, std::size_t) {
            if (ec || self->closed) return self->close();
            const int after = self->server.behavior.close_after_responses.load();
            if (!keep || (after > 0 && self->served >= after)) return self->close();
            self->read();
        });
    }
};

}  // namespace

void TestServer::Impl::accept() {
    acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
        if (ec) return;  // acceptor closed
        ++server.accepted;
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(server, std::move(socket))->read();
        accept();
    });
}

TestServer::TestServer() : impl_(std::make_unique<Impl>(*this)) {
    impl_->accept();
    impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

TestServer::~TestServer() {
    asio::post(impl_->ioc, [this] {
        error_code ignored;
        impl_->acceptor.close(ignored);
    });
    impl_->ioc.stop();
    impl_->thread.join();
}

unsigned short TestServer::port() const { return impl_->port; }

std::string TestServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
}

unsigned short refused_port() {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const unsigned short port = acceptor.local_endpoint().port();
    acceptor.close();
    return port;
}

BlackholeListener::BlackholeListener() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener_, 0) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        return;
    }
    port_ = ntohs(addr.sin_port);
    // Fill the accept queue (backlog 0 holds one) with non-blocking connects.
    for (int& fd : fillers_) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the handshakes land
}

BlackholeListener::~BlackholeListener() {
    for (int fd : fillers_) {
        if (fd >= 0) ::close(fd);
    }
    if (listener_ >= 0) ::close(listener_);
}

}  // namespace connpool::real::testing
