// The hot loops over text (issue 12, point 3): UTF-8 validation of a fetched body, JSON
// quoting of a paper's strings (each snapshot and each rendered line quotes them all) and
// folding for the matcher, on a synthetic 10,000-paper day (Korean bullets mixed with English
// terms, as the real digests are) and on its ASCII-only part.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/synthetic.h"
#include "core/json_writer.h"
#include "core/text.h"
#include "core/utf8.h"
#include "fetchers/markdown_parser.h"

namespace digestd::bench {
namespace {

const std::string& Day() {
  static const std::string text = MarkdownDigest(10000);
  return text;
}

// Every string of every paper of the day: titles, URLs, names, bullets.
const std::vector<std::string>& DayStrings() {
  static const std::vector<std::string> strings = [] {
    std::vector<std::string> out;
    for (const Paper& p : ParseMarkdownDigest(Day()).digest.papers) {
      out.push_back(p.key);
      out.push_back(p.title);
      out.push_back(p.url);
      out.push_back(p.media_url);
      for (const std::string& a : p.authors) out.push_back(a);
      for (const std::string& s : p.summary) out.push_back(s);
    }
    return out;
  }();
  return strings;
}

std::int64_t TotalBytes(const std::vector<std::string>& strings) {
  std::int64_t n = 0;
  for (const std::string& s : strings) n += std::int64_t(s.size());
  return n;
}

void BM_ValidUtf8(benchmark::State& state) {
  const std::string& text = Day();
  for (auto _ : state) benchmark::DoNotOptimize(IsValidUtf8(text));
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(text.size()));
}
BENCHMARK(BM_ValidUtf8)->Unit(benchmark::kMillisecond);

void BM_JsonQuote(benchmark::State& state) {
  const std::vector<std::string>& strings = DayStrings();
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const std::string& s : strings) AppendJsonQuoted(out, s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * TotalBytes(strings));
}
BENCHMARK(BM_JsonQuote)->Unit(benchmark::kMillisecond);

void BM_FoldText(benchmark::State& state) {
  const std::vector<std::string>& strings = DayStrings();
  for (auto _ : state) {
    for (const std::string& s : strings) benchmark::DoNotOptimize(FoldText(s));
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * TotalBytes(strings));
}
BENCHMARK(BM_FoldText)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
