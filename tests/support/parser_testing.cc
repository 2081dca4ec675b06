#include "tests/support/parser_testing.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>

#include "core/utf8.h"
#include "tests/support/temp_dir.h"

namespace digestd::test {

std::string ReadTestData(const std::string& relative_path) {
  const std::string path = std::string(DIGESTD_TEST_DATA) + "/" + relative_path;
  EXPECT_TRUE(std::filesystem::is_regular_file(path)) << "no test data at " << path;
  return ReadFile(path);
}

bool AllFieldsValidUtf8(const ParseResult& result) {
  bool ok = IsValidUtf8(result.digest.date);
  for (const Paper& p : result.digest.papers) {
    ok = ok && IsValidUtf8(p.key) && IsValidUtf8(p.title) && IsValidUtf8(p.url) &&
         IsValidUtf8(p.media_url) && IsValidUtf8(p.version);
    for (const auto* list : {&p.authors, &p.summary, &p.tags}) {
      for (const std::string& s : *list) ok = ok && IsValidUtf8(s);
    }
    for (const auto& [name, value] : p.extra) ok = ok && IsValidUtf8(name) && IsValidUtf8(value);
  }
  for (const ParseWarning& w : result.warnings) ok = ok && IsValidUtf8(w.message);
  return ok;
}

std::string Mutate(std::string doc, std::mt19937& rng, std::span<const std::string> pieces,
                   int max_edits) {
  const int edits = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_edits));
  for (int e = 0; e < edits && !doc.empty(); ++e) {
    const std::size_t at = rng() % doc.size();
    switch (rng() % 5) {
      case 0:
        doc[at] = static_cast<char>(rng() & 0xFF);
        break;
      case 1:
        if (!pieces.empty()) doc.insert(at, pieces[rng() % pieces.size()]);
        break;
      case 2:
        doc.erase(at, 1 + rng() % 32);
        break;
      case 3:
        doc.insert(at, doc.substr(rng() % doc.size(), rng() % 200));
        break;
      default:
        doc.resize(at);
        break;
    }
  }
  return doc;
}

std::vector<std::string> BytePieces(std::string_view chars) {
  std::vector<std::string> pieces;
  for (const char c : chars) pieces.emplace_back(1, c);
  return pieces;
}

void ExpectPiecesReadAsOne(const PiecesCheck& check,
                           const std::function<ParseResult(const ByteSource&)>& parse,
                           const std::function<std::string(const ParseResult&)>& shown) {
  std::mt19937 rng(check.seed);
  const int seeds = int(check.docs.size());
  for (int round = 0; round < check.rounds; ++round) {
    const std::string& seed = check.docs[std::size_t(round % seeds)];
    const std::string doc =
        round < check.as_is * seeds ? seed : Mutate(seed, rng, check.specials);
    const std::size_t piece = round % 3 == 0 ? 1 + rng() % check.small : 1 + rng() % check.large;
    const ParseResult whole = parse(PiecesOf(doc, doc.size() + 1));
    const ParseResult pieces = parse(PiecesOf(doc, piece));
    ASSERT_EQ(pieces.digest.papers, whole.digest.papers) << "round " << round << ", " << piece;
    ASSERT_EQ(shown(pieces), shown(whole)) << "round " << round << ", pieces of " << piece;
  }
}

}  // namespace digestd::test
