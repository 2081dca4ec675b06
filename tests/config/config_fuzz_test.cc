// Arbitrary bytes must give diagnostics, never a crash (the suite also runs under ASan+UBSan).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "config/config_loader.h"

namespace digestd {
namespace {

const std::string kData = std::string(DIGESTD_TEST_DATA) + "/config";

std::string ReadFixture(const std::string& name) {
  std::ifstream in(kData + "/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void ExpectSane(const std::string& text, const std::string& path) {
  ConfigLoad load = LoadConfigText(text, path);
  if (!load.config) {
    bool has_error = false;
    for (const ConfigDiagnostic& d : load.diagnostics) has_error = has_error || !d.warning;
    EXPECT_TRUE(has_error) << "failed without an error for:\n" << text;
  }
  for (const ConfigDiagnostic& d : load.diagnostics) EXPECT_FALSE(d.ToString().empty());
}

TEST(ConfigFuzz, RandomBytesNeverCrash) {
  std::mt19937 rng(20240129);
  const std::string path = kData + "/fuzz.toml";  // never read: the text stands for it
  for (int i = 0; i < 3000; ++i) {
    std::string text(rng() % 200, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 256);
    ExpectSane(text, path);
  }
}

TEST(ConfigFuzz, MutatedFixturesNeverCrash) {
  std::mt19937 rng(7);
  const std::vector<std::string> fixtures = {ReadFixture("valid.toml"),
                                             ReadFixture("watches.d/20-agents.toml"),
                                             ReadFixture("bad_include.toml")};
  // Pieces that steer mutations into the loader's own checks rather than TOML syntax errors.
  const std::vector<std::string> tokens = {"\"",
                                           "=",
                                           "[",
                                           "]",
                                           "{",
                                           "}",
                                           "\n",
                                           "[[watch]]\n",
                                           "[[source]]\n",
                                           "[[notifier]]\n",
                                           "[daemon]\n",
                                           "${HOME}",
                                           "${NOPE_NOT_SET}",
                                           "_file",
                                           "*",
                                           "/",
                                           "-",
                                           "0",
                                           "99999999999999",
                                           "-1",
                                           "\"\"",
                                           "name",
                                           "kind",
                                           "url",
                                           "notify",
                                           "timezone",
                                           "schedule",
                                           "@daily",
                                           "latest:",
                                           "{date:%",
                                           "1h30m",
                                           "GiB",
                                           "\xff",
                                           "\xe2\x82",
                                           "true",
                                           "1.5",
                                           "1979-05-27",
                                           "[]",
                                           "{}"};
  for (int i = 0; i < 3000; ++i) {
    std::string text = fixtures[rng() % fixtures.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const std::size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0:
          text.erase(at, 1 + rng() % 12);
          break;
        case 1:
          text.insert(at, tokens[rng() % tokens.size()]);
          break;
        case 2:
          text[at] = static_cast<char>(rng() % 256);
          break;
        default: {
          const std::size_t from = rng() % text.size();
          text.insert(at, text.substr(from, 1 + rng() % 40));
        }
      }
    }
    ExpectSane(text, kData + "/valid.toml");
  }
}

}  // namespace
}  // namespace digestd
