// connpool-sim: explore seeds (optionally sharded, on several threads), replay one run,
// merge shard summaries, compare configs with whatif. The wall clock (steady_clock) is read
// here only, to report throughput and progress; it never influences a run.
#include "cli.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "check.hpp"
#include "options.hpp"
#include "world.hpp"

namespace connpool::sim {

namespace {

const char* const usage =
    "usage: connpool-sim explore --seeds N [--from S] [--shard K/N] [--jobs J] [--strategy random|pct]\n"
    "                            [--check-determinism] [--no-swarm] [--summary-json FILE] [--<option> VALUE]...\n"
    "       connpool-sim merge SUMMARY.jsonl...   (combines the --summary-json lines of shards)\n"
    "       connpool-sim whatif [--<option> VALUE]... [--compare \"name=value,...\"] [--sweep name=v1,v2,...]...\n"
    "                           [--jobs J]   (--sweep once or twice: grids of dial share per value)\n"
    "       connpool-sim replay <repro> [--summary] [--trace-json FILE]\n"
    "       connpool-sim repro [--seed S] [--no-swarm] [--<option> VALUE]...   (prints a repro line)\n"
    "       connpool-sim options      (lists every --<option> with its default)\n"
    "       connpool-sim check [--keys N] [--requests N] [--depth N] ...   (bounded exhaustive model checker;\n"
    "                          connpool-sim check --help lists its flags; replay with check --replay 'cpc1,...')\n"
    "Each explore seed draws its own pool config, workload and faults (swarm testing) unless\n"
    "--no-swarm is given; any --<option> fixes that value for every seed.\n"
    "A flag's value is the next argument (--seeds 5, not --seeds=5), and each flag is given at most\n"
    "once (whatif's --sweep: up to twice, on two options).\n";

// Each flag at most once: a repeated flag would otherwise be silently last-wins.
bool first_time(std::set<std::string>& seen, const std::string& flag, std::ostream& err) {
    if (seen.insert(flag).second) return true;
    err << "connpool-sim: flag " << flag << " given twice\n";
    return false;
}

// A flag's value is the next argument; one that starts with -- is the next flag, not a value.
bool value_follows(const std::vector<std::string>& args, std::size_t i, std::ostream& err) {
    if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) return true;
    err << "connpool-sim: flag " << args[i] << " needs a value\n";
    return false;
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (const char ch : s) {
        if (ch < '0' || ch > '9') return std::nullopt;
        const std::uint64_t d = static_cast<std::uint64_t>(ch - '0');
        if (v > (UINT64_MAX - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

void add_faults(FaultCounts& sum, const FaultCounts& f) {
    sum.server_idle_closes += f.server_idle_closes;
    sum.server_408s += f.server_408s;
    sum.resets_on_reuse += f.resets_on_reuse;
    sum.close_after_closes += f.close_after_closes;
    sum.nat_drops += f.nat_drops;
    sum.nat_fins_lost += f.nat_fins_lost;
    sum.sent_on_server_closed += f.sent_on_server_closed;
    sum.eof_seen += f.eof_seen;
    sum.dials_refused += f.dials_refused;
    sum.dials_timed_out += f.dials_timed_out;
    sum.dials_canceled += f.dials_canceled;
    sum.late_dials += f.late_dials;
    sum.timer_stop_false_in_flight += f.timer_stop_false_in_flight;
    sum.timer_stale_callbacks += f.timer_stale_callbacks;
    sum.attempts_failed += f.attempts_failed;
    sum.retries += f.retries;
    sum.died_after_delivery += f.died_after_delivery;
    sum.close_idle_calls += f.close_idle_calls;
}

void print_faults(const FaultCounts& f, std::ostream& out) {
    out << "faults: server_idle_closes=" << f.server_idle_closes << " server_408s=" << f.server_408s
        << " resets_on_reuse=" << f.resets_on_reuse << " close_after_closes=" << f.close_after_closes
        << " nat_drops=" << f.nat_drops << " nat_fins_lost=" << f.nat_fins_lost
        << " sent_on_server_closed=" << f.sent_on_server_closed << " eof_seen=" << f.eof_seen
        << " dials_refused=" << f.dials_refused << " dials_timed_out=" << f.dials_timed_out
        << " dials_canceled=" << f.dials_canceled << " late_dials=" << f.late_dials
        << " timer_stop_false_in_flight=" << f.timer_stop_false_in_flight
        << " timer_stale_callbacks=" << f.timer_stale_callbacks << " attempts_failed=" << f.attempts_failed
        << " retries=" << f.retries
        << " died_after_delivery=" << f.died_after_delivery << " close_idle_calls=" << f.close_idle_calls << '\n';
}

void print_summary(const RunResult& r, std::ostream& out) {
    out << "result: " << (r.ok ? "ok" : "FAILED: " + r.failure) << '\n';
    out << "events: " << r.events << " (pool audited after " << r.audits << ")  races: " << r.races << " (reordered "
        << r.reorders << ")  simulated: "
        << fixed(static_cast<double>(r.simulated.count()) / 1e9, 3) << " s\n";
    out << "requests: " << r.requests;
    for (int i = 0; i < outcome_count; ++i) {
        if (r.outcomes[i] != 0) out << "  " << to_string(static_cast<Outcome>(i)) << "=" << r.outcomes[i];
    }
    out << '\n';
    print_faults(r.faults, out);
    const PoolStats& p = r.pool;
    out << "pool: gets=" << p.gets << " idle_hits=" << p.idle_hits << " handoffs=" << p.handoffs
        << " dials=" << p.dials_started << " dials_failed=" << p.dials_failed << " puts=" << p.puts
        << " puts_refused=" << p.puts_refused << '\n';
    char hash[32];
    std::snprintf(hash, sizeof hash, "%016" PRIx64, r.trace_hash);
    out << "trace hash: " << hash << '\n';
}

// ---- explore ------------------------------------------------------------------------------

struct Failure {
    std::uint64_t seed = 0;
    std::string message;
    std::string repro;
    std::string tool;  // merge only: the tool that found it (explore prints its own name)
};

// What a set of runs adds up to. Workers each keep one and they are summed at the end.
struct Totals {
    std::uint64_t runs = 0, events = 0, audits = 0, requests = 0, races = 0;
    std::uint64_t outcomes[outcome_count] = {};
    FaultCounts faults;
    double simulated_s = 0;

    void add(const RunResult& r) {
        events += r.events;
        audits += r.audits;
        requests += r.requests;
        races += r.races;
        simulated_s += static_cast<double>(r.simulated.count()) / 1e9;
        for (int i = 0; i < outcome_count; ++i) outcomes[i] += r.outcomes[i];
        add_faults(faults, r.faults);
    }
    void add(const Totals& t) {
        runs += t.runs;
        events += t.events;
        audits += t.audits;
        requests += t.requests;
        races += t.races;
        simulated_s += t.simulated_s;
        for (int i = 0; i < outcome_count; ++i) outcomes[i] += t.outcomes[i];
        add_faults(faults, t.faults);
    }
};

struct ExplorePlan {
    std::uint64_t from = 0, seeds = 0, shard = 0, shards = 1;
    bool determinism = false;
    bool use_swarm = true;
    std::vector<std::pair<std::string, std::string>> overrides;

    // The n-th seed of this shard: shards interleave, so together they cover the range once.
    std::uint64_t count() const { return seeds > shard ? (seeds - shard + shards - 1) / shards : 0; }
    std::uint64_t seed(std::uint64_t n) const { return from + shard + n * shards; }
};

// One seed, start to end: a pure function of the plan and the seed. Returns the failure,
// if any; `invalid` is set when the drawn options do not validate.
std::optional<Failure> run_seed(const ExplorePlan& plan, std::uint64_t seed, Totals& totals, std::string& invalid,
                                RunStartHook hook) {
    Options o = plan.use_swarm ? swarm(seed) : Options{};
    o.seed = seed;
    for (const auto& [name, value] : plan.overrides) (void)set_option(o, name, value);
    if (auto e = validate(o)) {
        invalid = "seed " + std::to_string(seed) + ": " + *e;
        return std::nullopt;
    }
    const std::string repro = encode_repro(o);
    if (hook != nullptr) hook(repro);
    const RunResult r = run_world(o, nullptr);
    ++totals.runs;
    totals.add(r);
    std::string failure = r.ok ? "" : r.failure;
    if (plan.determinism) {
        const RunResult again = run_world(o, nullptr);
        totals.add(again);
        if (again.trace_hash != r.trace_hash) {
            char buf[128];
            std::snprintf(buf, sizeof buf, "nondeterministic: trace hash %016" PRIx64 " then %016" PRIx64, r.trace_hash,
                          again.trace_hash);
            failure = buf;
        }
    }
    if (failure.empty()) return std::nullopt;
    return Failure{seed, failure, repro, {}};
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (const char ch : s) {
        if (ch == '"' || ch == '\\') {
            o += '\\';
            o += ch;
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            o += ' ';
        } else {
            o += ch;
        }
    }
    return o;
}

// One JSON line per explore invocation, for `merge` (docs/SIMULATOR.md, scale-out). `tool`
// is the program that found the failures and replays them (merge prints "<tool> replay").
std::string summary_json(const ExplorePlan& plan, const Totals& t, const std::vector<Failure>& failures, double wall,
                         const std::string& tool) {
    std::string j = "{\"format\":\"connpool-sim-summary-1\",\"tool\":\"" + json_escape(tool) +
                    "\",\"from\":" + std::to_string(plan.from) +
                    ",\"seeds\":" + std::to_string(plan.seeds) + ",\"shard\":" + std::to_string(plan.shard) +
                    ",\"shards\":" + std::to_string(plan.shards) + ",\"runs\":" + std::to_string(t.runs) +
                    ",\"events\":" + std::to_string(t.events) + ",\"requests\":" + std::to_string(t.requests) +
                    ",\"simulated_s\":" + fixed(t.simulated_s, 3) + ",\"wall_s\":" + fixed(wall, 3) + ",\"failures\":[";
    for (std::size_t i = 0; i < failures.size(); ++i) {
        j += (i ? "," : "");
        j += "{\"seed\":" + std::to_string(failures[i].seed) + ",\"message\":\"" + json_escape(failures[i].message) +
             "\",\"repro\":\"" + json_escape(failures[i].repro) + "\"}";
    }
    j += "]}\n";
    return j;
}

int explore(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, RunStartHook hook,
            const std::string& tool) {
    ExplorePlan plan;
    bool seeds_given = false;
    std::uint64_t jobs = 1;
    std::string json_path;
    Options probe;  // defaults with the overrides applied: checks every flag once, up front
    std::set<std::string> seen;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) == 0 && !first_time(seen, a, err)) return 2;
        if (a == "--check-determinism") {
            plan.determinism = true;
            continue;
        }
        if (a == "--no-swarm") {
            plan.use_swarm = false;
            continue;
        }
        if (a.rfind("--", 0) != 0) {
            err << "connpool-sim: unexpected argument '" << a << "' (flags start with --)\n";
            return 2;
        }
        if (!value_follows(args, i, err)) return 2;
        const std::string name = a.substr(2);
        const std::string& value = args[++i];
        if (name == "seeds" || name == "from" || name == "jobs") {
            const auto v = parse_u64(value);
            const bool count = name != "from";
            if (!v || (count && (*v == 0 || *v > (name == "jobs" ? 1024 : 1'000'000'000)))) {
                err << "connpool-sim: --" << name << " '" << value << "' is not "
                    << (name == "seeds" ? "a count in [1, 1000000000]"
                        : name == "jobs" ? "a count in [1, 1024]"
                                         : "an unsigned 64-bit integer")
                    << '\n';
                return 2;
            }
            if (name == "seeds") {
                plan.seeds = *v;
                seeds_given = true;
            } else if (name == "jobs") {
                jobs = *v;
            } else {
                plan.from = *v;
            }
            continue;
        }
        if (name == "shard") {
            const auto slash = value.find('/');
            const auto k = slash == std::string::npos ? std::nullopt : parse_u64(value.substr(0, slash));
            const auto n = slash == std::string::npos ? std::nullopt : parse_u64(value.substr(slash + 1));
            if (!k || !n || *n == 0 || *k >= *n || *n > 1'000'000) {
                err << "connpool-sim: --shard '" << value << "' is not K/N with 0 <= K < N <= 1000000\n";
                return 2;
            }
            plan.shard = *k;
            plan.shards = *n;
            continue;
        }
        if (name == "summary-json") {
            json_path = value;
            continue;
        }
        if (name == "seed") {
            err << "connpool-sim: use --from S --seeds 1 to run one seed, or replay its repro line\n";
            return 2;
        }
        if (auto e = set_option(probe, name, value)) {
            err << "connpool-sim: " << *e << '\n';
            return 2;
        }
        plan.overrides.emplace_back(name, value);
    }
    if (!seeds_given) {
        err << "connpool-sim: explore needs --seeds N\n";
        return 2;
    }
    if (plan.from > UINT64_MAX - plan.seeds + 1) {
        err << "connpool-sim: --from + --seeds overflows the seed range\n";
        return 2;
    }
    if (auto e = validate(probe)) {  // an override that is bad on its own is bad for every seed
        err << "connpool-sim: " << *e << '\n';
        return 2;
    }
    // --summary-json FILE holds one summary: the line is written to FILE.tmp and renamed over
    // FILE at the end, so a shard that is run again (a retried pod or array task) replaces
    // its summary instead of adding a second one, and one that dies midway leaves the last
    // complete summary in place. Opening it now refuses an unwritable path before any run.
    const std::string json_tmp = json_path + ".tmp";
    std::FILE* json = nullptr;
    if (!json_path.empty()) {
        json = std::fopen(json_tmp.c_str(), "w");
        if (json == nullptr) {
            err << "connpool-sim: cannot write --summary-json file '" << json_tmp << "'\n";
            return 2;
        }
    }

    const std::uint64_t count = plan.count();
    out << "connpool-sim explore: seeds " << plan.from << ".." << (plan.from + plan.seeds - 1);
    if (plan.shards > 1) out << " shard " << plan.shard << "/" << plan.shards << " (" << count << " seeds)";
    out << " (" << (plan.use_swarm ? "swarm" : "fixed options") << (plan.overrides.empty() ? "" : ", with overrides")
        << (plan.determinism ? ", determinism check" : "") << (jobs > 1 ? ", " + std::to_string(jobs) + " jobs" : "")
        << ")\n";
    out.flush();

    const auto wall_start = std::chrono::steady_clock::now();
    Totals totals;
    std::vector<Failure> failures;
    std::string invalid;
    if (jobs <= 1) {
        auto last_progress = wall_start;
        for (std::uint64_t n = 0; n < count && invalid.empty(); ++n) {
            if (auto f = run_seed(plan, plan.seed(n), totals, invalid, hook)) failures.push_back(*f);
            const auto t = std::chrono::steady_clock::now();
            if (t - last_progress > std::chrono::seconds(5)) {
                last_progress = t;
                out.flush();
                err << "progress: " << (n + 1) << "/" << count << " seeds, " << failures.size() << " failures\n";
            }
        }
    } else {
        // Seeds are independent runs: workers take the next seed, results are sorted by
        // seed afterwards, so the report does not depend on thread timing.
        std::atomic<std::uint64_t> next{0}, done{0};
        std::mutex mu;
        std::vector<Totals> per_worker(jobs);
        std::vector<std::thread> workers;
        for (std::uint64_t w = 0; w < jobs; ++w) {
            workers.emplace_back([&, w] {
                std::string bad;
                for (;;) {
                    const std::uint64_t n = next.fetch_add(1);
                    if (n >= count) break;
                    auto f = run_seed(plan, plan.seed(n), per_worker[w], bad, hook);
                    done.fetch_add(1);
                    if (f || !bad.empty()) {
                        std::lock_guard<std::mutex> lock(mu);
                        if (f) failures.push_back(*f);
                        if (!bad.empty() && invalid.empty()) invalid = bad;
                        if (!bad.empty()) next.store(count);
                    }
                }
            });
        }
        auto last_progress = wall_start;
        while (done.load() < count && next.load() < count + jobs) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const auto t = std::chrono::steady_clock::now();
            if (t - last_progress > std::chrono::seconds(5)) {
                last_progress = t;
                std::lock_guard<std::mutex> lock(mu);
                out.flush();
                err << "progress: " << done.load() << "/" << count << " seeds, " << failures.size() << " failures\n";
            }
            if (!invalid.empty()) break;
        }
        for (auto& t : workers) t.join();
        for (const Totals& t : per_worker) totals.add(t);
        std::sort(failures.begin(), failures.end(), [](const Failure& x, const Failure& y) { return x.seed < y.seed; });
    }
    if (!invalid.empty()) {
        if (json != nullptr) {
            std::fclose(json);
            std::remove(json_tmp.c_str());
        }
        err << "connpool-sim: " << invalid << '\n';
        return 2;
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    const double w = wall > 1e-9 ? wall : 1e-9;
    for (const Failure& f : failures) {
        out << "FAIL seed " << f.seed << ": " << f.message << '\n';
        out << tool << " replay " << f.repro << '\n';
    }
    out << "seeds run: " << totals.runs << (plan.determinism ? " (each twice)" : "") << '\n';
    out << "failures: " << failures.size() << '\n';
    out << "events: " << totals.events << " in " << fixed(wall, 2) << " s wall = "
        << fixed(static_cast<double>(totals.events) / w, 0) << " events/s"
        << (jobs > 1 ? " (" + fixed(static_cast<double>(totals.events) / w / static_cast<double>(jobs), 0) + " per job)" : "")
        << '\n';
    out << "simulated: " << fixed(totals.simulated_s, 1) << " s = " << fixed(totals.simulated_s / w, 0)
        << " simulated seconds per wall second\n";
    out << "pool audits: " << totals.audits << " (Pool::check_invariants after every event that called the pool)\n";
    out << "requests: " << totals.requests;
    for (int i = 0; i < outcome_count; ++i) out << "  " << to_string(static_cast<Outcome>(i)) << "=" << totals.outcomes[i];
    out << "\nraces resolved by the scheduler: " << totals.races << '\n';
    print_faults(totals.faults, out);
    if (json != nullptr) {
        const std::string line = summary_json(plan, totals, failures, wall, tool);
        const bool written = std::fputs(line.c_str(), json) >= 0;
        if (std::fclose(json) != 0 || !written || std::rename(json_tmp.c_str(), json_path.c_str()) != 0) {
            std::remove(json_tmp.c_str());
            err << "connpool-sim: cannot write --summary-json file '" << json_path << "'\n";
            return 2;
        }
    }
    return failures.empty() ? 0 : 1;
}

// ---- merge ----------------------------------------------------------------------------------

// Reads a number or string field of one summary line (the format summary_json writes).
std::optional<std::string> json_field(const std::string& line, const std::string& key, std::size_t from = 0) {
    const std::string k = "\"" + key + "\":";
    const auto at = line.find(k, from);
    if (at == std::string::npos) return std::nullopt;
    std::size_t i = at + k.size();
    std::string v;
    if (i < line.size() && line[i] == '"') {
        for (++i; i < line.size() && line[i] != '"'; ++i) {
            if (line[i] == '\\' && i + 1 < line.size()) ++i;
            v += line[i];
        }
        if (i >= line.size()) return std::nullopt;
        return v;
    }
    for (; i < line.size() && line[i] != ',' && line[i] != '}' && line[i] != ']'; ++i) v += line[i];
    if (v.empty()) return std::nullopt;
    return v;
}

// A field read by json_field as an unsigned integer: false when absent or not one.
bool u64_of(const std::optional<std::string>& field, std::uint64_t& v) {
    if (!field) return false;
    const auto parsed = parse_u64(*field);
    if (!parsed) return false;
    v = *parsed;
    return true;
}

int merge(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    if (args.size() < 2) {
        err << "connpool-sim: merge needs one or more summary files written by explore --summary-json\n";
        return 2;
    }
    // A campaign is one seed range split into shards, run by one tool; it is complete when
    // every shard came in once. Campaign -> shards seen.
    struct Campaign {
        std::string tool;
        std::uint64_t from = 0, seeds = 0, shards = 0;
        bool operator<(const Campaign& o) const {
            return std::tie(tool, from, seeds, shards) < std::tie(o.tool, o.from, o.seeds, o.shards);
        }
        // "seeds 0..9" (and the tool, when it is not the normal one), as explore prints it.
        std::string name() const {
            return "seeds " + std::to_string(from) + ".." + std::to_string(from + seeds - 1) +
                   (tool == default_tool ? "" : " (" + tool + ")");
        }
    };
    std::map<Campaign, std::vector<std::uint64_t>> campaigns;
    std::uint64_t runs = 0, events = 0, lines = 0;
    double simulated = 0, wall = 0;
    std::vector<Failure> failures;
    for (std::size_t f = 1; f < args.size(); ++f) {
        std::FILE* in = std::fopen(args[f].c_str(), "r");
        if (in == nullptr) {
            err << "connpool-sim: merge: cannot read '" << args[f] << "'\n";
            return 2;
        }
        std::string line;
        int ch;
        std::uint64_t line_no = 0;
        for (;;) {
            line.clear();
            while ((ch = std::fgetc(in)) != EOF && ch != '\n') line += static_cast<char>(ch);
            if (line.empty() && ch == EOF) break;
            ++line_no;
            if (line.empty()) continue;
            const auto format = json_field(line, "format");
            const auto from = json_field(line, "from"), seeds = json_field(line, "seeds");
            const auto shard = json_field(line, "shard"), shards = json_field(line, "shards");
            const auto r = json_field(line, "runs"), e = json_field(line, "events");
            const auto sim = json_field(line, "simulated_s"), w = json_field(line, "wall_s");
            // Summaries written before the tool was recorded came from connpool-sim.
            const std::string line_tool = json_field(line, "tool").value_or(default_tool);
            std::uint64_t from_v = 0, seeds_v = 0, shard_v = 0, shards_v = 0;
            if (!format || *format != "connpool-sim-summary-1" || !u64_of(from, from_v) || !u64_of(seeds, seeds_v) ||
                seeds_v == 0 || !u64_of(shard, shard_v) || !u64_of(shards, shards_v) || shard_v >= shards_v || !r || !e ||
                !sim || !w || !parse_u64(*r) || !parse_u64(*e) || line.back() != '}') {
                std::fclose(in);
                err << "connpool-sim: merge: " << args[f] << ":" << line_no << " is not an explore summary line\n";
                return 2;
            }
            ++lines;
            campaigns[Campaign{line_tool, from_v, seeds_v, shards_v}].push_back(shard_v);
            runs += *parse_u64(*r);
            events += *parse_u64(*e);
            simulated += std::strtod(sim->c_str(), nullptr);
            wall += std::strtod(w->c_str(), nullptr);
            for (std::size_t at = line.find("{\"seed\":"); at != std::string::npos; at = line.find("{\"seed\":", at + 1)) {
                const auto seed = json_field(line, "seed", at);
                const auto message = json_field(line, "message", at);
                const auto repro = json_field(line, "repro", at);
                if (!seed || !message || !repro || !parse_u64(*seed)) {
                    std::fclose(in);
                    err << "connpool-sim: merge: " << args[f] << ":" << line_no << " has a malformed failure entry\n";
                    return 2;
                }
                failures.push_back(Failure{*parse_u64(*seed), *message, *repro, line_tool});
            }
        }
        std::fclose(in);
    }
    for (auto& [campaign, shards_seen] : campaigns) {
        std::sort(shards_seen.begin(), shards_seen.end());
        const std::uint64_t n = campaign.shards;
        for (std::uint64_t k = 1; k < shards_seen.size(); ++k) {
            if (shards_seen[k] == shards_seen[k - 1]) {
                err << "connpool-sim: merge: " << campaign.name() << ", shard " << shards_seen[k] << "/" << n
                    << " is in two summaries (give each shard's file once)\n";
                return 2;
            }
        }
        if (shards_seen.size() != n) {
            std::uint64_t missing = 0;  // the first shard not seen; shards_seen is sorted, distinct, each < n
            while (missing < shards_seen.size() && shards_seen[missing] == missing) ++missing;
            err << "connpool-sim: merge: " << campaign.name() << ", shard " << missing << "/" << n << " is missing ("
                << shards_seen.size() << " of " << n << " shards present)\n";
            return 2;
        }
    }
    std::sort(failures.begin(), failures.end(), [](const Failure& x, const Failure& y) { return x.seed < y.seed; });
    for (const Failure& f : failures) {
        out << "FAIL seed " << f.seed << ": " << f.message << '\n';
        out << f.tool << " replay " << f.repro << '\n';
    }
    out << "merged: " << lines << " summaries, " << campaigns.size() << " campaign(s), every shard present\n";
    out << "seeds run: " << runs << '\n';
    out << "failures: " << failures.size() << '\n';
    out << "events: " << events << "  simulated: " << fixed(simulated, 1) << " s  wall (sum over shards): " << fixed(wall, 1)
        << " s\n";
    return failures.empty() ? 0 : 1;
}

int replay(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, RunStartHook hook) {
    bool summary_only = false;
    std::optional<std::string> repro;
    std::string json_path;
    std::set<std::string> seen;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i].rfind("--", 0) == 0 && !first_time(seen, args[i], err)) return 2;
        if (args[i] == "--summary") {
            summary_only = true;
        } else if (args[i] == "--trace-json") {
            if (!value_follows(args, i, err)) return 2;
            json_path = args[++i];
        } else if (args[i].rfind("--", 0) == 0) {
            err << "connpool-sim: unknown replay flag '" << args[i] << "'\n";
            return 2;
        } else if (repro) {
            err << "connpool-sim: replay takes one repro string\n";
            return 2;
        } else {
            repro = args[i];
        }
    }
    if (!repro) {
        err << "connpool-sim: replay needs a repro string (printed by explore)\n";
        return 2;
    }
    std::string error;
    const auto o = decode_repro(*repro, error);
    if (!o) {
        err << "connpool-sim: malformed repro: " << error << '\n';
        return 2;
    }
    std::FILE* json_file = nullptr;
    if (!json_path.empty()) {
        json_file = std::fopen(json_path.c_str(), "w");
        if (json_file == nullptr) {
            err << "connpool-sim: cannot write --trace-json file '" << json_path << "'\n";
            return 2;
        }
    }
    if (hook != nullptr) hook(*repro);
    std::string json;
    const RunResult r = run_world(*o, summary_only ? nullptr : &out, json_file != nullptr ? &json : nullptr);
    print_summary(r, out);
    if (json_file != nullptr) {
        std::fwrite(json.data(), 1, json.size(), json_file);
        std::fclose(json_file);
        out << "trace-json: " << json_path << " (open in https://ui.perfetto.dev or chrome://tracing)\n";
    }
    return r.ok ? 0 : 1;
}

// ---- whatif ----------------------------------------------------------------------------------

// Runs every config on up to `jobs` threads; results[i] is configs[i]'s, whatever the timing.
std::vector<RunResult> run_all(const std::vector<Options>& configs, std::uint64_t jobs) {
    std::vector<RunResult> results(configs.size());
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i = next.fetch_add(1); i < configs.size(); i = next.fetch_add(1)) {
            results[i] = run_world(configs[i], nullptr);
        }
    };
    std::vector<std::thread> workers;
    for (std::uint64_t w = 1; w < jobs && w < configs.size(); ++w) workers.emplace_back(work);
    work();
    for (auto& t : workers) t.join();
    return results;
}

std::string dial_share(const RunResult& r) {
    return r.pool.gets == 0 ? std::string("-")
                            : fixed(100.0 * static_cast<double>(r.pool.dials_started) / static_cast<double>(r.pool.gets), 2) + "%";
}

std::string requests_per_dial(const RunResult& r) {
    return r.pool.dials_succeeded == 0 ? std::string("-")
                                       : fixed(static_cast<double>(r.requests) / static_cast<double>(r.pool.dials_succeeded), 1);
}

// whatif's header says how to read the default per-host idle cap (Go's MaxIdleConnsPerHost).
const char* const idle_per_host_note = "  max-idle-per-host=0 means Go's default of 2 idle conns per host (DefaultMaxIdleConnsPerHost)\n";

// One --sweep axis: an option and the values it takes, in the order given.
struct SweepAxis {
    std::string name;
    std::vector<std::string> values;
};

// "name=v1,v2,...": the option must exist and every value must be one it accepts.
std::optional<std::string> parse_sweep(const std::string& spec, SweepAxis& axis) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) return "--sweep '" + spec + "' is not name=v1,v2,...";
    axis.name = spec.substr(0, eq);
    const std::string list = spec.substr(eq + 1);
    std::size_t pos = 0;
    for (;;) {
        std::size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        const std::string v = list.substr(pos, comma - pos);
        Options probe;
        if (v.empty()) return "--sweep " + axis.name + ": empty value in '" + list + "'";
        if (auto e = set_option(probe, axis.name, v)) return "--sweep: " + *e;
        axis.values.push_back(v);
        if (comma == list.size()) break;
        pos = comma + 1;
    }
    if (axis.values.size() > 32) return "--sweep " + axis.name + ": at most 32 values";
    return std::nullopt;
}

// `whatif [--<option> V]... [--compare "name=value,..."] [--sweep name=v1,v2,...]... [--jobs J]`:
// one workload in virtual time under one config, or two side by side; with --sweep (one or
// two axes), the same under every combination of the swept values, reported as grids of
// dial share and requests per dialed conn. No faults unless asked for; defaults are a busy
// single host: 100 clients, 20 ms responses, 10 ms think time, 60 s.
int whatif(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const std::string& tool) {
    Options base;
    base.seed = 1;
    base.clients = 100;
    base.think_ms = 10;
    base.resp_ms = 20;
    base.resp_spread_pct = 90;
    base.duration_ms = 60'000;
    base.request_timeout_ms = 30'000;
    base.idempotent_pct = 100;
    base.net_delay_us = 100;
    std::string compare;
    bool compare_given = false;
    std::uint64_t jobs = 1;
    std::vector<SweepAxis> axes;
    std::vector<std::string> set_names;  // options given as --<option>
    std::set<std::string> seen;          // every flag but --sweep, which names its option
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0) {
            err << "connpool-sim: whatif: expected --<option> VALUE, got '" << a << "'\n";
            return 2;
        }
        if (a != "--sweep" && !first_time(seen, a, err)) return 2;
        if (!value_follows(args, i, err)) return 2;
        const std::string name = a.substr(2);
        const std::string& value = args[++i];
        if (name == "compare") {
            if (value.empty()) {
                err << "connpool-sim: whatif: --compare takes one non-empty \"name=value,...\" list\n";
                return 2;
            }
            compare_given = true;
            compare = value;
            continue;
        }
        if (name == "jobs") {
            const auto v = parse_u64(value);
            if (!v || *v == 0 || *v > 1024) {
                err << "connpool-sim: --jobs '" << value << "' is not a count in [1, 1024]\n";
                return 2;
            }
            jobs = *v;
            continue;
        }
        if (name == "sweep") {
            SweepAxis axis;
            if (auto e = parse_sweep(value, axis)) {
                err << "connpool-sim: whatif: " << *e << '\n';
                return 2;
            }
            if (axes.size() == 2) {
                err << "connpool-sim: whatif: at most two --sweep axes\n";
                return 2;
            }
            if (!axes.empty() && axes[0].name == axis.name) {
                err << "connpool-sim: whatif: --sweep " << axis.name << " given twice\n";
                return 2;
            }
            axes.push_back(axis);
            continue;
        }
        if (auto e = set_option(base, name, value)) {
            err << "connpool-sim: " << *e << '\n';
            return 2;
        }
        set_names.push_back(name);
    }
    std::vector<Options> configs{base};
    std::vector<std::string> labels{"base"};
    std::vector<std::string> compare_names;
    if (compare_given) {
        Options other = base;
        std::size_t pos = 0;
        while (pos <= compare.size()) {
            std::size_t comma = compare.find(',', pos);
            if (comma == std::string::npos) comma = compare.size();
            const std::string item = compare.substr(pos, comma - pos);
            const auto eq = item.find('=');
            if (eq == std::string::npos) {
                err << "connpool-sim: --compare item '" << item << "' is not name=value\n";
                return 2;
            }
            if (auto e = set_option(other, item.substr(0, eq), item.substr(eq + 1))) {
                err << "connpool-sim: --compare: " << *e << '\n';
                return 2;
            }
            if (std::find(compare_names.begin(), compare_names.end(), item.substr(0, eq)) != compare_names.end()) {
                err << "connpool-sim: --compare sets " << item.substr(0, eq) << " twice\n";
                return 2;
            }
            compare_names.push_back(item.substr(0, eq));
            pos = comma + 1;
        }
        configs.push_back(other);
        labels.push_back(compare);
    }
    for (const SweepAxis& axis : axes) {
        for (const std::string& n : set_names) {
            if (n == axis.name) {
                err << "connpool-sim: whatif: --" << n << " is also swept; give one or the other\n";
                return 2;
            }
        }
        for (const std::string& n : compare_names) {
            if (n == axis.name) {
                err << "connpool-sim: whatif: --compare sets " << n << ", which is swept\n";
                return 2;
            }
        }
    }
    if (!axes.empty()) {
        // Every cell of every config, validated before anything runs.
        const std::size_t rows = axes[0].values.size();
        const std::size_t cols = axes.size() > 1 ? axes[1].values.size() : 1;
        std::vector<Options> cells;
        for (const Options& c : configs) {
            for (std::size_t r = 0; r < rows; ++r) {
                for (std::size_t k = 0; k < cols; ++k) {
                    Options o = c;
                    (void)set_option(o, axes[0].name, axes[0].values[r]);
                    if (axes.size() > 1) (void)set_option(o, axes[1].name, axes[1].values[k]);
                    if (auto e = validate(o)) {
                        err << "connpool-sim: whatif --sweep " << axes[0].name << "=" << axes[0].values[r]
                            << (axes.size() > 1 ? " " + axes[1].name + "=" + axes[1].values[k] : "") << ": " << *e << '\n';
                        return 2;
                    }
                    cells.push_back(o);
                }
            }
        }
        const std::vector<RunResult> results = run_all(cells, jobs);
        out << "connpool-sim whatif: " << base.clients << " clients, " << base.keys << " host(s), response " << base.resp_ms
            << " ms, " << base.duration_ms / 1000.0 << " s of virtual time; sweep " << axes[0].name
            << (axes.size() > 1 ? " x " + axes[1].name : "") << ", " << rows * cols << " runs per config\n";
        out << idle_per_host_note;
        out << "  base: " << encode_repro(configs[0]) << "  (swept options as in each cell)\n";
        if (configs.size() > 1) out << "  compare: " << labels[1] << '\n';
        auto grid = [&](const std::string& title, std::size_t config, std::string (*cell)(const RunResult&)) {
            out << title << ", " << (config == 0 ? "base" : "compare") << '\n';
            char buf[64];
            const std::string corner = axes[0].name + (axes.size() > 1 ? " \\ " + axes[1].name : "");
            std::snprintf(buf, sizeof buf, "  %-30s", corner.c_str());
            out << buf;
            for (std::size_t k = 0; k < cols; ++k) {
                std::snprintf(buf, sizeof buf, "%10s", axes.size() > 1 ? axes[1].values[k].c_str() : "");
                out << buf;
            }
            out << '\n';
            for (std::size_t r = 0; r < rows; ++r) {
                std::snprintf(buf, sizeof buf, "  %-30s", axes[0].values[r].c_str());
                out << buf;
                for (std::size_t k = 0; k < cols; ++k) {
                    std::snprintf(buf, sizeof buf, "%10s", cell(results[(config * rows + r) * cols + k]).c_str());
                    out << buf;
                }
                out << '\n';
            }
        };
        for (std::size_t c = 0; c < configs.size(); ++c) {
            grid("dial share (dials / get_conn)", c, dial_share);
            grid("requests per dialed conn", c, requests_per_dial);
        }
        int rc = 0;
        for (std::size_t i = 0; i < results.size(); ++i) {
            if (results[i].ok) continue;
            out << "FAILED: " << results[i].failure << '\n' << tool << " replay " << encode_repro(cells[i]) << '\n';
            rc = 1;
        }
        out << "checks: " << (rc == 0 ? "passed" : "FAILED") << " in all " << results.size() << " runs\n";
        return rc;
    }
    for (const Options& o : configs) {
        if (auto e = validate(o)) {
            err << "connpool-sim: " << *e << '\n';
            return 2;
        }
    }
    const std::vector<RunResult> results = run_all(configs, jobs);
    auto row = [&](const std::string& name, auto value_of) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%-34s", name.c_str());
        out << buf;
        for (const RunResult& r : results) {
            std::snprintf(buf, sizeof buf, "%22s", value_of(r).c_str());
            out << buf;
        }
        out << '\n';
    };
    auto num = [](std::uint64_t v) { return std::to_string(v); };
    out << "connpool-sim whatif: " << base.clients << " clients, " << base.keys << " host(s), think 0.." << 2 * base.think_ms
        << " ms, response " << base.resp_ms << " ms +-" << base.resp_spread_pct << "%, " << base.duration_ms / 1000.0
        << " s of virtual time\n";
    out << idle_per_host_note;
    for (std::size_t i = 0; i < configs.size(); ++i) {
        out << "  " << labels[i] << ": " << encode_repro(configs[i]) << '\n';
    }
    row("", [&](const RunResult& r) { return std::string(&r == &results[0] ? "base" : "compare"); });
    row("requests", [&](const RunResult& r) { return num(r.requests); });
    row("  ok", [&](const RunResult& r) { return num(r.outcomes[static_cast<int>(Outcome::ok)]); });
    row("  failed", [&](const RunResult& r) { return num(r.requests - r.outcomes[static_cast<int>(Outcome::ok)]); });
    for (int i = 1; i < outcome_count; ++i) {
        bool any = false;
        for (const RunResult& r : results) any = any || r.outcomes[i] != 0;
        if (!any) continue;
        row("    " + std::string(to_string(static_cast<Outcome>(i))), [&](const RunResult& r) { return num(r.outcomes[i]); });
    }
    // Go retries a GET that failed on a reused conn (RT2), so a fault can cost attempts and
    // dials without failing a single request: these rows show what the retries hid.
    row("attempts failed on a conn", [&](const RunResult& r) { return num(r.faults.attempts_failed); });
    row("retries (RT2)", [&](const RunResult& r) { return num(r.faults.retries); });
    row("dials", [&](const RunResult& r) { return num(r.pool.dials_started); });
    row("dial share (dials / get_conn)", [&](const RunResult& r) { return dial_share(r); });
    row("dials after warm-up (first 10%)", [&](const RunResult& r) { return num(r.usage.dials_after_warmup); });
    row("requests per dialed conn", [&](const RunResult& r) { return requests_per_dial(r); });
    row("reuses from idle list (T4)", [&](const RunResult& r) { return num(r.pool.idle_hits); });
    row("hand-offs to waiters (P5)", [&](const RunResult& r) { return num(r.pool.handoffs); });
    for (int i = 0; i < close_reason_count; ++i) {
        bool any = false;
        for (const RunResult& r : results) any = any || r.pool.closes[i] != 0;
        if (!any) continue;
        row("closes: " + std::string(to_string(static_cast<CloseReason>(i))), [&](const RunResult& r) { return num(r.pool.closes[i]); });
    }
    row("peak open conns", [&](const RunResult& r) { return num(r.usage.peak_open); });
    row("TIME_WAIT (client) peak", [&](const RunResult& r) { return num(r.usage.time_wait_peak); });
    row("TIME_WAIT (client) at end", [&](const RunResult& r) { return num(r.usage.time_wait_at_end); });
    row("wait for conn p50 (us)", [&](const RunResult& r) { return std::to_string(r.usage.wait_p50_us); });
    row("wait for conn p99 (us)", [&](const RunResult& r) { return std::to_string(r.usage.wait_p99_us); });
    row("checks", [&](const RunResult& r) { return std::string(r.ok ? "passed" : "FAILED"); });
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (!results[i].ok) out << "FAILED: " << results[i].failure << '\n' << tool << " replay " << encode_repro(configs[i]) << '\n';
    }
    for (const RunResult& r : results) {
        if (!r.ok) return 1;
    }
    return 0;
}

// `repro [--seed S] [--no-swarm] [--<option> V]...`: prints the repro line of one run, so
// a run can be built by hand and replayed: connpool-sim replay "$(connpool-sim repro ...)".
int repro(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::uint64_t seed = 0;
    bool use_swarm = true;
    std::vector<std::pair<std::string, std::string>> overrides;
    std::set<std::string> seen;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) == 0 && !first_time(seen, a, err)) return 2;
        if (a == "--no-swarm") {
            use_swarm = false;
            continue;
        }
        if (a.rfind("--", 0) != 0) {
            err << "connpool-sim: repro: expected --<option> VALUE, got '" << a << "'\n";
            return 2;
        }
        if (!value_follows(args, i, err)) return 2;
        const std::string name = a.substr(2);
        const std::string& value = args[++i];
        if (name == "seed") {
            const auto v = parse_u64(value);
            if (!v) {
                err << "connpool-sim: --seed '" << value << "' is not an unsigned 64-bit integer\n";
                return 2;
            }
            seed = *v;
            continue;
        }
        Options probe;
        if (auto e = set_option(probe, name, value)) {
            err << "connpool-sim: " << *e << '\n';
            return 2;
        }
        overrides.emplace_back(name, value);
    }
    Options o = use_swarm ? swarm(seed) : Options{};
    o.seed = seed;
    for (const auto& [name, value] : overrides) (void)set_option(o, name, value);
    if (auto e = validate(o)) {
        err << "connpool-sim: " << *e << '\n';
        return 2;
    }
    out << encode_repro(o) << '\n';
    return 0;
}

}  // namespace

int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, RunStartHook hook,
             const std::string& tool) {
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
        (args.empty() ? err : out) << usage;
        return args.empty() ? 2 : 0;
    }
    // `connpool-sim explore --help` and the like: the usage, as for `connpool-sim --help`
    // (check has its own list of flags).
    if (args[0] != "check") {
        for (std::size_t i = 1; i < args.size(); ++i) {
            if (args[i] == "--help" || args[i] == "-h") {
                out << usage;
                return 0;
            }
        }
    }
    // A flag's value is the next argument. No value starts with --, so --name=value is
    // always this mistake (and never a value: --compare "a=5" is two arguments).
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        const auto eq = a.find('=');
        if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
            err << "connpool-sim: write " << a.substr(0, eq) << " " << a.substr(eq + 1) << ", not " << a
                << " (a flag's value is the next argument)\n";
            return 2;
        }
    }
    if (args[0] == "explore") return explore(args, out, err, hook, tool);
    if (args[0] == "check") return check_main(args, out, err, hook, tool);
    // A check replay string (cpc1,...) replays through the checker, so the line the abort
    // handler prints (connpool-sim replay <repro>) works for both tools.
    if (args[0] == "replay" && args.size() == 2 && args[1].rfind("cpc1,", 0) == 0) {
        return check_main({"check", "--replay", args[1]}, out, err, hook, tool);
    }
    if (args[0] == "replay") return replay(args, out, err, hook);
    if (args[0] == "repro") return repro(args, out, err);
    if (args[0] == "merge") return merge(args, out, err);
    if (args[0] == "whatif") return whatif(args, out, err, tool);
    if (args[0] == "options") {
        const std::string repro = encode_repro(Options{});
        out << "options, with their defaults (explore draws them per seed unless given; --seed is for repro):\n";
        std::size_t pos = repro.find(',') + 1;
        while (pos < repro.size()) {
            std::size_t comma = repro.find(',', pos);
            if (comma == std::string::npos) comma = repro.size();
            const std::string item = repro.substr(pos, comma - pos);
            const auto eq = item.find('=');
            if (item.rfind("ck=", 0) != 0) out << "  --" << item.substr(0, eq) << ' ' << item.substr(eq + 1) << '\n';
            pos = comma + 1;
        }
        return 0;
    }
    err << "connpool-sim: unknown command '" << args[0] << "' (explore, replay, repro, merge, whatif, check, options, help)\n";
    return 2;
}

}  // namespace connpool::sim
