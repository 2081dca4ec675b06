#include "bench/synthetic.h"

#include <cstdio>
#include <random>

namespace digestd::bench {
namespace {

const std::vector<std::string>& KoreanWords() {
  static const std::vector<std::string> words = {
      "모델은", "희소화", "추론을", "데이터셋에서", "성능이", "향상된다", "제안한다", "학습",
      "언어모델을", "실험에서", "효율적인", "방법을", "벤치마크", "정확도", "비용을", "줄인다"};
  return words;
}

}  // namespace

const std::vector<std::string>& Vocabulary() {
  static const std::vector<std::string> words = {
      "LLM", "transformer", "diffusion", "sparsity", "speculative", "decoding", "retrieval",
      "agent", "reasoning", "vision", "robot", "quantization", "pruning", "alignment", "RLHF",
      "benchmark", "video", "audio", "MoE", "attention", "kernel", "compiler", "graph", "token",
      "memory", "long-context", "multimodal", "embedding", "distillation", "safety"};
  return words;
}

std::string MarkdownDigest(int papers, const std::string& date, unsigned seed) {
  std::mt19937 rng(seed);
  const auto& vocab = Vocabulary();
  const auto& korean = KoreanWords();
  auto pick = [&](const std::vector<std::string>& v) -> const std::string& {
    return v[rng() % v.size()];
  };
  std::string out = "## Daily Papers (" + date + ")\n\n";
  out.reserve(std::size_t(papers) * 1100 + 64);
  char id[32];
  for (int i = 0; i < papers; ++i) {
    std::snprintf(id, sizeof id, "%02u%02u.%05d", unsigned(20 + rng() % 6), unsigned(1 + rng() % 12),
                  i % 100000);
    out += "### [" + pick(vocab) + " " + pick(vocab) + ": Scaling " + pick(vocab) + " with " +
           pick(vocab) + " for " + pick(vocab) + "](https://arxiv.org/abs/" + id + ")\n\n";
    out += "![](https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/" +
           std::string(id) + ".png)\n\n";
    out += "Vote: " + std::to_string(rng() % 120) + "\n\n";
    out += "Authors: ";
    for (int a = 0, n = 2 + int(rng() % 6); a < n; ++a) {
      out += (a ? ", " : "") + std::string("Author") + std::to_string(rng() % 5000) + " Name" +
             std::to_string(rng() % 300);
    }
    out += "\n\n";
    for (int b = 0; b < 3; ++b) {
      out += "- ***Label***: ";
      for (int w = 0; w < 22; ++w) {
        out += (w % 4 == 0) ? pick(vocab) + "을 " : pick(korean) + " ";
      }
      out += "\n";
    }
    out += "\n";
  }
  return out;
}

std::string HfDailyJson(int papers, const std::string& date, unsigned seed) {
  std::mt19937 rng(seed);
  const auto& vocab = Vocabulary();
  auto sentence = [&](int words) {
    std::string text;
    for (int w = 0; w < words; ++w) text += (w ? " " : "") + vocab[rng() % vocab.size()];
    return text + ".";
  };
  std::string out = "[";
  out.reserve(std::size_t(papers) * 3300 + 2);
  char id[32];
  for (int i = 0; i < papers; ++i) {
    std::snprintf(id, sizeof id, "%02u%02u.%05d", unsigned(20 + rng() % 6), unsigned(1 + rng() % 12),
                  i % 100000);
    const std::string title = sentence(6 + int(rng() % 9));
    std::string abstract;
    for (int s = 0; s < 6; ++s) abstract += (s ? " " : "") + sentence(10 + int(rng() % 16));
    std::string authors;
    for (int a = 0, n = 2 + int(rng() % 11); a < n; ++a) {
      authors += std::string(a ? "," : "") + "{\"_id\":\"" + std::to_string(rng()) +
                 "\",\"name\":\"Author" + std::to_string(rng() % 5000) + " Name" +
                 std::to_string(rng() % 300) + "\",\"hidden\":false}";
    }
    std::string keywords;
    for (int k = 0; k < 5; ++k) keywords += std::string(k ? "," : "") + "\"" + vocab[rng() % vocab.size()] + "\"";
    const std::string day = "\"" + date + "T03:14:15.926Z\"";
    out += std::string(i ? "," : "") + "{\"paper\":{\"id\":\"" + id + "\",\"authors\":[" + authors +
           "],\"mediaUrls\":[\"https://cdn-uploads.huggingface.co/production/uploads/" + id +
           ".png\"],\"publishedAt\":" + day + ",\"submittedOnDailyAt\":" + day +
           ",\"title\":\"" + title + "\",\"summary\":\"" + abstract +
           "\",\"upvotes\":" + std::to_string(rng() % 300) + ",\"ai_summary\":\"" +
           sentence(20) + "\",\"ai_keywords\":[" + keywords +
           "],\"githubRepo\":\"https://github.com/example/" + id +
           "\",\"githubStars\":" + std::to_string(rng() % 5000) + "},\"publishedAt\":" + day +
           ",\"title\":\"" + title + "\",\"summary\":\"" + abstract +
           "\",\"thumbnail\":\"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/" +
           id + ".png\",\"numComments\":" + std::to_string(rng() % 10) +
           ",\"submittedBy\":{\"_id\":\"x\",\"fullname\":\"Sub Mitter\",\"name\":\"sub\"," +
           "\"type\":\"user\"},\"isAuthorParticipating\":false}";
  }
  return out + "]";
}

std::vector<WatchSpec> KeywordWatches(int count, unsigned seed) {
  std::mt19937 rng(seed);
  const auto& vocab = Vocabulary();
  std::vector<WatchSpec> specs;
  specs.reserve(std::size_t(count));
  for (int i = 0; i < count; ++i) {
    WatchSpec w;
    w.name = "watch " + std::to_string(i);
    // Mostly rare made-up terms (as real interests are), some vocabulary hits.
    if (rng() % 10 == 0) {
      w.keywords = {vocab[rng() % vocab.size()]};
    } else {
      w.keywords = {"term" + std::to_string(rng() % 1000000), "phrase " + std::to_string(i)};
    }
    if (rng() % 4 == 0) w.authors = {"Author" + std::to_string(rng() % 5000) + " Name1"};
    w.notify = {"log"};
    specs.push_back(std::move(w));
  }
  return specs;
}

std::vector<WatchSpec> QueryWatches(int count, unsigned seed) {
  std::mt19937 rng(seed);
  const auto& vocab = Vocabulary();
  auto word = [&] { return vocab[rng() % vocab.size()]; };
  auto rare = [&] { return "term" + std::to_string(rng() % 1000000); };
  std::vector<WatchSpec> specs;
  specs.reserve(std::size_t(count));
  for (int i = 0; i < count; ++i) {
    WatchSpec w;
    w.name = "query " + std::to_string(i);
    switch (rng() % 10) {
      case 0:
        w.query = "title:" + word() + " AND (" + word() + " OR " + rare() + "*) -survey";
        break;
      case 1:
        w.query = "\"" + word() + " " + word() + "\" OR summary:" + word() + " votes>=" +
                  std::to_string(rng() % 100);
        break;
      default:
        w.query = "title:\"" + rare() + " " + rare() + "\" OR (" + rare() + " AND NOT " + word() +
                  ") OR author:\"Author" + std::to_string(rng() % 5000) + " Name" +
                  std::to_string(rng() % 300) + "\"";
        break;
    }
    w.notify = {"log"};
    specs.push_back(std::move(w));
  }
  return specs;
}

}  // namespace digestd::bench
