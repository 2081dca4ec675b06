// Digest parsing: a typical 50-paper day and a 10,000-paper stress digest, as markdown
// (DESIGN.md §5: chunked cmark-gfm keeps memory bounded) and as Hugging Face daily JSON
// (read item by item, issue 12).
#include <benchmark/benchmark.h>

#include "bench/synthetic.h"
#include "fetchers/hf_daily_parser.h"
#include "fetchers/markdown_parser.h"

namespace digestd::bench {
namespace {

void BM_ParseMarkdown(benchmark::State& state) {
  const std::string text = MarkdownDigest(int(state.range(0)));
  std::size_t papers = 0;
  for (auto _ : state) {
    ParseResult r = ParseMarkdownDigest(text);
    papers = r.digest.papers.size();
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(text.size()));
  state.counters["papers/s"] = benchmark::Counter(double(papers) * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseMarkdown)->Arg(50)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_ParseHfDaily(benchmark::State& state) {
  const std::string text = HfDailyJson(int(state.range(0)));
  std::size_t papers = 0;
  for (auto _ : state) {
    ParseResult r = ParseHfDaily(text);
    papers = r.digest.papers.size();
    benchmark::DoNotOptimize(r);
  }
  if (papers != std::size_t(state.range(0))) state.SkipWithError("papers lost");
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(text.size()));
  state.counters["papers/s"] = benchmark::Counter(double(papers) * double(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ParseHfDaily)->Arg(50)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
