// Validates real bodies rendered by the webhook and exec channels against
// docs/webhook.schema.json with Debian's python3-jsonschema, and checks their signatures with
// the Python snippet of docs/webhook.md (tests/data/notifiers/check_webhook.py). A missing
// python3-jsonschema fails these tests: it is in scripts/install-deps.sh.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "notifiers/registry.h"
#include "notifiers/webhook.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using test::ContextFor;
using test::MakeNotifierConfig;

// The second of the two secrets the notifier signs with: a receiver that already moved to
// it during a rotation.
constexpr char kReceiverSecret[] = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct CheckRun {
  int exit_code = -1;
  std::string output;
};

// Runs the checker with Debian's Python (the python3 first on PATH may lack its packages).
CheckRun Check(const std::vector<std::string>& bodies) {
  const std::string data = DIGESTD_TEST_DATA;
  std::string command = "/usr/bin/python3 '" + data + "/notifiers/check_webhook.py' --schema '" +
                        data + "/../../docs/webhook.schema.json' --doc '" + data +
                        "/../../docs/webhook.md' --secret '" + kReceiverSecret + "'";
  for (const std::string& body : bodies) command += " '" + body + "'";
  command += " 2>&1";
  CheckRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class WebhookSchema : public ::testing::Test {
 protected:
  // Writes `p`'s body as NAME.json and its headers (lower-case names) as NAME.headers.json.
  std::string Write(const std::string& name, const Payload& p) {
    JsonWriter headers;
    headers.BeginObject();
    for (const auto& [key, value] : p.headers) {
      std::string lower = key;
      for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
      headers.Key(lower).String(value);
    }
    headers.EndObject();
    if (!p.headers.empty()) dir_.Write(name + ".headers.json", headers.str());
    return dir_.Write(name + ".json", p.body);
  }

  std::vector<Payload> Render(const NotifierConfig& config, const Notification& n) {
    return test::RenderWith(config, n);
  }

  NotifierConfig Webhook(int max_papers = 50) {
    NotifierConfig config = MakeNotifierConfig(
        "hook",
        WebhookSettings{.url = "https://hooks.example.com/x",
                        .secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", kReceiverSecret}});
    config.max_papers = max_papers;
    return config;
  }

  test::TempDir dir_;
};

TEST_F(WebhookSchema, RenderedBodiesValidateAndVerify) {
  std::vector<std::string> files;
  auto add = [&](const std::string& name, const std::vector<Payload>& payloads) {
    ASSERT_FALSE(payloads.empty()) << name;
    for (std::size_t k = 0; k < payloads.size(); ++k) {
      files.push_back(Write(name + "-" + std::to_string(k), payloads[k]));
    }
  };
  add("instant", Render(Webhook(), test::MakeInstant()));
  add("digest", Render(Webhook(3), test::MakeDigestGrouped()));
  add("alert", Render(Webhook(), test::MakeAlert()));
  const std::vector<Payload> split = Render(Webhook(), test::MakeLarge(12, 4096));
  EXPECT_GT(split.size(), 2u);
  add("split", split);
  add("shortened", Render(Webhook(), test::MakeLarge(2, 40'000)));

  // A paper with every optional field empty: nulls and empty arrays.
  Notification sparse = test::MakeInstant();
  sparse.papers[0] = {.paper = Paper{.key = "https://example.org/p/1", .title = "T", .url = ""}};
  add("sparse", Render(Webhook(), sparse));

  Notification recovered = test::MakeAlert();
  recovered.event = "source_recovered";
  recovered.message = "";
  add("recovered", Render(Webhook(), recovered));

  add("exec", Render(MakeNotifierConfig("script", ExecSettings{.command = {"/bin/cat"}}),
                     test::MakeDigestGrouped()));

  // A template_file adds "text" (issue 9 point 5): still the documented schema, also split.
  NotifierConfig templated = Webhook(3);
  templated.template_file = "/etc/digestd/hook.mustache";
  templated.template_text = "{{! heading }}\n{{count}} papers\n{{! paper }}\n{{title}} \"{{url}}\"\n";
  add("templated", Render(templated, test::MakeDigestGrouped()));
  templated.max_papers = 50;
  const std::vector<Payload> templated_split = Render(templated, test::MakeLarge(12, 4096));
  EXPECT_GT(templated_split.size(), 2u);
  add("templated-split", templated_split);

  const CheckRun run = Check(files);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // The checker really looked at every file.
  for (const std::string& file : files) {
    EXPECT_NE(run.output.find("ok " + file), std::string::npos) << file << "\n" << run.output;
  }
}

// The check can fail: a body missing a member, one with a member the schema does not name,
// a wrong type, and a body changed after signing are all caught.
TEST_F(WebhookSchema, TheCheckCatchesBadBodiesAndSignatures) {
  const Payload good = Render(Webhook(), test::MakeInstant()).at(0);
  auto replace = [](std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  const struct {
    std::string name;
    std::string body;
    std::string expected;
  } cases[] = {
      {"missing", replace(good.body, "\"more\":0,", ""), "'more' is a required property"},
      {"unknown", replace(good.body, "\"more\":0,", "\"more\":0,\"surprise\":1,"), "surprise"},
      {"paper_member", replace(good.body, "\"authors_truncated\"", "\"authors_truncatd\""),
       "authors_truncatd"},
      {"wrong_type", replace(good.body, "\"part\":0", "\"part\":\"0\""), "is not of type"},
      {"bad_date", replace(good.body, "\"date\":\"2024-01-29\"", "\"date\":\"29/01/2024\""),
       "does not match"},
  };
  for (const auto& c : cases) {
    Payload bad = good;
    bad.headers.clear();  // schema only
    bad.body = c.body;
    const std::string file = Write(c.name, bad);
    const CheckRun run = Check({file});
    EXPECT_EQ(run.exit_code, 1) << c.name << "\n" << run.output;
    EXPECT_NE(run.output.find("INVALID " + file), std::string::npos) << run.output;
    EXPECT_NE(run.output.find(c.expected), std::string::npos) << c.name << "\n" << run.output;
  }

  Payload tampered = good;
  tampered.body = replace(good.body, "\"votes\":41", "\"votes\":42");
  const std::string file = Write("tampered", tampered);
  const CheckRun run = Check({file});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("BAD SIGNATURE " + file), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("INVALID"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace digestd
