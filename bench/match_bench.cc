// The compiled watch matcher: N keyword watches (and N query-language watches) over 10,000
// papers of about 1 KB, beside a naive one-rule-at-a-time baseline (lower-case once,
// std::string::find per keyword), and the compile time of N watches.
#include <algorithm>
#include <cctype>

#include <benchmark/benchmark.h>

#include "bench/synthetic.h"
#include "fetchers/markdown_parser.h"

namespace digestd::bench {
namespace {

const std::vector<Paper>& Papers() {
  static const std::vector<Paper> papers = ParseMarkdownDigest(MarkdownDigest(10000)).digest.papers;
  return papers;
}

void RunCompiled(benchmark::State& state, const std::vector<WatchSpec>& specs) {
  auto matcher = WatchMatcher::Compile(specs);
  if (!matcher) {
    state.SkipWithError(matcher.error().message.c_str());
    return;
  }
  const std::vector<Paper>& papers = Papers();  // parsed before timing starts
  std::size_t hits = 0;
  WatchMatches matches;  // reused, as the planner does
  for (auto _ : state) {
    hits = 0;
    for (const Paper& p : papers) {
      matcher->Match(p, "hf-ko", &matches);
      hits += matches.hits.size();
    }
  }
  state.counters["papers/s"] = benchmark::Counter(
      double(papers.size()) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["hits/paper"] = double(hits) / double(papers.size());
}

void BM_CompiledMatcher(benchmark::State& state) {
  RunCompiled(state, KeywordWatches(int(state.range(0))));
}
BENCHMARK(BM_CompiledMatcher)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)
    ->Unit(benchmark::kMillisecond);

void BM_CompiledQueryMatcher(benchmark::State& state) {
  RunCompiled(state, QueryWatches(int(state.range(0))));
}
BENCHMARK(BM_CompiledQueryMatcher)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)
    ->Unit(benchmark::kMillisecond);

void BM_Compile(benchmark::State& state) {
  const auto keywords = KeywordWatches(int(state.range(0)));
  const auto queries = QueryWatches(int(state.range(0)));
  const auto& specs = state.range(1) ? queries : keywords;
  for (auto _ : state) {
    auto matcher = WatchMatcher::Compile(specs);
    benchmark::DoNotOptimize(matcher);
  }
}
BENCHMARK(BM_Compile)->ArgsProduct({{1000, 10000, 100000}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

std::string Lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void BM_NaiveMatcher(benchmark::State& state) {
  const auto watches = KeywordWatches(int(state.range(0)));
  std::vector<std::vector<std::string>> keywords;
  for (const auto& w : watches) {
    keywords.emplace_back();
    for (const auto& k : w.keywords) keywords.back().push_back(Lower(k));
  }
  // At large rule counts a sample of papers is timed and the rate reported per paper.
  const std::size_t sample = state.range(0) >= 10000 ? 200 : Papers().size();
  std::size_t hits = 0;
  for (auto _ : state) {
    hits = 0;
    for (std::size_t i = 0; i < sample; ++i) {
      const Paper& p = Papers()[i];
      std::string text = Lower(p.title);
      for (const auto& s : p.summary) (text += ' ') += Lower(s);
      for (const auto& ks : keywords) {
        hits += std::any_of(ks.begin(), ks.end(),
                            [&](const std::string& k) { return text.find(k) != std::string::npos; });
      }
    }
  }
  state.counters["papers/s"] =
      benchmark::Counter(double(sample) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["hits"] = double(hits);
}
BENCHMARK(BM_NaiveMatcher)->Arg(100)->Arg(1000)->Arg(10000)->Arg(100000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
