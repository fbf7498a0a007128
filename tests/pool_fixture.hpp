// Test partners for the pool core: a hand-advanced clock, timers that can be left "in
// flight" (fired, callback not yet run) to reproduce Go's stop/reset races, conns that
// record how they were closed, a dialer whose dials the test completes by hand, and a
// listener and trace hooks that record everything. No mocks: plain objects with state
// that the tests assert on.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "connpool/connpool.hpp"

namespace connpool::testing {

using namespace std::chrono_literals;

class FakeClock final : public Clock {
public:
    TimePoint now() const override { return now_; }
    void set(TimePoint t) { now_ = t; }
    TimePoint now_{std::chrono::seconds(1000)};
};

class FakeTimerService;

class FakeTimer final : public Timer {
public:
    FakeTimer(FakeTimerService& service, std::uint64_t id) : service_(service), id_(id) {}
    ~FakeTimer() override;
    bool stop() override;
    bool reset(Duration d) override;

    FakeTimerService& service_;
    std::uint64_t id_;
};

// Timers fire only when the test advances time (advance) or asks explicitly. A fired timer
// can be held "in flight": its callback is queued but not run until run_in_flight().
class FakeTimerService final : public TimerService {
public:
    explicit FakeTimerService(FakeClock& clock) : clock_(clock) {}

    struct Entry {
        std::function<void()> callback;
        std::optional<TimePoint> due;  // set while pending
        bool alive = true;
    };

    std::unique_ptr<Timer> after_func(Duration d, std::function<void()> callback) override {
        const std::uint64_t id = next_id_++;
        entries_[id] = Entry{std::move(callback), clock_.now() + d, true};
        ++created;
        return std::make_unique<FakeTimer>(*this, id);
    }

    // Advances the clock to `t`, firing due timers in deadline order (ties by id) and
    // running their callbacks at once, unless hold_fires is set (then they go in flight).
    void advance_to(TimePoint t) {
        for (int guard = 0; guard < 100000; ++guard) {
            std::optional<std::uint64_t> next;
            for (auto& [id, e] : entries_) {
                if (e.alive && e.due && *e.due <= t && (!next || *e.due < *entries_[*next].due)) next = id;
            }
            if (!next) break;
            clock_.set(std::max(clock_.now(), *entries_[*next].due));
            fire(*next);
        }
        clock_.set(t);
    }
    void advance(Duration d) { advance_to(clock_.now() + d); }

    // Fires one timer now regardless of its deadline (the "fires at this instant" races).
    void fire(std::uint64_t id) {
        Entry& e = entries_.at(id);
        e.due.reset();
        if (hold_fires) {
            in_flight_.push_back(id);
        } else {
            ++callbacks_run;
            auto cb = e.callback;
            cb();
        }
    }
    // Runs callbacks that fired while hold_fires was set, oldest first.
    void run_in_flight() {
        while (!in_flight_.empty()) {
            const std::uint64_t id = in_flight_.front();
            in_flight_.pop_front();
            auto it = entries_.find(id);
            if (it == entries_.end() || !it->second.alive) continue;  // destroyed: never runs
            ++callbacks_run;
            auto cb = it->second.callback;
            cb();
        }
    }
    std::size_t pending() const {
        std::size_t n = 0;
        for (auto& [id, e] : entries_) n += (e.alive && e.due) ? 1 : 0;
        return n;
    }
    std::size_t in_flight() const { return in_flight_.size(); }
    // The ids of pending timers, earliest deadline first.
    std::vector<std::uint64_t> pending_ids() const {
        std::vector<std::pair<TimePoint, std::uint64_t>> v;
        for (auto& [id, e] : entries_) {
            if (e.alive && e.due) v.emplace_back(*e.due, id);
        }
        std::sort(v.begin(), v.end());
        std::vector<std::uint64_t> ids;
        for (auto& p : v) ids.push_back(p.second);
        return ids;
    }

    FakeClock& clock_;
    std::map<std::uint64_t, Entry> entries_;
    std::deque<std::uint64_t> in_flight_;
    std::uint64_t next_id_ = 1;
    bool hold_fires = false;
    int created = 0;
    int callbacks_run = 0;
};

inline FakeTimer::~FakeTimer() { service_.entries_.at(id_).alive = false; }
inline bool FakeTimer::stop() {
    auto& e = service_.entries_.at(id_);
    const bool was = e.due.has_value();
    e.due.reset();
    return was;
}
inline bool FakeTimer::reset(Duration d) {
    auto& e = service_.entries_.at(id_);
    const bool was = e.due.has_value();
    e.due = service_.clock_.now() + d;
    return was;
}

class FakeConn final : public Conn {
public:
    FakeConn(std::uint64_t id, bool multiplexed) : id_(id), multiplexed_(multiplexed) {}
    std::uint64_t id() const override { return id_; }
    bool multiplexed() const override { return multiplexed_; }
    void close(CloseReason reason) override {
        ++close_calls;
        closed = reason;
    }
    std::uint64_t id_;
    bool multiplexed_;
    std::optional<CloseReason> closed;
    int close_calls = 0;
};

class FakeDialer final : public Dialer {
public:
    struct Pending {
        DialId id;
        KeyId key;
        std::string key_name;
    };
    void dial(DialId id, KeyId key, std::string_view key_name) override {
        pending.push_back(Pending{id, key, std::string(key_name)});
        ++started;
    }
    void cancel(DialId id) override { canceled.push_back(id); }

    std::deque<Pending> pending;
    std::vector<DialId> canceled;
    int started = 0;
};

class RecordingListener final : public WantListener {
public:
    void want_ready(WantId w) override { ready.push_back(w); }
    std::vector<WantId> ready;
};

class RecordingTrace final : public TraceHooks {
public:
    void get_conn(KeyId) override { ++get_conns; }
    void got_conn(const GotConnInfo& info) override { got.push_back(info); }
    void put_idle_conn(ConnId, PutResult r) override { puts.push_back(r); }
    void connect_start(KeyId, DialId) override { ++connect_starts; }
    void connect_done(KeyId, DialId, std::error_code ec) override { connect_dones.push_back(ec); }
    void conn_closed(ConnId, KeyId, CloseReason r) override { closes.push_back(r); }

    int get_conns = 0;
    std::vector<GotConnInfo> got;
    std::vector<PutResult> puts;
    int connect_starts = 0;
    std::vector<std::error_code> connect_dones;
    std::vector<CloseReason> closes;
};

// A pool wired to the fakes above, with helpers that read like the scenario they drive.
class PoolTest : public ::testing::Test {
protected:
    void make_pool(Config config) {
        pool_.reset();
        pool_ = std::make_unique<Pool>(config, PoolPorts{clock_, timers_, dialer_, listener_, &trace_});
        a_ = pool_->key("|http|a:80");
        b_ = pool_->key("|http|b:80");
    }
    Pool& pool() { return *pool_; }

    // Completes the oldest pending dial with a new conn and returns it.
    FakeConn& finish_dial(bool multiplexed = false) {
        EXPECT_FALSE(dialer_.pending.empty()) << "no dial in progress";
        const auto p = dialer_.pending.front();
        dialer_.pending.pop_front();
        conns_.push_back(std::make_unique<FakeConn>(next_conn_id_++, multiplexed));
        FakeConn& c = *conns_.back();
        ids_[&c] = pool_->dial_done(p.id, c);
        return c;
    }
    void fail_dial(std::error_code ec = std::make_error_code(std::errc::connection_refused)) {
        ASSERT_FALSE(dialer_.pending.empty());
        const auto p = dialer_.pending.front();
        dialer_.pending.pop_front();
        pool_->dial_failed(p.id, ec);
    }
    ConnId id_of(FakeConn& c) { return ids_.at(&c); }

    // get_conn that must be pending; returns the want.
    WantId get_pending(KeyId key) {
        auto r = pool_->get_conn(key);
        EXPECT_FALSE(r.lease.has_value()) << "expected to wait, got an idle conn";
        return r.want;
    }
    // get_conn that must be served from the idle list.
    Lease get_idle(KeyId key) {
        auto r = pool_->get_conn(key);
        EXPECT_TRUE(r.lease.has_value()) << "expected an idle conn";
        return r.lease.value_or(Lease{});
    }
    // A fresh conn through a full dial: get_conn, finish the dial, take the result.
    Lease get_dialed(KeyId key, bool multiplexed = false) {
        const WantId w = get_pending(key);
        finish_dial(multiplexed);
        return take_ready(w);
    }
    Lease take_ready(WantId w) {
        if (std::find(listener_.ready.begin(), listener_.ready.end(), w) == listener_.ready.end()) {
            // Not pool_->take: taking a want that has no result is fatal and would stop the
            // whole suite instead of failing this test.
            ADD_FAILURE() << "want was not announced ready";
            return Lease{};
        }
        auto out = pool_->take(w);
        EXPECT_TRUE(out.lease.has_value()) << "want got an error: " << out.error.message();
        return out.lease.value_or(Lease{});
    }
    void audit() {
        auto v = pool_->check_invariants();
        EXPECT_FALSE(v.has_value()) << *v;
    }
    // Throws (a test failure, not a crash) for the empty Lease that get_idle / take_ready
    // return after a failed expectation.
    FakeConn& fake(const Lease& l) {
        if (l.conn == nullptr) throw std::runtime_error("lease without a conn (see the failed expectation above)");
        return *static_cast<FakeConn*>(l.conn);
    }

    FakeClock clock_;
    FakeTimerService timers_{clock_};
    FakeDialer dialer_;
    RecordingListener listener_;
    RecordingTrace trace_;
    std::vector<std::unique_ptr<FakeConn>> conns_;  // declared before pool_: outlives it
    std::map<FakeConn*, ConnId> ids_;
    std::uint64_t next_conn_id_ = 1;
    std::unique_ptr<Pool> pool_;
    KeyId a_ = 0, b_ = 0;
};

}  // namespace connpool::testing
