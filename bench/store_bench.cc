// The state store: committing a parsed digest (papers, sightings, outbox) in one
// transaction, and the prior-sighting lookup the diff does, on a real file. With
// $DIGESTD_BENCH_PG_URL set (postgresql://user@host:port/db, a role that may CREATE DATABASE),
// the commit also runs on PostgreSQL, into a database of its own made for each iteration and
// dropped after it (bench/pg_bench.py starts a server and sets it).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/synthetic.h"
#include "core/crypto.h"
#include "core/hash.h"
#include "core/planner.h"
#include "core/spool.h"
#include "core/watch.h"
#include "fetchers/markdown_parser.h"
#include "store/postgres_db.h"
#include "store/state_store.h"

namespace digestd::bench {
namespace {

std::string TempPath() {
  static int n = 0;
  return (std::filesystem::temp_directory_path() /
          ("digestd-bench-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".db"))
      .string();
}

void RemoveDb(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

// `url` naming database `database` instead of its own (the user, host, port and parameters
// kept).
std::string WithDatabase(const std::string& url, const std::string& database) {
  const auto scheme_end = url.find("://");
  const auto authority = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const auto query = url.find('?', authority);
  const auto path = std::min(url.find('/', authority), query);
  std::string out = url.substr(0, path == std::string::npos ? url.size() : path) + "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

// Where one iteration commits: a fresh SQLite file, or a fresh database on the PostgreSQL
// server `server_url` names (made through the store's own PostgreSQL backend, so libpq stays in
// store/). Removed or dropped when this dies.
class FreshState {
 public:
  static Result<std::unique_ptr<FreshState>> Make(const std::string& server_url) {
    auto state = std::unique_ptr<FreshState>(new FreshState);
    if (server_url.empty()) {
      state->location_ = TempPath();
      return state;
    }
    auto admin = sql::OpenPostgres(server_url, /*read_only=*/false);
    if (!admin) return Unexpected(admin.error());
    static int n = 0;
    state->database_ = "digestd_bench_" + std::to_string(getpid()) + "_" + std::to_string(n++);
    const std::string create = "CREATE DATABASE \"" + state->database_ + "\"";
    if (auto st = (*admin)->Exec(create.c_str()); !st) return Unexpected(st.error());
    state->admin_ = std::move(*admin);
    state->location_ = WithDatabase(server_url, state->database_);
    return state;
  }
  ~FreshState() {
    if (!admin_) {
      RemoveDb(location_);
      return;
    }
    // FORCE: a session the store left open must not keep the database.
    const std::string drop = "DROP DATABASE IF EXISTS \"" + database_ + "\" WITH (FORCE)";
    if (auto st = admin_->Exec(drop.c_str()); !st) {
      std::fprintf(stderr, "store_bench: %s\n", st.error().message.c_str());
    }
  }
  const std::string& location() const { return location_; }

 private:
  FreshState() = default;
  std::string location_;
  std::string database_;            // on PostgreSQL
  std::unique_ptr<sql::Db> admin_;  // the server's session that made it
};

// A store open on a FreshState. Close (or destruction) closes the store before the state is
// removed or dropped.
struct OpenedFresh {
  std::unique_ptr<FreshState> state;
  std::unique_ptr<StateStore> store;  // after `state`: destroyed first
  void Close() {
    store.reset();
    state.reset();
  }
};

Result<OpenedFresh> OpenFresh(const std::string& server_url) {
  auto state = FreshState::Make(server_url);
  if (!state) return Unexpected(state.error());
  auto store = StateStore::Open((*state)->location());
  if (!store) return Unexpected(store.error());
  return OpenedFresh{.state = std::move(*state), .store = std::move(*store)};
}

// Commits an N-paper digest (state.range(0)) into a fresh state: SQLite when `server_url` is
// empty, else a fresh database on that PostgreSQL server.
void CommitDigest(benchmark::State& state, const std::string& server_url) {
  const auto papers = ParseMarkdownDigest(MarkdownDigest(int(state.range(0)))).digest.papers;
  for (auto _ : state) {
    state.PauseTiming();
    auto fresh = OpenFresh(server_url);
    if (!fresh) {
      state.SkipWithError(fresh.error().message.c_str());
      break;
    }
    // The papers outlive the commit, as a cycle's do (its notifications and the delivery
    // hold them): freeing them is not the commit's work.
    std::vector<SharedPaper> shared = SharePapers(papers);
    DigestCommit c{.source = "hf-ko", .url = "file:///d.md", .date = "2024-01-29", .now = 1};
    c.papers = shared;
    state.ResumeTiming();
    if (auto st = fresh->store->CommitDigest(std::move(c)); !st) {
      state.SkipWithError(st.error().message.c_str());
    }
    state.PauseTiming();
    fresh->Close();
    std::vector<SharedPaper>().swap(shared);
    state.ResumeTiming();
  }
  state.counters["papers/s"] = benchmark::Counter(double(papers.size()) * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

// The two hashes a long day makes of each paper (a snapshot's, 64-bit; a sighting's content,
// 128-bit), here both of each paper's snapshot text (1.3 KB on a synthetic day, about the
// size of both): arg 0, schema 11's (FNV-1a, and two FNV-1a lanes); arg 1, schema 12's (XXH3).
void BM_PaperHashes(benchmark::State& state) {
  const auto papers = ParseMarkdownDigest(MarkdownDigest(10000)).digest.papers;
  std::vector<std::string> texts;
  for (const Paper& p : papers) texts.push_back(SnapshotText(p));
  const bool xxh3 = state.range(0) == 1;
  for (auto _ : state) {
    for (const std::string& text : texts) {
      if (xxh3) {
        benchmark::DoNotOptimize(Xxh3Hash64(text));
        benchmark::DoNotOptimize(Xxh3Digits(text));
      } else {
        benchmark::DoNotOptimize(Fnv1a64(text));
        Hash128 content;
        content.Update(text);
        benchmark::DoNotOptimize(content.Digits());
      }
    }
  }
  state.counters["papers/s"] = benchmark::Counter(double(texts.size()) * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PaperHashes)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The hash of a fetched body that says whether it is the one parsed last: a 10,000-paper
// markdown digest (13 MB) read back from a spool file in pieces, as a fetched body is. Arg 0,
// SHA-256 (libgcrypt, on the CPU's SHA instructions where it has them: before issue 12's
// change); arg 1, BodyHash (XXH3's 128 bits).
void BM_BodyHash(benchmark::State& state) {
  const std::string body = MarkdownDigest(10000);
  const std::string dir = TempPath() + ".d";
  std::filesystem::create_directories(dir);
  Spool spool(dir, 1024);
  if (auto st = spool.Append(body); !st) {
    state.SkipWithError(st.error().message.c_str());
    return;
  }
  const bool xxh3 = state.range(0) == 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(xxh3 ? BodyHash(spool) : Sha256Hex(spool.Reader(128 * 1024)));
  }
  state.SetBytesProcessed(std::int64_t(body.size()) * std::int64_t(state.iterations()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BodyHash)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_CommitDigest(benchmark::State& state) { CommitDigest(state, ""); }
BENCHMARK(BM_CommitDigest)->Arg(50)->Arg(10000)->Unit(benchmark::kMillisecond);

// A fresh SQLite state (OpenFresh) and the commit a first run makes of `papers` into it,
// with one match-all watch and one notifier ("out"), as the cycle hands it over: what
// PlanDigest planned (a notification and a notified mark per paper, and each paper's content
// hash, which the commit stores rather than computing).
struct PlannedDay {
  OpenedFresh fresh;
  DigestCommit commit;
};

// Nothing when the watch or the state cannot be made, which `state` is told.
std::optional<PlannedDay> PlanFirstRun(const std::vector<SharedPaper>& papers,
                                       benchmark::State& state) {
  static const auto matcher =
      WatchMatcher::Compile({WatchSpec{.name = "all", .query = "*", .notify = {"out"}}});
  if (!matcher) {
    state.SkipWithError(matcher.error().message.c_str());
    return std::nullopt;
  }
  auto fresh = OpenFresh("");
  if (!fresh) {
    state.SkipWithError(fresh.error().message.c_str());
    return std::nullopt;
  }
  const std::map<std::string, PriorSighting> prior;
  const std::set<std::string> notified;
  Plan plan = PlanDigest(PlanInput{.source = "hf-ko",
                                   .date = "2024-01-29",
                                   .papers = &papers,
                                   .prior = &prior,
                                   .notified = &notified,
                                   .matcher = &*matcher,
                                   .enabled_notifiers = {"out"},
                                   .first_run = FirstRunMode::kNotify});
  return PlannedDay{.fresh = std::move(*fresh),
                    .commit = {.source = "hf-ko",
                               .url = "file:///d.md",
                               .date = "2024-01-29",
                               .now = 1,
                               .papers = papers,
                               .content_hashes = std::move(plan.content_hashes),
                               .notified = std::move(plan.notified),
                               .notifications = std::move(plan.notifications)}};
}

// The commit a first run makes of an N-paper day (state.range(0)) into a fresh SQLite file
// (PlanFirstRun). Planning is not timed.
void BM_CommitPlannedDay(benchmark::State& state) {
  const auto papers =
      SharePapers(ParseMarkdownDigest(MarkdownDigest(int(state.range(0)))).digest.papers);
  for (auto _ : state) {
    state.PauseTiming();
    auto day = PlanFirstRun(papers, state);
    if (!day) break;
    StateStore& store = *day->fresh.store;
    state.ResumeTiming();
    if (auto st = store.CommitDigest(std::move(day->commit)); !st) {
      state.SkipWithError(st.error().message.c_str());
    }
    state.PauseTiming();
    day->fresh.Close();
    day.reset();  // the plan's notifications and marks: freed untimed, as in BM_CommitDigest
    state.ResumeTiming();
  }
  state.counters["papers/s"] = benchmark::Counter(
      double(papers.size()) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitPlannedDay)->Arg(50)->Arg(10000)->Unit(benchmark::kMillisecond);

// Recording N delivery results (state.range(0)), every row sent, as the engine records a
// first run's deliveries to a `file` notifier: the rows planned and committed
// (PlanFirstRun), claimed, and marked sent in one transaction. Only RecordDeliveries is
// timed.
void BM_RecordDeliveries(benchmark::State& state) {
  const auto papers =
      SharePapers(ParseMarkdownDigest(MarkdownDigest(int(state.range(0)))).digest.papers);
  const auto none_alive = [](const std::string&) { return false; };
  for (auto _ : state) {
    state.PauseTiming();
    auto day = PlanFirstRun(papers, state);
    if (!day) break;
    StateStore& store = *day->fresh.store;
    if (auto st = store.CommitDigest(std::move(day->commit)); !st) {
      state.SkipWithError(st.error().message.c_str());
      break;
    }
    auto claimed = store.ClaimDue("out", 2, int(papers.size()), "bench", 1000, none_alive);
    if (!claimed || claimed->size() != papers.size()) {
      state.SkipWithError(claimed ? "not every row was claimed" : claimed.error().message.c_str());
      break;
    }
    std::vector<DeliveryResult> results;
    for (const OutboxRow& row : *claimed) results.push_back({.id = row.id, .parts_sent = 1});
    state.ResumeTiming();
    if (auto st = store.RecordDeliveries(results, "bench", 3); !st) {
      state.SkipWithError(st.error().message.c_str());
    }
    state.PauseTiming();
    day->fresh.Close();
    state.ResumeTiming();
  }
  state.counters["rows/s"] = benchmark::Counter(
      double(papers.size()) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RecordDeliveries)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_LoadPriorSightings(benchmark::State& state) {
  const auto papers = ParseMarkdownDigest(MarkdownDigest(10000)).digest.papers;
  const std::string path = TempPath();
  auto store = StateStore::Open(path);
  DigestCommit c{.source = "hf-ko", .url = "file:///d.md", .date = "2024-01-29", .now = 1};
  c.papers = SharePapers(papers);
  (void)(*store)->CommitDigest(c);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < 1000; ++i) keys.push_back(papers[i * 10].key);
  for (auto _ : state) benchmark::DoNotOptimize((*store)->LoadPriorSightings("hf-ko", keys));
  state.counters["keys/s"] =
      benchmark::Counter(1000.0 * double(state.iterations()), benchmark::Counter::kIsRate);
  store->reset();
  RemoveDb(path);
}
BENCHMARK(BM_LoadPriorSightings)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace digestd::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Registered here, not statically: only when a server is named.
  if (const char* url = std::getenv("DIGESTD_BENCH_PG_URL"); url && *url) {
    benchmark::RegisterBenchmark("BM_CommitDigestPostgres",
                                 [server = std::string(url)](benchmark::State& state) {
                                   digestd::bench::CommitDigest(state, server);
                                 })
        ->Arg(50)
        ->Arg(10000)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
