// Embedding the connpool core: the smallest complete program. It supplies the five ports
// (clock, timers, dialer, conns, want listener) with a toy event loop in virtual time, then
// sends six requests to one host, one after another, and checks that the first dials a conn
// and the other five reuse it, and that the idle conn closes after IdleConnTimeout.
// Built and run by `meson test` (suite unit) and, in CI, built against the installed
// library through pkg-config, exactly as an embedder would.
#include <connpool/connpool.hpp>

#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

using namespace std::chrono_literals;

// A single-threaded event loop with its own virtual clock: the loop owns time.
struct Loop final : connpool::Clock, connpool::TimerService {
    connpool::TimePoint now_{};
    std::multimap<connpool::TimePoint, std::function<void()>> due_;  // ties run in insertion order
    std::deque<std::function<void()>> posted_;

    connpool::TimePoint now() const override { return now_; }
    void post(std::function<void()> f) { posted_.push_back(std::move(f)); }

    struct LoopTimer final : connpool::Timer {
        Loop& loop;
        std::function<void()> callback;
        std::optional<std::multimap<connpool::TimePoint, std::function<void()>>::iterator> pending;
        LoopTimer(Loop& l, std::function<void()> cb) : loop(l), callback(std::move(cb)) {}
        ~LoopTimer() override { stop(); }
        bool stop() override {
            if (!pending) return false;
            loop.due_.erase(*pending);
            pending.reset();
            return true;
        }
        bool reset(connpool::Duration d) override {
            const bool was = stop();
            pending = loop.due_.emplace(loop.now_ + d, [this] { pending.reset(); callback(); });
            return was;
        }
    };
    std::unique_ptr<connpool::Timer> after_func(connpool::Duration d, std::function<void()> cb) override {
        auto t = std::make_unique<LoopTimer>(*this, std::move(cb));
        t->reset(d);
        return t;
    }

    // Runs posted work, then advances time to the next timer, until `until`.
    void run_until(connpool::TimePoint until) {
        for (;;) {
            while (!posted_.empty()) {
                auto f = std::move(posted_.front());
                posted_.pop_front();
                f();
            }
            if (due_.empty() || due_.begin()->first > until) break;
            auto node = due_.extract(due_.begin());
            now_ = node.key();
            node.mapped()();
        }
        now_ = until;
    }
};

// A "socket" that only remembers whether and why it was closed.
struct ToyConn final : connpool::Conn {
    std::uint64_t id_;
    std::optional<connpool::CloseReason> closed;
    explicit ToyConn(std::uint64_t id) : id_(id) {}
    std::uint64_t id() const override { return id_; }
    bool multiplexed() const override { return false; }
    void close(connpool::CloseReason reason) override { closed = reason; }
};

int main() {
    Loop loop;
    std::vector<std::unique_ptr<ToyConn>> sockets;
    connpool::Pool* pool = nullptr;

    // Dials complete from the loop, never inside dial() itself.
    struct ToyDialer final : connpool::Dialer {
        Loop& loop;
        std::vector<std::unique_ptr<ToyConn>>& sockets;
        connpool::Pool*& pool;
        ToyDialer(Loop& l, std::vector<std::unique_ptr<ToyConn>>& s, connpool::Pool*& p) : loop(l), sockets(s), pool(p) {}
        void dial(connpool::DialId id, connpool::KeyId, std::string_view) override {
            loop.post([this, id] {
                sockets.push_back(std::make_unique<ToyConn>(sockets.size() + 1));
                pool->dial_done(id, *sockets.back());
            });
        }
        void cancel(connpool::DialId) override {}
    } dialer(loop, sockets, pool);

    // Results of waiting requests are picked up from the loop, never inside the pool call.
    struct Listener final : connpool::WantListener {
        Loop& loop;
        std::function<void(connpool::WantId)> on_ready;
        explicit Listener(Loop& l) : loop(l) {}
        void want_ready(connpool::WantId w) override { loop.post([this, w] { on_ready(w); }); }
    } listener(loop);

    connpool::Config config = connpool::Config::go_default_transport();
    config.idle_conn_timeout = 30s;
    if (auto error = connpool::validate_config(config)) {
        std::fprintf(stderr, "bad config: %s\n", error->c_str());
        return 2;
    }
    connpool::Pool the_pool(config, connpool::PoolPorts{loop, loop, dialer, listener, nullptr});
    pool = &the_pool;
    const connpool::KeyId host = the_pool.key("|http|example.test:80");

    int done = 0, reused = 0;
    std::vector<std::unique_ptr<connpool::Timer>> responses;  // one timer per request in flight
    // A "request": get a conn, hold it for 5 ms of virtual time, return it.
    auto use = [&](const connpool::Lease& lease) {
        reused += lease.reused ? 1 : 0;
        responses.push_back(loop.after_func(5ms, [&, id = lease.id] {
            the_pool.put_idle_conn(id);
            ++done;
        }));
    };
    listener.on_ready = [&](connpool::WantId w) {
        connpool::WantOutcome out = the_pool.take(w);
        if (out.lease) use(*out.lease);
    };
    for (int i = 0; i < 6; ++i) {
        connpool::GetConnResult r = the_pool.get_conn(host);
        if (r.lease) use(*r.lease);  // an idle conn at once; otherwise want_ready follows
        loop.run_until(loop.now() + 100ms);
    }

    std::printf("requests=%d dials=%llu reused=%d idle=%zu\n", done,
                static_cast<unsigned long long>(the_pool.stats().dials_started), reused, the_pool.idle_count());
    loop.run_until(loop.now() + 31s);  // past IdleConnTimeout: the idle conn is closed
    const bool timed_out = sockets.size() == 1 && sockets[0]->closed == connpool::CloseReason::idle_timeout;
    std::printf("after 31s idle: open=%zu closed_by=%s\n", the_pool.open_conns(),
                sockets.empty() || !sockets[0]->closed ? "-" : std::string(to_string(*sockets[0]->closed)).c_str());

    const bool ok = done == 6 && the_pool.stats().dials_started == 1 && reused == 5 && timed_out &&
                    !the_pool.check_invariants();
    std::puts(ok ? "embed example: OK" : "embed example: UNEXPECTED RESULT");
    return ok ? 0 : 1;
}
