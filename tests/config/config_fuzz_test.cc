// Arbitrary bytes must give diagnostics, never a crash (the suite also runs under ASan+UBSan).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "config/config_loader.h"
#include "tests/support/parser_testing.h"

namespace digestd {
namespace {

const std::string kData = std::string(DIGESTD_TEST_DATA) + "/config";

std::string ReadFixture(const std::string& name) { return test::ReadTestData("config/" + name); }

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
                                           "{}",
                                           "webhook",
                                           "exec",
                                           "secret",
                                           "whsec_",
                                           "command",
                                           "http://",
                                           "[::1]",
                                           "group",
                                           "template_file",
                                           "ca_file"};
  for (int i = 0; i < 3000; ++i) {
    const std::string text = test::Mutate(fixtures[rng() % fixtures.size()], rng, tokens);
    ExpectSane(text, kData + "/valid.toml");
  }
}

}  // namespace
}  // namespace digestd
