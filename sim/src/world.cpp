// The World: simulated ports (clock, timers, dialer, conns, listener, trace hooks), the
// servers and the middlebox, closed-loop clients with Go's retry rule, the checks, and the
// run loop. Everything the pool is told comes from a queued event; every port the pool
// calls only records and schedules, never calls back into the pool (pool.hpp).
#include "world.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "rng.hpp"
#include "scheduler.hpp"

namespace connpool::sim {

const char* to_string(Outcome o) noexcept {
    switch (o) {
        case Outcome::ok: return "ok";
        case Outcome::deadline_waiting: return "deadline_waiting";
        case Outcome::deadline_in_flight: return "deadline_in_flight";
        case Outcome::dial_error: return "dial_error";
        case Outcome::server_closed: return "server_closed";
        case Outcome::nat_reset: return "nat_reset";
        case Outcome::conn_broken: return "conn_broken";
        case Outcome::conn_reset: return "conn_reset";
    }
    return "?";
}

namespace {

constexpr std::uint32_t none = 0xffffffffu;
constexpr std::int64_t response_floor_us = 50;  // every response and dial takes at least this

// Actor ids for PCT priorities: a class in the high word, an index in the low word.
constexpr std::uint64_t actor_client(std::uint64_t i) { return (1ULL << 32) | i; }
constexpr std::uint64_t actor_conn(std::uint64_t i) { return (2ULL << 32) | i; }
constexpr std::uint64_t actor_timer(std::uint64_t i) { return (3ULL << 32) | i; }
constexpr std::uint64_t actor_dial(std::uint64_t i) { return (4ULL << 32) | i; }
constexpr std::uint64_t actor_admin() { return 5ULL << 32; }
constexpr std::uint64_t actor_open_request(std::uint64_t i) { return (6ULL << 32) | i; }

Duration us(std::int64_t v) { return std::chrono::microseconds(v); }
Duration ms(std::int64_t v) { return std::chrono::milliseconds(v); }

// The first seven close reasons are the pool's own decisions (ports.hpp); the rest are
// the conn owner's, passed in through close_conn and conn_closed.
bool pool_decided(CloseReason r) {
    return static_cast<int>(r) <= static_cast<int>(CloseReason::close_idle_conns);
}

// The trace: readable lines when asked for, and always a 64-bit hash of every record's
// content (names, values, notes), so two runs can be compared without keeping text.
class Trace {
public:
    struct Field {
        template <typename T>
        Field(const char* k, T v) : key(k), value(static_cast<std::int64_t>(v)) {}
        const char* key;
        std::int64_t value;
    };

    explicit Trace(std::ostream* out) : out_(out) {}

    // Inlined at every call site, so that hashing a record whose name and note are string
    // literals folds down to a few multiply-rotates; the text is built out of line, and only
    // when a trace was asked for.
    [[gnu::always_inline]] void line(TimePoint t, std::string_view what, std::initializer_list<Field> fields,
                                     std::string_view note = {}) {
        mix(static_cast<std::uint64_t>(t.time_since_epoch().count()));
        mix_text(what);
        for (const Field& f : fields) mix(static_cast<std::uint64_t>(f.value));
        mix_text(note);
        if (out_ != nullptr) write(t, what, fields, note);
    }
    bool text() const noexcept { return out_ != nullptr; }
    std::uint64_t hash() const noexcept { return hash_; }

private:
    [[gnu::noinline]] void write(TimePoint t, std::string_view what, std::initializer_list<Field> fields,
                                 std::string_view note) {
        const std::int64_t ns = t.time_since_epoch().count();
        char buf[64];
        std::snprintf(buf, sizeof buf, "[%6" PRId64 ".%06" PRId64 "] ", ns / 1000000000, (ns % 1000000000) / 1000);
        std::string s(buf);
        for (const Field& f : fields) {
            if (f.key[0] == '#') s += '#' + std::to_string(f.value) + ' ';
        }
        s += what;
        for (const Field& f : fields) {
            if (f.key[0] == '#') continue;
            s += ' ';
            s += f.key;
            s += '=';
            s += std::to_string(f.value);
        }
        if (!note.empty()) {
            s += ' ';
            s += note;
        }
        s += '\n';
        *out_ << s;
        out_->flush();
    }

    // A 64-bit word at a time: the hash only has to tell two runs apart, and hashing
    // byte by byte was a quarter of the simulator's time. Words are read little-endian.
    [[gnu::always_inline]] void mix(std::uint64_t v) {
        hash_ ^= v;
        hash_ = ((hash_ << 23) | (hash_ >> 41)) * 0x9e3779b97f4a7c15ULL;
    }
    [[gnu::always_inline]] void mix_text(std::string_view s) {
        std::size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            std::uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            mix(w);
        }
        std::uint64_t tail = 0;
        for (std::size_t j = 0; i + j < s.size(); ++j) {
            tail |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i + j])) << (8 * j);
        }
        mix(tail ^ (static_cast<std::uint64_t>(s.size()) << 56));
    }
    std::ostream* out_;
    std::uint64_t hash_ = 14695981039346656037ULL;
};

// Chrome Trace Event Format, built in memory (replay only). Timestamps are microseconds.
class JsonTrace {
public:
    explicit JsonTrace(std::string* out) : out_(out) {
        if (out_ != nullptr) *out_ = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
    }
    bool on() const noexcept { return out_ != nullptr; }

    void meta(int pid, std::uint64_t tid, const char* what, const std::string& name) {
        event("{\"ph\":\"M\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) + ",\"name\":\"" +
              what + "\",\"args\":{\"name\":\"" + name + "\"}}");
    }
    void complete(int pid, std::uint64_t tid, const std::string& name, TimePoint start, TimePoint end,
                  const std::string& args = "") {
        event("{\"ph\":\"X\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) + ",\"name\":\"" +
              name + "\",\"ts\":" + us(start) + ",\"dur\":" + us(TimePoint{} + (end - start)) +
              (args.empty() ? "" : ",\"args\":{" + args + "}") + "}");
    }
    void instant(int pid, std::uint64_t tid, std::string name, TimePoint t) {
        for (char& ch : name) {
            if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20) ch = '\'';
        }
        event("{\"ph\":\"i\",\"s\":\"t\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) +
              ",\"name\":\"" + name + "\",\"ts\":" + us(t) + "}");
    }
    // The pool's counts: open, idle, waiting, ready, dialing (as the text trace prints them),
    // and active = open - idle: conns in use (carrying a request, or delivered to a request
    // that has not taken it yet). It moves only with open or idle, so a change of it is
    // always a change of the five.
    void counters(TimePoint t, const std::int64_t s[5]) {
        event("{\"ph\":\"C\",\"pid\":0,\"name\":\"pool\",\"ts\":" + us(t) + ",\"args\":{\"open\":" +
              std::to_string(s[0]) + ",\"idle\":" + std::to_string(s[1]) + ",\"active\":" + std::to_string(s[0] - s[1]) +
              ",\"waiting\":" + std::to_string(s[2]) + ",\"ready\":" + std::to_string(s[3]) +
              ",\"dialing\":" + std::to_string(s[4]) + "}}");
    }
    void finish() {
        if (out_ != nullptr) *out_ += "\n]}\n";
    }

private:
    static std::string us(TimePoint t) {
        const std::int64_t ns = t.time_since_epoch().count();
        char buf[40];
        std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
        return buf;
    }
    void event(const std::string& e) {
        if (out_ == nullptr) return;
        if (!first_) *out_ += ",\n";
        first_ = false;
        *out_ += e;
    }
    std::string* out_;
    bool first_ = true;
};

class World;

// A simulated TCP conn, with the client's and the server's view of it. Owned by the World
// for the whole run (the pool holds a pointer until it calls close).
class SimConn final : public Conn {
public:
    SimConn(World& world, std::uint32_t index, KeyId key) : world_(world), index_(index), key_(key) {}
    std::uint64_t id() const override { return index_ + 1; }
    bool multiplexed() const override { return false; }
    void close(CloseReason reason) override;

    World& world_;
    std::uint32_t index_;
    KeyId key_;
    ConnId pool_id{};                  // valid once dial_done returned
    bool pool_closed = false;          // the pool called close: never to be used again
    std::uint64_t closed_seq = 0;      // pool call sequence number of that close
    CloseReason close_reason{};
    bool server_closed = false;        // the server (or the middlebox) is gone; next use fails
    std::uint32_t in_use_by = none;    // request using it (HTTP/1: at most one)
    TimePoint last_activity{};         // last byte on the wire, for keep-alive and NAT limits
    std::uint64_t activity_stamp = 0;  // bumped on every use; stale server checks compare it
    std::int64_t served = 0;           // requests the server answered on it
    TimePoint span_start{};            // trace-json: start of the open idle/busy span
    std::uint32_t span_req = none;     // trace-json: request of the open busy span
    bool span_idle = false;            // trace-json: an idle span is open
};

// A timer with Go's time.Timer semantics; the state lives in the World so that queued
// events can find it by index.
class SimTimer final : public Timer {
public:
    SimTimer(World& world, std::uint32_t index) : world_(world), index_(index) {}
    ~SimTimer() override;
    bool stop() override;
    bool reset(Duration d) override;

private:
    World& world_;
    std::uint32_t index_;
};

class World final : public Clock, public TimerService, public Dialer, public WantListener, public TraceHooks {
public:
    World(const Options& options, std::ostream* text, std::string* json);
    RunResult run();

    // ---- ports (called by the pool; they record and schedule, never call the pool) ----
    TimePoint now() const override { return sched_.now(); }
    std::unique_ptr<Timer> after_func(Duration d, std::function<void()> callback) override;
    void dial(DialId dial, KeyId key, std::string_view key_name) override;
    void cancel(DialId dial) override;
    void want_ready(WantId want) override;
    void get_conn(KeyId key) override { trace_.line(now(), "  hook.get_conn", {{"key", key}}); }
    void got_conn(const GotConnInfo& i) override {
        trace_.line(now(), "  hook.got_conn",
                    {{"pc", i.conn.slot}, {"gen", i.conn.generation}, {"reused", i.reused}, {"was_idle", i.was_idle},
                     {"idle_us", std::chrono::duration_cast<std::chrono::microseconds>(i.idle_time).count()}});
    }
    void put_idle_conn(ConnId c, PutResult r) override {
        trace_.line(now(), "  hook.put_idle_conn", {{"pc", c.slot}, {"gen", c.generation}}, to_string(r));
    }
    void connect_start(KeyId key, DialId d) override {
        trace_.line(now(), "  hook.connect_start", {{"key", key}, {"pdial", d.slot}, {"gen", d.generation}});
    }
    void connect_done(KeyId key, DialId d, std::error_code ec) override {
        trace_.line(now(), "  hook.connect_done", {{"key", key}, {"pdial", d.slot}, {"gen", d.generation}},
                    ec ? "error" : "ok");
    }
    void conn_closed(ConnId c, KeyId key, CloseReason r) override {
        trace_.line(now(), "  hook.conn_closed", {{"pc", c.slot}, {"gen", c.generation}, {"key", key}}, to_string(r));
    }

    // ---- timer and conn callbacks ----
    bool timer_stop(std::uint32_t index);
    bool timer_reset(std::uint32_t index, Duration d);
    void timer_destroyed(std::uint32_t index) { timers_[index].alive = false; }
    void on_pool_close(SimConn& c, CloseReason reason);

private:
    struct TimerState {
        std::function<void()> callback;
        std::uint64_t generation = 1;  // bumped by stop and reset; a fire of an old one is stale
        std::uint32_t in_flight = 0;   // fired, callback queued
        bool pending = false;
        bool alive = true;
    };
    enum class DialOutcome : std::uint8_t { ok, refused, timed_out };
    struct SimDial {
        DialId id;
        KeyId key = 0;
        DialOutcome outcome = DialOutcome::ok;
        bool done = false;
    };
    enum class State : std::uint8_t { waiting_conn, in_flight, done };
    struct Request {
        std::uint32_t client = 0;
        KeyId key = 0;
        bool idempotent = true;
        State state = State::waiting_conn;
        std::uint32_t attempt = 0;
        TimePoint deadline{};
        TimePoint started{};
        WantId want{};
        Lease lease{};
        std::uint32_t conn = none;
        bool closing = false;           // the server answers with Connection: close
        TimePoint attempt_start{};      // when the current attempt called get_conn
        Outcome fail_cause = Outcome::ok;  // what a pending attempt_failed means
    };
    struct WantOwner {
        std::uint32_t generation = 0;
        std::uint32_t request = none;
        std::uint64_t ready_seq = 0;    // pool call sequence number of want_ready
    };

    // event handlers
    void dispatch(const Event& e);
    void trace_event(const Event& e);
    void on_client_wake(std::uint32_t client);
    void on_deadline(std::uint32_t req);
    void on_want_ready(std::uint32_t slot, std::uint32_t generation);
    void on_dial_complete(std::uint32_t index, bool canceled);
    void on_response(std::uint32_t req, std::uint32_t attempt);
    void on_attempt_failed(std::uint32_t req, std::uint32_t attempt);
    void on_server_idle_check(std::uint32_t conn, std::uint64_t stamp);
    void on_client_eof(std::uint32_t conn, bool with_408);
    void on_timer_fire(std::uint32_t index, std::uint64_t generation);
    void on_timer_callback(std::uint32_t index, std::uint64_t generation);
    void on_close_idle_tick();
    void on_arrival();
    std::uint64_t actor_req(std::uint32_t req) const {
        const std::uint32_t client = requests_[req].client;
        return client == none ? actor_open_request(req) : actor_client(client);
    }

    // requests
    void start_request(std::uint32_t client);  // client == none: an open-loop arrival
    void start_attempt(std::uint32_t req);
    std::optional<Lease> broken_pool_lease(const Request& r);
    void on_lease(std::uint32_t req, const Lease& lease, bool direct, std::uint64_t ready_seq);
    void send(std::uint32_t req, SimConn& c);
    void retry_or_fail(std::uint32_t req, bool reused, Outcome cause);
    void finish(std::uint32_t req, Outcome outcome);

    // checks
    void violate(const std::string& message);
    void check_step();
    void trace_pool_state();
    void note_time_wait();
    void json_span_end(SimConn& c);
    void json_idle_if_pooled(SimConn& c, ConnId id);
    void check_liveness();

    Duration response_time();
    SimConn& conn(std::uint32_t index) { return *conns_[index]; }

    Options o_;
    Rng rng_;
    Scheduler sched_;
    Trace trace_;
    JsonTrace json_;
    TimePoint workload_end_{};
    std::deque<TimerState> timers_;                 // index = timer id; stable references
    std::vector<std::unique_ptr<SimConn>> conns_;   // index = conn id - 1; outlives the pool
    std::vector<SimDial> dials_;
    std::map<std::uint64_t, std::uint32_t> dial_index_;  // DialId (slot<<32|gen) -> dials_ index, active only
    std::vector<Request> requests_;
    std::vector<WantOwner> want_owner_;             // index = want slot
    std::vector<std::int64_t> open_by_key_;         // conns adopted by the pool and not closed
    std::vector<std::uint32_t> stash_;              // Bug::stale_idle: conns the pool closed while idle
    std::vector<std::optional<Lease>> last_direct_; // Bug::double_lease: last idle-hit lease per key
    std::vector<KeyId> keys_;
    std::deque<TimePoint> time_wait_until_;         // client sockets in TIME_WAIT, expiry ascending
    std::vector<std::int64_t> waits_us_;            // get_conn to conn, per attempt
    bool end_noted_ = false;
    std::uint64_t pool_seq_ = 0;                    // counts want_ready and Conn::close calls
    std::int64_t dials_outstanding_ = 0;
    std::uint64_t current_step_ = 0;
    std::uint64_t step_limit_ = 0;                  // a run that needs more is an error, not a hang
    std::string failure_;
    RunResult result_;
    std::int64_t state_[5] = {-1, -1, -1, -1, -1};  // last traced pool state
    bool pool_touched_ = true;                      // a pool call since the last audit
    std::uint64_t audits_ = 0;
    std::unique_ptr<Pool> pool_;                    // last: destroyed first

    // Every call into the pool goes through one of these: pool() can only read it, and
    // pool_mut() notes that its state may have changed, so check_step audits it again.
    const Pool& pool() const { return *pool_; }
    Pool& pool_mut() {
        pool_touched_ = true;
        return *pool_;
    }
};

void SimConn::close(CloseReason reason) { world_.on_pool_close(*this, reason); }
SimTimer::~SimTimer() { world_.timer_destroyed(index_); }
bool SimTimer::stop() { return world_.timer_stop(index_); }
bool SimTimer::reset(Duration d) { return world_.timer_reset(index_, d); }

World::World(const Options& options, std::ostream* text, std::string* json)
    : o_(options),
      rng_(options.seed, 3),
      sched_(options, static_cast<std::uint64_t>(options.requests_estimate()) * 8),
      trace_(text),
      json_(json) {
    workload_end_ = TimePoint{} + ms(o_.duration_ms);
    // At most one request per client per response floor, each a bounded number of events
    // (attempts are bounded by the deadline, each attempt by a handful of events).
    const auto requests_max =
        o_.rate_per_s > 0 ? static_cast<std::uint64_t>(o_.requests_estimate()) * 2
                          : static_cast<std::uint64_t>(o_.clients) * static_cast<std::uint64_t>(o_.duration_ms * 1000 / response_floor_us + 1);
    step_limit_ = std::min<std::uint64_t>(requests_max * 400 + 1'000'000, 2'000'000'000);
    pool_ = std::make_unique<Pool>(o_.pool_config(), PoolPorts{*this, *this, *this, *this, this});
    for (std::int64_t k = 0; k < o_.keys; ++k) {
        keys_.push_back(pool_mut().key("|http|server" + std::to_string(k) + ".sim:80"));
    }
    open_by_key_.assign(keys_.size(), 0);
    last_direct_.assign(keys_.size(), std::nullopt);
}

// ---- timers --------------------------------------------------------------------------------

std::unique_ptr<Timer> World::after_func(Duration d, std::function<void()> callback) {
    const auto index = static_cast<std::uint32_t>(timers_.size());
    timers_.push_back(TimerState{std::move(callback), 1, 0, true, true});
    sched_.after(d, EventKind::timer_fire, actor_timer(index), index, 1);
    trace_.line(now(), "  timer.create", {{"timer", index}, {"after_us", std::chrono::duration_cast<std::chrono::microseconds>(d).count()}});
    return std::make_unique<SimTimer>(*this, index);
}

bool World::timer_stop(std::uint32_t index) {
    TimerState& t = timers_[index];
    if (t.pending) {
        t.pending = false;
        ++t.generation;
        trace_.line(now(), "  timer.stop", {{"timer", index}}, "-> true");
        return true;
    }
    if (t.in_flight > 0) ++result_.faults.timer_stop_false_in_flight;
    ++t.generation;
    trace_.line(now(), "  timer.stop", {{"timer", index}, {"in_flight", t.in_flight}}, "-> false");
    return false;
}

bool World::timer_reset(std::uint32_t index, Duration d) {
    TimerState& t = timers_[index];
    const bool was = t.pending;
    if (!was && t.in_flight > 0) ++result_.faults.timer_stop_false_in_flight;
    ++t.generation;
    t.pending = true;
    sched_.after(d, EventKind::timer_fire, actor_timer(index), index, t.generation);
    trace_.line(now(), "  timer.reset",
                {{"timer", index}, {"after_us", std::chrono::duration_cast<std::chrono::microseconds>(d).count()},
                 {"in_flight", t.in_flight}},
                was ? "-> true" : "-> false");
    return was;
}

void World::on_timer_fire(std::uint32_t index, std::uint64_t generation) {
    TimerState& t = timers_[index];
    if (!t.alive || !t.pending || t.generation != generation) {
        trace_.line(now(), "  stale", {{"timer", index}});
        return;
    }
    t.pending = false;
    ++t.in_flight;
    // The callback is queued, not run: until it runs, stop and reset return false and
    // other events (a reuse, a return) may happen first. The race window and the timer
    // lag (Go: the AfterFunc goroutine not yet scheduled) spread it.
    const std::int64_t lag_max = o_.race_window_us + o_.timer_lag_us;
    const Duration delay = lag_max > 0 ? us(rng_.between(0, lag_max)) : Duration::zero();
    sched_.after(delay, EventKind::timer_callback, actor_timer(index), index, t.generation);
    trace_.line(now(), "  timer.fired", {{"timer", index}, {"callback_in_us", std::chrono::duration_cast<std::chrono::microseconds>(delay).count()}});
}

void World::on_timer_callback(std::uint32_t index, std::uint64_t generation) {
    TimerState& t = timers_[index];
    --t.in_flight;
    if (!t.alive) return;  // destroyed: never runs
    const bool stale = t.generation != generation;
    if (stale) ++result_.faults.timer_stale_callbacks;
    trace_.line(now(), "  timer.callback", {{"timer", index}}, stale ? "(stopped or reset after it fired)" : "");
    pool_touched_ = true;  // the callback is the pool's own (after_func)
    t.callback();
}

// ---- dialer --------------------------------------------------------------------------------

void World::dial(DialId id, KeyId key, std::string_view /*key_name*/) {
    if (now() >= TimePoint{} + ms(o_.duration_ms / 10)) ++result_.usage.dials_after_warmup;
    const auto index = static_cast<std::uint32_t>(dials_.size());
    SimDial d{id, key, DialOutcome::ok, false};
    Duration latency = us(std::max<std::int64_t>(rng_.between(o_.dial_ms * 500, o_.dial_ms * 1500), response_floor_us));
    const bool healed = now() >= workload_end_;  // faults heal when the workload stops
    if (!healed && rng_.percent(o_.dial_refuse_pct)) {
        d.outcome = DialOutcome::refused;
        latency = us(rng_.between(response_floor_us, std::max<std::int64_t>(o_.dial_ms * 1000, response_floor_us)));
    } else if (!healed && rng_.percent(o_.dial_timeout_pct)) {
        d.outcome = DialOutcome::timed_out;
        latency = ms(o_.dial_timeout_ms);
    }
    dials_.push_back(d);
    dial_index_[(static_cast<std::uint64_t>(id.slot) << 32) | id.generation] = index;
    ++dials_outstanding_;
    sched_.after(latency, EventKind::dial_complete, actor_dial(index), index, 0);
    trace_.line(now(), "  dialer.dial", {{"dial", index}, {"key", key}, {"latency_us", std::chrono::duration_cast<std::chrono::microseconds>(latency).count()}},
                d.outcome == DialOutcome::ok ? "will succeed" : d.outcome == DialOutcome::refused ? "will be refused" : "will time out");
}

void World::cancel(DialId id) {
    auto it = dial_index_.find((static_cast<std::uint64_t>(id.slot) << 32) | id.generation);
    if (it == dial_index_.end()) {
        violate("pool cancelled a dial that is not in progress");
        return;
    }
    const std::uint32_t index = it->second;
    // A dialer may honour the cancellation (the dial ends early with an error) or finish anyway.
    const bool honour = rng_.percent(50);
    if (honour) sched_.after(us(rng_.between(0, o_.net_delay_us)), EventKind::dial_complete, actor_dial(index), index, 1);
    trace_.line(now(), "  dialer.cancel", {{"dial", index}}, honour ? "will end early" : "ignored");
}

void World::on_dial_complete(std::uint32_t index, bool canceled) {
    SimDial& d = dials_[index];
    if (d.done) {
        trace_.line(now(), "  stale", {{"dial", index}});
        return;
    }
    d.done = true;
    dial_index_.erase((static_cast<std::uint64_t>(d.id.slot) << 32) | d.id.generation);
    --dials_outstanding_;
    if (canceled || d.outcome != DialOutcome::ok) {
        std::error_code ec = std::make_error_code(std::errc::connection_refused);
        const char* what = "refused";
        if (canceled) {
            ec = std::make_error_code(std::errc::operation_canceled);
            what = "canceled";
            ++result_.faults.dials_canceled;
        } else if (d.outcome == DialOutcome::timed_out) {
            ec = std::make_error_code(std::errc::timed_out);
            what = "timed out";
            ++result_.faults.dials_timed_out;
        } else {
            ++result_.faults.dials_refused;
        }
        trace_.line(now(), "  pool.dial_failed", {{"dial", index}, {"key", d.key}}, what);
        pool_mut().dial_failed(d.id, ec);
        return;
    }
    const auto ci = static_cast<std::uint32_t>(conns_.size());
    conns_.push_back(std::make_unique<SimConn>(*this, ci, d.key));
    SimConn& c = *conns_.back();
    c.last_activity = now();
    ++open_by_key_[d.key];
    const bool late = pool().waiting_count(d.key) == 0;
    if (late) ++result_.faults.late_dials;
    trace_.line(now(), "  pool.dial_done", {{"dial", index}, {"conn", c.id()}, {"key", d.key}},
                late ? "(no request waiting: late binding)" : "");
    if (json_.on()) json_.meta(1, c.id(), "thread_name", "conn " + std::to_string(c.id()) + " key " + std::to_string(d.key));
    c.pool_id = pool_mut().dial_done(d.id, c);
    json_idle_if_pooled(c, c.pool_id);
    if (!c.pool_closed && o_.server_idle_ms > 0) {
        sched_.after(ms(o_.server_idle_ms), EventKind::server_idle_check, actor_conn(ci), ci, c.activity_stamp);
    }
}

// ---- listener and conns --------------------------------------------------------------------

void World::want_ready(WantId want) {
    ++pool_seq_;
    if (want.slot >= want_owner_.size() || want_owner_[want.slot].generation != want.generation) {
        violate("pool announced want " + std::to_string(want.slot) + "." + std::to_string(want.generation) +
                " that no request owns");
        return;
    }
    WantOwner& owner = want_owner_[want.slot];
    owner.ready_seq = pool_seq_;
    sched_.after(Duration::zero(), EventKind::want_ready, actor_req(owner.request), want.slot,
                 want.generation);
    trace_.line(now(), "  listener.want_ready", {{"req", owner.request}, {"want", want.slot}});
}

// Whether the client closes first, leaving its socket in TIME_WAIT: when the pool or the
// request gives the conn up. Not when the server closed first (EOF, 408, Connection:
// close) or the conn was reset.
bool client_closes_first(CloseReason r, const SimConn& c) {
    if (c.server_closed) return false;
    return pool_decided(r) || r == CloseReason::request_canceled || r == CloseReason::conn_broken;
}

void World::on_pool_close(SimConn& c, CloseReason reason) {
    if (client_closes_first(reason, c)) {
        time_wait_until_.push_back(now() + time_wait_duration);
        ++result_.usage.time_wait_total;
        note_time_wait();
    }
    if (c.pool_closed) violate("pool called Conn::close twice on conn " + std::to_string(c.id()));
    json_span_end(c);
    if (json_.on()) json_.instant(1, c.id(), "closed: " + std::string(to_string(reason)), now());
    c.pool_closed = true;
    c.closed_seq = ++pool_seq_;
    c.close_reason = reason;
    --open_by_key_[c.key_];
    trace_.line(now(), "  conn.close", {{"conn", static_cast<std::int64_t>(c.id())}}, to_string(reason));
    if (c.in_use_by != none && pool_decided(reason)) {
        violate("pool closed conn " + std::to_string(c.id()) + " (" + std::string(to_string(reason)) +
                ") while request " + std::to_string(c.in_use_by) + " was using it");
    }
    // connpool's fix of Go's early close (pool.hpp, T6 divergence): a conn is closed for
    // idle_timeout only after a full IdleConnTimeout idle. Its idle time started no earlier
    // than its last traffic, so closing sooner after that is always too early.
    if (reason == CloseReason::idle_timeout && now() - c.last_activity < ms(o_.idle_timeout_ms)) {
        violate("pool closed conn " + std::to_string(c.id()) + " for idle_timeout only " +
                std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now() - c.last_activity).count()) +
                " us after its last request (IdleConnTimeout " + std::to_string(o_.idle_timeout_ms) + " ms)");
    }
    if (o_.bug_kind() == Bug::stale_idle && c.in_use_by == none && pool_decided(reason)) stash_.push_back(c.index_);
}

// ---- servers and middlebox -----------------------------------------------------------------

Duration World::response_time() {
    const std::int64_t mean_us = o_.resp_ms * 1000;
    std::int64_t v = rng_.between(mean_us * (100 - o_.resp_spread_pct) / 100, mean_us * (100 + o_.resp_spread_pct) / 100);
    if (rng_.percent(1)) v *= 10;  // a slow tail
    // A floor keeps virtual time moving: with zero-time responses a closed loop would
    // run forever at one instant.
    return us(std::max<std::int64_t>(v, response_floor_us));
}

void World::on_server_idle_check(std::uint32_t ci, std::uint64_t stamp) {
    SimConn& c = conn(ci);
    if (c.pool_closed || c.server_closed || c.in_use_by != none || c.activity_stamp != stamp) return;
    c.server_closed = true;
    ++result_.faults.server_idle_closes;
    const bool fin_lost = o_.nat_idle_ms > 0 && now() - c.last_activity > ms(o_.nat_idle_ms);
    if (fin_lost) {
        ++result_.faults.nat_fins_lost;
        trace_.line(now(), "server.keepalive_close", {{"conn", c.id()}}, "FIN swallowed by the middlebox");
        return;
    }
    const Duration delay = us(rng_.between(0, o_.net_delay_us));
    const bool sends_408 = rng_.percent(o_.server_408_pct);
    if (sends_408) ++result_.faults.server_408s;
    sched_.after(delay, EventKind::client_eof, actor_conn(ci), ci, sends_408 ? 1 : 0);
    trace_.line(now(), "server.keepalive_close", {{"conn", c.id()}, {"fin_in_us", std::chrono::duration_cast<std::chrono::microseconds>(delay).count()}},
                sends_408 ? "after an unsolicited 408" : "");
}

void World::on_client_eof(std::uint32_t ci, bool with_408) {
    SimConn& c = conn(ci);
    if (c.pool_closed) return;  // the pool closed it first
    ++result_.faults.eof_seen;
    // RM3: EOF and a 408 while idle both close the conn as server_closed_idle.
    trace_.line(now(), "  pool.conn_closed", {{"conn", c.id()}, {"in_use_by", c.in_use_by == none ? -1 : c.in_use_by}},
                with_408 ? "server_closed_idle (RM3: 408 on an idle conn)" : "server_closed_idle (RM2, RM3: EOF)");
    pool_mut().conn_closed(c.pool_id, CloseReason::server_closed_idle);
}

// ---- clients and requests ------------------------------------------------------------------

void World::on_client_wake(std::uint32_t client) {
    if (now() >= workload_end_) {
        trace_.line(now(), "  client.stop", {{"client", client}});
        return;
    }
    start_request(client);
}

// Open loop: requests arrive on their own schedule (uniform gaps with the configured mean),
// whatever the state of the ones before them.
void World::on_arrival() {
    if (now() >= workload_end_) return;
    const std::int64_t mean_gap_us = std::max<std::int64_t>(1'000'000 / o_.rate_per_s, 1);
    sched_.after(us(rng_.between(1, 2 * mean_gap_us)), EventKind::arrival, actor_admin());
    start_request(none);
}

void World::start_request(std::uint32_t client) {
    const auto req = static_cast<std::uint32_t>(requests_.size());
    Request r;
    r.client = client;
    r.key = keys_[rng_.below(keys_.size())];
    r.idempotent = rng_.percent(o_.idempotent_pct);
    r.deadline = now() + ms(o_.request_timeout_ms);
    r.started = now();
    requests_.push_back(r);
    ++result_.requests;
    sched_.at(r.deadline, EventKind::request_deadline, actor_req(req), req);
    trace_.line(now(), "  request.start", {{"req", req}, {"client", client == none ? -1 : client}, {"key", r.key}},
                r.idempotent ? "GET" : "POST");
    start_attempt(req);
}

// The deliberately broken pool of Options::bug: a wrapper that sometimes answers get_conn
// itself with a wrong conn, so the checks must catch it.
std::optional<Lease> World::broken_pool_lease(const Request& r) {
    if (o_.bug_kind() == Bug::stale_idle) {
        // The most recent few only: the stash grows through the run.
        for (std::size_t i = stash_.size() > 16 ? stash_.size() - 16 : 0; i < stash_.size(); ++i) {
            SimConn& c = conn(stash_[i]);
            if (c.key_ == r.key && rng_.percent(50)) {
                return Lease{c.pool_id, &c, c.key_, true, true, Duration::zero()};
            }
        }
    }
    if (o_.bug_kind() == Bug::double_lease && last_direct_[r.key]) {
        const Lease l = *last_direct_[r.key];
        if (static_cast<SimConn*>(l.conn)->in_use_by != none && rng_.percent(50)) return l;
    }
    return std::nullopt;
}

void World::start_attempt(std::uint32_t req) {
    Request& r = requests_[req];
    if (now() >= r.deadline) {  // RT1: each attempt first checks the request's context
        finish(req, Outcome::deadline_waiting);
        return;
    }
    if (o_.bug_kind() != Bug::none) {
        if (auto fake = broken_pool_lease(r)) {
            trace_.line(now(), "  BUG pool wrapper hands out a conn", {{"req", req}, {"conn", fake->conn->id()}});
            on_lease(req, *fake, true, 0);
            return;
        }
    }
    r.attempt_start = now();
    GetConnResult got = pool_mut().get_conn(r.key);
    if (got.lease) {
        trace_.line(now(), "  pool.get_conn", {{"req", req}, {"attempt", r.attempt}, {"conn", got.lease->conn->id()}},
                    "-> idle conn");
        last_direct_[r.key] = got.lease;
        on_lease(req, *got.lease, true, 0);
        return;
    }
    Request& r2 = requests_[req];
    r2.state = State::waiting_conn;
    r2.want = got.want;
    if (want_owner_.size() <= got.want.slot) want_owner_.resize(got.want.slot + 1);
    want_owner_[got.want.slot] = WantOwner{got.want.generation, req, 0};
    trace_.line(now(), "  pool.get_conn", {{"req", req}, {"attempt", r2.attempt}, {"want", got.want.slot}}, "-> wait");
}

void World::on_want_ready(std::uint32_t slot, std::uint32_t generation) {
    if (slot >= want_owner_.size() || want_owner_[slot].generation != generation) return;
    const WantOwner owner = want_owner_[slot];
    Request& r = requests_[owner.request];
    if (r.state != State::waiting_conn || r.want.slot != slot || r.want.generation != generation) {
        trace_.line(now(), "  stale", {{"req", owner.request}, {"want", slot}}, "(request gave up)");
        return;
    }
    want_owner_[slot].generation = 0;
    WantOutcome out = pool_mut().take(r.want);
    if (!out.lease) {
        trace_.line(now(), "  pool.take", {{"req", owner.request}}, "-> dial error (D4, not retried)");
        finish(owner.request, Outcome::dial_error);
        return;
    }
    trace_.line(now(), "  pool.take", {{"req", owner.request}, {"conn", out.lease->conn->id()}, {"reused", out.lease->reused}},
                "-> conn");
    on_lease(owner.request, *out.lease, false, owner.ready_seq);
}

void World::on_lease(std::uint32_t req, const Lease& lease, bool direct, std::uint64_t ready_seq) {
    Request& r = requests_[req];
    SimConn& c = *static_cast<SimConn*>(lease.conn);
    if (c.key_ != r.key) {
        violate("K5: request " + std::to_string(req) + " for key " + std::to_string(r.key) + " got conn " +
                std::to_string(c.id()) + " of key " + std::to_string(c.key_));
        return;
    }
    if (c.pool_closed) {
        if (direct || c.closed_seq < ready_seq) {
            violate("pool handed out conn " + std::to_string(c.id()) + " to request " + std::to_string(req) +
                    " after it had closed it (" + std::string(to_string(c.close_reason)) + ")");
            return;
        }
        if (pool_decided(c.close_reason)) {
            violate("pool closed conn " + std::to_string(c.id()) + " (" + std::string(to_string(c.close_reason)) +
                    ") after delivering it to request " + std::to_string(req));
            return;
        }
        // It was alive when delivered and the server closed it before the request took it:
        // Go's request then fails on the broken conn and is retried only under RT2.
        ++result_.faults.died_after_delivery;
        r.state = State::in_flight;
        trace_.line(now(), "  request.conn_died_before_use", {{"req", req}, {"conn", c.id()}});
        pool_mut().close_conn(lease.id, CloseReason::conn_broken);
        retry_or_fail(req, lease.reused, Outcome::conn_broken);
        return;
    }
    if (c.in_use_by != none) {
        violate("HTTP/1 conn " + std::to_string(c.id()) + " used by requests " + std::to_string(c.in_use_by) + " and " +
                std::to_string(req) + " at once");
        return;
    }
    if (pool().is_idle(lease.id)) {
        violate("conn " + std::to_string(c.id()) + " leased to request " + std::to_string(req) + " is still idle in the pool");
        return;
    }
    r.lease = lease;
    r.conn = c.index_;
    waits_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(now() - r.attempt_start).count());
    send(req, c);
}

void World::send(std::uint32_t req, SimConn& c) {
    Request& r = requests_[req];
    json_span_end(c);
    c.span_req = req;
    c.span_start = now();
    r.state = State::in_flight;
    c.in_use_by = req;
    ++c.activity_stamp;
    const Duration wire = us(rng_.between(0, o_.net_delay_us));
    if (c.server_closed) {
        // The server closed it (or the middlebox dropped it) and the client has not seen the FIN yet.
        ++result_.faults.sent_on_server_closed;
        r.fail_cause = Outcome::server_closed;
        sched_.after(wire, EventKind::attempt_failed, actor_req(req), req, r.attempt);
        trace_.line(now(), "  request.send", {{"req", req}, {"conn", c.id()}}, "on a conn the server closed: EOF follows");
        return;
    }
    if (o_.nat_idle_ms > 0 && now() - c.last_activity > ms(o_.nat_idle_ms)) {
        c.server_closed = true;  // the middlebox forgot the flow: this conn is dead for good
        ++result_.faults.nat_drops;
        r.fail_cause = Outcome::nat_reset;
        sched_.after(wire, EventKind::attempt_failed, actor_req(req), req, r.attempt);
        trace_.line(now(), "  request.send", {{"req", req}, {"conn", c.id()}}, "through a dropped NAT mapping: reset follows");
        return;
    }
    if (c.served > 0 && rng_.percent(o_.reset_on_reuse_pct)) {
        // The server resets the conn as the request arrives: nothing is read, so Go sees
        // transportReadFromServerError and retries it under RT2(f).
        c.server_closed = true;
        ++result_.faults.resets_on_reuse;
        r.fail_cause = Outcome::conn_reset;
        sched_.after(wire, EventKind::attempt_failed, actor_req(req), req, r.attempt);
        trace_.line(now(), "  request.send", {{"req", req}, {"conn", c.id()}}, "server resets the reused conn: RST follows");
        return;
    }
    ++c.served;
    r.closing = o_.close_after > 0 && c.served >= o_.close_after;
    const Duration rt = response_time();
    sched_.after(rt, EventKind::response, actor_req(req), req, r.attempt);
    trace_.line(now(), "  request.send", {{"req", req}, {"conn", c.id()}, {"attempt", r.attempt}, {"resp_us", std::chrono::duration_cast<std::chrono::microseconds>(rt).count()}},
                r.closing ? "(server will close after this response)" : "");
}

void World::on_response(std::uint32_t req, std::uint32_t attempt) {
    Request& r = requests_[req];
    if (r.state != State::in_flight || r.attempt != attempt) return;
    SimConn& c = conn(r.conn);
    json_span_end(c);
    c.in_use_by = none;
    c.last_activity = now();
    ++c.activity_stamp;
    if (r.closing) {
        c.server_closed = true;
        ++result_.faults.close_after_closes;
        trace_.line(now(), "  pool.close_conn", {{"req", req}, {"conn", c.id()}}, "response_close (B1)");
        pool_mut().close_conn(r.lease.id, CloseReason::response_close);
    } else if (o_.bug_kind() == Bug::lost_put && rng_.percent(5)) {
        // The broken wrapper forgets to return the conn: its lease never ends.
        trace_.line(now(), "  BUG pool wrapper loses put_idle_conn", {{"req", req}, {"conn", c.id()}});
    } else {
        trace_.line(now(), "  pool.put_idle_conn", {{"req", req}, {"conn", c.id()}});
        pool_mut().put_idle_conn(r.lease.id);
        json_idle_if_pooled(c, r.lease.id);
        if (!c.pool_closed && o_.server_idle_ms > 0) {
            sched_.after(ms(o_.server_idle_ms), EventKind::server_idle_check, actor_conn(c.index_), c.index_, c.activity_stamp);
        }
    }
    finish(req, Outcome::ok);
}

void World::on_attempt_failed(std::uint32_t req, std::uint32_t attempt) {
    Request& r = requests_[req];
    if (r.state != State::in_flight || r.attempt != attempt) return;
    SimConn& c = conn(r.conn);
    json_span_end(c);
    c.in_use_by = none;
    ++c.activity_stamp;
    trace_.line(now(), "  pool.close_conn", {{"req", req}, {"conn", c.id()}, {"reused", r.lease.reused}},
                r.fail_cause == Outcome::nat_reset    ? "read_error (reset by middlebox)"
                : r.fail_cause == Outcome::conn_reset ? "read_error (reset by server)"
                                                      : "read_error (EOF)");
    pool_mut().close_conn(r.lease.id, CloseReason::read_error);
    retry_or_fail(req, r.lease.reused, r.fail_cause);
}

// RT2: a request that failed on a conn is retried only if the conn was reused (never a
// fresh one, which would loop) and the request is replayable (RT3: idempotent, no body).
void World::retry_or_fail(std::uint32_t req, bool reused, Outcome cause) {
    Request& r = requests_[req];
    ++result_.faults.attempts_failed;
    if (reused && r.idempotent) {
        ++result_.faults.retries;
        ++r.attempt;
        r.conn = none;
        trace_.line(now(), "  request.retry", {{"req", req}, {"attempt", r.attempt}}, "(RT2: reused conn, idempotent)");
        start_attempt(req);
        return;
    }
    finish(req, cause);
}

void World::on_deadline(std::uint32_t req) {
    Request& r = requests_[req];
    if (r.state == State::done) return;
    if (r.state == State::waiting_conn) {
        trace_.line(now(), "  pool.cancel_want", {{"req", req}, {"want", r.want.slot}});
        want_owner_[r.want.slot].generation = 0;
        pool_mut().cancel_want(r.want);
        finish(req, Outcome::deadline_waiting);
        return;
    }
    SimConn& c = conn(r.conn);
    json_span_end(c);
    c.in_use_by = none;
    ++c.activity_stamp;
    trace_.line(now(), "  pool.close_conn", {{"req", req}, {"conn", c.id()}}, "request_canceled (B5)");
    pool_mut().close_conn(r.lease.id, CloseReason::request_canceled);
    c.server_closed = true;  // the client closed the conn (B5); the server sees it go
    finish(req, Outcome::deadline_in_flight);
}

void World::finish(std::uint32_t req, Outcome outcome) {
    Request& r = requests_[req];
    r.state = State::done;
    ++result_.outcomes[static_cast<int>(outcome)];
    if (json_.on() && r.client != none) {
        json_.complete(2, r.client, "req " + std::to_string(req), r.started, now(),
                       "\"outcome\":\"" + std::string(to_string(outcome)) + "\",\"attempts\":" + std::to_string(r.attempt + 1));
    }
    if (r.client != none) {
        const Duration think = us(rng_.between(0, 2 * o_.think_ms * 1000));
        sched_.after(think, EventKind::client_wake, actor_client(r.client), r.client);
    }
    trace_.line(now(), "  request.done", {{"req", req}, {"attempts", r.attempt + 1}}, to_string(outcome));
}

void World::on_close_idle_tick() {
    if (now() >= workload_end_) return;
    ++result_.faults.close_idle_calls;
    trace_.line(now(), "  pool.close_idle_connections", {});
    pool_mut().close_idle_connections();
    sched_.after(ms(o_.close_idle_every_ms), EventKind::close_idle_tick, actor_admin());
}

// ---- checks ----------------------------------------------------------------------------------

void World::violate(const std::string& message) {
    if (!failure_.empty()) return;
    failure_ = message;
    trace_.line(now(), "VIOLATION", {{"step", static_cast<std::int64_t>(current_step_)}}, message);
}

// The pool's audit is a pure function of the pool's state, and only a call into the pool
// (pool_mut(), or a pool timer's callback) changes that state: after an event that made
// none (a stale timer or deadline, a server-side close still on the wire) the audit would
// re-examine exactly the state it passed after the previous event, so it runs after every
// event that called into the pool. The world's checks below run after every event.
void World::check_step() {
    if (pool_touched_) {
        pool_touched_ = false;
        ++audits_;
        if (auto v = pool().check_invariants()) violate("pool invariant: " + *v);
    }
    for (std::size_t k = 0; k < keys_.size(); ++k) {
        const auto pool_open = static_cast<std::int64_t>(pool().open_conns(keys_[k]));
        if (pool_open != open_by_key_[k]) {
            violate("key " + std::to_string(k) + ": pool counts " + std::to_string(pool_open) + " open conns, world " +
                    std::to_string(open_by_key_[k]));
        }
    }
    if (static_cast<std::int64_t>(pool().dials_in_progress()) != dials_outstanding_) {
        violate("pool counts " + std::to_string(pool().dials_in_progress()) + " dials in progress, dialer " +
                std::to_string(dials_outstanding_));
    }
}

// trace-json: closes the conn's open span (idle, or busy with a request), if any.
void World::json_span_end(SimConn& c) {
    if (!json_.on()) return;
    if (c.span_idle) json_.complete(1, c.id(), "idle", c.span_start, now());
    if (c.span_req != none) json_.complete(1, c.id(), "req " + std::to_string(c.span_req), c.span_start, now());
    c.span_idle = false;
    c.span_req = none;
}

void World::json_idle_if_pooled(SimConn& c, ConnId id) {
    if (!json_.on() || c.pool_closed || !pool().is_idle(id)) return;
    c.span_idle = true;
    c.span_start = now();
}

void World::note_time_wait() {
    while (!time_wait_until_.empty() && time_wait_until_.front() <= now()) time_wait_until_.pop_front();
    result_.usage.time_wait_peak = std::max<std::uint64_t>(result_.usage.time_wait_peak, time_wait_until_.size());
}

void World::trace_pool_state() {
    const std::int64_t s[5] = {static_cast<std::int64_t>(pool().open_conns()), static_cast<std::int64_t>(pool().idle_count()),
                               static_cast<std::int64_t>(pool().waiting_count()), static_cast<std::int64_t>(pool().ready_count()),
                               static_cast<std::int64_t>(pool().dials_in_progress())};
    bool changed = false;
    for (int i = 0; i < 5; ++i) changed = changed || s[i] != state_[i];
    if (!changed) return;
    for (int i = 0; i < 5; ++i) state_[i] = s[i];
    trace_.line(now(), "  pool", {{"open", s[0]}, {"idle", s[1]}, {"waiting", s[2]}, {"ready", s[3]}, {"dialing", s[4]}});
    if (json_.on()) json_.counters(now(), s);
}

void World::check_liveness() {
    for (std::size_t i = 0; i < requests_.size(); ++i) {
        if (requests_[i].state != State::done) {
            violate("liveness: request " + std::to_string(i) + " never completed or failed");
            return;
        }
    }
    if (o_.idle_timeout_ms == 0) {
        // No IdleConnTimeout: idle conns live until the embedder closes them, as at shutdown.
        trace_.line(now(), "drain: pool.close_idle_connections", {}, "(IdleConnTimeout is 0)");
        pool_mut().close_idle_connections();
        check_step();
    }
    if (pool().open_conns() != 0 || pool().waiting_count() != 0 || pool().ready_count() != 0 ||
        pool().dials_in_progress() != 0) {
        violate("liveness: after the workload stopped and every timeout passed the pool still has " +
                std::to_string(pool().open_conns()) + " open conns, " + std::to_string(pool().waiting_count()) +
                " waiters, " + std::to_string(pool().ready_count()) + " untaken results, " +
                std::to_string(pool().dials_in_progress()) + " dials");
    }
}

// ---- the run loop ------------------------------------------------------------------------------

// to_string(EventKind) with the lengths known, so the trace hash does not call strlen.
constexpr std::string_view kind_names[] = {
    "client_wake",       "request_deadline", "want_ready",     "dial_complete",
    "response",          "attempt_failed",   "server_idle_check", "client_eof",
    "timer_fire",        "timer_callback",   "close_idle_tick", "arrival",
};
static_assert(std::size(kind_names) == static_cast<std::size_t>(EventKind::arrival) + 1);

// One line per event: its step number, kind and arguments by name. Conns are shown by
// their id (index + 1), as everywhere else in the trace.
void World::trace_event(const Event& e) {
    const auto step = static_cast<std::int64_t>(current_step_);
    const std::string_view kind = kind_names[static_cast<std::size_t>(e.kind)];
    switch (e.kind) {
        case EventKind::client_wake: trace_.line(now(), kind, {{"#", step}, {"client", e.a}}); break;
        case EventKind::request_deadline: trace_.line(now(), kind, {{"#", step}, {"req", e.a}}); break;
        case EventKind::want_ready: trace_.line(now(), kind, {{"#", step}, {"want", e.a}, {"gen", e.b}}); break;
        case EventKind::dial_complete: trace_.line(now(), kind, {{"#", step}, {"dial", e.a}}, e.b ? "(cancelled)" : ""); break;
        case EventKind::response:
        case EventKind::attempt_failed: trace_.line(now(), kind, {{"#", step}, {"req", e.a}, {"attempt", e.b}}); break;
        case EventKind::server_idle_check:
        case EventKind::client_eof: trace_.line(now(), kind, {{"#", step}, {"conn", e.a + 1}}); break;
        case EventKind::timer_fire:
        case EventKind::timer_callback: trace_.line(now(), kind, {{"#", step}, {"timer", e.a}, {"gen", e.b}}); break;
        case EventKind::close_idle_tick:
        case EventKind::arrival: trace_.line(now(), kind, {{"#", step}}); break;
    }
}

void World::dispatch(const Event& e) {
    const auto a = static_cast<std::uint32_t>(e.a);
    switch (e.kind) {
        case EventKind::client_wake: on_client_wake(a); break;
        case EventKind::request_deadline: on_deadline(a); break;
        case EventKind::want_ready: on_want_ready(a, static_cast<std::uint32_t>(e.b)); break;
        case EventKind::dial_complete: on_dial_complete(a, e.b != 0); break;
        case EventKind::response: on_response(a, static_cast<std::uint32_t>(e.b)); break;
        case EventKind::attempt_failed: on_attempt_failed(a, static_cast<std::uint32_t>(e.b)); break;
        case EventKind::server_idle_check: on_server_idle_check(a, e.b); break;
        case EventKind::client_eof: on_client_eof(a, e.b != 0); break;
        case EventKind::timer_fire: on_timer_fire(a, e.b); break;
        case EventKind::timer_callback: on_timer_callback(a, e.b); break;
        case EventKind::close_idle_tick: on_close_idle_tick(); break;
        case EventKind::arrival: on_arrival(); break;
    }
}

RunResult World::run() {
    trace_.line(now(), "run", {{"seed", static_cast<std::int64_t>(o_.seed)}}, encode_repro(o_));
    if (json_.on()) {
        json_.meta(0, 0, "process_name", "pool");
        json_.meta(1, 0, "process_name", "conns");
        json_.meta(2, 0, "process_name", "clients");
        for (std::int64_t c = 0; o_.rate_per_s == 0 && c < o_.clients; ++c) {
            json_.meta(2, static_cast<std::uint64_t>(c), "thread_name", "client " + std::to_string(c));
        }
    }
    if (o_.rate_per_s > 0) {
        sched_.after(Duration::zero(), EventKind::arrival, actor_admin());
    } else {
        for (std::int64_t c = 0; c < o_.clients; ++c) {
            sched_.after(us(rng_.between(0, 2 * o_.think_ms * 1000)), EventKind::client_wake,
                         actor_client(static_cast<std::uint64_t>(c)), static_cast<std::uint64_t>(c));
        }
    }
    if (o_.close_idle_every_ms > 0) sched_.after(ms(o_.close_idle_every_ms), EventKind::close_idle_tick, actor_admin());
    // After the workload stops every request ends by its deadline, then every timer and
    // server timeout runs out; a queue still busy long after that is a livelock.
    const Duration longest = std::max({ms(o_.idle_timeout_ms), ms(o_.server_idle_ms), ms(o_.nat_idle_ms)});
    const TimePoint quiesce_by = workload_end_ + ms(o_.request_timeout_ms) + ms(o_.dial_timeout_ms) +
                                 ms(o_.dial_ms * 2) + longest + std::chrono::seconds(60);
    Event e;
    while (failure_.empty() && sched_.pending() > 0) {
        if (sched_.next_due() > quiesce_by) {
            violate("liveness: events still queued " + std::to_string(sched_.pending()) +
                    " long after the workload stopped (livelock?)");
            break;
        }
        if (sched_.steps() >= step_limit_) {
            violate("step limit of " + std::to_string(step_limit_) + " events reached");
            break;
        }
        sched_.pop(e);
        current_step_ = sched_.steps();
        trace_event(e);
        dispatch(e);
        if (sched_.overflowed()) {
            violate("more than " + std::to_string(Scheduler::pending_max) +
                    " events pending at once: the workload is too large to simulate");
        }
        if (failure_.empty()) check_step();
        trace_pool_state();
        result_.usage.peak_open = std::max<std::uint64_t>(result_.usage.peak_open, pool().open_conns());
        if (!end_noted_ && now() >= workload_end_) {
            end_noted_ = true;
            note_time_wait();
            result_.usage.time_wait_at_end = time_wait_until_.size();
        }
    }
    if (failure_.empty()) check_liveness();
    result_.ok = failure_.empty();
    result_.failure = failure_;
    result_.events = sched_.steps();
    result_.audits = audits_;
    result_.races = sched_.races();
    result_.reorders = sched_.reorders();
    result_.simulated = now().time_since_epoch();
    result_.pool = pool().stats();
    if (!waits_us_.empty()) {
        std::sort(waits_us_.begin(), waits_us_.end());
        result_.usage.wait_p50_us = waits_us_[waits_us_.size() / 2];
        result_.usage.wait_p99_us = waits_us_[std::min(waits_us_.size() - 1, waits_us_.size() * 99 / 100)];
        result_.usage.wait_max_us = waits_us_.back();
    }
    trace_.line(now(), "end", {{"events", static_cast<std::int64_t>(result_.events)}}, result_.ok ? "ok" : "FAILED");
    result_.trace_hash = trace_.hash();
    if (!result_.ok && json_.on()) json_.instant(0, 0, "VIOLATION: " + result_.failure, now());
    json_.finish();
    return result_;
}

}  // namespace

RunResult run_world(const Options& options, std::ostream* trace, std::string* trace_json) {
    World world(options, trace, trace_json);
    return world.run();
}

}  // namespace connpool::sim
