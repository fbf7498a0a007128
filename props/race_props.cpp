// Named race properties of the pool core. Each property generates its scenario parameters
// (and, where it matters, an interleaving) and runs the scenario in a forked child
// (props/harness.hpp), so an assertion failure, a `connpool: fatal:` abort or a hang all
// shrink and print a RC_PARAMS="reproduce=..." line. Rule ids: shared/go-pool-rules.md.
#include <gtest/gtest.h>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <numeric>
#include <set>

#include "batch.hpp"
#include "harness.hpp"

namespace connpool::props {
namespace {

#define RUN_ISOLATED(...)                                   \
    do {                                                    \
        auto isolated_failure_ = run_isolated(__VA_ARGS__); \
        if (isolated_failure_) RC_FAIL(*isolated_failure_); \
    } while (0)

std::int64_t ms_of(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

// get_conn on `key` that must wait; completes the dial started for it and takes the conn.
// Returns the conn index in rig.conns.
std::size_t dial_new(PoolRig& rig, std::size_t key, bool shared = false) {
    const std::size_t before = rig.dial_log.size();
    const auto r = rig.pool->get_conn(rig.keys[key]);
    PROP_CHECK(!r.lease, "expected to wait for a dial");
    PROP_CHECK(rig.dial_log.size() == before + 1, "expected one dial to start");
    const DialId d = rig.dial_log.back().id;
    std::size_t pos = 0;
    while (rig.pending_dials[pos].id != d) ++pos;
    const std::size_t c = rig.finish_dial(pos, shared);
    PROP_CHECK(!rig.ready.empty() && rig.ready.back() == r.want, "own dial not delivered to its want");
    const WantOutcome out = rig.pool->take(r.want);
    PROP_CHECK(out.lease && rig.conn_index(out.lease->id) == static_cast<int>(c), "took the wrong conn");
    return c;
}

// The conn index a ready want holds (or -1 for an error), consuming the want.
int take_index(PoolRig& rig, WantId w) {
    const WantOutcome out = rig.pool->take(w);
    return out.lease ? rig.conn_index(out.lease->id) : -1;
}

// Trace storage for the interleaving properties: it outlives the case body, so run_isolated
// can print it after the exception unwound the body (see case_trace in harness.hpp).
std::vector<std::string>& start_trace() {
    static std::vector<std::string> trace;
    trace.clear();
    case_trace = &trace;
    return trace;
}

bool announced(const PoolRig& rig, WantId w) { return std::find(rig.ready.begin(), rig.ready.end(), w) != rig.ready.end(); }

// ---------------------------------------------------------------------------------------
// timer_fires_after_reuse: idle-timer callbacks that are stale (in flight while the conn was
// reused, or reused and returned, or fired early) never close a busy conn and never close a
// conn idle for less than IdleConnTimeout (T6, divergence (a)); get_conn never hands out a
// conn idle for longer than IdleConnTimeout (T3); in the end every idle conn does time out.
CONNPOOL_PROP(RaceProps, timer_fires_after_reuse) {
    const int timeout_s = *rc::gen::inRange(1, 31);
    const int nconns = *rc::gen::inRange(1, 4);
    struct Op {
        int kind;  // 0 get, 1 put back, 2 advance (hold), 3 advance (run), 4 fire a pending timer now (hold), 5 run in-flight
        int arg;
    };
    const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::build<Op>(
        rc::gen::set(&Op::kind, rc::gen::weightedElement<int>({{3, 0}, {3, 1}, {3, 2}, {1, 3}, {1, 4}, {3, 5}})),
        rc::gen::set(&Op::arg, rc::gen::weightedOneOf<int>({{2, rc::gen::just(timeout_s * 1000)},
                                                            {1, rc::gen::just(timeout_s * 1000 - 1)},
                                                            {3, rc::gen::inRange(0, timeout_s * 1000 + 2000)}}))));
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.idle_conn_timeout = std::chrono::seconds(timeout_s);
        cfg.max_idle_conns_per_host = 3;
        const Duration T = cfg.idle_conn_timeout;
        PoolRig rig(cfg, 1);
        auto& trace = start_trace();
        auto at = [&] { return "t+" + std::to_string(ms_of(rig.clock.t - TimePoint{std::chrono::seconds(1000)})) + "ms "; };
        std::vector<bool> leased;
        std::vector<TimePoint> idle_since;
        for (int i = 0; i < nconns; ++i) {
            dial_new(rig, 0);
            leased.push_back(true);
            idle_since.push_back({});
        }
        auto put_back = [&](std::size_t c) {
            const PutResult r = rig.pool->put_idle_conn(rig.ids[c]);
            PROP_CHECK(r == PutResult::pooled, "put refused: " << to_string(r));
            leased[c] = false;
            idle_since[c] = rig.clock.t;
            trace.push_back(at() + "put c" + std::to_string(c) + " -> pooled");
        };
        for (std::size_t c = 0; c < leased.size(); ++c) put_back(c);
        std::size_t seen_closes = 0;
        auto check = [&](const char* after) {
            for (; seen_closes < rig.close_log.size(); ++seen_closes) {
                const std::size_t c = rig.close_log[seen_closes].first;
                const PConn& pc = rig.conn(c);
                PROP_CHECK(!leased[c], "after " << after << ": busy conn " << c << " closed with " << to_string(*pc.reason));
                PROP_CHECK(pc.reason == CloseReason::idle_timeout, "unexpected close reason " << to_string(*pc.reason));
                PROP_CHECK(pc.closed_at - idle_since[c] >= T, "after " << after << ": conn " << c << " closed after only "
                                                                       << ms_of(pc.closed_at - idle_since[c]) << "ms idle, timeout "
                                                                       << timeout_s << "s");
            }
            for (std::size_t c = 0; c < leased.size(); ++c) {
                if (leased[c]) PROP_CHECK(rig.conn(c).close_calls == 0 && rig.pool->is_open(rig.ids[c]), "busy conn " << c << " closed");
            }
            rig.audit();
        };
        for (const Op& op : ops) {
            switch (op.kind) {
                case 0: {
                    const auto r = rig.pool->get_conn(rig.keys[0]);
                    if (r.lease) {
                        const int c = rig.conn_index(r.lease->id);
                        PROP_CHECK(c >= 0 && !leased[static_cast<std::size_t>(c)], "handed out a busy conn");
                        PROP_CHECK(rig.clock.t - idle_since[static_cast<std::size_t>(c)] <= T,
                                   "handed out conn " << c << " idle for " << ms_of(rig.clock.t - idle_since[static_cast<std::size_t>(c)])
                                                      << "ms > timeout (T3)");
                        leased[static_cast<std::size_t>(c)] = true;
                        trace.push_back(at() + "get -> idle c" + std::to_string(c));
                    } else {
                        trace.push_back(at() + "get -> no idle conn (request gives up)");
                        rig.pool->cancel_want(r.want);  // no new conns here: its dial never completes
                    }
                    check("get");
                    break;
                }
                case 1: {
                    std::vector<std::size_t> busy;
                    for (std::size_t c = 0; c < leased.size(); ++c) {
                        if (leased[c]) busy.push_back(c);
                    }
                    if (!busy.empty()) put_back(busy[static_cast<std::size_t>(op.arg) % busy.size()]);
                    check("put");
                    break;
                }
                case 2:
                case 3:
                    trace.push_back(at() + "advance " + std::to_string(op.arg) + "ms" + (op.kind == 2 ? " (fires held)" : ""));
                    rig.advance(std::chrono::milliseconds(op.arg), op.kind == 2);
                    check("advance");
                    break;
                case 4: {
                    const auto p = rig.timers.pending();
                    if (!p.empty()) {
                        trace.push_back(at() + "timer " + std::to_string(p[static_cast<std::size_t>(op.arg) % p.size()]) +
                                        " fires early (held)");
                        rig.timers.fire(p[static_cast<std::size_t>(op.arg) % p.size()], true);
                    }
                    check("early fire");
                    break;
                }
                default:
                    if (!rig.timers.in_flight.empty()) {
                        const std::size_t pos = static_cast<std::size_t>(op.arg) % rig.timers.in_flight.size();
                        trace.push_back(at() + "in-flight callback of timer " + std::to_string(rig.timers.in_flight[pos]) + " runs");
                        rig.timers.run_in_flight(pos);
                    }
                    check("stale callback");
                    break;
            }
        }
        // Liveness: once every callback has run and a full timeout passed, no conn is idle.
        trace.push_back(at() + "all in-flight callbacks run, then advance timeout+1s");
        rig.run_all_in_flight();
        rig.advance(T + 1s);
        check("final timeout");
        for (std::size_t c = 0; c < leased.size(); ++c) {
            if (!leased[c]) PROP_CHECK(rig.conn(c).close_calls == 1, "idle conn " << c << " never timed out");
        }
        PROP_CHECK(rig.pool->idle_count() == 0, "idle conns left after the timeout");
    });
}

// ---------------------------------------------------------------------------------------
// dial_completes_after_idle_delivery: a request that got a returned conn (late binding, P5)
// before its own dial finished does not waste that dial: the new conn goes to the next
// waiter or into the pool (G5, D5), and keeps its MaxConnsPerHost slot (D7, INV5).
CONNPOOL_PROP(RaceProps, dial_completes_after_idle_delivery) {
    const int held = *rc::gen::inRange(1, 3);      // conns leased before the race
    const int waiters = *rc::gen::inRange(1, 4);   // requests that wait, each with a dial
    const int returned = *rc::gen::inRange(1, std::min(held, waiters) + 1);
    const int mcph = *rc::gen::element(0, held + waiters, held + waiters + 1);
    const auto order = *rc::gen::container<std::vector<int>>(static_cast<std::size_t>(waiters), rc::gen::inRange(0, 100));
    const bool take_first = *rc::gen::arbitrary<bool>();
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_conns_per_host = mcph;
        cfg.max_idle_conns_per_host = 8;
        PoolRig rig(cfg, 1);
        std::vector<std::size_t> mine;
        for (int i = 0; i < held; ++i) mine.push_back(dial_new(rig, 0));
        std::vector<WantId> wants;
        for (int i = 0; i < waiters; ++i) {
            const auto r = rig.pool->get_conn(rig.keys[0]);
            PROP_CHECK(!r.lease, "no idle conn expected");
            wants.push_back(r.want);
        }
        PROP_CHECK(rig.pending_dials.size() == static_cast<std::size_t>(waiters), "one dial per waiter");
        for (int i = 0; i < returned; ++i) {
            const PutResult r = rig.pool->put_idle_conn(rig.ids[mine[static_cast<std::size_t>(i)]]);
            PROP_CHECK(r == PutResult::handed_to_waiter, "returned conn not handed to the waiter: " << to_string(r));
            PROP_CHECK(announced(rig, wants[static_cast<std::size_t>(i)]), "oldest waiter not served first");
        }
        std::set<std::size_t> taken;
        if (take_first) {
            for (int i = 0; i < returned; ++i) taken.insert(static_cast<std::size_t>(take_index(rig, wants[static_cast<std::size_t>(i)])));
        }
        // Complete the dials in a generated order.
        for (int i = 0; i < waiters; ++i) {
            const std::size_t pos = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]) % rig.pending_dials.size();
            const std::size_t ready_before = rig.ready.size();
            const std::size_t c = rig.finish_dial(pos, false);
            PROP_CHECK(rig.conn(c).close_calls == 0, "dialed conn " << c << " closed: " << to_string(*rig.conn(c).reason));
            const bool delivered = rig.ready.size() > ready_before;
            PROP_CHECK(delivered || rig.pool->is_idle(rig.ids[c]), "dialed conn " << c << " neither delivered nor pooled");
            if (mcph > 0) {
                PROP_CHECK(rig.pool->conns_per_host(rig.keys[0]) ==
                               static_cast<int>(rig.pool->open_conns(rig.keys[0]) + rig.pool->dials_in_progress()),
                           "connsPerHost " << rig.pool->conns_per_host(rig.keys[0]) << " != open "
                                           << rig.pool->open_conns(rig.keys[0]) << " + dialing " << rig.pool->dials_in_progress());
            }
            rig.audit();
        }
        PROP_CHECK(rig.pool->waiting_count() == 0, "a waiter was left without a conn");
        PROP_CHECK(rig.pool->open_conns() == static_cast<std::size_t>(held + waiters), "conns lost");
        PROP_CHECK(rig.pool->idle_count() == static_cast<std::size_t>(returned), "orphaned dials not pooled");
    });
}

// ---------------------------------------------------------------------------------------
// cancel_races_delivery: a request cancelled after a conn was delivered to it but before it
// took it gives the conn back (W3): to the next waiter, or the pool, or closed with a put
// refusal reason; never lost (INV7).
CONNPOOL_PROP(RaceProps, cancel_races_delivery) {
    const bool via_dial = *rc::gen::arbitrary<bool>();    // delivered by its own dial, or a returned conn
    const int later_waiters = *rc::gen::inRange(0, 3);
    const int cap = *rc::gen::inRange(0, 3);               // per-host idle cap (0 = default 2)
    const int idle_before = *rc::gen::inRange(0, 3);
    const bool close_idle = *rc::gen::weightedElement<bool>({{1, true}, {3, false}});
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_idle_conns_per_host = cap;
        PoolRig rig(cfg, 1);
        std::vector<std::size_t> idle_conns;
        for (int i = 0; i < idle_before; ++i) idle_conns.push_back(dial_new(rig, 0));
        const std::size_t a = dial_new(rig, 0);
        for (std::size_t c : idle_conns) rig.pool->put_idle_conn(rig.ids[c]);
        // The racing request: it must wait, so empty the idle list first if needed.
        std::vector<std::size_t> held{a};
        while (rig.pool->idle_count() > 0) {
            const auto r = rig.pool->get_conn(rig.keys[0]);
            held.push_back(static_cast<std::size_t>(rig.conn_index(r.lease->id)));
        }
        const auto r = rig.pool->get_conn(rig.keys[0]);
        PROP_CHECK(!r.lease, "expected to wait");
        const WantId w = r.want;
        std::size_t x;
        if (via_dial) {
            x = rig.finish_dial(rig.pending_dials.size() - 1, false);
        } else {
            PROP_CHECK(rig.pool->put_idle_conn(rig.ids[a]) == PutResult::handed_to_waiter, "late binding");
            held.erase(held.begin());
            x = a;
        }
        PROP_CHECK(announced(rig, w), "delivery not announced");
        if (close_idle) rig.pool->close_idle_connections();
        std::vector<WantId> others;
        for (int i = 0; i < later_waiters; ++i) others.push_back(rig.pool->get_conn(rig.keys[0]).want);
        const std::size_t ready_before = rig.ready.size();
        rig.pool->cancel_want(w);
        const PConn& pc = rig.conn(x);
        if (later_waiters > 0) {
            PROP_CHECK(rig.ready.size() == ready_before + 1 && rig.ready.back() == others.front(),
                       "conn not handed to the next waiter");
            PROP_CHECK(take_index(rig, others.front()) == static_cast<int>(x), "next waiter got another conn");
        } else if (pc.close_calls == 0) {
            PROP_CHECK(rig.pool->is_idle(rig.ids[x]), "conn " << x << " neither pooled, handed on nor closed: lost");
        } else {
            PROP_CHECK(pc.reason == CloseReason::too_many_idle_for_key || pc.reason == CloseReason::close_idle,
                       "conn closed with " << to_string(*pc.reason));
            PROP_CHECK(close_idle || rig.pool->idle_count() >= static_cast<std::size_t>(cfg.idle_conns_per_host_max()),
                       "conn refused below the idle cap");
        }
        // Every open conn is idle, held by us, or held by a ready want.
        std::size_t ready_holding = rig.pool->ready_count();
        PROP_CHECK(rig.pool->open_conns() <= rig.pool->idle_count() + held.size() + ready_holding + (later_waiters > 0 ? 1 : 0),
                   "open conns unaccounted for");
        rig.audit();
    });
}

// ---------------------------------------------------------------------------------------
// broken_while_idle: a conn reported dead while idle (server close, RM2/RM3) leaves the idle
// list at once and is never handed out.
CONNPOOL_PROP(RaceProps, broken_while_idle) {
    const int n = *rc::gen::inRange(1, 5);
    const auto broken = *rc::gen::container<std::vector<bool>>(static_cast<std::size_t>(n), rc::gen::arbitrary<bool>());
    const int gets = *rc::gen::inRange(1, 6);
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_idle_conns_per_host = 4;
        PoolRig rig(cfg, 1);
        std::vector<std::size_t> cs;
        for (int i = 0; i < n; ++i) cs.push_back(dial_new(rig, 0));
        for (std::size_t c : cs) rig.pool->put_idle_conn(rig.ids[c]);
        std::set<int> dead;
        for (int i = 0; i < n; ++i) {
            if (!broken[static_cast<std::size_t>(i)]) continue;
            rig.pool->conn_closed(rig.ids[cs[static_cast<std::size_t>(i)]], CloseReason::server_closed_idle);
            dead.insert(static_cast<int>(cs[static_cast<std::size_t>(i)]));
        }
        for (ConnId id : rig.pool->idle_conns(rig.keys[0])) PROP_CHECK(!dead.count(rig.conn_index(id)), "dead conn still idle");
        PROP_CHECK(rig.pool->idle_count() == static_cast<std::size_t>(n) - dead.size(), "idle count");
        for (int i = 0; i < gets; ++i) {
            const auto r = rig.pool->get_conn(rig.keys[0]);
            if (r.lease) PROP_CHECK(!dead.count(rig.conn_index(r.lease->id)), "dead conn handed out");
        }
        for (int c : dead) PROP_CHECK(rig.conn(static_cast<std::size_t>(c)).close_calls == 1, "dead conn not closed once");
        rig.audit();
    });
}

// ---------------------------------------------------------------------------------------
// close_idle_while_in_use: CloseIdleConnections closes idle conns only (C1, C2); conns in use
// returned afterwards go to a waiter (P5), else are closed (P6) until the next get_conn
// re-enables pooling (T2, C3).
CONNPOOL_PROP(RaceProps, close_idle_while_in_use) {
    const int in_use = *rc::gen::inRange(1, 4);
    const int idle = *rc::gen::inRange(0, 3);
    const int gets_after = *rc::gen::inRange(0, 3);  // requests between close_idle and the returns
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_idle_conns_per_host = 8;
        PoolRig rig(cfg, 1);
        std::vector<std::size_t> busy, lazy;
        for (int i = 0; i < in_use + idle; ++i) (i < in_use ? busy : lazy).push_back(dial_new(rig, 0));
        for (std::size_t c : lazy) rig.pool->put_idle_conn(rig.ids[c]);
        rig.pool->close_idle_connections();
        for (std::size_t c : lazy) PROP_CHECK(rig.conn(c).reason == CloseReason::close_idle_conns, "idle conn " << c << " not closed");
        for (std::size_t c : busy) PROP_CHECK(rig.conn(c).close_calls == 0 && rig.pool->is_open(rig.ids[c]), "busy conn closed");
        int waiting = 0;
        for (int i = 0; i < gets_after; ++i) {
            PROP_CHECK(!rig.pool->get_conn(rig.keys[0]).lease, "idle conn survived close_idle");
            ++waiting;
        }
        for (std::size_t c : busy) {
            const PutResult r = rig.pool->put_idle_conn(rig.ids[c]);
            if (waiting > 0) {
                PROP_CHECK(r == PutResult::handed_to_waiter, "waiter skipped: " << to_string(r));
                --waiting;
            } else if (gets_after > 0) {
                PROP_CHECK(r == PutResult::pooled, "a get_conn after close_idle must re-enable pooling (T2): " << to_string(r));
                PROP_CHECK(rig.conn(c).close_calls == 0, "pooled conn closed");
            } else {
                PROP_CHECK(r == PutResult::close_idle, "returned after close_idle: " << to_string(r));
                PROP_CHECK(rig.conn(c).reason == CloseReason::close_idle, "not closed with close_idle");
            }
        }
        rig.audit();
    });
}

// ---------------------------------------------------------------------------------------
// max_conns_per_host_no_deadlock: with MaxConnsPerHost, random dial successes and failures,
// cancels and returns, the cap is never exceeded (D1, D8) and, once all conns are returned
// and all dials finished, every request that was not cancelled has completed (D4, D6, D7).
CONNPOOL_PROP(RaceProps, max_conns_per_host_no_deadlock) {
    const int mcph = *rc::gen::inRange(1, 4);
    const int nkeys = *rc::gen::inRange(1, 3);
    const auto requests = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, nkeys));
    const auto choices = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 1000));
    const bool shared_ok = *rc::gen::weightedElement<bool>({{1, true}, {3, false}});
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_conns_per_host = mcph;
        cfg.max_idle_conns_per_host = std::max(1, mcph);
        PoolRig rig(cfg, nkeys);
        auto& trace = start_trace();
        std::size_t next_req = 0, next_choice = 0;
        std::vector<WantId> waiting;
        std::vector<std::size_t> leases;  // conn indexes held
        std::set<std::size_t> cancelled;
        int completed = 0, cancels = 0;
        auto choose = [&](int n) { return choices.empty() ? 0 : choices[next_choice++ % choices.size()] % n; };
        auto check_caps = [&] {
            for (int k = 0; k < nkeys; ++k) {
                const KeyId key = rig.keys[static_cast<std::size_t>(k)];
                std::size_t dialing = 0;
                for (const auto& d : rig.pending_dials) dialing += d.key == key ? 1 : 0;
                PROP_CHECK(rig.pool->open_conns(key) + dialing <= static_cast<std::size_t>(mcph),
                           "key " << k << ": " << rig.pool->open_conns(key) << " open + " << dialing << " dialing > MaxConnsPerHost "
                                  << mcph);
                PROP_CHECK(rig.pool->conns_per_host(key) <= mcph, "connsPerHost over the cap");
            }
            rig.audit();
        };
        for (int step = 0; step < 10000; ++step) {
            // Enabled events: new request, finish a dial, take a ready want, return a lease, cancel.
            std::vector<int> ev;
            if (next_req < requests.size()) ev.push_back(0);
            if (!rig.pending_dials.empty()) ev.push_back(1);
            std::vector<std::size_t> ready_idx;
            for (std::size_t i = 0; i < waiting.size(); ++i) {
                if (announced(rig, waiting[i])) ready_idx.push_back(i);
            }
            if (!ready_idx.empty()) ev.push_back(2);
            if (!leases.empty()) ev.push_back(3);
            if (!waiting.empty() && cancels < 3) ev.push_back(4);
            if (ev.empty()) break;
            switch (ev[static_cast<std::size_t>(choose(static_cast<int>(ev.size())))]) {
                case 0: {
                    const int k = requests[next_req++];
                    const auto r = rig.pool->get_conn(rig.keys[static_cast<std::size_t>(k)]);
                    trace.push_back("request on key " + std::to_string(k) + (r.lease ? " -> idle conn" : " -> waits"));
                    if (r.lease) {
                        leases.push_back(static_cast<std::size_t>(rig.conn_index(r.lease->id)));
                        ++completed;
                    } else {
                        waiting.push_back(r.want);
                    }
                    break;
                }
                case 1: {
                    const std::size_t pos = static_cast<std::size_t>(choose(static_cast<int>(rig.pending_dials.size())));
                    const int key = static_cast<int>(rig.pending_dials[pos].key);
                    if (choose(4) == 0) {
                        trace.push_back("dial on key " + std::to_string(key) + " fails");
                        rig.fail_dial(pos);
                    } else {
                        const bool sh = shared_ok && choose(3) == 0;
                        trace.push_back("dial on key " + std::to_string(key) + " succeeds" + (sh ? " (shared)" : ""));
                        rig.finish_dial(pos, sh);
                    }
                    break;
                }
                case 2: {
                    const std::size_t i = ready_idx[static_cast<std::size_t>(choose(static_cast<int>(ready_idx.size())))];
                    const int c = take_index(rig, waiting[i]);
                    trace.push_back(c >= 0 ? "a ready request takes conn c" + std::to_string(c) : std::string("a ready request takes its dial error"));
                    if (c >= 0) leases.push_back(static_cast<std::size_t>(c));
                    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
                    ++completed;
                    break;
                }
                case 3: {
                    const std::size_t i = static_cast<std::size_t>(choose(static_cast<int>(leases.size())));
                    const ConnId id = rig.ids[leases[i]];
                    leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
                    if (choose(5) == 0) {
                        trace.push_back("close_conn c" + std::to_string(rig.conn_index(id)));
                        rig.pool->close_conn(id, CloseReason::response_close);
                    } else {
                        trace.push_back("put c" + std::to_string(rig.conn_index(id)) + " -> " +
                                        std::string(to_string(rig.pool->put_idle_conn(id))));
                    }
                    break;
                }
                default: {
                    const std::size_t i = static_cast<std::size_t>(choose(static_cast<int>(waiting.size())));
                    trace.push_back("a waiting request gives up");
                    rig.pool->cancel_want(waiting[i]);
                    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
                    ++cancels;
                    break;
                }
            }
            check_caps();
        }
        PROP_CHECK(waiting.empty(), waiting.size() << " request(s) never completed (deadlock): waiting_count="
                                                   << rig.pool->waiting_count() << ", dials in progress "
                                                   << rig.pool->dials_in_progress());
        PROP_CHECK(completed + cancels == static_cast<int>(requests.size()), "requests unaccounted for");
        PROP_CHECK(rig.pool->waiting_count() == 0 && rig.pool->ready_count() == 0, "pool still has wants");
    });
}

// ---------------------------------------------------------------------------------------
// waiter_queues_bounded: storms of requests that give up (from anywhere in the queues, not
// just the front) leave no trace: the waiting count equals the live requests, and returned
// conns go to the oldest live one (W5, divergence (b), P5 FIFO).
CONNPOOL_PROP(RaceProps, waiter_queues_bounded) {
    const int rounds = *rc::gen::inRange(1, 5);
    const auto storm = *rc::gen::container<std::vector<std::vector<bool>>>(
        static_cast<std::size_t>(rounds), rc::gen::container<std::vector<bool>>(rc::gen::weightedElement<bool>({{3, true}, {1, false}})));
    const int mcph = *rc::gen::inRange(0, 2);
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_conns_per_host = mcph;
        PoolRig rig(cfg, 1);
        const std::size_t a = dial_new(rig, 0);  // with mcph 1 every other request waits for a slot
        std::vector<WantId> live;
        for (const auto& cancel_mask : storm) {
            std::vector<WantId> fresh;
            for (std::size_t i = 0; i < cancel_mask.size(); ++i) fresh.push_back(rig.pool->get_conn(rig.keys[0]).want);
            for (std::size_t i = 0; i < cancel_mask.size(); ++i) {
                if (cancel_mask[i]) rig.pool->cancel_want(fresh[i]);
                else live.push_back(fresh[i]);
            }
            PROP_CHECK(rig.pool->waiting_count(rig.keys[0]) == live.size(),
                       "waiting_count " << rig.pool->waiting_count(rig.keys[0]) << " but " << live.size() << " live requests");
            rig.audit();
        }
        // The held conn goes to the oldest live waiter.
        const PutResult r = rig.pool->put_idle_conn(rig.ids[a]);
        if (live.empty()) {
            PROP_CHECK(r == PutResult::pooled, "no waiter, must pool: " << to_string(r));
        } else {
            PROP_CHECK(r == PutResult::handed_to_waiter, "late binding skipped: " << to_string(r));
            PROP_CHECK(rig.ready.back() == live.front(), "not the oldest live waiter");
            PROP_CHECK(take_index(rig, live.front()) == static_cast<int>(a), "wrong conn");
            live.erase(live.begin());
        }
        for (WantId w : live) rig.pool->cancel_want(w);
        PROP_CHECK(rig.pool->waiting_count() == 0, "waiters left after cancelling all");
        rig.audit();
    });
}

// ---------------------------------------------------------------------------------------
// lifo_reuse: the most recently returned idle conn is reused first (T4; Go f459660cb8).
CONNPOOL_PROP(RaceProps, lifo_reuse) {
    const int n = *rc::gen::inRange(2, 5);
    const auto order = *rc::gen::container<std::vector<int>>(static_cast<std::size_t>(n), rc::gen::inRange(0, 100));
    const auto gaps = *rc::gen::container<std::vector<int>>(static_cast<std::size_t>(n), rc::gen::inRange(0, 5000));
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_idle_conns_per_host = 4;
        cfg.idle_conn_timeout = 90s;
        PoolRig rig(cfg, 1);
        std::vector<std::size_t> cs;
        for (int i = 0; i < n; ++i) cs.push_back(dial_new(rig, 0));
        std::vector<std::size_t> returned;
        for (int i = 0; i < n; ++i) {
            const std::size_t j = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]) % cs.size();
            rig.advance(std::chrono::milliseconds(gaps[static_cast<std::size_t>(i)]));
            rig.pool->put_idle_conn(rig.ids[cs[j]]);
            returned.push_back(cs[j]);
            cs.erase(cs.begin() + static_cast<std::ptrdiff_t>(j));
        }
        for (auto it = returned.rbegin(); it != returned.rend(); ++it) {
            const auto r = rig.pool->get_conn(rig.keys[0]);
            PROP_CHECK(r.lease, "idle conn expected");
            PROP_CHECK(rig.conn_index(r.lease->id) == static_cast<int>(*it),
                       "got conn " << rig.conn_index(r.lease->id) << ", most recently returned is " << *it);
        }
        rig.audit();
    });
}

// ---------------------------------------------------------------------------------------
// lru_eviction_across_keys: over MaxIdleConns the globally least recently returned idle conn
// is closed, whatever its key (P10); the idle set is always the most recent MaxIdleConns.
CONNPOOL_PROP(RaceProps, lru_eviction_across_keys) {
    const int max_idle = *rc::gen::inRange(1, 4);
    const int nkeys = *rc::gen::inRange(2, 4);
    const auto keys_of = *rc::gen::nonEmpty(rc::gen::container<std::vector<int>>(rc::gen::inRange(0, nkeys)));
    const auto order = *rc::gen::container<std::vector<int>>(keys_of.size(), rc::gen::inRange(0, 100));
    RUN_ISOLATED([&] {
        Config cfg;
        cfg.max_idle_conns = max_idle;
        cfg.max_idle_conns_per_host = 8;
        PoolRig rig(cfg, nkeys);
        std::vector<std::size_t> cs;
        for (int k : keys_of) cs.push_back(dial_new(rig, static_cast<std::size_t>(k)));
        std::vector<std::size_t> idle;  // oldest first
        for (std::size_t i = 0; i < keys_of.size(); ++i) {
            const std::size_t j = static_cast<std::size_t>(order[i]) % cs.size();
            const std::size_t c = cs[j];
            cs.erase(cs.begin() + static_cast<std::ptrdiff_t>(j));
            rig.advance(1ms);
            PROP_CHECK(rig.pool->put_idle_conn(rig.ids[c]) == PutResult::pooled, "put refused");
            idle.push_back(c);
            if (idle.size() > static_cast<std::size_t>(max_idle)) {
                const std::size_t victim = idle.front();
                idle.erase(idle.begin());
                PROP_CHECK(rig.conn(victim).reason == CloseReason::too_many_idle,
                           "oldest idle conn " << victim << " not evicted");
            }
            std::set<std::size_t> expect(idle.begin(), idle.end()), got;
            for (KeyId key : rig.keys) {
                for (ConnId id : rig.pool->idle_conns(key)) got.insert(static_cast<std::size_t>(rig.conn_index(id)));
            }
            PROP_CHECK(got == expect, "idle set is not the " << max_idle << " most recently returned conns");
            rig.audit();
        }
    });
}

// ---------------------------------------------------------------------------------------
// dup_return_is_fatal: a conn returned twice stops the program with a message (P8,
// divergence (c)) instead of corrupting the idle list. Its whole input space (idle or not in
// between, a waiter or not) is four cases, so it is enumerated rather than sampled; each case
// must stop its forked child, so it cannot be batched (props/batch.hpp).
TEST(RaceProps, dup_return_is_fatal) {
    for (const bool idle_in_between : {false, true}) {
        for (const bool handed_off : {false, true}) {
            SCOPED_TRACE(std::string("idle_in_between=") + (idle_in_between ? "1" : "0") +
                         " handed_off=" + (handed_off ? "1" : "0"));
            const auto failure = run_forked([&] {
                Config cfg;
                PoolRig rig(cfg, 1);
                const std::size_t c = dial_new(rig, 0);
                if (handed_off) rig.pool->get_conn(rig.keys[0]);  // a waiter takes it on return
                rig.pool->put_idle_conn(rig.ids[c]);
                if (idle_in_between) rig.advance(1s);
                rig.pool->put_idle_conn(rig.ids[c]);  // must be fatal, also right after a hand-off
                // If it was not: the audit must flag the stolen lease, or the recipient's own put is fatal.
                rig.audit();
                if (handed_off) {
                    const WantId w = rig.ready.back();
                    rig.pool->take(w);
                    rig.pool->put_idle_conn(rig.ids[c]);
                }
            });
            ASSERT_TRUE(failure.has_value()) << "a second return of the same conn went unnoticed";
            EXPECT_NE(failure->find("connpool: fatal: put_idle_conn"), std::string::npos)
                << "not stopped at the second put itself:\n"
                << *failure;
        }
    }
}

}  // namespace
}  // namespace connpool::props
