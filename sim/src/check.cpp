// connpool-sim check: the bounded exhaustive model checker (check.hpp, docs/CHECKER.md).
//
// The search is stateless: the Pool cannot be copied, so a state is rebuilt by replaying
// its path from the initial state, and states are merged through a visited set of 128-bit
// hashes of their fingerprints. Breadth-first order makes the first violation found a
// shortest one. The wall clock (steady_clock) is read only to report the time taken.
#include "check.hpp"
#include "options.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <system_error>
#include <tuple>

#include "connpool/connpool.hpp"

namespace connpool::sim {

namespace {

using namespace std::chrono_literals;

constexpr Duration tick_length = 1s;
constexpr TimePoint epoch{1000s};  // not 0, so no idle_at equals TimePoint{}
constexpr std::uint32_t none = 0xffffffffu;
constexpr int drain_steps_max = 1000;

// ---- options -------------------------------------------------------------------------------

struct IntOption {
    const char* name;
    int CheckOptions::*field;
    int min, max;
    bool in_repro;
};
// The upper bounds keep every count within the harness's fixed tables (16 requests, conns,
// timers and dials in a fingerprint) and every event argument within a byte.
constexpr IntOption int_options[] = {
    {"keys", &CheckOptions::keys, 1, 4, true},
    {"conns", &CheckOptions::conns, 1, 8, true},
    {"requests", &CheckOptions::requests, 1, 10, true},
    {"depth", &CheckOptions::depth, 1, 200, false},
    {"idle-timeout", &CheckOptions::idle_timeout, 0, 10, true},
    {"max-conns-per-host", &CheckOptions::max_conns_per_host, 0, 8, true},
    {"max-idle", &CheckOptions::max_idle, 0, 8, true},
    {"max-idle-per-host", &CheckOptions::max_idle_per_host, -1, 8, true},
};
struct BoolOption {
    const char* name;
    bool CheckOptions::*field;
};
constexpr BoolOption bool_options[] = {
    {"keep-alives-off", &CheckOptions::keep_alives_off}, {"cancel", &CheckOptions::cancel},
    {"server-close", &CheckOptions::server_close},       {"close-idle", &CheckOptions::close_idle},
    {"shared", &CheckOptions::shared},                   {"dial-fail", &CheckOptions::dial_fail},
};
constexpr const char* bug_names[] = {"none", "stale-idle", "double-lease", "lost-put"};

std::optional<long long> parse_int(std::string_view s) {
    if (s.empty() || s.size() > 12) return std::nullopt;
    bool negative = false;
    if (s[0] == '-') {
        negative = true;
        s.remove_prefix(1);
        if (s.empty()) return std::nullopt;
    }
    long long v = 0;
    for (const char ch : s) {
        if (ch < '0' || ch > '9') return std::nullopt;
        v = v * 10 + (ch - '0');
    }
    return negative ? -v : v;
}

// ---- fingerprints and the visited set --------------------------------------------------------

std::uint64_t fmix64(std::uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

struct Hash128 {
    std::uint64_t a = 0, b = 0;
    friend bool operator==(Hash128, Hash128) = default;
};

// Two independent 64-bit chains over the bytes: with n distinct states the chance that
// two of them share a hash (and one is wrongly skipped) is about n^2 / 2^129.
Hash128 hash_bytes(const std::string& s) {
    std::uint64_t a = 0x9e3779b97f4a7c15ULL ^ s.size();
    std::uint64_t b = 0x632be59bd9b4e019ULL + s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        for (int j = 0; j < 8; ++j) w |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i + j])) << (8 * j);
        a = fmix64(a ^ w) + 0x94d049bb133111ebULL;
        b = fmix64(b + w * 0xbf58476d1ce4e5b9ULL) ^ (b >> 29);
    }
    std::uint64_t w = 0;
    for (int j = 0; i < s.size(); ++i, ++j) w |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i])) << (8 * j);
    a = fmix64(a ^ w ^ 0xff);
    b = fmix64(b + w * 0xbf58476d1ce4e5b9ULL + 0xff);
    if (a == 0 && b == 0) b = 1;  // (0, 0) marks an empty table entry
    return {a, b};
}

// Open addressing; membership only, never iterated, so its layout cannot affect the search.
class VisitedSet {
public:
    VisitedSet() : table_(1 << 16) {}
    // Inserts; returns false if it was already there.
    bool insert(Hash128 h) {
        if ((size_ + 1) * 2 > table_.size()) grow();
        if (!place(table_, h)) return false;
        ++size_;
        return true;
    }
    std::size_t size() const { return size_; }

private:
    static bool place(std::vector<Hash128>& t, Hash128 h) {
        const std::size_t mask = t.size() - 1;
        for (std::size_t i = h.a & mask;; i = (i + 1) & mask) {
            if (t[i] == Hash128{}) {
                t[i] = h;
                return true;
            }
            if (t[i] == h) return false;
        }
    }
    void grow() {
        std::vector<Hash128> bigger(table_.size() * 2);
        for (const Hash128& h : table_) {
            if (!(h == Hash128{})) place(bigger, h);
        }
        table_.swap(bigger);
    }
    std::vector<Hash128> table_;
    std::size_t size_ = 0;
};

void put_byte(std::string& out, std::uint32_t v) { out.push_back(static_cast<char>(v < 0xff ? v : 0xff)); }

// ---- the harness -----------------------------------------------------------------------------

bool pool_decided(CloseReason r) { return static_cast<int>(r) <= static_cast<int>(CloseReason::close_idle_conns); }

enum class Phase : std::uint8_t { waiting, ready, leased, done };

struct Request {
    KeyId key = 0;
    Phase phase = Phase::waiting;
    WantId want{};
    std::uint32_t conn = none;  // the leased conn, or the conn delivered to the ready want (none: an error)
    std::uint32_t dial = none;  // the dial started for it
    bool dial_queued = false;   // waiting for a MaxConnsPerHost slot (Go's connsPerHostWait, D1)
};

struct ConnState {
    ConnId id{};
    KeyId key = 0;
    bool shared = false;
    bool closed = false;    // the pool called Conn::close
    CloseReason close_reason = CloseReason::owner;
    bool reported = false;  // its owner closed it (close_conn) or reported it dead (conn_closed)
    bool returned = false;  // went through a return past P1/P2, so a lease must say reused (P3)
    bool idle = false;      // on the pool's idle list after the last event
    bool dead = false;      // closed and unreferenced: the pool recycled its slot
    TimePoint idle_since{};
    std::uint64_t idle_seq = 0;  // when it entered the idle list: LRU order
};

struct TimerState {
    std::function<void()> callback;
    std::optional<TimePoint> due;  // pending until then
    std::uint32_t in_flight = 0;   // fired, callback not yet run
    std::uint32_t slot = none;     // the pool conn slot it belongs to, once known
    bool alive = true;
};

struct DialState {
    DialId id{};
    KeyId key = 0;
    std::uint32_t owner = none;  // the request it was started for
    bool pending = true;
    bool cancel_requested = false;
};

class CheckWorld;

class FakeConn final : public Conn {
public:
    FakeConn(CheckWorld& world, std::uint32_t index, bool shared) : world_(world), index_(index), shared_(shared) {}
    std::uint64_t id() const override { return index_; }
    bool multiplexed() const override { return shared_; }
    void close(CloseReason reason) override;

private:
    CheckWorld& world_;
    std::uint32_t index_;
    bool shared_;
};

class FakeTimer final : public Timer {
public:
    FakeTimer(CheckWorld& world, std::uint32_t index) : world_(world), index_(index) {}
    ~FakeTimer() override;
    bool stop() override;
    bool reset(Duration d) override;

private:
    CheckWorld& world_;
    std::uint32_t index_;
};

using CloseList = std::vector<std::pair<std::uint32_t, CloseReason>>;

// One state of the search: the real pool wired to deterministic ports, the requests and
// conns as the embedder sees them, and the checks. Built from the initial state by
// replaying a path; `step` runs one event and checks it.
//
// The checks compare what the pool did in one call with what the rules of
// shared/go-pool-rules.md allow from the state before it, as far as an embedder can see it:
// closes (which conn, which reason), deliveries (which request), put results, leases and
// their GotConnInfo, trace hooks, dial starts and cancels, timers. The harness keeps a small
// model of which request each dial was started for (D1, D6), which is what decides D4, D5
// and C5.
class CheckWorld final : public Clock, public TimerService, public Dialer, public WantListener, public TraceHooks {
public:
    CheckWorld(const CheckOptions& options, std::ostream* trace)
        : o_(options), config_(options.pool_config()), trace_(trace) {
        timeout_ = options.idle_timeout * tick_length;
        age_cap_ = timeout_ + tick_length;
        // The conns the dialer may create, made once: a reset world reuses them.
        for (int c = 0; c < options.conns; ++c) {
            conn_objs_.push_back(std::make_unique<FakeConn>(*this, static_cast<std::uint32_t>(c), options.shared));
        }
        start();
    }
    ~CheckWorld() override { pool_.reset(); }  // before the conns and timers it points to

    // Back to the initial state: a new pool, no request, conn, timer or dial. The harness's
    // vectors keep their capacity, so rebuilding a state allocates little.
    void reset() {
        pool_.reset();
        now_ = epoch;
        conns_.clear();
        timers_.clear();
        dials_.clear();
        requests_.clear();
        keys_.clear();
        idle_seq_ = 0;
        close_idle_used_ = false;
        close_idle_active_ = false;
        steps_ = 0;
        checking_ = true;
        violation_.reset();
        start();
    }
    CheckWorld(const CheckWorld&) = delete;
    CheckWorld& operator=(const CheckWorld&) = delete;

    // ---- ports ---------------------------------------------------------------------------------

    TimePoint now() const override { return now_; }
    std::unique_ptr<Timer> after_func(Duration d, std::function<void()> callback) override {
        const auto index = static_cast<std::uint32_t>(timers_.size());
        timers_.push_back(TimerState{std::move(callback), now_ + d, 0, none, true});
        timers_created_.push_back(index);
        note([&] {
            return "timer T" + std::to_string(index) + " created, due t=" + std::to_string(seconds(now_ + d)) + "s";
        });
        return std::make_unique<FakeTimer>(*this, index);
    }
    // D1, D6: a dial is for the oldest request of its key queued for a slot, else for the
    // request get_conn is creating.
    void dial(DialId id, KeyId key, std::string_view) override {
        const auto d = static_cast<std::uint32_t>(dials_.size());
        std::uint32_t owner = none;
        for (std::uint32_t r = 0; r < requests_.size() && owner == none; ++r) {
            const Request& req = requests_[r];
            if (req.phase == Phase::waiting && req.dial_queued && req.key == key) owner = r;
        }
        if (owner == none && current_get_ != none && requests_[current_get_].key == key &&
            requests_[current_get_].dial == none) {
            owner = current_get_;
        }
        if (owner == none) {
            fail("D6: a dial started for k" + std::to_string(key) + ", for which no request waits without a dial");
        } else {
            requests_[owner].dial = d;
            requests_[owner].dial_queued = false;
        }
        dials_.push_back(DialState{id, key, owner, true, false});
        dials_started_.push_back(d);
        note([&] { return "dial d" + std::to_string(d) + " started for " + rname(owner); });
    }
    void cancel(DialId id) override {
        for (std::uint32_t d = 0; d < dials_.size(); ++d) {
            if (dials_[d].pending && dials_[d].id == id) {
                dials_[d].cancel_requested = true;
                dial_cancels_.push_back(d);
                note([&] { return "dial d" + std::to_string(d) + " cancelled by the pool"; });
                return;
            }
        }
        fail("Dialer::cancel for a dial that is not in progress");
    }
    void want_ready(WantId want) override { ready_.push_back(want); }

    // trace hooks (TR1-TR3 and the lifecycle hooks), checked after each event
    void get_conn(KeyId key) override { hook_gets_.push_back(key); }
    void got_conn(const GotConnInfo& info) override { hook_got_.push_back(info); }
    void put_idle_conn(ConnId conn, PutResult result) override { hook_puts_.emplace_back(conn, result); }
    void connect_start(KeyId key, DialId dial) override { hook_starts_.emplace_back(key, dial); }
    void connect_done(KeyId key, DialId dial, std::error_code error) override {
        hook_dones_.push_back(HookDone{key, dial, static_cast<bool>(error)});
    }
    void conn_closed(ConnId conn, KeyId key, CloseReason reason) override {
        hook_closes_.push_back(HookClose{conn, key, reason});
    }

    void on_close(std::uint32_t c, CloseReason reason) {
        ConnState& cs = conns_[c];
        if (cs.closed) {
            fail("Conn::close called twice on c" + std::to_string(c));
            return;
        }
        cs.closed = true;
        cs.close_reason = reason;
        closes_.emplace_back(c, reason);
        note([&] { return "c" + std::to_string(c) + " closed (" + std::string(to_string(reason)) + ")"; });
    }
    void on_timer_stop(std::uint32_t t, bool result) {
        if (!result && timers_[t].in_flight > 0) {
            note([&] { return "timer T" + std::to_string(t) + " stop -> false, callback in flight"; });
        }
    }
    void on_timer_reset(std::uint32_t t, bool result) {
        note([&] { return "timer T" + std::to_string(t) + " reset, due t=" + std::to_string(seconds(*timers_[t].due)) + "s" +
             (!result && timers_[t].in_flight > 0 ? " (-> false, a callback in flight)" : ""); });
    }
    TimerState& timer(std::uint32_t t) { return timers_[t]; }

    const std::optional<std::string>& violation() const { return violation_; }

    // Off while a path that was already checked is replayed to rebuild its state: the state
    // is updated as usual, the pure checks are skipped (the same events passed them before).
    void set_checking(bool on) { checking_ = on; }

    // ---- enabled events ----------------------------------------------------------------------

    void enabled(std::vector<CheckEvent>& out) const {
        out.clear();
        using K = CheckEventKind;
        if (requests_.size() < static_cast<std::size_t>(o_.requests)) {
            for (int k = 0; k < o_.keys; ++k) out.push_back({K::get, static_cast<std::uint8_t>(k)});
        }
        for (std::size_t r = 0; r < requests_.size(); ++r) {
            const auto a = static_cast<std::uint8_t>(r);
            switch (requests_[r].phase) {
                case Phase::ready:
                    out.push_back({K::take, a});
                    if (o_.cancel) out.push_back({K::cancel, a});
                    break;
                case Phase::waiting:
                    if (o_.cancel) out.push_back({K::cancel, a});
                    break;
                case Phase::leased:
                    out.push_back({K::put, a});
                    out.push_back({K::close, a});
                    break;
                case Phase::done: break;
            }
        }
        const bool can_create = conns_.size() < static_cast<std::size_t>(o_.conns);
        for (std::size_t d = 0; d < dials_.size(); ++d) {
            if (!dials_[d].pending) continue;
            if (can_create) out.push_back({K::dial_ok, static_cast<std::uint8_t>(d)});
            // Past the conn bound a dial can only fail, so no dial is left hanging.
            if (o_.dial_fail || !can_create) out.push_back({K::dial_fail, static_cast<std::uint8_t>(d)});
        }
        if (o_.server_close) {
            for (std::size_t c = 0; c < conns_.size(); ++c) {
                if (!conns_[c].dead && !conns_[c].closed) out.push_back({K::server_close, static_cast<std::uint8_t>(c)});
            }
        }
        if (o_.close_idle && !close_idle_used_) out.push_back({K::close_idle, 0});
        bool due_pending = false;
        for (std::size_t t = 0; t < timers_.size(); ++t) {
            if (timers_[t].alive && timers_[t].due && *timers_[t].due <= now_) {
                out.push_back({K::fire, static_cast<std::uint8_t>(t)});
                due_pending = true;
            }
        }
        for (std::size_t t = 0; t < timers_.size(); ++t) {
            if (timers_[t].in_flight > 0) out.push_back({K::run, static_cast<std::uint8_t>(t)});
        }
        // Time passes one tick at a time, never past a timer that is due and has not fired,
        // and only while it can matter: a timer is armed, or an idle conn is young enough for
        // its age to make a difference (without an idle timeout too: then the pool must not
        // care how old a conn is).
        if (!due_pending && time_matters()) out.push_back({K::tick, 0});
    }

    // No event is left that the system owes: no lease to end, no result to take, no dial to
    // finish. Optional events (new requests, cancels, server closes, CloseIdleConnections)
    // and time may still happen; liveness is judged here.
    bool quiescent() const {
        for (const Request& r : requests_) {
            if (r.phase == Phase::ready || r.phase == Phase::leased) return false;
        }
        for (const DialState& d : dials_) {
            if (d.pending) return false;
        }
        return true;
    }

    bool time_matters() const {
        for (const TimerState& t : timers_) {
            if (t.alive && t.due) return true;
        }
        for (const ConnState& cs : conns_) {
            if (!cs.dead && cs.idle && capped_age(cs) < age_cap_) return true;
        }
        return false;
    }

    bool is_enabled(CheckEvent e) const {
        std::vector<CheckEvent> events;
        enabled(events);
        return std::find(events.begin(), events.end(), e) != events.end();
    }

    // ---- one event -----------------------------------------------------------------------------

    // Runs `e` (which must be enabled) and every check. Returns false on a violation.
    bool step(CheckEvent e) {
        closes_.clear();
        ready_.clear();
        timers_created_.clear();
        dials_started_.clear();
        dial_cancels_.clear();
        hook_gets_.clear();
        hook_got_.clear();
        hook_puts_.clear();
        hook_starts_.clear();
        hook_dones_.clear();
        hook_closes_.clear();
        notes_.clear();
        lease_given_.reset();
        put_result_.reset();
        expected_cancels_.clear();
        event_conn_ = none;
        current_get_ = none;
        ++steps_;
        if (trace_ != nullptr) {  // the head first, flushed: a pool abort still shows which event
            char head[64];
            std::snprintf(head, sizeof head, "%6d  %3llds  %-16s ", steps_, seconds(now_), describe(e).c_str());
            *trace_ << head << std::flush;
        }
        using K = CheckEventKind;
        bool deliveries_allowed = false;
        switch (e.kind) {
            case K::get: do_get(e.arg); break;
            case K::take: do_take(e.arg); break;
            case K::dial_ok: do_dial_ok(e.arg); deliveries_allowed = true; break;
            case K::dial_fail: do_dial_fail(e.arg); deliveries_allowed = true; break;
            case K::put: do_put(e.arg); deliveries_allowed = true; break;
            case K::close: do_close(e.arg); break;
            case K::cancel: do_cancel(e.arg); deliveries_allowed = true; break;
            case K::server_close: do_server_close(e.arg); break;
            case K::close_idle: do_close_idle(); break;
            case K::tick:
                now_ += tick_length;
                note([&] { return "now t=" + std::to_string(seconds(now_)) + "s"; });
                break;
            case K::fire: {
                TimerState& t = timers_[e.arg];
                t.due.reset();
                ++t.in_flight;
                note([&] { return "its callback is in flight (slot " + std::to_string(t.slot) + ")"; });
                break;
            }
            case K::run: do_run(e.arg); break;
        }
        if (!violation_) check_deliveries(e, deliveries_allowed);
        if (!violation_ && checking_) check_hooks(e);
        std::sort(dial_cancels_.begin(), dial_cancels_.end());  // the pool cancels in dial slot order
        if (!violation_ && checking_ && dial_cancels_ != expected_cancels_) {
            fail(e.kind == K::close_idle ? "C5: CloseIdleConnections cancelled dials " + list(dial_cancels_, "d") +
                                               ", expected exactly the dials no request waits for: " +
                                               list(expected_cancels_, "d")
                                         : "C5: the pool cancelled dial " + list(dial_cancels_, "d") +
                                               "; only CloseIdleConnections cancels dials (G2, G5)");
        }
        if (!violation_ && checking_) check_after_event();
        observe();
        if (!violation_ && checking_) check_timers();
        if (trace_ != nullptr) print_step();
        return !violation_;
    }

    // Liveness, in a quiescent state: no request waits, and after every timer has run the
    // pool has no waiter, no result, no dial and (with an idle timeout) no open HTTP/1 conn.
    // Runs the timers through `step`, so their closes are checked too. Leaves the world
    // drained.
    bool check_liveness() {
        for (std::size_t r = 0; r < requests_.size(); ++r) {
            if (requests_[r].phase == Phase::waiting) {
                fail("liveness: r" + std::to_string(r) + " (k" + std::to_string(requests_[r].key) +
                     ") waits for a conn, and no dial, lease or delivery is left that could serve it (connsPerHost " +
                     std::to_string(pool_->conns_per_host(keys_[requests_[r].key])) + ")");
                if (trace_ != nullptr) *trace_ << "       VIOLATION: " << *violation_ << '\n';
                return false;
            }
        }
        if (trace_ != nullptr) *trace_ << "       quiescent: every request is done; draining the timers\n";
        for (int i = 0; i < drain_steps_max; ++i) {
            std::optional<CheckEvent> next;
            for (std::size_t t = 0; t < timers_.size() && !next; ++t) {
                if (timers_[t].in_flight > 0) next = CheckEvent{CheckEventKind::run, static_cast<std::uint8_t>(t)};
            }
            for (std::size_t t = 0; t < timers_.size() && !next; ++t) {
                if (timers_[t].alive && timers_[t].due && *timers_[t].due <= now_) {
                    next = CheckEvent{CheckEventKind::fire, static_cast<std::uint8_t>(t)};
                }
            }
            for (std::size_t t = 0; t < timers_.size() && !next; ++t) {
                if (timers_[t].alive && timers_[t].due) next = CheckEvent{CheckEventKind::tick, 0};
            }
            if (!next) break;
            if (!step(*next)) return false;
        }
        std::size_t shared_open = 0;
        for (const ConnState& cs : conns_) shared_open += !cs.dead && !cs.closed && cs.shared ? 1 : 0;
        std::string what;
        if (pool_->waiting_count() != 0) what = std::to_string(pool_->waiting_count()) + " wants still waiting";
        else if (pool_->ready_count() != 0) what = std::to_string(pool_->ready_count()) + " results never taken";
        else if (pool_->dials_in_progress() != 0) what = std::to_string(pool_->dials_in_progress()) + " dials in progress";
        else if (timeout_ > Duration::zero() && pool_->open_conns() > shared_open) {
            what = std::to_string(pool_->open_conns() - shared_open) +
                   " HTTP/1 conns still open after every idle timer ran (IdleConnTimeout, T3/T6)";
        } else if (auto v = pool_->check_invariants()) {
            what = "pool invariant: " + *v;
        }
        if (!what.empty()) {
            fail("liveness: after draining, " + what);
            if (trace_ != nullptr) *trace_ << "       VIOLATION: " << *violation_ << '\n';
            return false;
        }
        if (trace_ != nullptr) *trace_ << "       drained: no waiter, no dial, no open HTTP/1 conn\n";
        return true;
    }

    // ---- the fingerprint ---------------------------------------------------------------------

    // Everything that decides what can happen next and what the checks expect, with labels
    // (request, conn, timer and dial numbers) left out: requests are sorted, conns, timers and
    // dials are named by their pool slots, ages are capped where the rules stop telling them
    // apart. The pool adds its own state (Pool::append_state_for_testing).
    void fingerprint(std::string& out) const {
        out.clear();
        put_byte(out, static_cast<std::uint32_t>(requests_.size()));
        put_byte(out, static_cast<std::uint32_t>(conns_.size()));
        put_byte(out, (close_idle_used_ ? 1u : 0u) | (close_idle_active_ ? 2u : 0u));
        std::array<std::array<std::uint32_t, 5>, 16> live{};
        std::size_t n = 0;
        for (const Request& r : requests_) {
            if (r.phase == Phase::done || n == live.size()) continue;
            const bool holds = r.phase == Phase::leased || r.phase == Phase::ready;
            const bool dialing = r.dial != none && dials_[r.dial].pending;
            live[n++] = {r.key, static_cast<std::uint32_t>(r.phase), r.phase == Phase::leased ? none : r.want.slot,
                         holds && r.conn != none ? conns_[r.conn].id.slot : none,
                         (r.dial_queued ? 1u : 0u) | (dialing ? 2u : 0u)};
        }
        std::sort(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(n));
        put_byte(out, static_cast<std::uint32_t>(n));
        for (std::size_t i = 0; i < n; ++i) {
            for (const std::uint32_t v : live[i]) put_byte(out, v);
        }
        // conns in slot order, with their idle rank (LRU order) and capped idle age
        std::array<std::uint64_t, 16> seqs{};
        std::size_t idle_n = 0;
        for (const ConnState& cs : conns_) {
            if (!cs.dead && cs.idle && idle_n < seqs.size()) seqs[idle_n++] = cs.idle_seq;
        }
        std::sort(seqs.begin(), seqs.begin() + static_cast<std::ptrdiff_t>(idle_n));
        std::array<std::pair<std::uint32_t, std::uint32_t>, 16> by_slot{};
        std::size_t live_conns = 0;
        for (std::uint32_t c = 0; c < conns_.size() && live_conns < by_slot.size(); ++c) {
            if (!conns_[c].dead) by_slot[live_conns++] = {conns_[c].id.slot, c};
        }
        std::sort(by_slot.begin(), by_slot.begin() + static_cast<std::ptrdiff_t>(live_conns));
        put_byte(out, static_cast<std::uint32_t>(live_conns));
        for (std::size_t i = 0; i < live_conns; ++i) {
            const ConnState& cs = conns_[by_slot[i].second];
            put_byte(out, cs.id.slot);
            put_byte(out, cs.key);
            put_byte(out, (cs.shared ? 1u : 0u) | (cs.closed ? 2u : 0u) | (cs.reported ? 4u : 0u) |
                              (cs.returned ? 8u : 0u) | (cs.idle ? 16u : 0u));
            if (cs.idle) {
                put_byte(out, static_cast<std::uint32_t>(capped_age(cs) / tick_length));
                const auto idle_end = seqs.begin() + static_cast<std::ptrdiff_t>(idle_n);
                put_byte(out, static_cast<std::uint32_t>(std::lower_bound(seqs.begin(), idle_end, cs.idle_seq) - seqs.begin()));
            }
        }
        // timers by slot: pending deadline relative to now, callbacks in flight
        std::array<std::array<std::uint32_t, 3>, 16> ts{};
        std::size_t tn = 0;
        for (const TimerState& t : timers_) {
            if (!t.alive || tn == ts.size()) continue;
            ts[tn++] = {t.slot, t.due ? static_cast<std::uint32_t>((*t.due - now_) / tick_length) : none, t.in_flight};
        }
        std::sort(ts.begin(), ts.begin() + static_cast<std::ptrdiff_t>(tn));
        put_byte(out, static_cast<std::uint32_t>(tn));
        for (std::size_t i = 0; i < tn; ++i) {
            for (const std::uint32_t v : ts[i]) put_byte(out, v);
        }
        // dials in progress by dial slot, with the want slot of their request if it still waits
        std::array<std::array<std::uint32_t, 4>, 16> ds{};
        std::size_t dn = 0;
        for (const DialState& d : dials_) {
            if (!d.pending || dn == ds.size()) continue;
            const bool owner_waits = d.owner != none && requests_[d.owner].phase == Phase::waiting;
            ds[dn++] = {d.id.slot, d.key, d.cancel_requested ? 1u : 0u, owner_waits ? requests_[d.owner].want.slot : none};
        }
        std::sort(ds.begin(), ds.begin() + static_cast<std::ptrdiff_t>(dn));
        put_byte(out, static_cast<std::uint32_t>(dn));
        for (std::size_t i = 0; i < dn; ++i) {
            for (const std::uint32_t v : ds[i]) put_byte(out, v);
        }
        pool_->append_state_for_testing(out, age_cap_);
    }

    static void print_header(std::ostream& out) { out << "  step  time  event            what happened\n"; }

    std::string describe(CheckEvent e) const {
        const std::string a = std::to_string(e.arg);
        switch (e.kind) {
            case CheckEventKind::get: return "get k" + a;
            case CheckEventKind::take: return "take r" + a;
            case CheckEventKind::dial_ok: return "dial d" + a + " ok";
            case CheckEventKind::dial_fail: return "dial d" + a + " fails";
            case CheckEventKind::put: return "put r" + a;
            case CheckEventKind::close: return "close r" + a;
            case CheckEventKind::cancel: return "cancel r" + a;
            case CheckEventKind::server_close: return "server closes c" + a;
            case CheckEventKind::close_idle: return "close idle";
            case CheckEventKind::tick: return "tick";
            case CheckEventKind::fire: return "timer T" + a + " fires";
            case CheckEventKind::run: return "timer T" + a + " runs";
        }
        return "?";
    }

private:
    struct HookDone {
        KeyId key;
        DialId dial;
        bool failed;
    };
    struct HookClose {
        ConnId conn;
        KeyId key;
        CloseReason reason;
    };

    static long long seconds(TimePoint t) { return static_cast<long long>((t - epoch) / tick_length); }

    void start() {
        pool_ = std::make_unique<Pool>(config_, PoolPorts{*this, *this, *this, *this, this});
        for (int k = 0; k < o_.keys; ++k) keys_.push_back(pool_->key("|http|k" + std::to_string(k) + ":80"));
    }

    Duration age(const ConnState& cs) const { return now_ - cs.idle_since; }
    Duration capped_age(const ConnState& cs) const { return std::min(age(cs), age_cap_); }
    // T3: an idle conn is too old to hand out once idle longer than IdleConnTimeout.
    bool too_old(const ConnState& cs) const { return timeout_ > Duration::zero() && age(cs) > timeout_; }

    void fail(std::string message) {
        if (!violation_) violation_ = std::move(message);
    }
    // Adds to the readable trace of this event; `text` (a callable returning the line) runs
    // only when a trace is being printed, so the search pays nothing for it.
    template <typename Text>
    void note(Text text) {
        if (trace_ != nullptr) notes_.push_back(text());
    }
    // Strings are built by appending: GCC 12 at -O3 reports a false -Wrestrict inside
    // `"literal" + std::string` (an insert at the front).
    static std::string named(const char* prefix, std::uint32_t n) {
        std::string s(prefix);
        s += std::to_string(n);
        return s;
    }
    static std::string cname(std::uint32_t c) { return c == none ? std::string("-") : named("c", c); }
    static std::string rname(std::uint32_t r) { return r == none ? std::string("no request") : named("r", r); }
    static std::string list(const std::vector<std::uint32_t>& v, const char* prefix) {
        std::string s;
        for (const std::uint32_t x : v) {
            if (!s.empty()) s += ' ';
            s += named(prefix, x);
        }
        return s.empty() ? "none" : s;
    }
    static std::string closes_text(const CloseList& closes) {
        std::string s;
        for (const auto& [c, r] : closes) s += (s.empty() ? "" : ", ") + cname(c) + " " + std::string(to_string(r));
        return s.empty() ? "none" : s;
    }

    std::uint32_t conn_of(ConnId id) const {
        for (std::uint32_t c = 0; c < conns_.size(); ++c) {
            if (!conns_[c].dead && conns_[c].id == id) return c;
        }
        return none;
    }
    std::uint32_t live_conn_at_slot(std::uint32_t slot) const {
        for (std::uint32_t c = 0; c < conns_.size(); ++c) {
            if (!conns_[c].dead && conns_[c].id.slot == slot) return c;
        }
        return none;
    }
    // Requests of `key` still waiting, oldest first (W4: waiters are served in order).
    std::vector<std::uint32_t> waiters(KeyId key) const {
        std::vector<std::uint32_t> w;
        for (std::uint32_t r = 0; r < requests_.size(); ++r) {
            if (requests_[r].phase == Phase::waiting && requests_[r].key == key) w.push_back(r);
        }
        return w;
    }
    // Idle conns before this event (the flags are refreshed only after it), oldest first.
    std::vector<std::uint32_t> idle_before(std::optional<KeyId> key) const {
        std::vector<std::uint32_t> v;
        for (std::uint32_t c = 0; c < conns_.size(); ++c) {
            if (!conns_[c].dead && conns_[c].idle && (!key || conns_[c].key == *key)) v.push_back(c);
        }
        std::sort(v.begin(), v.end(),
                  [&](std::uint32_t x, std::uint32_t y) { return conns_[x].idle_seq < conns_[y].idle_seq; });
        return v;
    }
    // Requests holding `c`: leased, or delivered and not yet taken.
    int holders(std::uint32_t c, std::uint32_t except = none) const {
        int n = 0;
        for (std::uint32_t r = 0; r < requests_.size(); ++r) {
            if (r == except || requests_[r].conn != c) continue;
            if (requests_[r].phase == Phase::leased || requests_[r].phase == Phase::ready) ++n;
        }
        return n;
    }
    // The first request other than `except` holding `c`, for messages.
    std::uint32_t other_holder(std::uint32_t c, std::uint32_t except) const {
        for (std::uint32_t r = 0; r < requests_.size(); ++r) {
            if (r != except && requests_[r].conn == c &&
                (requests_[r].phase == Phase::leased || requests_[r].phase == Phase::ready)) {
                return r;
            }
        }
        return none;
    }
    bool retired(const ConnState& cs) const { return cs.shared && !cs.closed && !cs.dead && !pool_->is_open(cs.id); }
    bool closed_before_event(std::uint32_t c) const {
        if (!conns_[c].closed) return false;
        for (const auto& [x, r] : closes_) {
            if (x == c) return false;
        }
        return true;
    }

    // The closes of this event must be exactly `expected` (in any order).
    void expect_closes(CloseList expected, const char* why) {
        if (!checking_) return;
        CloseList got = closes_;
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
 if (got != expected) fail(std::string(why) + ": closed " + closes_text(closes_) + ", expected " + closes_text(expected));
    }

    // A conn handed to request r: by get_conn from the idle list (`mru` is the conn T4 says
    // it must be), or by take.
    void check_lease(std::uint32_t r, const Lease& lease, bool from_get, std::uint32_t mru) {
        if (!checking_) return;
        const std::uint32_t c = conn_of(lease.id);
        const Request& req = requests_[r];
        if (c == none) {
            fail(rname(r) + " was handed an unknown or recycled conn");
            return;
        }
        lease_given_ = lease;
        const ConnState& cs = conns_[c];
        if (cs.key != req.key || lease.key != keys_[req.key]) {
            fail("K5: " + rname(r) + " of k" + std::to_string(req.key) + " was handed " + cname(c) + " of k" +
                 std::to_string(cs.key));
        } else if (cs.closed && (from_get || !cs.reported)) {
            fail(rname(r) + " was handed " + cname(c) + ", which was closed (" + std::string(to_string(cs.close_reason)) +
                 (cs.reported ? ", by its owner)" : ", by the pool)"));
        } else if (!cs.shared && holders(c, r) > 0) {
            fail("INV3: HTTP/1 conn " + cname(c) + " leased to two requests (" + rname(other_holder(c, r)) + " and " +
                 rname(r) + ")");
        } else if (from_get) {
            if (!cs.idle) {
                fail("T4: get_conn handed " + rname(r) + " " + cname(c) + ", which was not idle");
            } else if (too_old(cs)) {
                fail("T3: get_conn handed out " + cname(c) + ", idle for " + std::to_string(age(cs) / tick_length) +
                     " s, longer than IdleConnTimeout " + std::to_string(o_.idle_timeout) + " s");
            } else if (c != mru) {
                fail("T4: get_conn handed out " + cname(c) + " but the most recently used usable idle conn of k" +
                     std::to_string(req.key) + " is " + cname(mru) + " (LIFO)");
            } else if (!lease.was_idle || lease.idle_time != age(cs)) {
                fail("TR2: lease of " + cname(c) + " says was_idle=" + std::to_string(lease.was_idle) + " idle_time=" +
                     std::to_string(lease.idle_time / 1ms) + " ms; it was idle for " + std::to_string(age(cs) / 1ms) +
                     " ms");
            } else if (!lease.reused) {
                fail("P3: lease of idle conn " + cname(c) + " says reused=false");
            } else if (cs.shared && !pool_->is_idle(cs.id)) {
                fail("X1: shared conn " + cname(c) + " left the idle list when handed out");
            }
        } else {
            if (c != req.conn) {
                fail("take gave " + rname(r) + " " + cname(c) + " but " + cname(req.conn) + " was delivered to it");
            } else if (lease.was_idle || lease.idle_time != Duration::zero()) {
                fail("TR2: delivered conn " + cname(c) + " says was_idle=" + std::to_string(lease.was_idle) + " idle_time=" +
                     std::to_string(lease.idle_time / 1ms) + " ms (only idle-list hits are WasIdle)");
            } else if (cs.returned && !lease.reused) {
                fail("P3: lease of " + cname(c) + ", which had been returned to the pool, says reused=false");
            }
        }
    }

    // What a return of HTTP/1 conn c (put_idle_conn, cancel_want of a delivered conn, a dial
    // nobody waits for) must do once past P1, P2 and P5: P6, P7, else P9 and P10.
    PutResult expect_refuse_or_pool(std::uint32_t c) {
        const ConnState& cs = conns_[c];
        if (close_idle_active_) {
            expect_closes({{c, CloseReason::close_idle}}, "P6: a return after CloseIdleConnections, before any get_conn");
            return PutResult::close_idle;
        }
        const std::vector<std::uint32_t> same_key = idle_before(cs.key);
        if (same_key.size() >= static_cast<std::size_t>(config_.idle_conns_per_host_max())) {
            expect_closes({{c, CloseReason::too_many_idle_for_key}}, "P7: a return with the key at MaxIdleConnsPerHost");
            return PutResult::too_many_idle_for_key;
        }
        const std::vector<std::uint32_t> all = idle_before(std::nullopt);
        if (config_.max_idle_conns > 0 && all.size() + 1 > static_cast<std::size_t>(config_.max_idle_conns)) {
            expect_closes({{all.front(), CloseReason::too_many_idle}},
                          "P10: a return over MaxIdleConns evicts the least recently used idle conn");
        } else {
            expect_closes({}, "P9: a pooled return");
        }
        if (!violation_ && !pool_->is_idle(cs.id)) fail("P9: " + cname(c) + " was returned but is not idle");
        return PutResult::pooled;
    }

    // The rules of a return of HTTP/1 conn c: P1, P2, P5 (to the oldest waiter), then
    // expect_refuse_or_pool. Past P2 the conn is marked reused (P3).
    PutResult expect_return(std::uint32_t c) {
        ConnState& cs = conns_[c];
        const bool dead = closed_before_event(c);
        if (!checking_) {  // rebuilding: only the state the checks keep
            if (!config_.keep_alives_off() && !dead) cs.returned = true;
            return PutResult::pooled;
        }
        if (config_.keep_alives_off()) {
            expect_closes(dead ? CloseList{} : CloseList{{c, CloseReason::keep_alives_disabled}},
                          "P1: a return with keep-alives off");
            return PutResult::keep_alives_disabled;
        }
        if (dead) {
            expect_closes({}, "P2: a return of a dead conn");
            return PutResult::conn_broken;
        }
        cs.returned = true;
        const std::vector<std::uint32_t> w = waiters(cs.key);
        if (!w.empty()) {
            expect_closes({}, "P5: a return handed to a waiter");
            if (!violation_ && (ready_.size() != 1 || !(ready_[0] == requests_[w.front()].want))) {
                fail("P5/W4: the return of " + cname(c) + " was not handed to the oldest waiter " + rname(w.front()));
            }
            return PutResult::handed_to_waiter;
        }
        return expect_refuse_or_pool(c);
    }

    void do_get(std::uint8_t k) {
        const auto r = static_cast<std::uint32_t>(requests_.size());
        requests_.push_back(Request{static_cast<KeyId>(k)});
        current_get_ = r;
        // T3, T4: the scan takes the most recently used idle conn of the key, closing those
        // too old on the way (with keep-alives disabled there is no scan, T1).
        CloseList expected;
        std::uint32_t mru = none;
        if (!config_.disable_keep_alives && checking_) {
            const std::vector<std::uint32_t> idle = idle_before(static_cast<KeyId>(k));
            for (auto it = idle.rbegin(); it != idle.rend() && mru == none; ++it) {
                if (too_old(conns_[*it])) {
                    expected.emplace_back(*it, CloseReason::idle_timeout);
                } else {
                    mru = *it;
                }
            }
        }
        const GetConnResult g = pool_->get_conn(keys_[k]);
        if (!config_.disable_keep_alives) close_idle_active_ = false;  // T2
        if (o_.shared) {
            for (const auto& [c, reason] : expected) {
                if (pool_->is_idle(conns_[c].id)) fail("T3: get_conn left " + cname(c) + ", too old, on the idle list");
            }
        } else {
            expect_closes(expected, "T3: get_conn closes the idle conns of its key too old to use, newest first");
        }
        if (violation_) return;
        if (g.lease) {
            requests_[r].phase = Phase::leased;
            requests_[r].conn = conn_of(g.lease->id);
            note([&] { return rname(r) + " leases " + cname(requests_[r].conn) + " from the idle list"; });
            check_lease(r, *g.lease, true, mru);
            return;
        }
        requests_[r].want = g.want;
        note([&] { return rname(r) + " waits"; });
        if (mru != none) {
            fail("T4: " + rname(r) + " waits although " + cname(mru) + " of its key was idle and usable");
            return;
        }
        if (requests_[r].dial == none) {
            if (config_.max_conns_per_host <= 0) {
                fail("D1: no dial started for " + rname(r) + " although MaxConnsPerHost is unlimited");
                return;
            }
            requests_[r].dial_queued = true;
            note([&] { return rname(r) + " queued for a dial slot (MaxConnsPerHost)"; });
        }
        if (o_.bug == CheckBug::stale_idle) {
            for (std::uint32_t c = 0; c < conns_.size(); ++c) {
                if (conns_[c].key == k && conns_[c].closed) {
                    hand_out_by_bug(r, c, "stale-idle");
                    return;
                }
            }
        }
        if (o_.bug == CheckBug::double_lease) {
            for (std::uint32_t x = 0; x < r; ++x) {
                const Request& other = requests_[x];
                if (other.phase == Phase::leased && other.key == k && !conns_[other.conn].shared) {
                    hand_out_by_bug(r, other.conn, "double-lease");
                    return;
                }
            }
        }
    }

    // --bug: the harness, not the pool, gives request r conn c.
    void hand_out_by_bug(std::uint32_t r, std::uint32_t c, const char* bug) {
        note([&] { return std::string("BUG ") + bug + ": the harness hands " + rname(r) + " " + cname(c); });
        Request& req = requests_[r];
        const ConnState& cs = conns_[c];
        req.phase = Phase::leased;
        req.conn = c;
        if (cs.closed) {
            fail(rname(r) + " was handed " + cname(c) + ", which was closed (" +
                 std::string(to_string(cs.close_reason)) + ")");
        } else if (!cs.shared && holders(c, r) > 0) {
            fail("INV3: HTTP/1 conn " + cname(c) + " leased to two requests (" + rname(other_holder(c, r)) + " and " +
                 rname(r) + ")");
        }
    }

    void do_take(std::uint8_t r) {
        Request& req = requests_[r];
        const WantOutcome out = pool_->take(req.want);
        if (out.lease) {
            note([&] { return rname(r) + " takes " + cname(conn_of(out.lease->id)); });
            check_lease(r, *out.lease, false, none);
            req.phase = Phase::leased;
            req.conn = conn_of(out.lease->id);
        } else {
            note([&] { return rname(r) + " takes the dial error: done"; });
            if (req.conn != none) {
                fail("take gave " + rname(r) + " an error, but " + cname(req.conn) + " was delivered to it");
            }
            req.phase = Phase::done;
        }
        if (!violation_) expect_closes({}, "take");
    }

    void do_dial_ok(std::uint8_t d) {
        const auto c = static_cast<std::uint32_t>(conns_.size());
        const KeyId key = dials_[d].key;
        conns_.push_back(ConnState{});
        conns_[c].key = key;
        conns_[c].shared = o_.shared;
        dials_[d].pending = false;
        event_conn_ = c;
        const std::uint32_t owner = dials_[d].owner;
        const bool owner_waits = owner != none && requests_[owner].phase == Phase::waiting;
        const std::vector<std::uint32_t> w = waiters(key);
        const ConnId id = pool_->dial_done(dials_[d].id, *conn_objs_[c]);
        conns_[c].id = id;
        for (const std::uint32_t t : timers_created_) timers_[t].slot = id.slot;
        note([&] {
            return "dial d" + std::to_string(d) + " done: " + cname(c) + " (slot " + std::to_string(id.slot) + ")";
        });
        if (o_.shared) {
            // D5, P5: a shared conn goes to its own request and to every other waiter.
            for (const std::uint32_t x : w) {
                bool got = false;
                for (const WantId& want : ready_) got = got || want == requests_[x].want;
                if (!got) {
                    fail("P5: new shared conn " + cname(c) + " was not given to waiting " + rname(x));
                    return;
                }
            }
            return;
        }
        if (owner_waits) {  // D5: the conn goes to the request it was dialed for
            expect_closes({}, "D5: a new conn delivered to its request");
            if (!violation_ && (ready_.size() != 1 || !(ready_[0] == requests_[owner].want))) {
                fail("D5: new conn " + cname(c) + " of dial d" + std::to_string(d) + " was not delivered to " +
                     rname(owner) + ", which waits for it");
            }
            return;
        }
        // G5: nobody waits for it any more: it is returned like a put, without the trace (TR3)
        expect_return(c);
    }

    void do_dial_fail(std::uint8_t d) {
        dials_[d].pending = false;
        const std::uint32_t owner = dials_[d].owner;
        const bool owner_waits = owner != none && requests_[owner].phase == Phase::waiting;
        pool_->dial_failed(dials_[d].id, std::make_error_code(std::errc::connection_refused));
        note([&] { return "dial d" + std::to_string(d) + " failed"; });
        expect_closes({}, "D4: a failed dial");
        if (violation_) return;
        if (owner_waits ? ready_.size() != 1 || !(ready_[0] == requests_[owner].want) : !ready_.empty()) {
            fail(owner_waits ? "D4: the error of dial d" + std::to_string(d) + " was not delivered to " + rname(owner) +
                                   ", which waits for it"
                             : "D4: the error of dial d" + std::to_string(d) + " was delivered, but " + rname(owner) +
                                   " no longer waits for it");
        }
    }

    void do_put(std::uint8_t r) {
        Request& req = requests_[r];
        const std::uint32_t c = req.conn;
        event_conn_ = c;
        req.phase = Phase::done;
        req.conn = none;
        if (o_.bug == CheckBug::lost_put) {
            note([&] { return "BUG lost-put: the harness drops " + rname(r) + "'s put_idle_conn of " + cname(c); });
            return;
        }
        const bool was_pooled = conns_[c].shared && !conns_[c].closed && pool_->is_open(conns_[c].id);
        const PutResult result = pool_->put_idle_conn(conns_[c].id);
        put_result_ = result;
        note([&] { return rname(r) + " puts " + cname(c) + " -> " + std::string(to_string(result)); });
        if (conns_[c].shared) {  // P2, P4: a live shared conn is already pooled
            const PutResult expected = was_pooled ? PutResult::pooled : PutResult::conn_broken;
            if (result != expected) {
                fail("P4: put_idle_conn of shared conn " + cname(c) + " returned " + std::string(to_string(result)) +
                     ", expected " + std::string(to_string(expected)));
            }
            return;
        }
        const PutResult expected = expect_return(c);
        if (!violation_ && checking_ && result != expected) {
            fail("put_idle_conn(" + cname(c) + ") returned " + std::string(to_string(result)) + ", expected " +
                 std::string(to_string(expected)));
        }
    }

    void do_close(std::uint8_t r) {
        Request& req = requests_[r];
        const std::uint32_t c = req.conn;
        const bool was_closed = conns_[c].closed;
        conns_[c].reported = true;
        note([&] { return rname(r) + " closes " + cname(c); });
        pool_->close_conn(conns_[c].id, CloseReason::response_close);
        req.phase = Phase::done;
        req.conn = none;
        if (!conns_[c].shared) {
            expect_closes(was_closed ? CloseList{} : CloseList{{c, CloseReason::response_close}}, "close_conn");
        }
    }

    void do_cancel(std::uint8_t r) {
        Request& req = requests_[r];
        const Phase phase = req.phase;
        const std::uint32_t c = req.conn;
        req.phase = Phase::done;
        req.conn = none;
        event_conn_ = c;
        note([&] {
            return rname(r) + " cancels" +
                   (phase == Phase::ready ? std::string(" after delivery of ") + cname(c) : std::string());
        });
        pool_->cancel_want(req.want);
        if (phase == Phase::waiting || c == none) {
            expect_closes({}, "W3: cancel of a want without a conn");
            if (!violation_ && !ready_.empty()) fail("W3: a cancel delivered to another want without a conn to give");
            return;
        }
        if (conns_[c].shared) return;  // X5: a shared conn is not re-pooled
        expect_return(c);               // W3: the delivered conn goes back as if put
    }

    void do_server_close(std::uint8_t c) {
        ConnState& cs = conns_[c];
        const CloseReason reason = cs.idle ? CloseReason::server_closed_idle : CloseReason::read_error;
        cs.reported = true;
        note([&] { return "the server closes " + cname(c) + (cs.idle ? " (idle)" : " (in use)"); });
        pool_->conn_closed(cs.id, reason);
        if (!cs.shared) expect_closes({{c, reason}}, "RM2: conn_closed");
    }

    void do_close_idle() {
        close_idle_used_ = true;
        close_idle_active_ = true;
        const std::vector<std::uint32_t> idle = idle_before(std::nullopt);
        for (std::uint32_t d = 0; d < dials_.size(); ++d) {  // C5: dials no request waits for
            const DialState& ds = dials_[d];
            const bool owner_waits = ds.owner != none && requests_[ds.owner].phase == Phase::waiting;
            if (ds.pending && !ds.cancel_requested && !owner_waits) expected_cancels_.push_back(d);
        }
        note([&] { return "CloseIdleConnections"; });
        pool_->close_idle_connections();
        if (o_.shared) {
            for (const std::uint32_t c : idle) {
                if (pool_->is_idle(conns_[c].id)) fail("C1: CloseIdleConnections left shared conn " + cname(c) + " idle");
            }
            return;
        }
        CloseList expected;
        for (const std::uint32_t c : idle) expected.emplace_back(c, CloseReason::close_idle_conns);
        expect_closes(expected, "C1: CloseIdleConnections closes every idle conn");
    }

    void do_run(std::uint8_t t) {
        --timers_[t].in_flight;
        const std::uint32_t slot = timers_[t].slot;
        const std::uint32_t x = slot == none ? none : live_conn_at_slot(slot);
        if (!timers_[t].alive) return;
        note([&] {
            return "timer T" + std::to_string(t) + " callback runs (slot " +
                   (slot == none ? std::string("?") : std::to_string(slot)) + ", conn " + cname(x) + ")";
        });
        auto callback = timers_[t].callback;  // a copy: the callback may touch the timer table
        callback();
        // T6 and the idle-timer divergence: the callback closes its conn if, and only if, it
        // is idle and has been idle for the full IdleConnTimeout.
        if (x != none && !conns_[x].shared && conns_[x].idle && timeout_ > Duration::zero() && age(conns_[x]) >= timeout_) {
            expect_closes({{x, CloseReason::idle_timeout}}, "T6: the idle timer of a conn idle for IdleConnTimeout");
            return;
        }
        for (const auto& [c, reason] : closes_) {
            const ConnState& cs = conns_[c];
            if (!cs.idle) {
                fail("T6: an idle timer callback closed " + cname(c) + ", which was not idle (" +
                     (holders(c) > 0 ? "leased" : "not pooled") + ")");
            } else {
                fail("T6: an idle timer callback closed " + cname(c) + " after it was idle for " +
                     std::to_string(age(cs) / tick_length) + " s, less than IdleConnTimeout " +
                     std::to_string(o_.idle_timeout) + " s");
            }
            return;
        }
    }

    // Every want_ready of this event: only returns and dials deliver; an HTTP/1 conn goes to
    // one request; the recipient was waiting, for the conn's key.
    void check_deliveries(CheckEvent e, bool allowed) {
        if (!timers_created_.empty()) {
            if (o_.shared) {
                fail("P11: an idle timer was created for a shared conn (shared conns have none)");
                return;
            }
            if (e.kind != CheckEventKind::dial_ok && event_conn_ != none) {
                for (const std::uint32_t t : timers_created_) timers_[t].slot = conns_[event_conn_].id.slot;
            }
        }
        if (ready_.empty()) return;
        if (!allowed) {
            fail("a want was made ready by an event that delivers nothing");
            return;
        }
        if (event_conn_ != none && !conns_[event_conn_].shared && ready_.size() > 1) {
            fail("INV3: HTTP/1 conn " + cname(event_conn_) + " delivered to " + std::to_string(ready_.size()) + " wants");
            return;
        }
        const bool error = e.kind == CheckEventKind::dial_fail;
        for (const WantId& w : ready_) {
            std::uint32_t r = none;
            for (std::uint32_t x = 0; x < requests_.size(); ++x) {
                if (requests_[x].phase == Phase::waiting && requests_[x].want == w) r = x;
            }
            if (r == none) {
                fail("W1: want_ready for a want no request waits on");
                return;
            }
            Request& req = requests_[r];
            req.phase = Phase::ready;
            req.conn = error ? none : event_conn_;
            note([&] { return error ? rname(r) + " gets the dial error" : cname(event_conn_) + " delivered to " + rname(r); });
            if (!error && event_conn_ != none) {
                const ConnState& cs = conns_[event_conn_];
                if (cs.key != req.key) fail("K5: " + cname(event_conn_) + " delivered to " + rname(r) + " of another key");
                if (cs.closed) fail("closed conn " + cname(event_conn_) + " was delivered to " + rname(r));
            }
        }
    }

    // TR1-TR3 and the lifecycle hooks must match what the event did.
    void check_hooks(CheckEvent e) {
        using K = CheckEventKind;
        const std::vector<KeyId> gets = e.kind == K::get ? std::vector<KeyId>{keys_[e.arg]} : std::vector<KeyId>{};
        if (hook_gets_ != gets) {
            fail("TR1: the get_conn hook ran " + std::to_string(hook_gets_.size()) + " times; expected " +
                 std::to_string(gets.size()) + " (once per get_conn, idle hit or not)");
            return;
        }
        const bool expect_got = lease_given_ && !conns_[conn_of(lease_given_->id)].shared;  // X2: not for shared conns
        if (hook_got_.size() != (expect_got ? 1u : 0u)) {
            fail("TR2: the got_conn hook ran " + std::to_string(hook_got_.size()) + " times; expected " +
                 (expect_got ? "1" : "0") + (lease_given_ && !expect_got ? " (X2: never for a shared conn)" : ""));
            return;
        }
        if (expect_got) {
            const GotConnInfo& i = hook_got_[0];
            const Lease& l = *lease_given_;
            if (!(i.conn == l.id) || i.key != l.key || i.reused != l.reused || i.was_idle != l.was_idle ||
                i.idle_time != l.idle_time) {
                fail("TR2: the got_conn hook's info differs from the lease of " + cname(conn_of(l.id)));
                return;
            }
        }
        // TR3: a put of an HTTP/1 conn reports its result, except keep_alives_disabled; no
        // other path (an orphan dial, a cancelled delivery) reports one.
        const bool expect_put = put_result_ && *put_result_ != PutResult::keep_alives_disabled &&
                                !conns_[event_conn_].shared;
        if (hook_puts_.size() != (expect_put ? 1u : 0u) ||
            (expect_put && (!(hook_puts_[0].first == conns_[event_conn_].id) || hook_puts_[0].second != *put_result_))) {
            fail("TR3: the put_idle_conn hook ran " + std::to_string(hook_puts_.size()) + " times" +
                 (hook_puts_.empty() ? std::string() : " (" + std::string(to_string(hook_puts_[0].second)) + ")") +
                 "; expected " + (expect_put ? "once with " + std::string(to_string(*put_result_)) : std::string("none")));
            return;
        }
        if (hook_starts_.size() != dials_started_.size()) {
            fail("connect_start ran " + std::to_string(hook_starts_.size()) + " times for " +
                 std::to_string(dials_started_.size()) + " dials started");
            return;
        }
        for (std::size_t i = 0; i < hook_starts_.size(); ++i) {
            const DialState& ds = dials_[dials_started_[i]];
            if (hook_starts_[i].first != keys_[ds.key] || !(hook_starts_[i].second == ds.id)) {
                fail("connect_start names another dial than the one started");
                return;
            }
        }
        const std::size_t dones = e.kind == K::dial_ok || e.kind == K::dial_fail ? 1 : 0;
        if (hook_dones_.size() != dones ||
            (dones == 1 && (!(hook_dones_[0].dial == dials_[e.arg].id) || hook_dones_[0].key != keys_[dials_[e.arg].key] ||
                            hook_dones_[0].failed != (e.kind == K::dial_fail)))) {
            fail("connect_done ran " + std::to_string(hook_dones_.size()) + " times or with the wrong outcome");
            return;
        }
        if (o_.shared) return;  // a retired shared conn is reported when retired, closed later
        std::vector<std::tuple<std::uint32_t, std::uint32_t, CloseReason>> hooked, closed;
        for (const HookClose& h : hook_closes_) hooked.emplace_back(h.conn.slot, h.conn.generation, h.reason);
        for (const auto& [c, reason] : closes_) closed.emplace_back(conns_[c].id.slot, conns_[c].id.generation, reason);
        std::sort(hooked.begin(), hooked.end());
        std::sort(closed.begin(), closed.end());
        if (hooked != closed) fail("the conn_closed hook does not match the conns closed: " + closes_text(closes_));
    }

    // Checks that hold after every event.
    void check_after_event() {
        if (auto v = pool_->check_invariants()) {
            fail("pool invariant: " + *v);
            return;
        }
        for (const auto& [c, reason] : closes_) {
            // A retired shared conn is closed, with the pool's reason, as soon as its owner
            // closes it, even while other requests hold it: that is the owner's call.
            if (pool_decided(reason) && holders(c) > 0 && !conns_[c].reported) {
                fail("the pool closed " + cname(c) + " (" + std::string(to_string(reason)) + ") while a request holds it");
                return;
            }
        }
        std::vector<int> open(keys_.size(), 0);
        for (std::uint32_t c = 0; c < conns_.size(); ++c) {
            const ConnState& cs = conns_[c];
            if (cs.dead) continue;
            const bool idle_now = pool_->is_idle(cs.id);
            const int held = holders(c);
            if (idle_now && cs.closed) {
                fail("RM2: closed conn " + cname(c) + " is on the idle list");
                return;
            }
            if (!cs.shared && held > 1) {
                fail("INV3: HTTP/1 conn " + cname(c) + " is held by " + std::to_string(held) + " requests");
                return;
            }
            if (cs.closed) continue;
            if (!cs.shared && !idle_now && held == 0) {
                fail("conn lost: " + cname(c) + " is open but neither idle, nor leased, nor delivered to a request");
                return;
            }
            if (cs.shared && !idle_now && !retired(cs)) {
                fail("X1: shared conn " + cname(c) + " is open but not in the pool");
                return;
            }
            if (!retired(cs)) ++open[cs.key];
        }
        if (config_.max_conns_per_host > 0) {
            for (const DialState& d : dials_) open[d.key] += d.pending ? 1 : 0;
            for (std::size_t k = 0; k < open.size(); ++k) {
                if (open[k] > config_.max_conns_per_host) {
                    fail("D1: k" + std::to_string(k) + " has " + std::to_string(open[k]) +
                         " open conns and dials, over MaxConnsPerHost " + std::to_string(config_.max_conns_per_host));
                    return;
                }
            }
        }
    }

    // P11, T6 and the idle-timer divergences: an idle HTTP/1 conn's timer is due exactly
    // IdleConnTimeout after it became idle (or has fired and its callback is in flight); a
    // timer is armed only for an idle conn (taking a conn stops it).
    void check_timers() {
        if (timeout_ <= Duration::zero() || o_.shared) return;
        for (std::uint32_t t = 0; t < timers_.size(); ++t) {
            const TimerState& ts = timers_[t];
            if (!ts.alive || !ts.due) continue;
            const std::uint32_t x = ts.slot == none ? none : live_conn_at_slot(ts.slot);
            if (x == none || !conns_[x].idle) {
                fail("timer T" + std::to_string(t) + " is armed, but its slot holds no idle conn (" + cname(x) +
                     "): taking or closing a conn stops its timer");
                return;
            }
        }
        for (std::uint32_t c = 0; c < conns_.size(); ++c) {
            const ConnState& cs = conns_[c];
            if (cs.dead || !cs.idle) continue;
            const TimerState* ts = nullptr;
            for (const TimerState& t : timers_) {
                if (t.alive && t.slot == cs.id.slot) ts = &t;
            }
            const TimePoint due = cs.idle_since + timeout_;
            const bool ok = ts != nullptr && (ts->due ? *ts->due == due : ts->in_flight > 0 && now_ >= due);
            if (!ok) {
                fail("P11: idle conn " + cname(c) + " (idle since t=" + std::to_string(seconds(cs.idle_since)) +
                     "s) has " + (ts == nullptr ? std::string("no idle timer")
                                                : ts->due ? "its timer due at t=" + std::to_string(seconds(*ts->due)) + "s"
                                                          : std::string("no armed timer and no callback in flight")) +
                     "; it should fire at t=" + std::to_string(seconds(due)) + "s");
                return;
            }
        }
    }

    // Refreshes the idle flags (entering the idle list starts the idle clock and takes the
    // next LRU sequence number) and retires conns the pool has recycled.
    void observe() {
        for (std::uint32_t c = 0; c < conns_.size(); ++c) {
            ConnState& cs = conns_[c];
            if (cs.dead) continue;
            const bool idle_now = pool_->is_idle(cs.id);
            if (idle_now && !cs.idle) {
                cs.idle_since = now_;
                cs.idle_seq = ++idle_seq_;
            }
            cs.idle = idle_now;
            if (cs.closed && !idle_now && holders(c) == 0) cs.dead = true;
        }
    }

    void print_step() {
        std::string text;
        for (const std::string& n : notes_) text += (text.empty() ? "" : "; ") + n;
        *trace_ << (text.empty() ? "-" : text) << '\n';
        *trace_ << "                              pool:";
        for (std::size_t k = 0; k < keys_.size(); ++k) {
            *trace_ << " k" << k << " idle=[";
            bool first = true;
            for (const ConnId& id : pool_->idle_conns(keys_[k])) {
                *trace_ << (first ? "" : " ") << cname(conn_of(id));
                first = false;
            }
            *trace_ << "] waiting=" << pool_->waiting_count(keys_[k]);
            if (config_.max_conns_per_host > 0) *trace_ << " connsPerHost=" << pool_->conns_per_host(keys_[k]);
            *trace_ << " |";
        }
        *trace_ << " ready=" << pool_->ready_count() << " dials=" << pool_->dials_in_progress()
                << " open=" << pool_->open_conns() << '\n';
        if (violation_) *trace_ << "       VIOLATION: " << *violation_ << '\n';
    }

    const CheckOptions& o_;
    Config config_;
    std::ostream* trace_;
    Duration timeout_{0};
    Duration age_cap_{0};
    TimePoint now_ = epoch;
    std::vector<std::unique_ptr<FakeConn>> conn_objs_;
    std::vector<ConnState> conns_;
    std::vector<TimerState> timers_;
    std::vector<DialState> dials_;
    std::vector<Request> requests_;
    std::vector<KeyId> keys_;
    std::uint64_t idle_seq_ = 0;
    bool close_idle_used_ = false;
    bool close_idle_active_ = false;  // CloseIdleConnections called and no get_conn since (P6, T2)
    // what the current event did
    CloseList closes_;
    std::vector<WantId> ready_;
    std::vector<std::uint32_t> timers_created_;
    std::vector<std::uint32_t> dials_started_;
    std::vector<std::uint32_t> dial_cancels_;
    std::vector<std::uint32_t> expected_cancels_;
    std::vector<KeyId> hook_gets_;
    std::vector<GotConnInfo> hook_got_;
    std::vector<std::pair<ConnId, PutResult>> hook_puts_;
    std::vector<std::pair<KeyId, DialId>> hook_starts_;
    std::vector<HookDone> hook_dones_;
    std::vector<HookClose> hook_closes_;
    std::vector<std::string> notes_;
    std::optional<Lease> lease_given_;
    std::optional<PutResult> put_result_;
    std::uint32_t event_conn_ = none;   // the conn this event returns or creates
    std::uint32_t current_get_ = none;  // the request get_conn is creating
    int steps_ = 0;
    bool checking_ = true;
    std::optional<std::string> violation_;
    std::unique_ptr<Pool> pool_;  // last: destroyed first
};

void FakeConn::close(CloseReason reason) { world_.on_close(index_, reason); }

FakeTimer::~FakeTimer() { world_.timer(index_).alive = false; }

bool FakeTimer::stop() {
    TimerState& t = world_.timer(index_);
    const bool was = t.due.has_value();
    t.due.reset();
    world_.on_timer_stop(index_, was);
    return was;
}

bool FakeTimer::reset(Duration d) {
    TimerState& t = world_.timer(index_);
    const bool was = t.due.has_value();
    t.due = world_.now() + d;
    world_.on_timer_reset(index_, was);
    return was;
}

// Rebuilds in `world` the state that the first `length` events of a checked path reach
// (they are not checked again).
void rebuild(CheckWorld& world, const std::vector<CheckEvent>& path, std::size_t length) {
    world.reset();
    world.set_checking(false);
    for (std::size_t i = 0; i < length; ++i) {
        if (!world.step(path[i])) break;
    }
    world.set_checking(true);
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

}  // namespace

// ---- options, replay strings -----------------------------------------------------------------

Config CheckOptions::pool_config() const {
    Config c;
    c.max_idle_conns = max_idle;
    c.max_idle_conns_per_host = max_idle_per_host;
    c.max_conns_per_host = max_conns_per_host;
    c.idle_conn_timeout = idle_timeout * tick_length;
    c.disable_keep_alives = keep_alives_off;
    return c;
}

std::string event_token(CheckEvent e) {
    const std::string a = std::to_string(e.arg);
    switch (e.kind) {
        case CheckEventKind::get: return "g" + a;
        case CheckEventKind::take: return "t" + a;
        case CheckEventKind::dial_ok: return "o" + a;
        case CheckEventKind::dial_fail: return "f" + a;
        case CheckEventKind::put: return "p" + a;
        case CheckEventKind::close: return "c" + a;
        case CheckEventKind::cancel: return "x" + a;
        case CheckEventKind::server_close: return "s" + a;
        case CheckEventKind::close_idle: return "C";
        case CheckEventKind::tick: return "k";
        case CheckEventKind::fire: return "F" + a;
        case CheckEventKind::run: return "R" + a;
    }
    return "?";
}

std::optional<std::string> set_check_option(CheckOptions& o, std::string_view name, std::string_view value) {
    const std::string n(name);
    for (const IntOption& opt : int_options) {
        if (n != opt.name) continue;
        const auto v = parse_int(value);
        if (!v || *v < opt.min || *v > opt.max) {
            return "--" + n + " '" + std::string(value) + "' is not an integer in [" + std::to_string(opt.min) + ", " +
                   std::to_string(opt.max) + "]";
        }
        o.*opt.field = static_cast<int>(*v);
        return std::nullopt;
    }
    for (const BoolOption& opt : bool_options) {
        if (n != opt.name) continue;
        if (value != "0" && value != "1") return "--" + n + " '" + std::string(value) + "' is not 0 or 1";
        o.*opt.field = value == "1";
        return std::nullopt;
    }
    if (n == "bug") {
        for (std::size_t i = 0; i < std::size(bug_names); ++i) {
            if (value == bug_names[i]) {
                o.bug = static_cast<CheckBug>(i);
                return std::nullopt;
            }
        }
        return "--bug '" + std::string(value) + "' is not one of none, stale-idle, double-lease, lost-put";
    }
    if (n == "max-states") {
        const auto v = parse_int(value);
        if (!v || *v < 1 || *v > 1'000'000'000) return "--max-states '" + std::string(value) + "' is not an integer in [1, 1000000000]";
        o.max_states = static_cast<std::uint64_t>(*v);
        return std::nullopt;
    }
    return "unknown check option '" + n + "' (see connpool-sim check --help)";
}

std::optional<std::string> validate_check(const CheckOptions& o) {
    if (o.shared && (o.keep_alives_off || o.max_idle_per_host < 0)) {
        return "--shared with keep-alives off (--keep-alives-off or --max-idle-per-host -1) is not supported";
    }
    if (auto e = validate_config(o.pool_config())) return "pool config: " + *e;
    return std::nullopt;
}

std::string encode_check_repro(const CheckOptions& o, const std::vector<CheckEvent>& path) {
    std::string s = "cpc1";
    for (const IntOption& opt : int_options) {
        if (!opt.in_repro) continue;
        s.append(",").append(opt.name).append("=").append(std::to_string(o.*opt.field));
    }
    for (const BoolOption& opt : bool_options) s.append(",").append(opt.name).append(o.*opt.field ? "=1" : "=0");
    s.append(",bug=").append(bug_names[static_cast<int>(o.bug)]);
    s += ",path=";
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (i != 0) s += '.';
        s += event_token(path[i]);
    }
    s += ",ck=" + repro_checksum(s);
    return s;
}

std::optional<std::pair<CheckOptions, std::vector<CheckEvent>>> decode_check_repro(std::string_view repro,
                                                                                  std::string& error) {
    if (repro.rfind("cpc1,", 0) != 0) {
        error = "a check replay string starts with 'cpc1,' (format version 1)";
        return std::nullopt;
    }
    const auto ck_at = repro.rfind(",ck=");
    if (ck_at == std::string_view::npos) {
        error = "replay string has no checksum field 'ck=' (truncated?)";
        return std::nullopt;
    }
    if (repro.substr(ck_at + 4) != repro_checksum(repro.substr(0, ck_at))) {
        error = "replay string checksum mismatch (truncated or edited)";
        return std::nullopt;
    }
    CheckOptions o;
    std::vector<CheckEvent> path;
    std::vector<std::string> seen;
    bool have_path = false;
    std::size_t pos = 5;
    const std::string_view body = repro.substr(0, ck_at);
    while (pos < body.size()) {
        std::size_t comma = body.find(',', pos);
        if (comma == std::string_view::npos) comma = body.size();
        const std::string_view item = body.substr(pos, comma - pos);
        pos = comma + 1;
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) {
            error = "replay field '" + std::string(item) + "' is not name=value";
            return std::nullopt;
        }
        const std::string name(item.substr(0, eq));
        const std::string_view value = item.substr(eq + 1);
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
            error = "replay field '" + name + "' appears twice";
            return std::nullopt;
        }
        seen.push_back(name);
        if (name == "path") {
            have_path = true;
            std::size_t p = 0;
            while (p < value.size()) {
                std::size_t dot = value.find('.', p);
                if (dot == std::string_view::npos) dot = value.size();
                const std::string_view tok = value.substr(p, dot - p);
                p = dot + 1;
                static constexpr std::pair<char, CheckEventKind> kinds[] = {
                    {'g', CheckEventKind::get},       {'t', CheckEventKind::take},  {'o', CheckEventKind::dial_ok},
                    {'f', CheckEventKind::dial_fail}, {'p', CheckEventKind::put},   {'c', CheckEventKind::close},
                    {'x', CheckEventKind::cancel},    {'s', CheckEventKind::server_close}, {'C', CheckEventKind::close_idle},
                    {'k', CheckEventKind::tick},      {'F', CheckEventKind::fire},  {'R', CheckEventKind::run},
                };
                std::optional<CheckEvent> ev;
                for (const auto& [letter, kind] : kinds) {
                    if (tok.empty() || tok[0] != letter) continue;
                    const bool bare = kind == CheckEventKind::close_idle || kind == CheckEventKind::tick;
                    const auto n = parse_int(tok.substr(1));
                    if (bare ? tok.size() == 1 : (n && *n >= 0 && *n <= 255)) {
                        ev = CheckEvent{kind, static_cast<std::uint8_t>(bare ? 0 : *n)};
                    }
                }
                if (!ev) {
                    error = "replay path event '" + std::string(tok) + "' is not an event token";
                    return std::nullopt;
                }
                path.push_back(*ev);
            }
            continue;
        }
        if (name == "depth" || name == "max-states") {
            error = "replay field '" + name + "' is a search bound, not part of a replay string";
            return std::nullopt;
        }
        if (auto e = set_check_option(o, name, value)) {
            error = "replay field: " + *e;
            return std::nullopt;
        }
    }
    std::size_t expected_fields = std::size(bool_options) + 2;  // the booleans, bug and path
    for (const IntOption& opt : int_options) expected_fields += opt.in_repro ? 1 : 0;
    if (!have_path || seen.size() != expected_fields) {
        error = "replay string lacks fields (" + std::to_string(seen.size()) + " of " + std::to_string(expected_fields) + ")";
        return std::nullopt;
    }
    if (auto e = validate_check(o)) {
        error = *e;
        return std::nullopt;
    }
    o.depth = static_cast<int>(std::max<std::size_t>(path.size(), 1));
    return std::make_pair(o, path);
}

// ---- the search --------------------------------------------------------------------------------

CheckReport run_check(const CheckOptions& o, CheckPathHook hook) {
    const auto start = std::chrono::steady_clock::now();
    CheckReport report;
    struct Node {
        std::uint32_t parent;
        CheckEvent event;
        std::uint8_t depth;
    };
    std::vector<Node> nodes;
    VisitedSet visited;
    std::string fp;
    std::vector<CheckEvent> path, events;

    auto finish = [&](std::optional<std::string> violation, std::vector<CheckEvent> trail) {
        report.violation = std::move(violation);
        report.counterexample = std::move(trail);
        report.distinct = visited.size();
        report.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return report;
    };

    {
        if (hook != nullptr) hook(encode_check_repro(o, {}));
        CheckWorld root(o, nullptr);
        root.fingerprint(fp);
        visited.insert(hash_bytes(fp));
        nodes.push_back(Node{none, {}, 0});
        if (root.quiescent()) {
            ++report.quiescent;
            if (!root.check_liveness()) return finish(root.violation(), {});
        }
    }
    // Two worlds, reset and reused: the parent state, and a copy of it for each successor
    // but the last, which is built on the parent itself.
    CheckWorld parent(o, nullptr), sibling(o, nullptr);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].depth >= o.depth) continue;
        path.clear();
        for (std::uint32_t n = static_cast<std::uint32_t>(i); nodes[n].parent != none; n = nodes[n].parent) {
            path.push_back(nodes[n].event);
        }
        std::reverse(path.begin(), path.end());
        std::string body;  // the parent's replay string, for the hook
        if (hook != nullptr) {
            body = encode_check_repro(o, path);
            body.resize(body.rfind(",ck="));
        }
        rebuild(parent, path, path.size());
        parent.enabled(events);
        ++report.explored;
        path.push_back({});
        for (std::size_t j = 0; j < events.size(); ++j) {
            path.back() = events[j];
            if (hook != nullptr) {
                std::string repro = body + (path.size() > 1 ? "." : "") + event_token(events[j]);
                repro += ",ck=" + repro_checksum(repro);
                hook(repro);
            }
            const bool last = j + 1 == events.size();
            if (!last) rebuild(sibling, path, path.size() - 1);
            CheckWorld& child = last ? parent : sibling;
            ++report.transitions;
            if (!child.step(events[j])) return finish(child.violation(), path);
            child.fingerprint(fp);
            if (!visited.insert(hash_bytes(fp))) continue;
            const auto depth = static_cast<std::uint8_t>(nodes[i].depth + 1);
            nodes.push_back(Node{static_cast<std::uint32_t>(i), events[j], depth});
            report.max_depth = std::max<int>(report.max_depth, depth);
            if (depth >= o.depth) ++report.depth_cut;
            if (child.quiescent()) {
                ++report.quiescent;
                if (!child.check_liveness()) return finish(child.violation(), path);
            }
            if (visited.size() >= o.max_states) {
                report.state_limit_hit = true;
                return finish(std::nullopt, {});
            }
        }
    }
    return finish(std::nullopt, {});
}

std::optional<std::string> replay_check_path(const CheckOptions& o, const std::vector<CheckEvent>& path,
                                             std::ostream& out, std::string& error) {
    auto world = std::make_unique<CheckWorld>(o, &out);
    world->print_header(out);
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (!world->is_enabled(path[i])) {
            error = "event " + std::to_string(i + 1) + " '" + event_token(path[i]) + "' (" + world->describe(path[i]) +
                    ") is not enabled in the state the path reaches";
            return std::nullopt;
        }
        out.flush();  // a pool abort still leaves the trace so far
        if (!world->step(path[i])) return world->violation();
    }
    if (world->quiescent() && !world->check_liveness()) return world->violation();
    return std::nullopt;
}

// ---- the command line --------------------------------------------------------------------------

namespace {

const char* const check_usage =
    "usage: connpool-sim check [--keys N] [--conns N] [--requests N] [--depth N] [--idle-timeout TICKS]\n"
    "                          [--max-conns-per-host N] [--max-idle N] [--max-idle-per-host N]\n"
    "                          [--keep-alives-off] [--cancel] [--server-close] [--close-idle] [--shared]\n"
    "                          [--no-dial-fail] [--bug none|stale-idle|double-lease|lost-put] [--max-states N]\n"
    "       connpool-sim check --replay 'cpc1,...'     (reruns one path with its readable trace)\n"
    "Explores every order of the enabled events up to --depth, breadth first; exit 0 when no\n"
    "check fails, 1 on a violation (printed with its trace and replay line), 2 on bad input.\n";

void print_config(const CheckOptions& o, std::ostream& out) {
    out << "keys=" << o.keys << " conns=" << o.conns << " requests=" << o.requests << " depth=" << o.depth
        << " idle-timeout=" << o.idle_timeout << " max-conns-per-host=" << o.max_conns_per_host
        << " max-idle=" << o.max_idle << " max-idle-per-host=" << o.max_idle_per_host
        << (o.keep_alives_off ? " keep-alives-off" : "") << (o.cancel ? " cancel" : "")
        << (o.server_close ? " server-close" : "") << (o.close_idle ? " close-idle" : "") << (o.shared ? " shared" : "")
        << (o.dial_fail ? "" : " no-dial-fail") << (o.bug != CheckBug::none ? std::string(" bug=") + bug_names[static_cast<int>(o.bug)] : "");
}

int replay_main(const std::string& repro, std::ostream& out, std::ostream& err) {
    std::string error;
    const auto decoded = decode_check_repro(repro, error);
    if (!decoded) {
        err << "connpool-sim: malformed check replay string: " << error << '\n';
        return 2;
    }
    const auto& [o, path] = *decoded;
    out << "connpool-sim check --replay: ";
    print_config(o, out);
    out << ", " << path.size() << " events\n";
    const auto violation = replay_check_path(o, path, out, error);
    if (!error.empty()) {
        err << "connpool-sim: malformed check replay string: " << error << '\n';
        return 2;
    }
    if (violation) {
        out << "result: VIOLATION: " << *violation << '\n';
        return 1;
    }
    out << "result: no violation on this path\n";
    return 0;
}

}  // namespace

int check_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, CheckPathHook hook,
               const std::string& tool) {
    CheckOptions o;
    std::optional<std::string> replay_string;
    std::set<std::string> seen;  // each flag at most once: a repeat would be silently last-wins
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            out << check_usage;
            return 0;
        }
        if (a.rfind("--", 0) != 0) {
            err << "connpool-sim: check: unexpected argument '" << a << "' (flags start with --)\n";
            return 2;
        }
        if (!seen.insert(a).second) {
            err << "connpool-sim: check: flag " << a << " given twice\n";
            return 2;
        }
        const std::string name = a.substr(2);
        bool is_bool = false;
        for (const BoolOption& opt : bool_options) is_bool = is_bool || name == opt.name;
        if (name == "no-dial-fail") {
            o.dial_fail = false;
            continue;
        }
        if (is_bool) {
            (void)set_check_option(o, name, "1");
            continue;
        }
        if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0) {  // a value never starts with --
            err << "connpool-sim: check: flag " << a << " needs a value\n";
            return 2;
        }
        const std::string& value = args[++i];
        if (name == "replay") {
            replay_string = value;
            continue;
        }
        if (auto e = set_check_option(o, name, value)) {
            err << "connpool-sim: check: " << *e << '\n';
            return 2;
        }
    }
    if (replay_string) {
        if (args.size() != 3) {
            err << "connpool-sim: check: --replay takes the replay string alone (its options are inside it)\n";
            return 2;
        }
        return replay_main(*replay_string, out, err);
    }
    if (auto e = validate_check(o)) {
        err << "connpool-sim: check: " << *e << '\n';
        return 2;
    }
    out << "connpool-sim check: ";
    print_config(o, out);
    out << '\n';
    out.flush();
    const CheckReport r = run_check(o, hook);
    out << "states: " << r.distinct << " distinct, " << r.explored << " explored, " << r.transitions
        << " transitions checked, " << r.quiescent << " quiescent (liveness checked)\n";
    out << "depth: " << r.max_depth << " reached, bound " << o.depth << ", " << r.depth_cut
        << " states at the bound not expanded\n";
    const double rate = r.wall_s > 0 ? static_cast<double>(r.distinct) / r.wall_s : 0;
    out << "time: " << fixed(r.wall_s, 2) << " s, " << fixed(rate, 0) << " states/s, "
        << fixed(r.wall_s > 0 ? static_cast<double>(r.transitions) / r.wall_s : 0, 0) << " transitions/s\n";
    if (r.violation) {
        out << "VIOLATION after " << r.counterexample.size() << " events: " << *r.violation << '\n';
        out << "counterexample (shortest: the search is breadth first):\n";
        std::string error;
        (void)replay_check_path(o, r.counterexample, out, error);
        out << "replay: " << tool << " check --replay '" << encode_check_repro(o, r.counterexample) << "'\n";
        return 1;
    }
    if (r.state_limit_hit) {
        out << "result: no violation, INCOMPLETE: stopped at --max-states " << o.max_states << '\n';
    } else if (r.depth_cut > 0) {
        out << "result: no violation within depth " << o.depth << " (deeper states exist: raise --depth)\n";
    } else {
        out << "result: no violation; exhaustive: every reachable state within the bounds was explored\n";
    }
    return 0;
}

}  // namespace connpool::sim
