// Model-based stateful property of the pool core (rc::state): random command sequences over
// generated configs are applied to a real Pool (with fake ports) and to the reference model
// in props/model.hpp; after every command everything observable is compared (put results,
// which want got which conn, close reasons and their order, trace results, dial starts and
// cancels, each key's idle list in order, connsPerHost, waiting/ready/dial/open counts,
// is_open/is_idle of every live conn, the pending deadline of every idle timer) and
// Pool::check_invariants() must pass.
//
// Commands carry raw picks (an index, a key, a duration) that are resolved against the
// current state when they run, so every shrunk subsequence is still a valid run. Each case
// runs in a forked child (props/harness.hpp), so a `connpool: fatal:` abort is a shrinkable
// failure too. Failure output: the command list, the resolved trace of the last steps, and
// rapidcheck's RC_PARAMS="reproduce=..." line.
#include <gtest/gtest.h>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <iostream>

#include "batch.hpp"
#include "harness.hpp"
#include "model.hpp"

namespace connpool::props {
namespace {

struct GenState {
    Config cfg;
    int nkeys = 2;
    bool shared_ok = false;
};

const char* put_name(PutResult r) { return to_string(r).data(); }

std::ostream& operator<<(std::ostream& os, CloseReason r) { return os << to_string(r); }

class Sut {
public:
    explicit Sut(const GenState& g) : gen(g), rig(g.cfg, g.nkeys), model(g.cfg, g.nkeys, rig.clock.t) { case_trace = &trace; }
    ~Sut() { case_trace = nullptr; }
    Sut(const Sut&) = delete;
    Sut& operator=(const Sut&) = delete;

    GenState gen;
    PoolRig rig;
    Model model;
    std::vector<int> leases;            // conn indexes held by requests (one entry per lease)
    std::vector<WantId> want_ids;       // model want index -> WantId
    std::map<std::size_t, std::uint32_t> timer_slot;  // fake timer id -> conn slot
    std::vector<std::string> trace;     // resolved operations, for the failure message
    int step = 0;
    PoolStats expect_stats;             // what Pool::stats() must say (kept from the model's log)

    // ---- step bracket -------------------------------------------------------------------
    struct Marks {
        std::size_t ready, dials, cancels, got, puts, hooks, closes, timers, gets, starts, dones;
    } marks{};
    int expect_get_hooks = 0, expect_dones = 0, expect_done_errors = 0;
    int expect_get_key = -1, expect_done_key = -1;
    std::error_code expect_done_error;

    void begin(const std::string& what) {
        ++step;
        trace.push_back("#" + std::to_string(step) + " " + what);
        model.log.clear();
        marks = Marks{rig.ready.size(),   rig.dial_log.size(), rig.cancel_log.size(),   rig.got_log.size(),
                      rig.put_log.size(), rig.hook_close_log.size(), rig.close_log.size(),
                      rig.timers.entries.size(), rig.get_conn_hooks.size(), rig.connect_starts.size(),
                      rig.connect_dones.size()};
        expect_get_hooks = expect_dones = expect_done_errors = 0;
    }
    void note(const std::string& s) { trace.back() += s; }

    [[noreturn]] void fail(const std::string& what) {
        std::ostringstream os;
        os << "model mismatch at step " << step << ": " << what << "\nconfig: max_idle_conns=" << gen.cfg.max_idle_conns
           << " max_idle_conns_per_host=" << gen.cfg.max_idle_conns_per_host
           << " max_conns_per_host=" << gen.cfg.max_conns_per_host
           << " idle_conn_timeout=" << std::chrono::duration_cast<std::chrono::milliseconds>(gen.cfg.idle_conn_timeout).count()
           << "ms disable_keep_alives=" << gen.cfg.disable_keep_alives << " keys=" << gen.nkeys
           << " shared=" << gen.shared_ok << "\ntrace (resolved):\n";
        const std::size_t from = trace.size() > 60 ? trace.size() - 60 : 0;
        for (std::size_t i = from; i < trace.size(); ++i) os << "  " << trace[i] << "\n";
        throw CheckFailure(os.str());
    }
#define MODEL_SAME(a, b, what)                                                                     \
    do {                                                                                            \
        const auto& sut_v_ = (a);                                                                   \
        const auto& mod_v_ = (b);                                                                   \
        if (!(sut_v_ == mod_v_)) {                                                                  \
            std::ostringstream os_;                                                                 \
            os_ << what << ": pool " << show(sut_v_) << ", model " << show(mod_v_);               \
            fail(os_.str());                                                                        \
        }                                                                                           \
    } while (0)

    template <class T>
    static std::string show(const T& v) {
        std::ostringstream os;
        if constexpr (std::is_same_v<T, std::vector<int>>) {
            os << "[";
            for (std::size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << v[i];
            os << "]";
        } else if constexpr (std::is_same_v<T, std::vector<std::pair<int, CloseReason>>>) {
            os << "[";
            for (std::size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << "c" << v[i].first << ":" << v[i].second;
            os << "]";
        } else if constexpr (std::is_same_v<T, std::vector<std::pair<int, PutResult>>>) {
            os << "[";
            for (std::size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << "c" << v[i].first << ":" << put_name(v[i].second);
            os << "]";
        } else if constexpr (std::is_same_v<T, std::vector<std::pair<int, bool>>>) {
            os << "[";
            for (std::size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << "c" << v[i].first << (v[i].second ? ":idle" : "");
            os << "]";
        } else if constexpr (std::is_same_v<T, std::vector<MGot>>) {
            os << "[";
            for (std::size_t i = 0; i < v.size(); ++i) {
                os << (i ? " " : "") << "c" << v[i].conn << "{reused=" << v[i].reused << " was_idle=" << v[i].was_idle
                   << " idle_time=" << v[i].idle_time.count() << "ns}";
            }
            os << "]";
        } else if constexpr (std::is_same_v<T, PutResult>) {
            os << put_name(v);
        } else {
            os << v;
        }
        return os.str();
    }

    int want_index(WantId w) const {
        for (std::size_t i = 0; i < want_ids.size(); ++i) {
            if (want_ids[i] == w) return static_cast<int>(i);
        }
        return -1;
    }

    // ---- comparison after every command -------------------------------------------------
    void end() {
        const MLog& L = model.log;
        // dial starts: the i-th dial of the model is the i-th dial the pool started
        {
            std::vector<int> pool_keys, model_keys;
            for (std::size_t i = marks.dials; i < rig.dial_log.size(); ++i) pool_keys.push_back(static_cast<int>(rig.dial_log[i].key));
            for (int d : L.dials) model_keys.push_back(model.dials[static_cast<std::size_t>(d)].key);
            MODEL_SAME(pool_keys, model_keys, "dials started (keys)");
            std::vector<int> hook_keys;
            for (std::size_t i = marks.starts; i < rig.connect_starts.size(); ++i) hook_keys.push_back(static_cast<int>(rig.connect_starts[i]));
            std::vector<int> model_hook_keys;
            for (int k : model_keys) model_hook_keys.push_back(static_cast<int>(rig.keys[static_cast<std::size_t>(k)]));
            MODEL_SAME(hook_keys, model_hook_keys, "connect_start hook keys");
            if (rig.dial_log.size() != model.dials.size()) fail("dial count drifted");
        }
        {
            std::vector<int> pool_c, model_c(L.cancels);
            for (std::size_t i = marks.cancels; i < rig.cancel_log.size(); ++i) {
                int found = -1;
                for (std::size_t d = 0; d < rig.dial_log.size(); ++d) {
                    if (rig.dial_log[d].id == rig.cancel_log[i]) found = static_cast<int>(d);
                }
                pool_c.push_back(found);
            }
            std::sort(pool_c.begin(), pool_c.end());
            std::sort(model_c.begin(), model_c.end());
            MODEL_SAME(pool_c, model_c, "dials cancelled (C5)");
        }
        {
            std::vector<int> pool_r;
            for (std::size_t i = marks.ready; i < rig.ready.size(); ++i) pool_r.push_back(want_index(rig.ready[i]));
            MODEL_SAME(pool_r, L.ready, "wants announced ready (in order)");
        }
        {
            std::vector<std::pair<int, CloseReason>> pool_h, pool_c;
            for (std::size_t i = marks.hooks; i < rig.hook_close_log.size(); ++i)
                pool_h.emplace_back(rig.conn_index(rig.hook_close_log[i].first), rig.hook_close_log[i].second);
            for (std::size_t i = marks.closes; i < rig.close_log.size(); ++i)
                pool_c.emplace_back(static_cast<int>(rig.close_log[i].first), rig.close_log[i].second);
            MODEL_SAME(pool_h, L.close_hooks, "conn_closed hooks (conn:reason, in order)");
            for (std::size_t i = marks.hooks; i < rig.hook_close_log.size(); ++i) {
                const int c = rig.conn_index(rig.hook_close_log[i].first);
                if (c < 0) fail("conn_closed hook for an unknown conn");
                MODEL_SAME(static_cast<int>(rig.hook_close_keys[i]), key_id_of_conn(c), "conn_closed hook key of c" << c);
            }
            for (const auto& [c, reason] : L.close_hooks) ++expect_stats.closes[static_cast<int>(reason)];
            MODEL_SAME(pool_c, L.close_calls, "Conn::close calls (conn:reason, in order)");
        }
        {
            std::vector<std::pair<int, PutResult>> pool_p;
            for (std::size_t i = marks.puts; i < rig.put_log.size(); ++i)
                pool_p.emplace_back(rig.conn_index(rig.put_log[i].first), rig.put_log[i].second);
            MODEL_SAME(pool_p, L.put_traces, "put_idle_conn trace");
            std::vector<MGot> pool_g;
            for (std::size_t i = marks.got; i < rig.got_log.size(); ++i) {
                const GotConnInfo& g = rig.got_log[i];
                pool_g.push_back(MGot{rig.conn_index(g.conn), g.reused, g.was_idle, g.idle_time});
                if (pool_g.back().conn >= 0) {
                    MODEL_SAME(static_cast<int>(g.key), key_id_of_conn(pool_g.back().conn), "got_conn trace key");
                }
            }
            MODEL_SAME(pool_g, L.got_traces, "got_conn trace (TR2: conn, Reused, WasIdle, IdleTime)");
        }
        // trace hooks G1 (get_conn: always, first), connect_start/connect_done per dial
        MODEL_SAME(static_cast<int>(rig.get_conn_hooks.size() - marks.gets), expect_get_hooks, "get_conn trace hooks (G1)");
        if (expect_get_hooks == 1) MODEL_SAME(static_cast<int>(rig.get_conn_hooks[marks.gets]), expect_get_key, "get_conn trace hook key");
        MODEL_SAME(static_cast<int>(rig.connect_starts.size() - marks.starts), static_cast<int>(L.dials.size()),
                    "connect_start hooks");
        {
            int dones = 0, errors = 0;
            for (std::size_t i = marks.dones; i < rig.connect_dones.size(); ++i) {
                ++dones;
                errors += rig.connect_dones[i] ? 1 : 0;
            }
            MODEL_SAME(dones, expect_dones, "connect_done hooks");
            MODEL_SAME(errors, expect_done_errors, "connect_done hooks with an error");
            if (expect_dones == 1) {
                MODEL_SAME(static_cast<int>(rig.connect_done_keys[marks.dones]), expect_done_key, "connect_done hook key");
                if (expect_done_errors == 1) {
                    MODEL_SAME(rig.connect_dones[marks.dones].message(), expect_done_error.message(), "connect_done error");
                }
            }
        }
        // timers: map newly created fake timers to the slots the model armed first
        {
            const std::size_t created = rig.timers.entries.size() - marks.timers;
            MODEL_SAME(static_cast<int>(created), static_cast<int>(L.timers_created.size()), "idle timers created");
            for (std::size_t i = 0; i < created; ++i) timer_slot[marks.timers + i] = L.timers_created[i];
            for (std::size_t id = 0; id < rig.timers.entries.size(); ++id) {
                const std::uint32_t slot = timer_slot.at(id);
                auto it = model.timers.find(slot);
                // deadlines as ns since the clock epoch, -1 = not pending
                std::int64_t mdue = -1;
                if (it != model.timers.end() && it->second.due.has_value()) mdue = it->second.due->time_since_epoch().count();
                const auto& pe = rig.timers.entries[id];
                const std::int64_t pdue = pe.due.has_value() ? pe.due->time_since_epoch().count() : -1;
                MODEL_SAME(pdue, mdue, "pending deadline (ns, -1 = none) of the idle timer of slot " << slot);
            }
        }
        // state
        for (int k = 0; k < gen.nkeys; ++k) {
            const KeyId key = rig.keys[static_cast<std::size_t>(k)];
            std::vector<int> pool_idle;
            for (ConnId id : rig.pool->idle_conns(key)) pool_idle.push_back(rig.conn_index(id));
            MODEL_SAME(pool_idle, model.idle[static_cast<std::size_t>(k)], "idle list of key " << k << " (LRU first)");
            MODEL_SAME(rig.pool->conns_per_host(key), model.conns_count[static_cast<std::size_t>(k)], "conns_per_host key " << k);
            MODEL_SAME(static_cast<int>(rig.pool->waiting_count(key)), model.waiting_count(k), "waiting_count key " << k);
            MODEL_SAME(static_cast<int>(rig.pool->open_conns(key)), model.open_conns(k), "open_conns key " << k);
            MODEL_SAME(rig.pool->idle_count(key), model.idle[static_cast<std::size_t>(k)].size(), "idle_count key " << k);
        }
        MODEL_SAME(static_cast<int>(rig.pool->idle_count()), static_cast<int>(model.lru.size()), "idle_count");
        MODEL_SAME(static_cast<int>(rig.pool->waiting_count()), model.waiting_count(), "waiting_count");
        MODEL_SAME(static_cast<int>(rig.pool->ready_count()), model.ready_count(), "ready_count");
        MODEL_SAME(static_cast<int>(rig.pool->dials_in_progress()), model.dials_in_progress(), "dials_in_progress");
        MODEL_SAME(static_cast<int>(rig.pool->open_conns()), model.open_conns(), "open_conns");
        for (std::size_t i = 0; i < model.conns.size(); ++i) {
            const MConn& mc = model.conns[i];
            MODEL_SAME(rig.pool->is_idle(rig.ids[i]), mc.idle, "is_idle conn " << i);
            MODEL_SAME(rig.conns[i]->close_calls, mc.close_called ? 1 : 0, "Conn::close calls of conn " << i);
            if (!mc.dead) MODEL_SAME(rig.pool->is_open(rig.ids[i]), !mc.closed, "is_open conn " << i);
        }
        // PoolStats, counted from what the model expected step by step
        expect_stats.dials_started = model.dials.size();
        expect_stats.handoffs = model.handoffs;
        const PoolStats& ps = rig.pool->stats();
        MODEL_SAME(ps.gets, expect_stats.gets, "stats().gets");
        MODEL_SAME(ps.idle_hits, expect_stats.idle_hits, "stats().idle_hits");
        MODEL_SAME(ps.handoffs, expect_stats.handoffs, "stats().handoffs");
        MODEL_SAME(ps.dials_started, expect_stats.dials_started, "stats().dials_started");
        MODEL_SAME(ps.dials_succeeded, expect_stats.dials_succeeded, "stats().dials_succeeded");
        MODEL_SAME(ps.dials_failed, expect_stats.dials_failed, "stats().dials_failed");
        MODEL_SAME(ps.puts, expect_stats.puts, "stats().puts");
        MODEL_SAME(ps.puts_refused, expect_stats.puts_refused, "stats().puts_refused");
        for (int r = 0; r < close_reason_count; ++r) {
            MODEL_SAME(ps.closes[r], expect_stats.closes[r], "stats().closes[" << to_string(static_cast<CloseReason>(r)) << "]");
        }
        auto v = rig.pool->check_invariants();
        if (v) fail("check_invariants: " + *v);
    }

    int key_id_of_conn(int c) const {
        return static_cast<int>(rig.keys[static_cast<std::size_t>(model.conns[static_cast<std::size_t>(c)].key)]);
    }
    // Lease fields the model does not compute itself: the key and the Conn object.
    void check_lease(const Lease& l, int c, const char* what) {
        MODEL_SAME(static_cast<int>(l.key), key_id_of_conn(c), what << ": Lease::key");
        if (l.conn != rig.conns[static_cast<std::size_t>(c)].get()) fail(std::string(what) + ": Lease::conn is not the conn's object");
    }

    // ---- operations (resolved from raw picks) --------------------------------------------
    template <class T>
    static std::size_t pick(std::size_t raw, const std::vector<T>& v) { return raw % v.size(); }

    void op_get(int k) {
        begin("get key " + std::to_string(k));
        expect_get_hooks = 1;
        expect_get_key = static_cast<int>(rig.keys[static_cast<std::size_t>(k)]);
        ++expect_stats.gets;
        const auto r = rig.pool->get_conn(rig.keys[static_cast<std::size_t>(k)]);
        const MGetResult m = model.get_conn(k);
        if (r.lease.has_value() != m.lease.has_value()) {
            note(r.lease ? " -> pool: idle conn" : " -> pool: pending");
            fail(std::string("get_conn: pool ") + (r.lease ? "returned an idle conn" : "queued a want") + ", model " +
                 (m.lease ? "expected idle conn c" + std::to_string(m.lease->conn) : "expected a want"));
        }
        if (r.lease) {
            note(" -> idle conn c" + std::to_string(m.lease->conn));
            MODEL_SAME(rig.conn_index(r.lease->id), m.lease->conn, "get_conn: which idle conn");
            MODEL_SAME(r.lease->reused, m.lease->reused, "get_conn: Lease::reused");
            MODEL_SAME(r.lease->was_idle, true, "get_conn: Lease::was_idle");
            MODEL_SAME(r.lease->idle_time.count(), m.lease->idle_time.count(), "get_conn: Lease::idle_time (ns)");
            check_lease(*r.lease, m.lease->conn, "get_conn");
            ++expect_stats.idle_hits;
            leases.push_back(m.lease->conn);
        } else {
            want_ids.push_back(r.want);
            note(" -> want w" + std::to_string(m.want));
        }
        end();
    }

    std::vector<int> wants_in(WState s) const {
        std::vector<int> v;
        for (std::size_t i = 0; i < model.wants.size(); ++i) {
            if (model.wants[i].state == s) v.push_back(static_cast<int>(i));
        }
        return v;
    }

    void op_take(std::size_t raw) {
        const auto ready = wants_in(WState::ready);
        if (ready.empty()) return;
        const int w = ready[pick(raw, ready)];
        begin("take w" + std::to_string(w));
        const WantOutcome out = rig.pool->take(want_ids[static_cast<std::size_t>(w)]);
        const MLease m = model.take(w);
        if (out.lease.has_value() != (m.conn >= 0)) fail("take: pool and model disagree on conn vs error");
        if (out.lease) {
            note(" -> c" + std::to_string(m.conn));
            MODEL_SAME(rig.conn_index(out.lease->id), m.conn, "take: which conn");
            MODEL_SAME(out.lease->reused, m.reused, "take: Lease::reused");
            MODEL_SAME(out.lease->was_idle, false, "take: Lease::was_idle");
            MODEL_SAME(out.lease->idle_time.count(), std::int64_t{0}, "take: Lease::idle_time (ns)");
            check_lease(*out.lease, m.conn, "take");
            leases.push_back(m.conn);
        } else {
            note(" -> error");
            MODEL_SAME(out.error.message(), model.wants[static_cast<std::size_t>(w)].error_code.message(), "take: the dial's error (D4)");
        }
        end();
    }

    void op_put(std::size_t raw) {
        if (leases.empty()) return;
        const std::size_t i = pick(raw, leases);
        const int c = leases[i];
        leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
        begin("put c" + std::to_string(c));
        const PutResult r = rig.pool->put_idle_conn(rig.ids[static_cast<std::size_t>(c)]);
        const PutResult m = model.put_idle_conn(c);
        note(std::string(" -> ") + put_name(r));
        ++expect_stats.puts;
        if (!accepted(m)) ++expect_stats.puts_refused;
        MODEL_SAME(r, m, "put_idle_conn result");
        end();
    }

    void op_close_conn(std::size_t raw, CloseReason reason) {
        if (leases.empty()) return;
        const std::size_t i = pick(raw, leases);
        const int c = leases[i];
        leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
        begin("close_conn c" + std::to_string(c) + " " + std::string(to_string(reason)));
        rig.pool->close_conn(rig.ids[static_cast<std::size_t>(c)], reason);
        model.close_conn(c, reason);
        end();
    }

    void op_conn_closed(std::size_t raw, CloseReason reason) {
        std::vector<int> live;
        for (std::size_t i = 0; i < model.conns.size(); ++i) {
            if (!model.conns[i].dead) live.push_back(static_cast<int>(i));
        }
        if (live.empty()) return;
        const int c = live[pick(raw, live)];
        begin("conn_closed c" + std::to_string(c) + " " + std::string(to_string(reason)) +
              (model.conns[static_cast<std::size_t>(c)].idle ? " (idle)" : ""));
        rig.pool->conn_closed(rig.ids[static_cast<std::size_t>(c)], reason);
        model.conn_closed(c, reason);
        end();
    }

    void op_cancel(std::size_t raw, WState s) {
        const auto v = wants_in(s);
        if (v.empty()) return;
        const int w = v[pick(raw, v)];
        begin(std::string("cancel ") + (s == WState::ready ? "ready" : "waiting") + " w" + std::to_string(w));
        rig.pool->cancel_want(want_ids[static_cast<std::size_t>(w)]);
        model.cancel_want(w);
        end();
    }

    std::vector<int> active_dials() const {
        std::vector<int> v;
        for (std::size_t i = 0; i < model.dials.size(); ++i) {
            if (model.dials[i].active) v.push_back(static_cast<int>(i));
        }
        return v;
    }
    std::size_t pending_pos(int d) const {
        const DialId id = rig.dial_log.at(static_cast<std::size_t>(d)).id;
        for (std::size_t i = 0; i < rig.pending_dials.size(); ++i) {
            if (rig.pending_dials[i].id == id) return i;
        }
        throw CheckFailure("dial not pending in the fake dialer");
    }

    void op_dial_done(std::size_t raw, bool shared) {
        const auto v = active_dials();
        if (v.empty()) return;
        const int d = v[pick(raw, v)];
        shared = shared && gen.shared_ok;
        begin("dial_done d" + std::to_string(d) + (shared ? " shared" : "") + " -> c" + std::to_string(model.conns.size()));
        expect_dones = 1;
        expect_done_key = static_cast<int>(rig.keys[static_cast<std::size_t>(model.dials[static_cast<std::size_t>(d)].key)]);
        ++expect_stats.dials_succeeded;
        const std::size_t ci = rig.finish_dial(pending_pos(d), shared);
        const int mc = model.dial_done(d, shared, rig.ids[ci].slot);
        MODEL_SAME(static_cast<int>(ci), mc, "conn index");
        end();
    }

    void op_dial_failed(std::size_t raw, std::error_code ec) {
        const auto v = active_dials();
        if (v.empty()) return;
        const int d = v[pick(raw, v)];
        begin("dial_failed d" + std::to_string(d) + " (" + (ec ? ec.message() : std::string("no error code")) + ")");
        expect_dones = expect_done_errors = 1;
        expect_done_key = static_cast<int>(rig.keys[static_cast<std::size_t>(model.dials[static_cast<std::size_t>(d)].key)]);
        expect_done_error = ec ? ec : std::make_error_code(std::errc::io_error);
        ++expect_stats.dials_failed;
        rig.fail_dial(pending_pos(d), ec);
        model.dial_failed(d, ec);
        end();
    }

    std::uint32_t slot_of_timer(std::size_t id) const { return timer_slot.at(id); }

    void op_advance(Duration d, bool hold) {
        begin("advance " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms" +
              (hold ? " (fires held in flight)" : ""));
        const TimePoint target = rig.clock.t + d;
        for (int guard = 0; guard < 10000; ++guard) {
            auto next = rig.timers.next_due(target);
            if (!next) break;
            const TimePoint due = *rig.timers.entries[*next].due;
            rig.clock.t = std::max(rig.clock.t, due);
            model.set_now(rig.clock.t);
            const std::uint32_t slot = slot_of_timer(*next);
            note(" [fire slot " + std::to_string(slot) + "]");
            rig.timers.fire(*next, hold);
            model.timer_fired(slot);
            if (!hold) model.timer_callback(slot);
        }
        rig.clock.t = target;
        model.set_now(target);
        end();
    }

    void op_fire_early(std::size_t raw, bool hold) {
        const auto p = rig.timers.pending();
        if (p.empty()) return;
        const std::size_t id = p[pick(raw, p)];
        const std::uint32_t slot = slot_of_timer(id);
        begin("fire timer of slot " + std::to_string(slot) + " now" + (hold ? " (held in flight)" : ""));
        rig.timers.fire(id, hold);
        model.timer_fired(slot);
        if (!hold) model.timer_callback(slot);
        end();
    }

    void op_run_in_flight(std::size_t raw) {
        if (rig.timers.in_flight.empty()) return;
        const std::size_t pos = raw % rig.timers.in_flight.size();
        const std::uint32_t slot = slot_of_timer(rig.timers.in_flight[pos]);
        const int occ = model.occupant(slot);
        begin("run in-flight callback of slot " + std::to_string(slot) +
              (occ >= 0 ? " (now c" + std::to_string(occ) + (model.conns[static_cast<std::size_t>(occ)].idle ? ", idle)" : ", busy)")
                        : " (free)"));
        rig.timers.run_in_flight(pos);
        model.timer_callback(slot);
        end();
    }

    void op_close_idle() {
        begin("close_idle_connections");
        rig.pool->close_idle_connections();
        model.close_idle_connections();
        end();
    }
};

using Cmd = rc::state::Command<GenState, Sut>;
using CmdPtr = std::shared_ptr<const Cmd>;

struct Get : Cmd {
    int key;
    explicit Get(const GenState& g) : key(*rc::gen::inRange(0, g.nkeys)) {}
    void run(const GenState&, Sut& s) const override { s.op_get(key); }
    void show(std::ostream& os) const override { os << "Get(key " << key << ")"; }
};
struct Take : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    explicit Take(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_take(raw); }
    void show(std::ostream& os) const override { os << "Take(#" << raw << ")"; }
};
struct Put : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    explicit Put(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_put(raw); }
    void show(std::ostream& os) const override { os << "Put(#" << raw << ")"; }
};
struct CloseConn : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    CloseReason reason = *rc::gen::element(CloseReason::response_close, CloseReason::write_error, CloseReason::request_canceled);
    explicit CloseConn(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_close_conn(raw, reason); }
    void show(std::ostream& os) const override { os << "CloseConn(#" << raw << ", " << to_string(reason) << ")"; }
};
struct ConnClosed : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    CloseReason reason = *rc::gen::element(CloseReason::server_closed_idle, CloseReason::read_error);
    explicit ConnClosed(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_conn_closed(raw, reason); }
    void show(std::ostream& os) const override { os << "ConnClosed(#" << raw << ", " << to_string(reason) << ")"; }
};
struct CancelWaiting : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    explicit CancelWaiting(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_cancel(raw, WState::waiting); }
    void show(std::ostream& os) const override { os << "CancelWaiting(#" << raw << ")"; }
};
struct CancelReady : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    explicit CancelReady(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_cancel(raw, WState::ready); }
    void show(std::ostream& os) const override { os << "CancelReady(#" << raw << ")"; }
};
struct DialDone : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    bool shared;
    explicit DialDone(const GenState& g) : shared(g.shared_ok && *rc::gen::weightedElement<bool>({{1, true}, {2, false}})) {}
    void run(const GenState&, Sut& s) const override { s.op_dial_done(raw, shared); }
    void show(std::ostream& os) const override { os << "DialDone(#" << raw << (shared ? ", shared" : "") << ")"; }
};
struct DialFailed : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    int which = *rc::gen::weightedElement<int>({{4, 0}, {2, 1}, {1, 2}, {1, 3}});
    explicit DialFailed(const GenState&) {}
    std::error_code error() const {
        switch (which) {
            case 0: return std::make_error_code(std::errc::connection_refused);
            case 1: return std::make_error_code(std::errc::timed_out);
            case 2: return std::make_error_code(std::errc::host_unreachable);
            default: return {};  // no error code: delivered as io_error (divergence (h) 4)
        }
    }
    void run(const GenState&, Sut& s) const override { s.op_dial_failed(raw, error()); }
    void show(std::ostream& os) const override {
        os << "DialFailed(#" << raw << ", " << (which == 3 ? std::string("no error code") : error().message()) << ")";
    }
};
struct Advance : Cmd {
    std::int64_t ms;
    bool hold = *rc::gen::weightedElement<bool>({{1, true}, {2, false}});
    explicit Advance(const GenState& g) {
        const auto t = std::chrono::duration_cast<std::chrono::milliseconds>(g.cfg.idle_conn_timeout).count();
        ms = *rc::gen::weightedOneOf<std::int64_t>({{3, rc::gen::inRange<std::int64_t>(1, 3000)},
                                                    {2, rc::gen::just<std::int64_t>(t > 0 ? t : 1000)},
                                                    {2, rc::gen::inRange<std::int64_t>(1, 40000)}});
    }
    void run(const GenState&, Sut& s) const override { s.op_advance(std::chrono::milliseconds(ms), hold); }
    void show(std::ostream& os) const override { os << "Advance(" << ms << "ms" << (hold ? ", hold" : "") << ")"; }
};
struct FireEarly : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    bool hold = *rc::gen::arbitrary<bool>();
    explicit FireEarly(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_fire_early(raw, hold); }
    void show(std::ostream& os) const override { os << "FireTimerNow(#" << raw << (hold ? ", hold" : "") << ")"; }
};
struct RunInFlight : Cmd {
    std::size_t raw = *rc::gen::inRange<std::size_t>(0, 64);
    explicit RunInFlight(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_run_in_flight(raw); }
    void show(std::ostream& os) const override { os << "RunInFlight(#" << raw << ")"; }
};
struct CloseIdle : Cmd {
    explicit CloseIdle(const GenState&) {}
    void run(const GenState&, Sut& s) const override { s.op_close_idle(); }
    void show(std::ostream& os) const override { os << "CloseIdleConnections()"; }
};

template <class T>
rc::Gen<CmdPtr> make(const GenState& g) {
    return rc::gen::exec([g] { return CmdPtr(std::make_shared<T>(g)); });
}

rc::Gen<CmdPtr> gen_command(const GenState& g) {
    return rc::gen::weightedOneOf<CmdPtr>({
        {8, make<Get>(g)},
        {5, make<Take>(g)},
        {6, make<Put>(g)},
        {1, make<CloseConn>(g)},
        {2, make<ConnClosed>(g)},
        {2, make<CancelWaiting>(g)},
        {2, make<CancelReady>(g)},
        {7, make<DialDone>(g)},
        {2, make<DialFailed>(g)},
        {3, make<Advance>(g)},
        {1, make<FireEarly>(g)},
        {2, make<RunInFlight>(g)},
        {1, make<CloseIdle>(g)},
    });
}

rc::Gen<GenState> gen_state() {
    return rc::gen::exec([] {
        GenState g;
        g.cfg.max_idle_conns = *rc::gen::inRange(0, 5);
        g.cfg.max_idle_conns_per_host = *rc::gen::inRange(-1, 4);
        g.cfg.max_conns_per_host = *rc::gen::inRange(0, 4);
        g.cfg.idle_conn_timeout = std::chrono::seconds(
            *rc::gen::weightedOneOf<int>({{1, rc::gen::just(0)}, {3, rc::gen::inRange(1, 31)}}));
        g.cfg.disable_keep_alives = *rc::gen::weightedElement<bool>({{1, true}, {7, false}});
        g.shared_ok = *rc::gen::weightedElement<bool>({{1, true}, {2, false}});
        g.nkeys = *rc::gen::inRange(1, 4);
        return g;
    });
}

}  // namespace
}  // namespace connpool::props


namespace connpool::props {
namespace {

void showValue(const GenState& g, std::ostream& os) {
    os << "Config{max_idle_conns=" << g.cfg.max_idle_conns << ", max_idle_conns_per_host=" << g.cfg.max_idle_conns_per_host
       << ", max_conns_per_host=" << g.cfg.max_conns_per_host << ", idle_conn_timeout="
       << std::chrono::duration_cast<std::chrono::seconds>(g.cfg.idle_conn_timeout).count()
       << "s, disable_keep_alives=" << g.cfg.disable_keep_alives << "} keys=" << g.nkeys << " shared=" << g.shared_ok;
}

CONNPOOL_PROP(PoolModel, MatchesReferenceModel) {
    const GenState g = *gen_state();
    // Up to 3 * size commands: the pool is cheap to drive and long runs reach timer and slot reuse races.
    const auto cmds = *rc::gen::scale(3.0, rc::state::gen::commands(g, [](const GenState& s) { return gen_command(s); }));
    auto failure = run_isolated([&] {
        Sut sut(g);
        try {
            rc::state::runAll(cmds, g, sut);
        } catch (const ModelError& e) {  // the model refused a call: report it with the trace
            sut.fail(std::string("reference model: ") + e.what());
        }
    });
    if (failure) RC_FAIL(*failure);
}

}  // namespace
}  // namespace connpool::props
