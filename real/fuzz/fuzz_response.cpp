// fuzz_response: a libFuzzer target for the client's response path,
// connpool::real::detail::ResponseReader, the same class the client's read loop feeds.
//
// Input: byte 0 = options (bit 0: the request was HEAD; bit 1: header limit 256 bytes
// instead of 64 KiB; bit 2: body limit 64 bytes instead of 1 MiB), byte 1 = the seed of
// the read sizes, the rest = the bytes the server sent, then EOF.
//
// Each input is parsed twice, the way the client does it (a buffer of unparsed bytes,
// appended to by each "read", consumed by what the reader used): once as one read, once in
// reads of 1 to 64 bytes chosen by the seed. Bytes left after a complete response start
// the next response, as if pipelined, up to 8 responses. Besides the sanitizers' checks,
// it aborts when
//   - the two parses disagree: the socket decides how bytes are split, the outcome must not
//     depend on it (one latitude, see same_outcome: two problems, either may be reported);
//   - a complete response breaks its contract: status 100-999 and not an interim 1xx,
//     version 10 or 11, body within the limit, no body for HEAD, never more bytes used
//     than given;
//   - a failed one has an error other than server_closed, protocol_error, response_too_large.
//
// Run it longer: see docs/REAL.md (Fuzzing).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "response_reader.hpp"

namespace {

using connpool::real::Error;
using connpool::real::detail::ResponseLimits;
using connpool::real::detail::ResponseReader;

constexpr int responses_max = 8;

struct Parsed {
    ResponseReader::State state = ResponseReader::State::idle;
    std::error_code error;
    unsigned status = 0;
    unsigned version = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool keep_alive = false;
    bool eof_delimited = false;
    bool header_done = false;

    bool operator==(const Parsed&) const = default;
};

// The same outcome, except for one latitude: Beast checks what it has as far as it can and
// reports the first problem it sees, so a message with two problems (a malformed chunk
// extension in a body that is also too large, a header that is malformed and cut short by
// the EOF) may fail with either error depending on the split. Either way the request fails,
// without a retry (a byte had arrived), and the conn is closed. A success must be identical,
// and a failure must be a failure whatever the split.
bool same_outcome(const std::vector<Parsed>& a, const std::vector<Parsed>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] == b[i]) continue;
        if (a[i].state != ResponseReader::State::failed || b[i].state != ResponseReader::State::failed) return false;
    }
    return true;
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_response: %s\n", what);
    std::abort();
}

// Parses `input` as the client would, reads of `read_size()` bytes each.
template <class ReadSize>
std::vector<Parsed> parse(std::string_view input, ResponseLimits limits, bool head, ReadSize read_size) {
    std::vector<Parsed> out;
    ResponseReader reader;
    std::string buffer;  // read and not yet used
    std::size_t pos = 0;  // next input byte to "read"
    auto feed_buffer = [&] {
        const std::size_t used = reader.feed(buffer.data(), buffer.size());
        if (used > buffer.size()) fail("used more than it was given");
        buffer.erase(0, used);
    };
    for (int n = 0; n < responses_max; ++n) {
        reader.start(limits, head);
        if (!buffer.empty()) feed_buffer();  // bytes past the previous response
        // Each round reads at least one byte or ends: bounded by the input's size.
        while (reader.state() == ResponseReader::State::need_more) {
            if (pos == input.size()) {
                reader.feed_eof();
                break;
            }
            const std::size_t take = std::min(read_size(), input.size() - pos);
            buffer.append(input.substr(pos, take));
            pos += take;
            feed_buffer();
        }
        Parsed p;
        p.state = reader.state();
        p.error = reader.error();
        p.header_done = reader.header_done();
        if (p.state == ResponseReader::State::done) {
            auto& r = reader.response();
            p.status = r.status;
            p.version = r.version;
            p.headers = r.headers;
            p.body = r.body;
            p.keep_alive = reader.keep_alive();
            p.eof_delimited = reader.eof_delimited();
            if (p.status < 100 || p.status > 999) fail("status out of range");
            if (p.status < 200 && p.status != 101) fail("an interim response was delivered");
            if (p.version != 10 && p.version != 11) fail("version not 10 or 11");
            if (p.body.size() > limits.body_bytes) fail("body above the limit");
            if (head && !p.body.empty()) fail("a body for HEAD");
            if (p.eof_delimited && p.keep_alive) fail("keep-alive with a body delimited by EOF");
        } else if (p.state == ResponseReader::State::failed) {
            if (p.error != Error::server_closed && p.error != Error::protocol_error &&
                p.error != Error::response_too_large)
                fail("unexpected error");
        } else {
            fail("neither done nor failed after EOF");
        }
        out.push_back(std::move(p));
        if (reader.state() != ResponseReader::State::done) break;
        if (buffer.empty() && pos == input.size()) break;  // nothing left for another response
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t options = data[0];
    std::uint32_t seed = data[1] | 0x100u;
    const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
    ResponseLimits limits;
    limits.header_bytes = (options & 2) != 0 ? 256 : 64 * 1024;
    limits.body_bytes = (options & 4) != 0 ? 64 : 1 << 20;
    const bool head = (options & 1) != 0;

    const auto whole = parse(input, limits, head, [&] { return input.size() + 1; });
    const auto pieces = parse(input, limits, head, [&] {
        seed = seed * 1103515245u + 12345u;  // a tiny LCG: deterministic per input
        return static_cast<std::size_t>((seed >> 16) % 64 + 1);
    });
    if (!same_outcome(whole, pieces)) fail("the outcome depends on how the bytes were split into reads");
    return 0;
}
