// The state store: committing a parsed digest (papers, sightings, outbox) in one
// transaction, and the prior-sighting lookup the diff does, on a real file.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <benchmark/benchmark.h>

#include "bench/synthetic.h"
#include "fetchers/markdown_parser.h"
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

void BM_CommitDigest(benchmark::State& state) {
  const auto papers = ParseMarkdownDigest(MarkdownDigest(int(state.range(0)))).digest.papers;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = TempPath();
    auto store = StateStore::Open(path);
    DigestCommit c{.source = "hf-ko", .url = "file:///d.md", .date = "2024-01-29", .now = 1};
    c.papers = papers;
    state.ResumeTiming();
    if (auto st = (*store)->CommitDigest(c); !st) state.SkipWithError(st.error().message.c_str());
    state.PauseTiming();
    store->reset();
    RemoveDb(path);
    state.ResumeTiming();
  }
  state.counters["papers/s"] = benchmark::Counter(double(papers.size()) * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitDigest)->Arg(50)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_LoadPriorSightings(benchmark::State& state) {
  const auto papers = ParseMarkdownDigest(MarkdownDigest(10000)).digest.papers;
  const std::string path = TempPath();
  auto store = StateStore::Open(path);
  DigestCommit c{.source = "hf-ko", .url = "file:///d.md", .date = "2024-01-29", .now = 1};
  c.papers = papers;
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

BENCHMARK_MAIN();
