// Arbitrary bytes must give diagnostics, never a crash (the suite also runs under ASan+UBSan).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/config_loader.h"
#include "tests/support/parser_testing.h"
#include "tests/support/temp_dir.h"

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

// Issue 13, point 2: shapes that crashed or hung the loader before toml++ was guarded.
std::string Repeat(std::string_view piece, std::size_t count) {
  std::string out;
  out.reserve(piece.size() * count);
  for (std::size_t i = 0; i < count; ++i) out += piece;
  return out;
}

std::string Errors(const ConfigLoad& load) {
  std::string all;
  for (const ConfigDiagnostic& d : load.diagnostics) all += d.ToString() + "\n";
  return all;
}

TEST(ConfigFuzz, Issue13HostileShapesAreRefusedBeforeToml) {
  const std::string path = kData + "/fuzz.toml";
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"a" + Repeat(".a", 40000) + " = 1\n",
       "fuzz.toml:1:64: a dotted key of more than 32 parts: refused before parsing"},
      {"[daemon]\n[" + Repeat("b.", 40000) + "b]\n", "fuzz.toml:2:65: a dotted key of more"},
      {"x = { " + Repeat("c.", 40000) + "c = 1 }\n", "a dotted key of more than 32 parts"},
      {"\"" + std::string(2000, 'k') + "\" = 1\n", "a key longer than 1024 bytes"},
      {std::string(2000, 'k') + " = 1\n", "a key longer than 1024 bytes"},
      {Repeat("[[watch]]\n", 200001), "more than 200000 tables"},
      {"x = " + Repeat("[", 100000) + "\n", "nested more than 32 deep"},
      {"x = " + Repeat("{a=", 100000) + "\n", "nested more than 32 deep"},
      {"[daemon]\nstate = \"x\\u0000y.db\"\n",
       "\"state\": a path must not hold a NUL or other control character"},
      {"[daemon]\nstate = \"x\\ny.db\"\n", "a path must not hold a NUL or other control"},
      {"include = [\"a\\u0000b\"]\n", "\"include\": a path must not hold a NUL"},
  };
  for (const Case& c : cases) {
    const ConfigLoad load = LoadConfigText(c.text, path);
    EXPECT_FALSE(load.config) << c.error;
    EXPECT_NE(Errors(load).find(c.error), std::string::npos) << Errors(load);
  }
  // Strings and comments that look like those shapes are data, not keys.
  const std::string fine = ReadFixture("valid.toml") + "\n# " + Repeat("a.", 5000) +
                           "\n[[watch]]\nname = \"dots " + Repeat(".", 5000) +
                           "\"\nquery = '''" + Repeat("[x.y] {", 100) +
                           "'''\nnotify = [\"me\"]\n";
  const ConfigLoad load = LoadConfigText(fine, kData + "/valid.toml");
  EXPECT_EQ(Errors(load).find("refused before parsing"), std::string::npos) << Errors(load);
}

// Issue 12, point 6: the shape limits leave room for 100,000 watches (the table cap
// refused them once).
TEST(ConfigFuzz, Issue12AHundredThousandWatchesLoad) {
  std::string text = "[daemon]\nstate = \"state.db\"\n\n[[notifier]]\nname = \"me\"\n"
                     "kind = \"console\"\n";
  for (int i = 0; i < 100'000; ++i) {
    text += "[[watch]]\nname = \"w" + std::to_string(i) + "\"\nkeywords = [\"term" +
            std::to_string(i) + "\"]\nnotify = [\"me\"]\n";
  }
  const ConfigLoad load = LoadConfigText(text, kData + "/many.toml");
  ASSERT_TRUE(load.config) << Errors(load).substr(0, 2000);
  EXPECT_EQ(load.config->watches.size(), 100'000u);
}

TEST(ConfigFuzz, Issue13MutationsWithHostileShapesNeverCrash) {
  std::mt19937 rng(13);
  const std::string fixture = ReadFixture("valid.toml");
  const std::vector<std::string> tokens = {
      Repeat(".a", 3000), Repeat("[", 3000),   Repeat("{a=", 300), std::string(3000, 'k'),
      Repeat("[[watch]]\n", 300), "\\u0000", "\\u001b", "'''", "\"\"\"", "#", "\n"};
  for (int i = 0; i < 500; ++i) {
    ExpectSane(test::Mutate(fixture, rng, tokens), kData + "/valid.toml");
  }
}

TEST(ConfigFuzz, Issue13OnlyRegularFilesAreReadAndNoneBlocks) {
  test::TempDir dir;
  const std::string fifo = dir.path() + "/fifo.toml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer ever opens the FIFO: a blocking open would hang this test.
  ConfigLoad load = LoadConfig(fifo);
  EXPECT_NE(Errors(load).find("is a FIFO, not a regular file"), std::string::npos)
      << Errors(load);
  load = LoadConfig("/dev/null");
  EXPECT_NE(Errors(load).find("is a device, not a regular file"), std::string::npos)
      << Errors(load);

  const std::string main = dir.path() + "/digestd.toml";
  std::ofstream(main) << "include = [\"fifo.toml\", \"*.d\", \"/dev/null\"]\n"
                      << "[daemon]\nstate = \"state.db\"\n";
  std::filesystem::create_directory(dir.path() + "/sub.d");
  load = LoadConfig(main);
  EXPECT_FALSE(load.config);
  EXPECT_NE(Errors(load).find("fifo.toml\": is a FIFO, not a regular file"), std::string::npos)
      << Errors(load);
  EXPECT_NE(Errors(load).find("\"/dev/null\": is a device, not a regular file"),
            std::string::npos)
      << Errors(load);
}

}  // namespace
}  // namespace digestd
