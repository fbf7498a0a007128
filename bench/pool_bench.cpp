// Microbenchmarks of the pool core's hot paths, with a count of heap allocations per
// operation. Global operator new/delete are replaced with counting versions (all variants,
// alloc_counter.cpp), and every benchmark reports `allocs_per_op` over its timed loop; the pool
// promises none after warm-up (pool.hpp), so anything but 0 is a regression.
//
// The ports are deliberately trivial and allocation-free per operation: a clock that
// ticks 1 ns per read, timers whose stop/reset only flip fields, a dialer that records the
// last DialId, a listener that records the last WantId and conns recycled from a fixed
// stock once the pool calls Conn::close. What is measured is the pool core alone.
//
// See docs/PERFORMANCE.md for the commands and the figures.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alloc_counter.hpp"
#include "connpool/connpool.hpp"

namespace {

using namespace connpool;
using namespace std::chrono_literals;

// Counts the allocations between its construction (just before the timed loop) and
// report() (just after it), as a per-iteration average.
class AllocWindow {
public:
    AllocWindow() : start_(bench::allocations()) {}
    void report(benchmark::State& state) const {
        const std::uint64_t n = bench::allocations() - start_;
        state.counters["allocs_per_op"] =
            benchmark::Counter(static_cast<double>(n), benchmark::Counter::kAvgIterations);
    }

private:
    std::uint64_t start_;
};

// ---- allocation-free ports -----------------------------------------------------------------

class TickClock final : public Clock {
public:
    TimePoint now() const override { return now_ += 1ns; }
    mutable TimePoint now_{std::chrono::seconds(1000)};
};

class FlagTimer final : public Timer {
public:
    FlagTimer(std::function<void()> callback, std::uint64_t& resets)
        : callback_(std::move(callback)), resets_(resets) {}
    bool stop() override {
        const bool was = armed_;
        armed_ = false;
        return was;
    }
    bool reset(Duration d) override {
        const bool was = armed_;
        armed_ = true;
        due_ = d;
        ++resets_;
        return was;
    }

private:
    std::function<void()> callback_;  // never run: bench time does not advance
    std::uint64_t& resets_;
    Duration due_{0};
    bool armed_ = true;
};

// Allocates once per conn slot (the pool keeps a slot's timer for its next conn).
class FlagTimerService final : public TimerService {
public:
    std::unique_ptr<Timer> after_func(Duration, std::function<void()> callback) override {
        ++created;
        return std::make_unique<FlagTimer>(std::move(callback), resets);
    }
    std::uint64_t created = 0;
    std::uint64_t resets = 0;
};

class LastDialer final : public Dialer {
public:
    void dial(DialId id, KeyId, std::string_view) override {
        last = id;
        pending = true;
        ++started;
    }
    void cancel(DialId) override {}
    DialId last{};
    bool pending = false;
    std::uint64_t started = 0;
};

class LastListener final : public WantListener {
public:
    void want_ready(WantId w) override {
        last = w;
        ++ready;
    }
    WantId last{};
    std::uint64_t ready = 0;
};

class NoopTrace final : public TraceHooks {};

class ConnStock;

class StockConn final : public Conn {
public:
    std::uint64_t id() const override { return id_; }
    bool multiplexed() const override { return false; }
    void close(CloseReason reason) override;

    ConnStock* stock_ = nullptr;
    std::uint64_t id_ = 0;
    CloseReason last_reason_ = CloseReason::owner;
};

// Pre-made conns; the pool hands each back through Conn::close and it is reused.
class ConnStock {
public:
    static constexpr std::size_t size = 64;
    ConnStock() {
        for (std::size_t i = 0; i < size; ++i) {
            conns_[i].stock_ = this;
            conns_[i].id_ = i + 1;
            free_[i] = &conns_[i];
        }
        free_len_ = size;
    }
    StockConn* acquire() { return free_len_ == 0 ? nullptr : free_[--free_len_]; }
    void release(StockConn* c) { free_[free_len_++] = c; }
    std::uint64_t closes = 0;

private:
    std::array<StockConn, size> conns_{};
    std::array<StockConn*, size> free_{};
    std::size_t free_len_ = 0;
};

void StockConn::close(CloseReason reason) {
    last_reason_ = reason;
    ++stock_->closes;
    stock_->release(this);
}

// A pool wired to the ports above. Conns are declared before the pool: they outlive it.
struct Harness {
    Harness(const Config& config, bool with_trace)
        : pool(config, PoolPorts{clock, timers, dialer, listener, with_trace ? &trace : nullptr}) {}

    // A lease on a freshly dialed conn: get_conn (miss), dial_done, take.
    std::optional<Lease> dial_lease(KeyId key) {
        const GetConnResult r = pool.get_conn(key);
        if (r.lease || !dialer.pending) return std::nullopt;
        dialer.pending = false;
        StockConn* c = stock.acquire();
        if (c == nullptr) return std::nullopt;
        pool.dial_done(dialer.last, *c);
        if (!(listener.last == r.want)) return std::nullopt;
        return pool.take(r.want).lease;
    }

    TickClock clock;
    FlagTimerService timers;
    LastDialer dialer;
    LastListener listener;
    NoopTrace trace;
    ConnStock stock;
    Pool pool;
};

constexpr int warmup_rounds = 64;

// ---- 1. take + return of an idle HTTP/1 conn -------------------------------------------------
// get_conn finds the conn on the idle list (T4, stops its idle timer), put_idle_conn pools
// it again (P9; with IdleConnTimeout, P11 resets the slot's timer).
void BM_TakeReturnIdle(benchmark::State& state, bool idle_timeout, bool with_trace) {
    Config config;
    config.idle_conn_timeout = idle_timeout ? Duration(90s) : Duration(0);
    Harness h(config, with_trace);
    const KeyId key = h.pool.key("|http|a.example:80");
    const auto first = h.dial_lease(key);
    if (!first || h.pool.put_idle_conn(first->id) != PutResult::pooled) {
        state.SkipWithError("setup: could not pool a conn");
        return;
    }
    for (int i = 0; i < warmup_rounds; ++i) {
        const GetConnResult r = h.pool.get_conn(key);
        if (r.lease) h.pool.put_idle_conn(r.lease->id);
    }
    const std::uint64_t resets_before = h.timers.resets;

    const AllocWindow allocs;
    for (auto _ : state) {
        const GetConnResult r = h.pool.get_conn(key);
        if (!r.lease) {
            state.SkipWithError("get_conn missed the idle list");
            break;
        }
        const PutResult p = h.pool.put_idle_conn(r.lease->id);
        if (p != PutResult::pooled) {
            state.SkipWithError("put_idle_conn did not pool the conn");
            break;
        }
    }
    allocs.report(state);
    const bool timer_ran = h.timers.resets - resets_before == static_cast<std::uint64_t>(state.iterations());
    if (idle_timeout != timer_ran) state.SkipWithError("idle timer reset path not as configured");
    if (h.dialer.started != 1) state.SkipWithError("unexpected dial");
}
BENCHMARK_CAPTURE(BM_TakeReturnIdle, no_timeout, false, false);
BENCHMARK_CAPTURE(BM_TakeReturnIdle, idle_timeout, true, false);
BENCHMARK_CAPTURE(BM_TakeReturnIdle, idle_timeout_noop_trace, true, true);

// ---- 2. return with hand-off to a waiter (P5) ------------------------------------------------
// MaxConnsPerHost = 1 and the only conn is leased, so a get_conn waits in both queues
// without starting a dial. One iteration: put_idle_conn hands the conn to the waiter
// (late binding, skipping the idle list), take consumes the want, get_conn re-creates it.
void BM_ReturnHandoff(benchmark::State& state) {
    Config config;
    config.max_conns_per_host = 1;
    config.idle_conn_timeout = 90s;
    Harness h(config, false);
    const KeyId key = h.pool.key("|http|a.example:80");
    auto lease = h.dial_lease(key);
    GetConnResult waiter = h.pool.get_conn(key);
    if (!lease || waiter.lease || h.dialer.pending) {
        state.SkipWithError("setup: expected one leased conn and one waiter");
        return;
    }
    const auto round = [&]() -> bool {
        if (h.pool.put_idle_conn(lease->id) != PutResult::handed_to_waiter) return false;
        WantOutcome out = h.pool.take(waiter.want);
        if (!out.lease) return false;
        lease = out.lease;
        waiter = h.pool.get_conn(key);
        return !waiter.lease;
    };
    for (int i = 0; i < warmup_rounds; ++i) {
        if (!round()) {
            state.SkipWithError("warm-up: hand-off failed");
            return;
        }
    }

    const AllocWindow allocs;
    for (auto _ : state) {
        if (!round()) {
            state.SkipWithError("hand-off failed");
            break;
        }
    }
    allocs.report(state);
    if (h.dialer.started != 1) state.SkipWithError("unexpected dial");
}
BENCHMARK(BM_ReturnHandoff);

// ---- 3. return that evicts across keys (P10) -------------------------------------------------
// MaxIdleConns = 4 over 8 keys used round robin: by the time a key comes round again its
// idle conn has been evicted, so each iteration is get_conn (miss, starts a dial),
// dial_done (delivers to the want), take, and a put_idle_conn that pools the conn and
// evicts the oldest idle conn, which belongs to another key. The evicted conn goes back to
// the stock through Conn::close and is dialed again later.
constexpr std::size_t evict_keys = 8;
constexpr int evict_max_idle = 4;

template <bool Put>
void dial_take_cycle(benchmark::State& state) {
    Config config;
    config.max_idle_conns = evict_max_idle;
    config.idle_conn_timeout = 90s;
    Harness h(config, false);
    std::array<KeyId, evict_keys> keys{};
    for (std::size_t i = 0; i < evict_keys; ++i) {
        keys[i] = h.pool.key("|http|host" + std::to_string(i) + ".example:80");
    }
    std::size_t next = 0;
    const auto round = [&]() -> bool {
        const auto lease = h.dial_lease(keys[next]);
        next = (next + 1) % evict_keys;
        if (!lease) return false;
        if constexpr (Put) {
            return h.pool.put_idle_conn(lease->id) == PutResult::pooled;
        } else {
            h.pool.close_conn(lease->id, CloseReason::response_close);
            return true;
        }
    };
    for (int i = 0; i < warmup_rounds; ++i) {
        if (!round()) {
            state.SkipWithError("warm-up: cycle failed");
            return;
        }
    }
    const std::uint64_t evictions_before = h.pool.stats().closes[static_cast<int>(CloseReason::too_many_idle)];

    const AllocWindow allocs;
    for (auto _ : state) {
        if (!round()) {
            state.SkipWithError("cycle failed");
            break;
        }
    }
    allocs.report(state);
    const std::uint64_t evictions =
        h.pool.stats().closes[static_cast<int>(CloseReason::too_many_idle)] - evictions_before;
    if (evictions != (Put ? static_cast<std::uint64_t>(state.iterations()) : 0u)) {
        state.SkipWithError("eviction count does not match the iterations");
    }
}

void BM_ReturnEvictAcrossKeys(benchmark::State& state) { dial_take_cycle<true>(state); }
BENCHMARK(BM_ReturnEvictAcrossKeys);

// Baseline for 3: the same get_conn + dial_done + take, but the conn is closed
// (Connection: close) instead of returned, so nothing is pooled or evicted. The difference
// to BM_ReturnEvictAcrossKeys approximates an evicting put minus a close_conn.
void BM_DialTakeClose(benchmark::State& state) { dial_take_cycle<false>(state); }
BENCHMARK(BM_DialTakeClose);

// The counter must see allocations made through every path the pool could use, or a
// zero would prove nothing. Checked once before any benchmark runs.
bool alloc_counter_works() {
    const std::uint64_t before = bench::allocations();
    {
        std::vector<int> v(100);
        benchmark::DoNotOptimize(v.data());
        auto p = std::make_unique<long double[]>(10);
        benchmark::DoNotOptimize(p.get());
        struct alignas(64) Wide {
            char bytes[64];
        };
        auto w = std::make_unique<Wide>();
        benchmark::DoNotOptimize(w.get());
        std::function<void()> f = [big = std::array<char, 256>{}] { benchmark::DoNotOptimize(big); };
        benchmark::DoNotOptimize(f);
    }
    return bench::allocations() - before >= 4;
}

}  // namespace

int main(int argc, char** argv) {
    if (!alloc_counter_works()) {
        std::fprintf(stderr, "pool_bench: the allocation counter did not see test allocations\n");
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
