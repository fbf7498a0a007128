// Fakes and helpers shared by the property suites: a hand-set clock, timers that can hold
// fired callbacks "in flight" (Go's stop/reset races), conns that log their close, a pool
// harness that records every port and hook call, and run_isolated(), which runs a test case
// in a forked child so that a `connpool: fatal:` abort (or a hang) becomes an ordinary
// property failure that rapidcheck can shrink and print a reproduce line for.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "connpool/connpool.hpp"

namespace connpool::props {

using namespace std::chrono_literals;

// A failed check inside a case. Plain std::exception so it crosses run_isolated.
struct CheckFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

#define PROP_CHECK(cond, msg)                                                                    \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::ostringstream prop_check_os_;                                                   \
            prop_check_os_ << __FILE__ << ":" << __LINE__ << ": " << #cond << ": " << msg;       \
            throw ::connpool::props::CheckFailure(prop_check_os_.str());                        \
        }                                                                                        \
    } while (0)

class PClock final : public Clock {
public:
    TimePoint now() const override { return t; }
    TimePoint t{std::chrono::seconds(1000)};
};

class PTimers;

class PTimer final : public Timer {
public:
    PTimer(PTimers& s, std::size_t id) : s_(s), id_(id) {}
    ~PTimer() override;
    bool stop() override;
    bool reset(Duration d) override;

private:
    PTimers& s_;
    std::size_t id_;
};

// Timers never fire on their own: the test fires them (on time through advance_to, or early),
// either running the callback at once or holding it in flight until run_in_flight.
class PTimers final : public TimerService {
public:
    explicit PTimers(PClock& clock) : clock_(clock) {}
    struct Entry {
        std::function<void()> cb;
        std::optional<TimePoint> due;
        bool alive = true;
    };
    std::unique_ptr<Timer> after_func(Duration d, std::function<void()> cb) override {
        entries.push_back(Entry{std::move(cb), clock_.now() + d, true});
        ++created;
        return std::make_unique<PTimer>(*this, entries.size() - 1);
    }
    // The earliest pending timer due at or before `t` (ties: oldest timer first).
    std::optional<std::size_t> next_due(TimePoint t) const {
        std::optional<std::size_t> best;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const Entry& e = entries[i];
            if (!e.alive || !e.due || *e.due > t) continue;
            if (!best || *e.due < *entries[*best].due) best = i;
        }
        return best;
    }
    std::vector<std::size_t> pending() const {
        std::vector<std::size_t> v;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].alive && entries[i].due) v.push_back(i);
        }
        return v;
    }
    // Fires timer `id` now: it stops being pending; its callback runs now or is held.
    void fire(std::size_t id, bool hold) {
        Entry& e = entries.at(id);
        e.due.reset();
        if (hold) {
            in_flight.push_back(id);
        } else {
            auto cb = e.cb;
            cb();
        }
    }
    // Runs the held callback at position `pos` of the in-flight queue.
    void run_in_flight(std::size_t pos) {
        const std::size_t id = in_flight.at(pos);
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(pos));
        if (!entries.at(id).alive) return;
        auto cb = entries[id].cb;
        cb();
    }
    TimePoint now() const { return clock_.now(); }
    std::vector<Entry> entries;
    std::deque<std::size_t> in_flight;
    int created = 0;

private:
    PClock& clock_;
};

inline PTimer::~PTimer() { s_.entries.at(id_).alive = false; }
inline bool PTimer::stop() {
    auto& e = s_.entries.at(id_);
    const bool was = e.due.has_value();
    e.due.reset();
    return was;
}
inline bool PTimer::reset(Duration d) {
    auto& e = s_.entries.at(id_);
    const bool was = e.due.has_value();
    e.due = s_.now() + d;
    return was;
}

class PConn final : public Conn {
public:
    PConn(std::uint64_t id, bool shared, std::vector<std::pair<std::uint64_t, CloseReason>>* log,
          const Clock* clock = nullptr)
        : id_(id), shared_(shared), log_(log), clock_(clock) {}
    std::uint64_t id() const override { return id_; }
    bool multiplexed() const override { return shared_; }
    void close(CloseReason r) override {
        ++close_calls;
        reason = r;
        if (clock_ != nullptr) closed_at = clock_->now();
        if (log_ != nullptr) log_->emplace_back(id_, r);
    }
    std::uint64_t id_;
    bool shared_;
    std::vector<std::pair<std::uint64_t, CloseReason>>* log_;
    const Clock* clock_;
    int close_calls = 0;
    std::optional<CloseReason> reason;
    TimePoint closed_at{};
};

// A pool wired to the fakes, recording every call the pool makes out.
class PoolRig final : public WantListener, public Dialer, public TraceHooks {
public:
    explicit PoolRig(const Config& cfg, int nkeys = 2) {
        pool = std::make_unique<Pool>(cfg, PoolPorts{clock, timers, *this, *this, this});
        for (int k = 0; k < nkeys; ++k) keys.push_back(pool->key("|http|k" + std::to_string(k) + ":80"));
    }
    ~PoolRig() override { pool.reset(); }  // before the conns it points to

    // WantListener
    void want_ready(WantId w) override { ready.push_back(w); }
    // Dialer
    void dial(DialId d, KeyId key, std::string_view) override { dial_log.push_back({d, key}); pending_dials.push_back({d, key}); }
    void cancel(DialId d) override { cancel_log.push_back(d); }
    // TraceHooks
    void get_conn(KeyId key) override { get_conn_hooks.push_back(key); }
    void connect_start(KeyId key, DialId) override { connect_starts.push_back(key); }
    void connect_done(KeyId key, DialId, std::error_code ec) override {
        connect_dones.push_back(ec);
        connect_done_keys.push_back(key);
    }
    void got_conn(const GotConnInfo& i) override { got_log.push_back(i); }
    void put_idle_conn(ConnId c, PutResult r) override { put_log.emplace_back(c, r); }
    void conn_closed(ConnId c, KeyId key, CloseReason r) override {
        hook_close_log.emplace_back(c, r);
        hook_close_keys.push_back(key);
    }

    struct Dial {
        DialId id;
        KeyId key;
    };

    // Completes pending dial `pos` with a new conn; returns its index in `conns`.
    std::size_t finish_dial(std::size_t pos, bool shared) {
        const Dial d = pending_dials.at(pos);
        pending_dials.erase(pending_dials.begin() + static_cast<std::ptrdiff_t>(pos));
        conns.push_back(std::make_unique<PConn>(conns.size(), shared, &close_log, &clock));
        ids.push_back(pool->dial_done(d.id, *conns.back()));
        return conns.size() - 1;
    }
    void fail_dial(std::size_t pos, std::error_code ec = std::make_error_code(std::errc::connection_refused)) {
        const Dial d = pending_dials.at(pos);
        pending_dials.erase(pending_dials.begin() + static_cast<std::ptrdiff_t>(pos));
        pool->dial_failed(d.id, ec);
    }
    // Conn index of a ConnId, or -1.
    int conn_index(ConnId id) const {
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (ids[i] == id) return static_cast<int>(i);
        }
        return -1;
    }
    // Moves the clock to `t`, firing every timer due on the way (deadline order).
    void advance_to(TimePoint t, bool hold = false) {
        for (int guard = 0; guard < 100000; ++guard) {
            auto next = timers.next_due(t);
            if (!next) break;
            clock.t = std::max(clock.t, *timers.entries[*next].due);
            timers.fire(*next, hold);
        }
        clock.t = t;
    }
    void advance(Duration d, bool hold = false) { advance_to(clock.t + d, hold); }
    void run_all_in_flight() {
        while (!timers.in_flight.empty()) timers.run_in_flight(0);
    }
    void audit() const {
        auto v = pool->check_invariants();
        PROP_CHECK(!v.has_value(), "check_invariants: " << *v);
    }
    PConn& conn(std::size_t i) { return *conns.at(i); }

    PClock clock;
    PTimers timers{clock};
    std::vector<std::unique_ptr<PConn>> conns;  // outlive the pool
    std::vector<ConnId> ids;                    // ConnId of conns[i]
    std::unique_ptr<Pool> pool;
    std::vector<KeyId> keys;

    std::vector<WantId> ready;
    std::vector<KeyId> get_conn_hooks;
    std::vector<KeyId> connect_starts;
    std::vector<std::error_code> connect_dones;
    std::vector<KeyId> connect_done_keys;
    std::vector<Dial> dial_log;
    std::deque<Dial> pending_dials;
    std::vector<DialId> cancel_log;
    std::vector<GotConnInfo> got_log;
    std::vector<std::pair<ConnId, PutResult>> put_log;
    std::vector<std::pair<ConnId, CloseReason>> hook_close_log;
    std::vector<KeyId> hook_close_keys;  // the key each conn_closed hook reported
    std::vector<std::pair<std::uint64_t, CloseReason>> close_log;  // Conn::close calls
};

// The resolved trace of the case running in this (child) process, if the case keeps one:
// dumped to stderr when the pool stops the program (`connpool: fatal:` then abort), so that
// a fatal failure shows the steps that led to it, not only the command list.
inline const std::vector<std::string>* case_trace = nullptr;

inline void dump_trace_on_abort(int) {
    if (case_trace != nullptr) {
        const auto& t = *case_trace;
        const char head[] = "trace (resolved, up to the fatal call):\n";
        (void)!write(2, head, sizeof head - 1);
        for (std::size_t i = t.size() > 60 ? t.size() - 60 : 0; i < t.size(); ++i) {
            (void)!write(2, "  ", 2);
            (void)!write(2, t[i].data(), t[i].size());
            (void)!write(2, "\n", 1);
        }
    }
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

// True in the child process of a batched property (props/batch.hpp), which runs all of the
// property's cases in itself: there run_isolated runs each case in-process, and the first
// case that fails in any way ends the child (see batch.hpp for why that is enough).
inline bool batch_child = false;

// Exit code of a batch child whose case failed (as opposed to passing every case).
inline constexpr int batch_case_failed = 3;

std::optional<std::string> run_forked(const std::function<void()>& body, unsigned timeout_s = 20);

// Runs one case `body` so that an exception, a `connpool: fatal:` abort, a crash or a hang
// (longer than timeout_s) is an ordinary failure: in a forked child (run_forked), or, in a
// batch child, in-process with the first failure ending the batch child. Returns nullopt on
// success, else what went wrong.
inline std::optional<std::string> run_isolated(const std::function<void()>& body, unsigned timeout_s = 20) {
    if (!batch_child) return run_forked(body, timeout_s);
    alarm(timeout_s);  // a hang kills the batch child: the per-case rerun then reports it
    try {
        body();
    } catch (...) {
        _exit(batch_case_failed);
    }
    alarm(0);
    return std::nullopt;
}

// Runs `body` in a forked child (unless CONNPOOL_PROPS_NOFORK is set, e.g. under gdb).
// Returns nullopt on success, else what went wrong: the exception text, or the signal /
// exit status and everything the child wrote to stderr (a `connpool: fatal:` line).
// Cases that are expected to stop the program (dup_return_is_fatal) call this directly.
inline std::optional<std::string> run_forked(const std::function<void()>& body, unsigned timeout_s) {
    if (std::getenv("CONNPOOL_PROPS_NOFORK") != nullptr) {
        try {
            body();
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::nullopt;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    int fds[2];
    if (pipe(fds) != 0) return std::string("pipe failed");
    const pid_t pid = fork();
    if (pid < 0) return std::string("fork failed");
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        signal(SIGABRT, dump_trace_on_abort);
        alarm(timeout_s);
        int rc = 0;
        std::string msg;
        try {
            body();
        } catch (const std::exception& e) {
            msg = e.what();
            rc = 1;
        } catch (...) {
            msg = "unknown exception";
            rc = 1;
        }
        if (!msg.empty()) {
            msg += "\n";
            if (case_trace != nullptr) {  // a case that keeps its trace in storage outliving it
                msg += "trace:\n";
                const auto& t = *case_trace;
                for (std::size_t i = t.size() > 60 ? t.size() - 60 : 0; i < t.size(); ++i) msg += "  " + t[i] + "\n";
            }
            const char* p = msg.data();
            std::size_t left = msg.size();
            while (left > 0) {
                const ssize_t n = write(2, p, left);
                if (n <= 0) break;
                p += n;
                left -= static_cast<std::size_t>(n);
            }
        }
        _exit(rc);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
    std::string what;
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        what = sig == SIGALRM ? "case timed out (hang?)" : std::string("child killed by signal ") + strsignal(sig);
        what += ": ";
    }
    return what + out;
}

}  // namespace connpool::props
