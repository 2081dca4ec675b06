// Rendering one digest email (issue 8): a 20-, 100- and 1,000-paper digest-grouped
// notification through the email channel's message builder (renderer, cmark-gfm, MIME,
// base64), over the synthetic digest every benchmark uses. Counters: the message size and
// the papers shown in full in the HTML (the rest become links and "and N more").
#include <benchmark/benchmark.h>

#include "bench/synthetic.h"
#include "core/notification.h"
#include "fetchers/markdown_parser.h"
#include "notifiers/email.h"
#include "notifiers/email_render.h"

namespace digestd {
namespace {

Notification DigestNotification(int papers) {
  const ParseResult parsed = ParseMarkdownDigest(bench::MarkdownDigest(papers));
  std::vector<Notification> instants;
  const std::vector<std::string> watches = {"speculative decoding", "희소 어텐션", "agents"};
  for (std::size_t i = 0; i < parsed.digest.papers.size(); ++i) {
    Notification n;
    n.notifier = "me";
    n.event = "new";
    n.watches = {watches[i % watches.size()]};
    if (i % 5 == 0) n.watches.push_back(watches[(i + 1) % watches.size()]);
    n.dedupe_key = "me-" + std::to_string(i);
    n.digest_url = "https://huggingface.co/papers?date=2024-01-29";
    n.papers.push_back({.paper = parsed.digest.papers[i], .source = "hf-ko",
                        .date = "2024-01-29"});
    instants.push_back(std::move(n));
  }
  return GroupByDigest(std::move(instants), {"me"}).front();
}

void BM_RenderEmail(benchmark::State& state) {
  const int papers = int(state.range(0));
  const Notification n = DigestNotification(papers);
  const EmailSettings settings{.url = "smtps://mail.example.org",
                               .from = "digestd <bot@example.org>",
                               .to = {"김민준 <minjun@example.org>"},
                               .subject_prefix = "[논문]"};
  const RenderContext context{.id = n.id, .now = 1706515200};
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto message = BuildEmailMessage(n, context, "me", settings, papers);
    bytes = message->size();
    benchmark::DoNotOptimize(message);
  }
  const EmailContent content = RenderEmailContent(n, {.max_papers = papers});
  state.counters["message_bytes"] = double(bytes);
  state.counters["html_bytes"] = double(content.html.size());
  state.counters["text_bytes"] = double(content.text.size());
  state.counters["cards"] = content.cards;
  state.counters["links"] = content.links;
  state.SetItemsProcessed(state.iterations() * papers);
}
BENCHMARK(BM_RenderEmail)->Arg(20)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace digestd

BENCHMARK_MAIN();
