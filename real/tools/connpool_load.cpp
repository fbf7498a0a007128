// connpool-load: a load generator in the spirit of hey and wrk on connpool::real::Client.
// CONNS workers each keep one request in flight, for a duration or a request count, through
// one shared pool; afterwards it prints throughput, latency percentiles, status counts,
// errors by reason, the pool's dials, reuses and closes by reason, and the TIME_WAIT
// sockets toward the target read from /proc/net/tcp (what the seed documents were about).
// `connpool-load --help` prints every flag (usage_text below). Bad input (a flag, a value, the
// URL, the method or the body) is refused before any traffic: one line on stderr, exit 2.
#include <utility>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <netdb.h>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "connpool/real/client.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string url;
    int connections = 0;
    std::optional<std::chrono::nanoseconds> duration;
    std::optional<long long> requests;
    int threads = 1;
    std::string method = "GET";
    std::optional<std::string> body;
    // Per request, enforced by the tool's sweep (see main), not by Request::timeout.
    std::chrono::nanoseconds timeout = std::chrono::seconds(20);  // hey's default
    std::chrono::nanoseconds grace = std::chrono::seconds(1);
    bool post_handlers = false;
    connpool::Config pool = connpool::Config::go_default_transport();
};

// One worker keeps one request in flight: its latest request and when it was sent.
struct Worker {
    connpool::real::RequestId id = 0;  // 0 before the first. Written under launch_mutex (main).
    Clock::time_point sent;            // written under launch_mutex
    bool timed_out = false;            // the sweep canceled `id` for --timeout; launch_mutex
};

// How often the tool looks for requests older than --timeout: a request is canceled at most
// this long after its timeout.
constexpr std::chrono::milliseconds timeout_sweep_interval{100};

// The whole usage, printed by --help. Keep it in step with parse_args and docs/REAL.md.
constexpr const char* usage_text =
    "usage: connpool-load URL -c CONNS (-d DURATION | -n REQUESTS) [options]\n"
    "\n"
    "CONNS workers each keep one request in flight to URL (http:// only) through one shared\n"
    "connpool::real::Client, until DURATION has passed or REQUESTS requests have completed.\n"
    "\n"
    "  -c CONNS                 workers, each with one request in flight (1..100000)\n"
    "  -d DURATION              run this long: no request starts after DURATION; requests\n"
    "                           still in flight get --grace to finish, then are canceled and\n"
    "                           reported as unfinished (not as errors)\n"
    "  -n REQUESTS              run until this many requests have completed\n"
    "  --grace T                with -d: how long requests in flight at the deadline may still\n"
    "                           finish (default 1s; 0 cancels them at the deadline)\n"
    "  --timeout T              per-request timeout: waiting for a conn, writing, reading\n"
    "                           (default 20s, as hey; 0 = none); checked every 100 ms\n"
    "  --method M               request method, an HTTP token (default GET)\n"
    "  --body STRING            request body, sent with Content-Length (refused with TRACE)\n"
    "  --max-idle-per-host K    MaxIdleConnsPerHost: idle conns kept per host (default 2;\n"
    "                           -1 closes every conn after its request)\n"
    "  --max-idle K             MaxIdleConns: idle conns kept in all (default 100; 0 = no limit)\n"
    "  --max-conns-per-host M   MaxConnsPerHost: conns per host, dialing, active or idle\n"
    "                           (default 0 = no limit)\n"
    "  --idle-timeout T         IdleConnTimeout: an idle conn is closed after T (default 90s;\n"
    "                           0 = never)\n"
    "  --threads N              threads running the io_context (default 1; the client is one\n"
    "                           strand, so more threads add no parallelism)\n"
    "  --post-handlers          post every completion handler (see the two modes below)\n"
    "  -h, --help               print this and exit\n"
    "\n"
    "Two modes of running completion handlers (the pool decides the same in both):\n"
    "  direct (default)  a worker's next request starts inside the handler, right after its\n"
    "                    conn went back to the pool, and takes that conn: about one dial per\n"
    "                    worker whatever --max-idle-per-host is.\n"
    "  --post-handlers   handlers and starts are posted, so a burst of completions returns all\n"
    "                    its conns before any worker asks again, as Go's goroutines do: a small\n"
    "                    --max-idle-per-host then closes most returned conns and the workers\n"
    "                    dial again (the seed documents' churn). Use it to see that churn.\n"
    "\n"
    "Report (stdout): responses count every status, as wrk does, and non-2xx/3xx those\n"
    "outside 200-399; errors are requests that got no response (refused, timeout, reset...).\n"
    "req/s is, with -d, the responses completed within DURATION divided by DURATION (as\n"
    "wrk); with -n, the responses divided by the time until the last request ended. A\n"
    "progress line goes to stderr every 2 s until the last request has ended.\n"
    "\n"
    "Exit status: 0 when at least one response was 2xx or 3xx; 1 when no response arrived,\n"
    "when every response was non-2xx/3xx, or when the host does not resolve (one more line\n"
    "on stderr); 2 for bad input, refused with one line before any traffic.\n"
    "Durations: 5s, 500ms, 2m, or plain seconds.\n";

// The one-line complaint for bad input: the only output of the run, exit status 2.
[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "connpool-load: %s (usage: connpool-load URL -c CONNS (-d DURATION | -n REQUESTS) "
                         "[options]; connpool-load --help lists them)\n",
                 message.c_str());
    std::exit(2);
}

std::optional<long long> parse_int(std::string_view s) {
    if (s.empty() || s.size() > 12) return std::nullopt;
    long long v = 0;
    std::size_t i = 0;
    const bool negative = s[0] == '-';
    if (negative) i = 1;
    if (i == s.size()) return std::nullopt;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        v = v * 10 + (s[i] - '0');
    }
    return negative ? -v : v;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s) {
    struct Unit { std::string_view suffix; long long ns; };
    static constexpr Unit units[] = {{"ms", 1'000'000}, {"us", 1'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000}};
    long long scale = 1'000'000'000;
    for (const Unit& u : units) {
        if (s.size() > u.suffix.size() && s.substr(s.size() - u.suffix.size()) == u.suffix) {
            s.remove_suffix(u.suffix.size());
            scale = u.ns;
            break;
        }
    }
    auto v = parse_int(s);
    // At most ten years, so that the product below and a deadline after it cannot overflow.
    constexpr long long max_ns = 3653LL * 24 * 3'600'000'000'000;
    if (!v || *v < 0 || *v > max_ns / scale) return std::nullopt;
    return std::chrono::nanoseconds(*v * scale);
}

// The request every worker sends.
connpool::real::Request make_request(const Options& o) {
    connpool::real::Request r;
    r.method = o.method;
    r.url = o.url;
    r.body = o.body;
    return r;
}

Options parse_args(int argc, char** argv) {
    Options o;
    std::optional<std::chrono::nanoseconds> grace;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= args.size()) usage_error("flag " + std::string(a) + " needs a value");
            return args[++i];
        };
        auto int_value = [&](long long lo, long long hi) -> long long {
            const std::string_view v = value();
            auto n = parse_int(v);
            if (!n || *n < lo || *n > hi)
                usage_error("flag " + std::string(a) + ": '" + std::string(v) + "' is not an integer in " +
                            std::to_string(lo) + ".." + std::to_string(hi));
            return *n;
        };
        auto duration_value = [&]() {
            const std::string_view v = value();
            auto d = parse_duration(v);
            if (!d) usage_error("flag " + std::string(a) + ": '" + std::string(v) + "' is not a duration (5s, 500ms)");
            return *d;
        };
        if (a == "-h" || a == "--help") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        }
        if (a == "-c") o.connections = static_cast<int>(int_value(1, 100000));
        else if (a == "-d") o.duration = duration_value();
        else if (a == "-n") o.requests = int_value(1, 1'000'000'000);
        else if (a == "--threads") o.threads = static_cast<int>(int_value(1, 64));
        else if (a == "--max-idle-per-host") o.pool.max_idle_conns_per_host = static_cast<int>(int_value(-1, 1 << 24));
        else if (a == "--max-idle") o.pool.max_idle_conns = static_cast<int>(int_value(0, 1 << 24));
        else if (a == "--max-conns-per-host") o.pool.max_conns_per_host = static_cast<int>(int_value(0, 1 << 24));
        else if (a == "--idle-timeout") o.pool.idle_conn_timeout = duration_value();
        else if (a == "--timeout") o.timeout = duration_value();
        else if (a == "--grace") grace = duration_value();
        else if (a == "--method") o.method = std::string(value());
        else if (a == "--body") o.body = std::string(value());
        else if (a == "--post-handlers") o.post_handlers = true;
        else if (!a.empty() && a[0] == '-') usage_error("unknown flag " + std::string(a));
        else if (o.url.empty()) o.url = std::string(a);
        else usage_error("more than one URL");
    }
    if (o.url.empty()) usage_error("missing URL");
    if (o.connections == 0) usage_error("missing -c CONNS");
    if (o.duration.has_value() == o.requests.has_value()) usage_error("give exactly one of -d DURATION and -n REQUESTS");
    if (o.duration && o.duration->count() == 0) usage_error("-d must be positive");
    if (grace && !o.duration) usage_error("--grace needs -d");
    if (grace) o.grace = *grace;
    connpool::real::UrlParts parts;
    if (std::error_code e = connpool::real::parse_http_url(o.url, parts)) usage_error("bad URL '" + o.url + "': " + e.message());
    if (o.method.empty()) usage_error("--method needs a method");
    // RFC 9110, section 9.3.8: "A client MUST NOT send content in a TRACE request."
    if (o.body && o.method == "TRACE") usage_error("--body with --method TRACE: a TRACE request has no body");
    // The request every worker sends, checked as async_request would check it, so that a bad
    // method is one line here instead of one error per request after the run.
    if (std::error_code e = connpool::real::check_request(make_request(o)))
        usage_error("bad request (--method '" + o.method + "'): " + e.message());
    if (auto e = connpool::validate_config(o.pool)) usage_error(*e);
    return o;
}

// TIME_WAIT sockets whose remote end is the target, from /proc/net/tcp and tcp6.
long count_time_wait(const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return -1;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
    char want[32];
    std::snprintf(want, sizeof want, "%08X:%04X", static_cast<unsigned>(sin->sin_addr.s_addr), ntohs(sin->sin_port));
    freeaddrinfo(res);
    long count = 0;
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        // "  sl  local_address rem_address   st ..."
        char local[64], remote[64], state[8];
        if (std::sscanf(line.c_str(), " %*s %63s %63s %7s", local, remote, state) != 3) continue;
        if (std::string_view(state) == "06" && std::string_view(remote) == want) ++count;
    }
    return count;
}

std::string format_ms(double us) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f ms", us / 1000.0);
    return b;
}

// Resolves the target once before the run, as wrk does: a host that does not resolve would
// otherwise fail every request with the same error, one resolver query per dial.
bool host_resolves(const connpool::real::UrlParts& target) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &res);
    if (res != nullptr) freeaddrinfo(res);
    if (rc == 0) return true;
    std::fprintf(stderr, "connpool-load: cannot resolve host '%s': %s\n", target.host.c_str(), gai_strerror(rc));
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_args(argc, argv);
    connpool::real::UrlParts target;
    (void)connpool::real::parse_http_url(o.url, target);
    if (!host_resolves(target)) return 1;

    const long time_wait_before = count_time_wait(target.host, target.port);
    boost::asio::io_context ioc(o.threads);
    connpool::real::ClientOptions client_options;
    client_options.pool = o.pool;
    client_options.direct_handlers = !o.post_handlers;
    connpool::real::Client client(ioc.get_executor(), client_options);

    // Run state. Touched only on the client's strand (completion handlers, and launch called from
    // them) and from main before the io_context runs, except where a comment says otherwise.
    std::vector<Worker> workers(static_cast<std::size_t>(o.connections));
    std::vector<std::uint32_t> latencies_us;
    std::map<unsigned, long long> statuses;
    long long started = 0;               // requests given to the client
    long long ended = 0;                 // handlers run: responses, errors and unfinished
    long long unfinished = 0;            // canceled by the end of the grace (-d only)
    long long timeouts = 0;              // canceled by the --timeout sweep
    long long responses_in_duration = 0;  // responses completed before the deadline (-d only)
    Clock::time_point last_end;          // when the last handler ran
    // Read by the progress line and the end of the grace, on the tool's strand.
    std::atomic<long long> started_shared{0}, ended_shared{0};
    std::atomic<bool> finished{false};
    // Held by launch, by the end of the grace and by the timeout sweep, which read `workers` from
    // the tool's strand: once launch_stopped is set no request starts, so the ids the end of the
    // grace reads are every request still in flight.
    std::mutex launch_mutex;
    bool launch_stopped = false;  // launch_mutex
    const auto start = Clock::now();
    const auto deadline = o.duration ? start + *o.duration : Clock::time_point::max();
    if (o.requests) latencies_us.reserve(static_cast<std::size_t>(*o.requests));
    const std::error_code canceled = connpool::real::Error::canceled;

    // The tool's timers, on their own strand: the progress line, the end of the grace and the
    // timeout sweep.
    auto tool_strand = boost::asio::make_strand(ioc);
    boost::asio::steady_timer progress(tool_strand);
    boost::asio::steady_timer grace_end(tool_strand);
    boost::asio::steady_timer timeout_sweep(tool_strand);

    // Gives the worker's next request to the client; false once the end of the grace stopped
    // launches.
    std::function<bool(Worker&)> launch;
    // What a completion does. The handler given to the client only points here and at its
    // worker, so it fits std::function's inline storage: the tool allocates nothing per
    // request but the request's strings.
    const std::function<void(std::error_code, const connpool::real::Response&, Worker&)> done =
        [&](std::error_code e, const connpool::real::Response& resp, Worker& w) {
            const auto now = Clock::now();
            ++ended;
            ended_shared.store(ended, std::memory_order_relaxed);
            if (!e) {
                ++statuses[resp.status];
                latencies_us.push_back(static_cast<std::uint32_t>(std::min<long long>(
                    std::chrono::duration_cast<std::chrono::microseconds>(now - w.sent).count(), UINT32_MAX)));
                if (now < deadline) ++responses_in_duration;
            } else if (e == canceled) {  // only the tool cancels: the sweep or the end of the grace
                bool timed_out = false;
                {
                    const std::lock_guard<std::mutex> lock(launch_mutex);
                    timed_out = w.timed_out;
                }
                ++(timed_out ? timeouts : unfinished);
            }
            // No request starts after the deadline, or past the count.
            const bool more = o.requests ? started < *o.requests : now < deadline;
            if (more && launch(w)) return;
            if (ended != started) return;
            // The last request in flight ended: let io_context::run return.
            last_end = now;
            finished.store(true);
            client.shutdown();
            boost::asio::post(tool_strand, [&] {
                progress.cancel();
                grace_end.cancel();
                timeout_sweep.cancel();
            });
        };
    launch = [&](Worker& w) {
        const std::lock_guard<std::mutex> lock(launch_mutex);
        if (launch_stopped) return false;
        ++started;
        started_shared.store(started, std::memory_order_relaxed);
        w.sent = Clock::now();
        w.timed_out = false;
        // The handler never runs inside async_request, so holding the lock here is safe.
        w.id = client.async_request(make_request(o), [d = &done, wp = &w](std::error_code e, connpool::real::Response resp) {
            (*d)(e, resp, *wp);
        });
        return true;
    };
    const long long first = o.requests ? std::min<long long>(o.connections, *o.requests) : o.connections;
    for (long long i = 0; i < first; ++i) launch(workers[static_cast<std::size_t>(i)]);

    // Progress line every 2 s on stderr until the last request ended, also while the tool waits
    // for requests in flight after the deadline.
    std::function<void()> tick = [&] {
        progress.expires_after(std::chrono::seconds(2));
        progress.async_wait([&](const boost::system::error_code& ec) {
            if (ec || finished.load()) return;
            const auto now = Clock::now();
            const double secs = std::chrono::duration<double>(now - start).count();
            const long long n = ended_shared.load(std::memory_order_relaxed);
            const long long in_flight = std::max(0LL, started_shared.load(std::memory_order_relaxed) - n);
            if (now < deadline) {
                std::fprintf(stderr, "  %.0f s: %lld requests (%.0f req/s), %lld in flight\n", secs, n, n / secs, in_flight);
            } else {
                std::fprintf(stderr, "  %.0f s: %lld requests; waiting for %lld in flight, canceled at %.1f s\n", secs, n,
                             in_flight, std::chrono::duration<double>(deadline + o.grace - start).count());
            }
            tick();
        });
    };
    tick();

    // -d: at the end of the grace, cancel every request still in flight (Client::cancel: each
    // completes with Error::canceled, which `done` counts as unfinished).
    if (o.duration) {
        grace_end.expires_at(deadline + o.grace);
        grace_end.async_wait([&](const boost::system::error_code& ec) {
            if (ec || finished.load()) return;
            std::vector<connpool::real::RequestId> ids;
            {
                const std::lock_guard<std::mutex> lock(launch_mutex);
                launch_stopped = true;
                for (const Worker& w : workers) {
                    if (w.id != 0) ids.push_back(w.id);  // ended ones too: cancel is then a no-op
                }
            }
            for (const connpool::real::RequestId id : ids) client.cancel(id);
        });
    }

    // --timeout: every 100 ms, cancel the requests older than the timeout. A sweep rather than
    // Request::timeout, whose Asio timer per request (armed, then cancelled, with a completion)
    // cost 2,500 user-space instructions per request, 29% more (callgrind, -c 50, -n 5,000 and
    // 25,000 against real_test_server, -O2); the sweep costs nothing measurable per request.
    // wrk, too, looks for timed-out requests in a periodic sweep.
    std::function<void()> sweep = [&] {
        timeout_sweep.expires_after(timeout_sweep_interval);
        timeout_sweep.async_wait([&](const boost::system::error_code& ec) {
            if (ec || finished.load()) return;
            const auto too_old = Clock::now() - o.timeout;
            std::vector<connpool::real::RequestId> ids;
            {
                const std::lock_guard<std::mutex> lock(launch_mutex);
                for (Worker& w : workers) {
                    if (w.id == 0 || w.timed_out || w.sent >= too_old) continue;
                    w.timed_out = true;  // an ended request too: its cancel is then a no-op
                    ids.push_back(w.id);
                }
            }
            for (const connpool::real::RequestId id : ids) client.cancel(id);
            sweep();
        });
    };
    if (o.timeout.count() > 0) sweep();

    std::vector<std::thread> threads;
    for (int i = 1; i < o.threads; ++i) threads.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const connpool::real::ClientStats s = client.stats();
    std::sort(latencies_us.begin(), latencies_us.end());
    auto pct = [&](double p) -> double {
        if (latencies_us.empty()) return 0;
        const std::size_t i = std::min(latencies_us.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies_us.size())));
        return latencies_us[i];
    };
    const std::string canceled_reason = canceled.message();
    const long long completed = ended - unfinished;  // responses and errors
    const long long errors = static_cast<long long>(s.errors) - unfinished;
    // The client's reasons, with its "request canceled" told apart: the sweep's are timeouts,
    // the grace's are unfinished (not errors).
    std::map<std::string, long long> errors_by_reason;
    for (const auto& [reason, n] : s.errors_by_reason) {
        if (reason != canceled_reason) errors_by_reason[reason] += static_cast<long long>(n);
    }
    if (timeouts > 0) errors_by_reason[std::error_code(connpool::real::Error::timeout).message()] += timeouts;
    // req/s as wrk computes it: with -d, the responses completed within DURATION divided by
    // DURATION; with -n, the responses divided by the time until the last request ended.
    const double rate_seconds = o.duration ? std::chrono::duration<double>(*o.duration).count()
                                           : std::chrono::duration<double>(last_end - start).count();
    const double responses_counted = o.duration ? static_cast<double>(responses_in_duration) : static_cast<double>(s.responses);
    char duration_field[48] = "";
    if (o.duration) std::snprintf(duration_field, sizeof duration_field, "  duration %.2f s", std::chrono::duration<double>(*o.duration).count());
    std::printf("target       %s  connections %d  threads %d%s  elapsed %.2f s  max-idle-per-host %d%s\n", o.url.c_str(),
                o.connections, o.threads, duration_field, elapsed, o.pool.idle_conns_per_host_max(),
                o.post_handlers ? "  post-handlers" : "");
    // As wrk counts: a response is a response whatever its status; those outside 2xx and 3xx
    // are counted again on their own.
    long long not_2xx_3xx = 0;
    for (const auto& [code, n] : statuses) not_2xx_3xx += code < 200 || code > 399 ? n : 0;
    std::printf("requests     %lld completed, %llu responses, %lld non-2xx/3xx, %lld errors, %.1f req/s\n", completed,
                static_cast<unsigned long long>(s.responses), not_2xx_3xx, errors,
                rate_seconds > 0 ? responses_counted / rate_seconds : 0.0);
    if (unfinished == 0) {
        std::printf("unfinished   none\n");
    } else {
        std::printf("unfinished   %lld requests in flight at the end of the run were canceled (%.2f s after the deadline)\n",
                    unfinished, std::chrono::duration<double>(o.grace).count());
    }
    if (latencies_us.empty()) {
        std::printf("latency      none (no request succeeded)\n");
    } else {
        std::printf("latency      p50 %s  p90 %s  p99 %s  max %s\n", format_ms(pct(0.50)).c_str(),
                    format_ms(pct(0.90)).c_str(), format_ms(pct(0.99)).c_str(), format_ms(latencies_us.back()).c_str());
    }
    std::printf("status      ");
    for (const auto& [code, n] : statuses) std::printf(" %u: %lld", code, n);
    std::printf("%s\n", statuses.empty() ? " none" : "");
    std::printf("errors      ");
    for (const auto& [reason, n] : errors_by_reason) std::printf(" %s: %lld;", reason.c_str(), n);
    std::printf("%s\n", errors_by_reason.empty() ? " none" : "");
    const double attempts = static_cast<double>(ended + static_cast<long long>(s.retries));
    // Dials started can exceed the attempts that ran on a fresh conn: a dial made for a request
    // that got a returned conn first still completes and offers its conn to the pool (G5).
    const double fresh = attempts - static_cast<double>(s.reuses);
    std::printf("dials        %llu started (%.2f per 100 attempts), %llu failed; %.0f attempts ran on a fresh conn (%.2f%%)\n",
                static_cast<unsigned long long>(s.pool.dials_started),
                attempts > 0 ? 100.0 * static_cast<double>(s.pool.dials_started) / attempts : 0.0,
                static_cast<unsigned long long>(s.pool.dials_failed), fresh, attempts > 0 ? 100.0 * fresh / attempts : 0.0);
    std::printf("reuses       %llu, retries %llu\n", static_cast<unsigned long long>(s.reuses), static_cast<unsigned long long>(s.retries));
    std::printf("closes      ");
    bool any = false;
    for (int r = 0; r < connpool::close_reason_count; ++r) {
        if (s.pool.closes[r] == 0) continue;
        any = true;
        std::printf(" %s: %llu;", std::string(connpool::to_string(static_cast<connpool::CloseReason>(r))).c_str(),
                    static_cast<unsigned long long>(s.pool.closes[r]));
    }
    std::printf("%s\n", any ? "" : " none");
    const long tw = count_time_wait(target.host, target.port);
    if (tw < 0 || time_wait_before < 0) {
        std::printf("time_wait    not counted: %s:%s does not resolve to an IPv4 address\n",
                    target.host.c_str(), target.port.c_str());
    } else {
        std::printf("time_wait    %ld sockets toward %s:%s after the run (%ld before it; /proc/net/tcp)\n", tw,
                    target.host.c_str(), target.port.c_str(), time_wait_before);
    }
    if (s.responses == 0) {
        // The report is on stdout; say it once more where a script looks for failures.
        std::string reasons;
        for (const auto& [reason, n] : errors_by_reason) reasons += (reasons.empty() ? "" : "; ") + reason + ": " + std::to_string(n);
        if (unfinished > 0) reasons += (reasons.empty() ? "" : "; ") + std::to_string(unfinished) + " unfinished, canceled";
        std::fprintf(stderr, "connpool-load: no request succeeded (%s)\n", reasons.empty() ? "no request completed" : reasons.c_str());
        return 1;
    }
    if (not_2xx_3xx == static_cast<long long>(s.responses)) {
        // Every response was an error status (a 503 target): the run measured the error path.
        std::string codes;
        for (const auto& [code, n] : statuses) codes += (codes.empty() ? "" : "; ") + std::to_string(code) + ": " + std::to_string(n);
        std::fprintf(stderr, "connpool-load: no 2xx or 3xx response (%s)\n", codes.c_str());
        return 1;
    }
    return 0;
}
