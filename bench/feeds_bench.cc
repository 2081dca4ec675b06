// Parsing the structured upstreams (DESIGN.md §5): an hf-daily day of 30 items, a
// 10,000-item stress array, and a 10,000-item RSS 2.0 feed. Inputs are synthetic, generated
// here in the real layouts (FORMATS.md §2, §4).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>

#include "fetchers/arxiv_parser.h"
#include "fetchers/feed_parser.h"
#include "fetchers/hf_daily_parser.h"

namespace digestd::bench {
namespace {

const char* const kWords[] = {"sparse",    "attention",   "diffusion", "routing",   "tokenizer",
                              "alignment", "kelp",        "lantern",   "scaling",   "retrieval",
                              "agents",    "speculative", "decoding",  "benchmark", "latent"};

std::string Words(std::mt19937& rng, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    if (i > 0) out += ' ';
    out += kWords[rng() % std::size(kWords)];
  }
  return out;
}

std::string Id(int i) { return "2611." + std::to_string(10000 + i); }

// An hf-daily array with every optional field present, about 3 KB per item.
std::string HfDailyJson(int items) {
  std::mt19937 rng(7);
  std::string out = "[";
  for (int i = 0; i < items; ++i) {
    if (i > 0) out += ',';
    out += R"({"paper":{"id":")" + Id(i) + R"(","authors":[)";
    for (int a = 0; a < 6; ++a) {
      if (a > 0) out += ',';
      out += R"({"_id":"a)" + std::to_string(a) + R"(","name":"Author )" + std::to_string(a) +
             R"( Name","hidden":false})";
    }
    out += R"(],"publishedAt":"2026-11-10T00:00:00.000Z","submittedOnDailyAt":)"
           R"("2026-11-11T00:00:00.000Z","title":")" +
           Words(rng, 9) + R"(","summary":")" + Words(rng, 180) + R"(","upvotes":)" +
           std::to_string(rng() % 200) + R"(,"discussionId":"d","ai_summary":")" + Words(rng, 25) +
           R"(","ai_keywords":[")" + Words(rng, 2) + R"(",")" + Words(rng, 2) +
           R"("],"githubRepo":"https://github.com/example/r)" + std::to_string(i) +
           R"(","githubStars":12},"publishedAt":"2026-11-10T04:00:00.000Z","title":"t",)"
           R"("thumbnail":"https://cdn.example.org/papers/)" +
           Id(i) + R"(.png","numComments":2,"organization":{"name":"org"}})";
  }
  return out + "]";
}

// An arXiv-style RSS 2.0 feed, about 1.5 KB per item.
std::string RssFeed(int items) {
  std::mt19937 rng(11);
  std::string out =
      "<?xml version='1.0' encoding='UTF-8'?>\n<rss xmlns:arxiv=\"http://arxiv.org/schemas/atom\" "
      "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" version=\"2.0\">\n<channel>\n"
      "<title>cs.LG updates</title><link>http://rss.arxiv.org/rss/cs.LG</link>\n"
      "<pubDate>Thu, 12 Nov 2026 00:00:00 -0500</pubDate>\n";
  for (int i = 0; i < items; ++i) {
    out += "<item><title>" + Words(rng, 9) + "</title><link>https://arxiv.org/abs/" + Id(i) +
           "</link><description>arXiv:" + Id(i) +
           "v1 Announce Type: new \nAbstract: " + Words(rng, 180) +
           " &lt;1 ms &amp; more</description><guid isPermaLink=\"false\">"
           "oai:arXiv.org:" +
           Id(i) +
           "v1</guid><category>cs.LG</category>"
           "<category>cs.AI</category><pubDate>Thu, 12 Nov 2026 00:00:00 -0500</pubDate>"
           "<arxiv:announce_type>new</arxiv:announce_type><dc:creator>Ada One, Bo Two, "
           "Cy Three</dc:creator></item>\n";
  }
  return out + "</channel>\n</rss>\n";
}

void Run(benchmark::State& state, const std::string& input,
         ParseResult (*parse)(std::string_view, const ParseBudget&)) {
  std::size_t papers = 0;
  for (auto _ : state) {
    ParseResult result = parse(input, ParseBudget{});
    papers = result.digest.papers.size();
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(input.size()));
  state.counters["papers/s"] =
      benchmark::Counter(double(papers) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_ParseHfDaily(benchmark::State& state) {
  Run(state, HfDailyJson(int(state.range(0))), ParseHfDaily);
}
BENCHMARK(BM_ParseHfDaily)->Arg(30)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_ParseArxivRss(benchmark::State& state) {
  Run(state, RssFeed(int(state.range(0))), ParseArxiv);
}
BENCHMARK(BM_ParseArxivRss)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_ParseGenericRss(benchmark::State& state) {
  Run(state, RssFeed(int(state.range(0))), ParseFeed);
}
BENCHMARK(BM_ParseGenericRss)->Arg(10000)->Unit(benchmark::kMillisecond);

// The same feed as a fetched body is read (Source::Parse): in two parts at once, on this
// thread and a helper.
void BM_ParseGenericRssInHalves(benchmark::State& state) {
  const std::string input = RssFeed(int(state.range(0)));
  Run(state, input, [](std::string_view bytes, const ParseBudget& budget) {
    return ParseFeed(RereadableOf(bytes), budget);
  });
}
BENCHMARK(BM_ParseGenericRssInHalves)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace digestd::bench

BENCHMARK_MAIN();
