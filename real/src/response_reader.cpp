// connpool::real::detail::ResponseReader (response_reader.hpp): Beast's basic_parser fed
// from the client's read buffer, storing straight into a connpool::real::Response.
#include "response_reader.hpp"

#include <algorithm>
#include <optional>
#include <string>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace connpool::real::detail {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {
// Interim (1xx) responses read before the final one; more is a server looping.
constexpr int interim_responses_max = 16;
// A body's Content-Length reserves at most this much up front, so a lying server cannot
// make the client allocate the whole body limit with a few bytes.
constexpr std::uint64_t body_reserve_bytes_max = 1 << 20;
}  // namespace

// Beast does the parsing (status line, fields, Content-Length, chunked coding, limits,
// keep-alive semantics); the callbacks only store. A Parser parses one response: Beast's
// parsers are single-use, so the reader builds a new one in place for each response.
class ResponseReader::Parser final : public http::basic_parser<false> {
public:
    explicit Parser(Response& response) : response_(response) {}

private:
    void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code& ec) override {
        ec = http::error::bad_method;  // never called: this is a response parser
    }
    void on_response_impl(int code, beast::string_view, int version, beast::error_code& ec) override {
        // HTTP/1.x only; Beast reports "HTTP/a.b" as 10 * a + b. Go also wants 3 digits
        // and a status of at least 100.
        if (version < 10 || version > 19) {
            ec = http::error::bad_version;
            return;
        }
        if (code < 100) {
            ec = http::error::bad_status;
            return;
        }
        response_.status = static_cast<unsigned>(code);
        response_.version = version == 10 ? 10u : 11u;
    }
    void on_field_impl(http::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
        if (response_.headers.empty()) response_.headers.reserve(8);
        response_.headers.emplace_back(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
    }
    void on_header_impl(beast::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
        if (length) response_.body.reserve(static_cast<std::size_t>(std::min(*length, body_reserve_bytes_max)));
    }
    std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
        response_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
        response_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(beast::error_code&) override {}

    Response& response_;
};

struct ResponseReader::ParserSlot {
    std::optional<Parser> parser;
};

namespace {
std::error_code map_parse_error(const beast::error_code& ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return Error::response_too_large;
    if (ec == http::error::partial_message || ec == http::error::end_of_stream) return Error::server_closed;
    return Error::protocol_error;
}
}  // namespace

ResponseReader::ResponseReader() : slot_(std::make_unique<ParserSlot>()) {}
ResponseReader::~ResponseReader() = default;

void ResponseReader::start(ResponseLimits limits, bool head_request) {
    limits_ = limits;
    head_request_ = head_request;
    error_ = {};
    got_some_ = false;
    keep_alive_ = eof_delimited_ = false;
    interim_count_ = 0;
    header_used_ = 0;
    response_.status = 0;
    response_.version = 11;
    response_.headers.clear();
    response_.body.clear();
    response_.reused = false;
    response_.attempts = 1;
    state_ = State::need_more;
    Parser& p = slot_->parser.emplace(response_);
    p.eager(true);  // header and body in one put
    p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits_.header_bytes, UINT32_MAX)));
    p.body_limit(static_cast<std::uint64_t>(limits_.body_bytes));
    if (head_request_) p.skip(true);  // a HEAD response has no body whatever it says
}

bool ResponseReader::header_done() const { return slot_->parser && slot_->parser->is_header_done(); }

void ResponseReader::fail(std::error_code e) {
    state_ = State::failed;
    error_ = e;
}

void ResponseReader::finished() {
    Parser& p = *slot_->parser;
    state_ = State::done;
    keep_alive_ = p.keep_alive();
    eof_delimited_ = p.need_eof();
}

std::size_t ResponseReader::feed(const char* data, std::size_t size) {
    if (state_ != State::need_more) return 0;
    std::size_t used_total = 0;
    // Each round consumes bytes or stops, so the loop ends within size + 1 rounds.
    while (state_ == State::need_more && used_total < size) {
        got_some_ = true;
        Parser& p = *slot_->parser;
        // Until the header is parsed, Beast is offered no more than what is left of
        // header_bytes, counting what it already used of this header: the whole header must
        // end within header_bytes. (Beast's own limit applies to the status line and to the
        // fields separately and to what one put sees, so the outcome would depend on how
        // the bytes were split into reads; found by fuzz_response.)
        const bool in_header = !p.is_header_done();
        const std::size_t budget = limits_.header_bytes > header_used_ ? limits_.header_bytes - header_used_ : 0;
        const std::size_t available = size - used_total;
        const std::size_t offered = in_header ? std::min(available, budget) : available;
        beast::error_code ec;
        const std::size_t used = p.put(boost::asio::const_buffer(data + used_total, offered), ec);
        used_total += used;
        if (in_header) header_used_ += used;
        if (ec == http::error::need_more) {
            if (!p.is_header_done()) {
                // All that is left of header_bytes holds no end of header: too large, however
                // split. Otherwise the header is incomplete: wait for more bytes.
                if (offered == budget) fail(Error::response_too_large);
                break;
            }
            if (offered < available && used > 0) continue;  // the header ended within the cap: offer the rest
            break;  // the body wants more
        }
        if (ec) {
            fail(map_parse_error(ec));
            break;
        }
        if (!p.is_done()) {
            if (used == 0) break;  // no progress without an error: wait for more bytes
            continue;
        }
        const unsigned status = response_.status;
        if (status >= 100 && status < 200 && status != 101) {
            // An interim response (100 Continue, 103 Early Hints): dropped, read on.
            if (++interim_count_ > interim_responses_max) {
                fail(Error::protocol_error);
                break;
            }
            const int interim = interim_count_;
            start(limits_, head_request_);
            interim_count_ = interim;
            got_some_ = true;
            continue;
        }
        finished();
    }
    return used_total;
}

void ResponseReader::feed_eof() {
    if (state_ != State::need_more) return;
    Parser& p = *slot_->parser;
    if (!p.got_some()) {
        fail(Error::server_closed);  // closed before a (final) response began
        return;
    }
    beast::error_code ec;
    p.put_eof(ec);
    if (ec) {
        fail(map_parse_error(ec));
        return;
    }
    if (!p.is_done()) {
        fail(Error::server_closed);
        return;
    }
    finished();  // a body delimited by the close
}

}  // namespace connpool::real::detail
