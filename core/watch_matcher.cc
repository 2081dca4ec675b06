// WatchMatcher: every literal of every watch in one Aho-Corasick automaton, authors in a
// hash index by surname. A paper's fields are folded and scanned once; each raw hit is
// checked against its term's boundary rule, and only the watches owning a verified hit are
// evaluated, so cost follows the hits, not the number of watches.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/aho_corasick.h"
#include "core/text.h"
#include "core/watch.h"

namespace digestd {
namespace {

enum class Field : std::uint8_t { kTitle, kSummary, kTag, kAuthor };

// Ordered so that a watch's hit list reads keywords first, then authors.
enum class Kind : std::uint8_t { kKeyword, kAuthor, kExclude };

constexpr std::string_view FieldName(Field f) {
  switch (f) {
    case Field::kTitle:
      return "title";
    case Field::kSummary:
      return "summary";
    case Field::kTag:
      return "tag";
    case Field::kAuthor:
      return "author";
  }
  return "";
}

// One selector of one watch that a term or author rule stands for.
struct Owner {
  std::uint32_t watch = 0;
  std::uint32_t slot = 0;  // index into the watch's keywords / authors / exclude
  Kind kind = Kind::kKeyword;
};

// A distinct (folded text, prefix) literal; its index is its automaton pattern number.
struct Term {
  BoundaryRule boundary;
  std::vector<Owner> owners;
};

struct AuthorRule {
  AuthorName name;
  Owner owner;
};

// A selector that hit, before grouping by watch.
struct Event {
  std::uint32_t watch;
  Kind kind;
  std::uint32_t slot;
  Field field;
  auto operator<=>(const Event&) const = default;
};

// A keyword or exclude entry: folded, with a trailing `*` meaning "prefix" (`\*` at the end
// is a literal star).
struct ParsedTerm {
  std::string folded;
  bool prefix = false;
};

ParsedTerm ParseTerm(std::string_view raw) {
  ParsedTerm term{FoldText(raw), false};
  std::string& t = term.folded;
  if (t.size() >= 2 && t.ends_with("\\*")) {
    t.erase(t.size() - 2, 1);
  } else if (!t.empty() && t.back() == '*') {
    t.pop_back();
    term.prefix = true;
    while (!t.empty() && t.back() == ' ') t.pop_back();
  }
  return term;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

struct WatchMatcher::Impl {
  std::vector<WatchSpec> specs;
  AhoCorasick automaton;
  std::vector<Term> terms;
  // One-token rule names by their token; longer ones by surname. Kept apart so that a
  // one-token name never meets a longer rule with the same last token.
  std::unordered_map<std::string, std::vector<AuthorRule>> single_authors;
  std::unordered_map<std::string, std::vector<AuthorRule>> multi_authors;

  // Scans one folded field and appends a (term, field) pair for every occurrence that meets
  // its term's boundary rule.
  void ScanField(std::string_view folded, Field field,
                 std::vector<std::pair<std::uint32_t, Field>>* hits) const {
    automaton.Scan(folded, [&](std::size_t pattern, std::size_t end) {
      const std::size_t length = pattern_lengths[pattern];
      if (!hits->empty() && hits->back().first == pattern && hits->back().second == field) {
        return;  // already verified in this field
      }
      if (MeetsBoundary(folded, end - length, end, terms[pattern].boundary)) {
        hits->emplace_back(static_cast<std::uint32_t>(pattern), field);
      }
    });
  }

  std::vector<std::size_t> pattern_lengths;
};

Result<WatchMatcher> WatchMatcher::Compile(std::vector<WatchSpec> specs) {
  auto impl = std::make_unique<Impl>();
  std::map<std::pair<std::string, bool>, std::uint32_t> term_ids;
  std::vector<std::string> patterns;

  auto add_term = [&](const WatchSpec& spec, std::string_view raw, std::string_view what,
                      Owner owner) -> Status {
    ParsedTerm parsed = ParseTerm(raw);
    if (parsed.folded.empty()) {
      return Unexpected("watch " + Quote(spec.name) + ": " + std::string(what) + " " + Quote(raw) +
                        " is empty after normalisation");
    }
    auto key = std::make_pair(parsed.folded, parsed.prefix);
    auto [it, inserted] = term_ids.emplace(key, static_cast<std::uint32_t>(patterns.size()));
    if (inserted) {
      impl->terms.push_back(Term{BoundaryFor(parsed.folded, parsed.prefix), {}});
      impl->pattern_lengths.push_back(parsed.folded.size());
      patterns.push_back(std::move(parsed.folded));
    }
    impl->terms[it->second].owners.push_back(owner);
    return Ok();
  };

  for (std::uint32_t w = 0; w < specs.size(); ++w) {
    const WatchSpec& spec = specs[w];
    if (!spec.query.empty()) {
      return Unexpected("watch " + Quote(spec.name) +
                        ": query is not supported yet; use keywords, authors and exclude");
    }
    for (std::uint32_t i = 0; i < spec.keywords.size(); ++i) {
      if (Status s = add_term(spec, spec.keywords[i], "keyword", {w, i, Kind::kKeyword}); !s) {
        return Unexpected(s.error());
      }
    }
    for (std::uint32_t i = 0; i < spec.exclude.size(); ++i) {
      if (Status s = add_term(spec, spec.exclude[i], "exclude", {w, i, Kind::kExclude}); !s) {
        return Unexpected(s.error());
      }
    }
    for (std::uint32_t i = 0; i < spec.authors.size(); ++i) {
      AuthorName name = NormalizeAuthorName(spec.authors[i]);
      if (name.empty()) {
        return Unexpected("watch " + Quote(spec.name) + ": author " + Quote(spec.authors[i]) +
                          " is empty after normalisation");
      }
      auto& index = name.given.empty() ? impl->single_authors : impl->multi_authors;
      const std::string key = name.surname;
      index[key].push_back(AuthorRule{std::move(name), Owner{w, i, Kind::kAuthor}});
    }
  }

  Result<AhoCorasick> automaton = AhoCorasick::Build(patterns);
  if (!automaton) return Unexpected(automaton.error());
  impl->automaton = std::move(*automaton);
  impl->specs = std::move(specs);
  return WatchMatcher(std::move(impl));
}

std::vector<WatchHit> WatchMatcher::Match(const Paper& paper, std::string_view source) const {
  const Impl& m = *impl_;
  std::vector<std::pair<std::uint32_t, Field>> hits;
  m.ScanField(FoldText(paper.title), Field::kTitle, &hits);
  for (const std::string& bullet : paper.summary) {
    m.ScanField(FoldText(CleanSummary(bullet)), Field::kSummary, &hits);
  }
  for (const std::string& tag : paper.tags) m.ScanField(FoldText(tag), Field::kTag, &hits);
  std::sort(hits.begin(), hits.end());
  hits.erase(std::unique(hits.begin(), hits.end()), hits.end());

  std::vector<Event> events;
  for (const auto& [term, field] : hits) {
    for (const Owner& o : m.terms[term].owners) events.push_back({o.watch, o.kind, o.slot, field});
  }
  if (!m.single_authors.empty() || !m.multi_authors.empty()) {
    for (const std::string& author : paper.authors) {
      const AuthorName listed = NormalizeAuthorName(author);
      if (listed.empty()) continue;
      const auto& index = listed.given.empty() ? m.single_authors : m.multi_authors;
      const auto it = index.find(listed.surname);
      if (it == index.end()) continue;
      for (const AuthorRule& rule : it->second) {
        if (AuthorNamesMatch(rule.name, listed)) {
          events.push_back({rule.owner.watch, Kind::kAuthor, rule.owner.slot, Field::kAuthor});
        }
      }
    }
  }
  std::sort(events.begin(), events.end());
  events.erase(std::unique(events.begin(), events.end()), events.end());

  std::vector<WatchHit> result;
  for (std::size_t i = 0; i < events.size();) {
    std::size_t j = i;
    while (j < events.size() && events[j].watch == events[i].watch) ++j;
    // Within a watch, events sort keywords, then authors, then excludes.
    const bool excluded = events[j - 1].kind == Kind::kExclude;
    const bool positive = events[i].kind != Kind::kExclude;
    const WatchSpec& spec = m.specs[events[i].watch];
    const bool source_ok =
        spec.sources.empty() ||
        std::find(spec.sources.begin(), spec.sources.end(), source) != spec.sources.end();
    if (positive && !excluded && source_ok) {
      WatchHit hit{.watch = events[i].watch, .terms = {}};
      for (std::size_t k = i; k < j; ++k) {
        const Event& e = events[k];
        if (e.kind == Kind::kKeyword) {
          hit.terms.push_back("keyword:" + spec.keywords[e.slot] + " (" +
                              std::string(FieldName(e.field)) + ")");
        } else if (e.kind == Kind::kAuthor) {
          hit.terms.push_back("author:" + spec.authors[e.slot]);
        }
      }
      result.push_back(std::move(hit));
    }
    i = j;
  }
  return result;
}

const std::vector<WatchSpec>& WatchMatcher::specs() const { return impl_->specs; }

WatchMatcher::WatchMatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WatchMatcher::WatchMatcher(WatchMatcher&&) noexcept = default;
WatchMatcher& WatchMatcher::operator=(WatchMatcher&&) noexcept = default;
WatchMatcher::~WatchMatcher() = default;

}  // namespace digestd
