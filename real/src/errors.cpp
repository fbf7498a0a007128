// connpool::real's error category (client.hpp): the messages of connpool::real::Error.
// Its own translation unit, so that the response reader and its fuzz target link without
// the client.
#include <string>
#include <system_error>

#include "connpool/real/client.hpp"

namespace connpool::real {

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

}  // namespace connpool::real
