// Tests of connpool::real::detail::ResponseReader, the client's response path without
// sockets: canned responses fed in one piece and one byte at a time give the same result;
// the limits, interim responses and EOF handling behave as response_reader.hpp says. The
// fuzz target (real/fuzz/fuzz_response.cpp) checks the same properties on generated input.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "response_reader.hpp"

namespace {

using connpool::real::Error;
using connpool::real::detail::ResponseLimits;
using connpool::real::detail::ResponseReader;
using State = ResponseReader::State;

struct Outcome {
    State state = State::idle;
    std::error_code error;
    unsigned status = 0;
    std::string body;
    bool keep_alive = false;
    std::size_t left = 0;  // bytes not used (past a complete response)
};

// Feeds `input` in reads of `read_bytes`, as the client does, then EOF if still unfinished.
Outcome parse(std::string_view input, std::size_t read_bytes, ResponseLimits limits = {}, bool head = false) {
    ResponseReader reader;
    reader.start(limits, head);
    std::string buffer;
    std::size_t pos = 0;
    while (reader.state() == State::need_more && pos < input.size()) {  // bounded by the input
        const std::size_t take = std::min(read_bytes, input.size() - pos);
        buffer.append(input.substr(pos, take));
        pos += take;
        buffer.erase(0, reader.feed(buffer.data(), buffer.size()));
    }
    if (reader.state() == State::need_more) reader.feed_eof();
    Outcome o;
    o.state = reader.state();
    o.error = reader.error();
    o.left = buffer.size() + (input.size() - pos);
    if (o.state == State::done) {
        o.status = reader.response().status;
        o.body = reader.response().body;
        o.keep_alive = reader.keep_alive();
    }
    return o;
}

void expect_same_whatever_the_split(std::string_view input, const Outcome& want, ResponseLimits limits = {},
                                    bool head = false) {
    for (std::size_t read_bytes : {input.size() + 1, std::size_t{1}, std::size_t{2}, std::size_t{7}}) {
        const Outcome o = parse(input, read_bytes, limits, head);
        EXPECT_EQ(o.state, want.state) << "reads of " << read_bytes << ": " << input;
        EXPECT_EQ(o.error, want.error) << "reads of " << read_bytes << ": " << input;
        EXPECT_EQ(o.status, want.status) << "reads of " << read_bytes;
        EXPECT_EQ(o.body, want.body) << "reads of " << read_bytes;
        EXPECT_EQ(o.keep_alive, want.keep_alive) << "reads of " << read_bytes;
        if (want.state == State::done) {
            EXPECT_EQ(o.left, want.left) << "reads of " << read_bytes;
        }
    }
}

TEST(ResponseReader, CompleteResponsesWhateverTheSplit) {
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
                                   {State::done, {}, 200, "ok\n", true, 0});
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
                                   {State::done, {}, 200, "hello", true, 0});
    // Interim responses are dropped (100 Continue, 103 Early Hints); the final one counts.
    expect_same_whatever_the_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                                   "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                                   {State::done, {}, 201, "", true, 0});
    // HTTP/1.0 without keep-alive, body delimited by the close (B1: not reusable).
    expect_same_whatever_the_split("HTTP/1.0 200 OK\r\n\r\nuntil EOF", {State::done, {}, 200, "until EOF", false, 0});
    // HEAD: no body whatever Content-Length says.
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", {State::done, {}, 200, "", true, 0},
                                   {}, true);
    // Bytes past the response are left for the caller (the client does not reuse the conn).
    expect_same_whatever_the_split("HTTP/1.1 204 No Content\r\n\r\nXYZ", {State::done, {}, 204, "", true, 3});
}

TEST(ResponseReader, FailuresWhateverTheSplit) {
    const auto malformed = make_error_code(Error::protocol_error);
    const auto closed = make_error_code(Error::server_closed);
    const auto too_large = make_error_code(Error::response_too_large);
    expect_same_whatever_the_split("HTTX/1.1 200 OK\r\n\r\n", {State::failed, malformed, 0, "", false, 0});
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n1", {State::failed, malformed, 0, "", false, 0});
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                   {State::failed, malformed, 0, "", false, 0});
    expect_same_whatever_the_split("HTTP/2.0 200 OK\r\n\r\n", {State::failed, malformed, 0, "", false, 0});
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", {State::failed, closed, 0, "", false, 0});
    expect_same_whatever_the_split("", {State::failed, closed, 0, "", false, 0});
    ResponseLimits small;
    small.body_bytes = 4;
    expect_same_whatever_the_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde", {State::failed, too_large, 0, "", false, 0},
                                   small);
}

// The header limit covers the whole header (status line and fields together), however the
// bytes arrive: Beast alone, given everything at once, limits the status line and the fields
// separately (found by fuzz_response).
TEST(ResponseReader, HeaderLimitCoversTheWholeHeader) {
    ResponseLimits limits;
    limits.header_bytes = 256;
    const std::string status_line = "HTTP/1.1 200 " + std::string(220, 'a') + "\r\n";  // 235 bytes
    expect_same_whatever_the_split(status_line + "Content-Length: 0\r\n\r\n",  // 256 bytes: fits exactly
                                   {State::done, {}, 200, "", true, 0}, limits);
    expect_same_whatever_the_split(status_line + "Content-Length: 00\r\n\r\n",  // 257 bytes
                                   {State::failed, make_error_code(Error::response_too_large), 0, "", false, 0}, limits);
    // A header within the limit and a body past it, in one read: the body is read too (the
    // cap applies to the header only; found by fuzz_response).
    const std::string body(300, 'b');
    const std::string shorter = "HTTP/1.1 200 " + std::string(180, 'a') + "\r\n";  // 195 bytes
    expect_same_whatever_the_split(shorter + "Content-Length: 300\r\n\r\n" + body, {State::done, {}, 200, body, true, 0},
                                   limits);
    expect_same_whatever_the_split(shorter + "Transfer-Encoding: chunked\r\n\r\n12c\r\n" + body + "\r\n0\r\n\r\n",
                                   {State::done, {}, 200, body, true, 0}, limits);
}

TEST(ResponseReader, EndlessInterimResponsesFail) {
    std::string input;
    for (int i = 0; i < 17; ++i) input += "HTTP/1.1 100 Continue\r\n\r\n";
    input += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(parse(input, input.size()).error, make_error_code(Error::protocol_error));
    input.erase(0, std::string("HTTP/1.1 100 Continue\r\n\r\n").size());  // 16 interim responses are allowed
    EXPECT_EQ(parse(input, input.size()).status, 200u);
}

TEST(ResponseReader, GotSomeAndReuse) {
    ResponseReader reader;
    reader.start({}, false);
    EXPECT_FALSE(reader.got_some());
    const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na";
    EXPECT_EQ(reader.feed(first.data(), first.size()), first.size());
    EXPECT_TRUE(reader.got_some());
    ASSERT_EQ(reader.state(), State::done);
    EXPECT_EQ(reader.response().body, "a");
    reader.start({}, false);  // the same reader for the conn's next response
    EXPECT_FALSE(reader.got_some());
    EXPECT_TRUE(reader.response().body.empty());
    const std::string second = "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(reader.feed(second.data(), second.size()), second.size());
    EXPECT_EQ(reader.response().status, 404u);
    EXPECT_FALSE(reader.keep_alive());
}

}  // namespace
