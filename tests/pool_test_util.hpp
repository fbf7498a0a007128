// Extra helpers on top of pool_fixture.hpp for the unit suites: completing a dial other
// than the oldest one, finding the FakeConn behind a ConnId, and small predicates that
// keep the assertions readable.
#pragma once

#include <algorithm>
#include <cstddef>
#include <system_error>
#include <vector>

#include "pool_fixture.hpp"

namespace connpool::testing {

class PoolTestX : public PoolTest {
protected:
    // Completes the pending dial at `index` (0 = oldest) with a new conn.
    FakeConn& finish_dial_at(std::size_t index, bool multiplexed = false) {
        EXPECT_LT(index, dialer_.pending.size()) << "no such dial in progress";
        const auto p = dialer_.pending.at(index);
        dialer_.pending.erase(dialer_.pending.begin() + static_cast<std::ptrdiff_t>(index));
        conns_.push_back(std::make_unique<FakeConn>(next_conn_id_++, multiplexed));
        FakeConn& c = *conns_.back();
        ids_[&c] = pool_->dial_done(p.id, c);
        return c;
    }
    // Fails the pending dial at `index` (0 = oldest).
    void fail_dial_at(std::size_t index, std::error_code ec = std::make_error_code(std::errc::connection_refused)) {
        ASSERT_LT(index, dialer_.pending.size());
        const auto p = dialer_.pending.at(index);
        dialer_.pending.erase(dialer_.pending.begin() + static_cast<std::ptrdiff_t>(index));
        pool_->dial_failed(p.id, ec);
    }
    bool announced(WantId w) const {
        return std::find(listener_.ready.begin(), listener_.ready.end(), w) != listener_.ready.end();
    }
    // Takes a ready want whose result must be an error, and returns the error.
    std::error_code take_error(WantId w) {
        EXPECT_TRUE(announced(w)) << "want was not announced ready";
        auto out = pool_->take(w);
        EXPECT_FALSE(out.lease.has_value()) << "want got a conn, expected an error";
        return out.error;
    }
    std::size_t closes_with(CloseReason r) const {
        return static_cast<std::size_t>(std::count(trace_.closes.begin(), trace_.closes.end(), r));
    }
    bool fake_closed(const FakeConn& c) const { return c.closed.has_value(); }
};

}  // namespace connpool::testing
