// Names of close reasons and put results, as they appear in traces and reports.
#include "connpool/ports.hpp"
#include "connpool/trace.hpp"

namespace connpool {

std::string_view to_string(CloseReason r) noexcept {
    switch (r) {
        case CloseReason::keep_alives_disabled: return "keep_alives_disabled";
        case CloseReason::conn_broken: return "conn_broken";
        case CloseReason::close_idle: return "close_idle";
        case CloseReason::too_many_idle_for_key: return "too_many_idle_for_key";
        case CloseReason::too_many_idle: return "too_many_idle";
        case CloseReason::idle_timeout: return "idle_timeout";
        case CloseReason::close_idle_conns: return "close_idle_conns";
        case CloseReason::server_closed_idle: return "server_closed_idle";
        case CloseReason::response_close: return "response_close";
        case CloseReason::read_error: return "read_error";
        case CloseReason::write_error: return "write_error";
        case CloseReason::request_canceled: return "request_canceled";
        case CloseReason::protocol_error: return "protocol_error";
        case CloseReason::owner: return "owner";
    }
    return "unknown";
}

std::string_view to_string(PutResult r) noexcept {
    switch (r) {
        case PutResult::pooled: return "pooled";
        case PutResult::handed_to_waiter: return "handed_to_waiter";
        case PutResult::keep_alives_disabled: return "keep_alives_disabled";
        case PutResult::conn_broken: return "conn_broken";
        case PutResult::close_idle: return "close_idle";
        case PutResult::too_many_idle_for_key: return "too_many_idle_for_key";
    }
    return "unknown";
}

}  // namespace connpool
