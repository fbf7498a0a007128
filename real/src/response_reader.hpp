// response_reader.hpp (internal to real/): connpool::real::detail::ResponseReader, the
// client's HTTP/1.1 response path without I/O. The client's read loop feeds it the bytes
// each socket read returned, in whatever pieces they came, and the EOF; it says when a
// response is complete, what it contains and whether the conn may be kept (B1), or why the
// response is unusable. The parsing itself is Boost.Beast's basic_parser; this class only
// stores what Beast reports into a connpool::real::Response, applies the limits, skips 1xx
// interim responses and maps Beast's errors to connpool::real::Error. The libFuzzer target
// real/fuzz/fuzz_response.cpp drives exactly this class.
//
// Thread safety: none; one reader per conn, used on the client's strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

#include "connpool/real/client.hpp"

namespace connpool::real::detail {

struct ResponseLimits {
    std::size_t header_bytes = 64 * 1024;       // status line and fields, per response
    std::size_t body_bytes = 64 * 1024 * 1024;  // decoded body
};

class ResponseReader {
public:
    enum class State : std::uint8_t {
        idle,       // start() not called since the last response
        need_more,  // feed more bytes (or the EOF)
        done,       // response() holds a complete final response
        failed,     // error() says why; the conn must not be reused
    };

    ResponseReader();
    ~ResponseReader();
    ResponseReader(const ResponseReader&) = delete;
    ResponseReader& operator=(const ResponseReader&) = delete;

    /// Prepares for the response to one request. `head_request`: the response has no body
    /// whatever its headers say (HEAD). Drops any previous response.
    void start(ResponseLimits limits, bool head_request);

    /// Parses as much of [data, data + size) as it can and returns how many bytes it used.
    /// Bytes it did not use are an incomplete header (offer them again with more appended),
    /// or, once the state is done, bytes past the end of the response (the caller decides:
    /// the client treats them as unsolicited and does not reuse the conn). Interim 1xx
    /// responses (except 101) are read and dropped. Only in state need_more.
    std::size_t feed(const char* data, std::size_t size);

    /// The peer closed the conn (a read returned EOF). Completes a response whose body is
    /// delimited by the close; otherwise the state becomes failed (server_closed). Only in
    /// state need_more.
    void feed_eof();

    State state() const { return state_; }
    /// Set in state failed: Error::server_closed (closed before a complete response),
    /// Error::response_too_large (a limit), or Error::protocol_error (anything malformed).
    std::error_code error() const { return error_; }
    /// Whether any byte of a response has been fed since start() (RT2: no retry after that).
    bool got_some() const { return got_some_; }
    /// Whether the current response's status line and fields have been parsed. While they
    /// have not, Beast reports the first problem it sees in the bytes it has, so a header
    /// with several problems (malformed, too large, cut short) may fail with either error
    /// depending on how the bytes were split into reads.
    bool header_done() const;

    /// In state done. keep_alive: the response allows the conn to be reused (HTTP/1.1
    /// without `Connection: close`, or HTTP/1.0 with keep-alive). eof_delimited: the body
    /// ended with the conn (no length, not chunked), so the conn is gone either way.
    bool keep_alive() const { return keep_alive_; }
    bool eof_delimited() const { return eof_delimited_; }
    /// In state done: the final response (status, version, headers, body). Moving from it
    /// is allowed; start() resets it.
    Response& response() { return response_; }

    class Parser;  // Beast's basic_parser<false>, filling response_
    struct ParserSlot;

private:
    void fail(std::error_code e);
    void finished();

    std::unique_ptr<ParserSlot> slot_;  // allocated once; the parser is rebuilt in place per response
    Response response_;
    ResponseLimits limits_;
    std::error_code error_;
    State state_ = State::idle;
    bool head_request_ = false;
    bool got_some_ = false;
    bool keep_alive_ = false;
    bool eof_delimited_ = false;
    int interim_count_ = 0;  // 1xx responses dropped; bounded
    std::size_t header_used_ = 0;  // bytes of this response's header Beast has used
};

}  // namespace connpool::real::detail
