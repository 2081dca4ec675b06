#include "notifiers/email.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/utf8.h"
#include "notifiers/email_render.h"
#include "notifiers/mime.h"
#include "tests/notifiers/mime_decode.h"
#include "tests/notifiers/notifier_testing.h"

namespace digestd {
namespace {

using test::ContextFor;
using test::DecodeBase64;
using test::DecodeQuotedPrintable;
using test::ExpectGolden;
using test::MakeNotifierConfig;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t end = text.find("\r\n", begin);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 2;
  }
  return lines;
}

// The encoded words of a header value, each decoded on its own.
std::vector<std::string> DecodedWords(const std::string& value) {
  std::vector<std::string> words;
  for (std::size_t at = value.find("=?UTF-8?B?"); at != std::string::npos;
       at = value.find("=?UTF-8?B?", at + 1)) {
    const std::size_t end = value.find("?=", at + 10);
    EXPECT_NE(end, std::string::npos);
    EXPECT_LE(end + 2 - at, kMaxEncodedWord) << value.substr(at, end + 2 - at);
    words.push_back(DecodeBase64(value.substr(at + 10, end - at - 10)).value_or("(not base64)"));
  }
  return words;
}

TEST(Issue8, KoreanSubjectIsSplitBetweenCharactersInShortWords) {
  const std::string subject =
      "[논문] 12 new papers for 한국어 대규모 언어 모델의 희소 어텐션과 추론 효율 연구 동향, "
      "speculative decoding 😀";
  const std::string value = EncodeUnstructured(subject, 7);
  std::string joined;
  for (const std::string& word : DecodedWords(value)) {
    EXPECT_TRUE(IsValidUtf8(word)) << "a word ends inside a character";
    joined += word;
  }
  EXPECT_EQ(joined, subject);
  const std::vector<std::string> lines = Lines("Subject: " + value);
  EXPECT_GT(lines.size(), 2u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), kMaxEncodedLine) << lines[i];
    if (i > 0) {
      EXPECT_EQ(lines[i].front(), ' ') << "a fold is CRLF and a space";
    }
  }
}

TEST(Issue8, HeaderDataCannotInjectAHeader) {
  const std::string value = EncodeUnstructured("Hi\r\nBcc: victim@example.org\n\x01\xc2\x85x", 7);
  for (std::size_t at = value.find('\n'); at != std::string::npos; at = value.find('\n', at + 1)) {
    ASSERT_GT(at, 0u);
    EXPECT_EQ(value[at - 1], '\r');
    ASSERT_LT(at + 1, value.size());
    EXPECT_EQ(value[at + 1], ' ') << "every line break is a fold";
  }
  EXPECT_EQ(value, "Hi Bcc: victim@example.org x");
  EXPECT_EQ(FormatMailbox({.display_name = "Eve\r\nBcc: x@y", .address = "eve@example.org"}),
            "\"Eve Bcc: x@y\" <eve@example.org>");
}

TEST(Issue8, PlainAsciiSubjectsStayReadableAndFold) {
  EXPECT_EQ(EncodeUnstructured("3 new papers for agents", 7), "3 new papers for agents");
  const std::string long_subject(40, 'a');
  const std::string value = EncodeUnstructured(long_subject + " " + long_subject + " b", 7);
  EXPECT_EQ(value, long_subject + "\r\n " + long_subject + " b");
  // What looks like an encoded word is encoded, so no reader decodes it as one.
  EXPECT_TRUE(EncodeUnstructured("=?UTF-8?B?QQ==?=", 7).starts_with("=?UTF-8?B?"));
}

TEST(Issue8, MailboxesQuoteOrEncodeTheirNames) {
  EXPECT_EQ(FormatMailbox({.display_name = "", .address = "a@example.org"}), "a@example.org");
  EXPECT_EQ(FormatMailbox({.display_name = "Lead, \"Team\"", .address = "l@example.org"}),
            "\"Lead, \\\"Team\\\"\" <l@example.org>");
  const std::string korean = FormatMailbox({.display_name = "김민준", .address = "m@example.org"});
  EXPECT_EQ(korean, "=?UTF-8?B?6rmA66+87KSA?=\r\n <m@example.org>");
  auto parsed = ParseMailbox("\"Kim, Min-jun\" <m@example.org>");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->display_name, "Kim, Min-jun");
  EXPECT_EQ(parsed->address, "m@example.org");
  EXPECT_FALSE(ParseMailbox("m@example.org> trailing"));
  EXPECT_FALSE(ParseMailbox("a b@example.org"));
}

TEST(Issue8, MailDateIsRfc5322) {
  EXPECT_EQ(MailDate(test::kNow), "Mon, 29 Jan 2024 08:00:00 +0000");
}

// The body of part `type` of a BuildMimeMessage message and its Content-Transfer-Encoding.
std::pair<std::string, std::string> EncodedPart(const std::string& message,
                                                const std::string& boundary,
                                                const std::string& type) {
  const std::size_t at = message.find("\r\nContent-Type: " + type + "; charset=UTF-8\r\n");
  const std::size_t cte = message.find("Content-Transfer-Encoding: ", at);
  const std::size_t body = message.find("\r\n\r\n", at);
  const std::size_t end = message.find("\r\n--" + boundary, body);
  if (at == std::string::npos || cte == std::string::npos || end == std::string::npos) return {};
  return {message.substr(cte + 27, body - cte - 27), message.substr(body + 4, end - body - 4)};
}

TEST(Issue8, EachPartTakesTheShorterEncodingAndDecodesBack) {
  // Mostly ASCII (an English digest's text part): quoted-printable, readable as it is. Each
  // rule shows: "=", white space before a line break and at the end, a line too long for
  // one, a "From " line, a bare LF, a character of several bytes, a long run of them.
  const std::string english =
      "3 new papers for agents\r\n\r\n1. Sparse Attention = Faster Decoding \r\n"
      "   https://arxiv.org/abs/2401.15024\t\r\nFrom the abstract: " + std::string(100, 'x') +
      "\r\n. a line of a dot\nafter a bare LF \u2026 and 12 more: \uD55C\uAD6D\uC5B4 "
      "\u2014 " + std::string(30, 'y') + std::string(20, '=') + "\r\n" + std::string(75, 'z') +
      ".after a soft break\r\nend ";
  // Mostly Korean (a Hugging Face digest's summaries): base64.
  std::string korean;
  for (int i = 0; i < 40; ++i) korean += "\uB300\uADDC\uBAA8 \uC5B8\uC5B4 \uBAA8\uB378\r\n";
  const MimeMessage m{.headers = {{"Subject", "x"}},
                      .boundary = "=_digestd_test",
                      .text = english,
                      .html = korean};
  const std::string message = BuildMimeMessage(m);
  const auto [text_encoding, text_body] = EncodedPart(message, m.boundary, "text/plain");
  const auto [html_encoding, html_body] = EncodedPart(message, m.boundary, "text/html");
  EXPECT_EQ(text_encoding, "quoted-printable");
  EXPECT_EQ(html_encoding, "base64");
  EXPECT_EQ(DecodeQuotedPrintable(text_body), english);
  EXPECT_EQ(DecodeBase64(html_body), korean);
  EXPECT_LT(text_body.size(), Base64LinesSize(english.size()));
  EXPECT_EQ(text_body.size(), QuotedPrintableSize(english));
  for (const std::string& line : Lines(text_body)) {
    EXPECT_LE(line.size(), 76u) << line;
    EXPECT_FALSE(line.ends_with(" ") || line.ends_with("\t")) << "[" << line << "]";
    EXPECT_FALSE(line.starts_with("From ") || line.starts_with(".")) << line;
    // A character's bytes stay on one line: no line ends inside "=E2=80=A6".
    EXPECT_FALSE(line.ends_with("=E2=") || line.ends_with("=80=")) << line;
  }
  EXPECT_NE(text_body.find("Sparse Attention =3D Faster Decoding=20\r\n"), std::string::npos);
  EXPECT_NE(text_body.find("=E2=80=A6"), std::string::npos);
  EXPECT_NE(text_body.find("=0A"), std::string::npos) << "a bare LF is a byte, not a break";
  EXPECT_NE(text_body.find("\r\n=2E a line of a dot"), std::string::npos);
  EXPECT_NE(text_body.find("\r\n=46rom the abstract"), std::string::npos);
  EXPECT_NE(text_body.find("=\r\n=2Eafter a soft break"), std::string::npos)
      << "a soft break starts a line too";
  int delimiters = 0;  // after the message's headers: two parts, then the close
  for (std::size_t at = message.find(m.boundary, message.find("\r\n\r\n"));
       at != std::string::npos; at = message.find(m.boundary, at + 1)) {
    EXPECT_EQ(message.compare(at - 4, 4, "\r\n--"), 0) << "the boundary in a part's body";
    ++delimiters;
  }
  EXPECT_EQ(delimiters, 3);
  // Built from a message given away, the bytes are the same, and its parts are gone.
  MimeMessage spent = m;
  EXPECT_EQ(BuildMimeMessage(std::move(spent)), message);
  EXPECT_TRUE(spent.text.empty());  // NOLINT(bugprone-use-after-move): it says what is left
  EXPECT_TRUE(spent.html.empty());
  EXPECT_EQ(spent.boundary, m.boundary);
}

TEST(Issue8, SummaryMarkdownRendersAndRawHtmlShowsAsText) {
  EXPECT_EQ(SummaryHtml("**What's New**: a <think> tag"),
            "<strong>What's New</strong>: a &lt;think&gt; tag");
  EXPECT_EQ(SummaryHtml("<div>block</div>"), "&lt;div&gt;block&lt;/div&gt;");
  const std::string link = SummaryHtml("[x](javascript:alert(1)) and `<b>`");
  EXPECT_EQ(link.find("javascript"), std::string::npos) << link;
  EXPECT_NE(link.find("&lt;b&gt;</code>"), std::string::npos) << link;
}

// Found by tests/fuzz/mime_fuzz.cc (regressions/mime/invalid_utf8_in_summary.md): cmark-gfm
// passed a bullet's invalid UTF-8 and control characters into the HTML part.
TEST(Issue13, SummaryHtmlIsValidUtf8WithoutControls) {
  const std::string html = SummaryHtml("cut \xE2\x80 here \x1b[31mred\x1b[0m \xC2\x9B \xE2\x80\xAE" "evil");
  EXPECT_TRUE(IsValidUtf8(html)) << html;
  for (const char* raw : {"\x1b", "\xC2\x9B", "\xE2\x80\xAE"}) {
    EXPECT_EQ(html.find(raw), std::string::npos) << html;
  }
  EXPECT_NE(html.find("here"), std::string::npos) << html;
}

// Found by tests/fuzz/mime_fuzz.cc (regressions/mime/invalid_utf8_in_media_url.md): links and
// images went into the HTML part as fetched, invalid UTF-8 and controls included.
TEST(Issue13, EmailHtmlLinksAreValidUtf8WithoutControls) {
  Notification n = test::MakeInstant();
  n.papers[0].paper.Edit().url = "https://arxiv.org/abs/2401.15001\xE2\x80";
  n.papers[0].paper.Edit().media_url = "https://evil.example/\x1b[31m\xFF.png";
  n.digest_url = "https://huggingface.co/papers\xC2\x9B";
  const EmailContent c = RenderEmailContent(n, {.max_papers = 1});
  EXPECT_TRUE(IsValidUtf8(c.html));
  EXPECT_TRUE(IsValidUtf8(c.text));
  for (const char* raw : {"\x1b", "\xC2\x9B"}) EXPECT_EQ(c.html.find(raw), std::string::npos);
  EXPECT_NE(c.html.find("https://arxiv.org/abs/2401.15001"), std::string::npos);
}

NotifierConfig EmailConfig() {
  NotifierConfig config = MakeNotifierConfig(
      "me", EmailSettings{.url = "smtps://mail.example.org",
                          .from = "다이제스트 <bot@example.org>",
                          .to = {"Ana <ana@example.org>", "bo@example.org"},
                          .cc = {"cy@example.org"},
                          .bcc = {"archive@example.org", "ANA@example.org"},
                          .username = "bot",
                          .password = "pw",
                          .subject_prefix = "[papers]",
                          .list_unsubscribe = {"https://example.org/u"}});
  config.group = Grouping::kDigest;
  return config;
}

TEST(Issue8, OnePartPerRecipientWithTheSameMessage) {
  const Notification n = test::MakeDigestGrouped();
  const std::vector<Payload> payloads = test::RenderWith(EmailConfig(), n);
  // ANA@example.org is ana@example.org again: sent once.
  ASSERT_EQ(payloads.size(), 4u);
  const std::vector<std::string> expected = {"ana@example.org", "bo@example.org", "cy@example.org",
                                             "archive@example.org"};
  for (std::size_t k = 0; k < payloads.size(); ++k) {
    EXPECT_EQ(payloads[k].part_id, k == 0 ? n.id : n.id + "-" + std::to_string(k));
    EXPECT_EQ(payloads[k].transfer, Transfer::kSmtp);
    EXPECT_EQ(payloads[k].recipients, std::vector<std::string>{expected[k]});
    EXPECT_EQ(payloads[k].mail_from, "bot@example.org");
    EXPECT_EQ(payloads[k].body, payloads[0].body);
  }
  const std::string& message = payloads[0].body;
  EXPECT_EQ(message.find("archive@"), std::string::npos) << "bcc is never in the message";
  EXPECT_NE(message.find("\r\nMessage-ID: <" + n.id + "@example.org>\r\n"), std::string::npos);
  for (const std::string& line : Lines(message)) EXPECT_LE(line.size(), 998u);
  EXPECT_EQ(message.find('\n'), message.find("\r\n") + 1);
}

TEST(Issue8, DigestEmailGolden) {
  const Notification n = test::MakeDigestGrouped();
  auto message = BuildEmailMessage(n, ContextFor(n), "me",
                                   std::get<EmailSettings>(EmailConfig().settings), 50);
  ASSERT_TRUE(message) << message.error().message;
  ExpectGolden("email_digest.eml", *message);
  const EmailContent content = RenderEmailContent(n, {.max_papers = 50});
  ExpectGolden("email_digest.html", content.html);
  ExpectGolden("email_digest.txt", content.text);
}

TEST(Issue8, ChangedEntriesSayWhatChanged) {
  Notification n = test::MakeInstant();
  n.papers[0].event = "new_version";
  n.papers[0].SetPrior({.version = "v1"});
  n.papers.push_back(n.papers[0]);
  n.papers[1].paper.Edit().key = "arxiv:2401.99999";
  n.papers[1].event = "threshold";
  n.papers[1].paper.Edit().votes = 12;
  n.papers[1].SetPrior({.votes = 3, .version = "v1"});
  n.papers.push_back(n.papers[0]);
  n.papers[2].paper.Edit().key = "arxiv:2401.88888";
  n.papers[2].event = "updated";
  n.papers[2].SetPrior({.version = "v1", .title = "An old <b>title</b>"});
  const EmailContent c = RenderEmailContent(n, {});
  for (const std::string* body : {&c.text, &c.html}) {
    EXPECT_NE(body->find("New version: v1 → v2"), std::string::npos) << *body;
    EXPECT_NE(body->find("Votes 3 → 12"), std::string::npos);
    EXPECT_NE(body->find("Updated: new title (was “An old "), std::string::npos);
  }
  EXPECT_NE(c.html.find("An old &lt;b&gt;title&lt;/b&gt;"), std::string::npos);
}

TEST(Issue8, EachPaperOnceWithAllItsWatches) {
  Notification n = test::MakeDigestGrouped();
  // The same paper again for another watch and event, as GroupByDigest may merge it.
  SourcedPaper again = n.papers[0];
  again.watches = {"agents"};
  again.event = "threshold";
  n.papers.push_back(again);
  const EmailContent c = RenderEmailContent(n, {});
  EXPECT_EQ(c.papers, 4);
  const std::string url = n.papers[0].paper->url;
  std::size_t count = 0;
  for (std::size_t at = c.html.find("<a href=\"" + url + "\" style"); at != std::string::npos;
       at = c.html.find("<a href=\"" + url + "\" style", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u);
  EXPECT_NE(c.subject.find("4 papers for agents, sparse attention"), std::string::npos)
      << c.subject;
}

TEST(Issue8, LargeDigestStaysUnderGmailClippingWithLinksAndACount) {
  Notification n = test::MakeLarge(300, 1500);
  n.digest_url = "https://huggingface.co/papers?date=2024-01-29";
  const EmailContent c = RenderEmailContent(n, {.max_papers = 200});
  EXPECT_LE(c.html.size(), kEmailMaxHtmlBytes);
  EXPECT_GT(c.cards, 10);
  EXPECT_GT(c.links, 0);
  EXPECT_LT(c.cards + c.links, 200);
  const std::string more = "and " + std::to_string(300 - c.cards - c.links) + " more papers";
  EXPECT_NE(c.html.find(more), std::string::npos);
  EXPECT_NE(c.html.find(n.digest_url), std::string::npos);
  // The text part lists every paper within max_papers, then counts the rest.
  EXPECT_NE(c.text.find("and 100 more papers: " + n.digest_url), std::string::npos);
}

TEST(Issue8, SmtpOutcomes) {
  using Kind = Outcome::Kind;
  const Payload p{.transfer = Transfer::kSmtp, .recipients = {"bob@example.org"}};
  EXPECT_EQ(ClassifySmtp(p, {.status = 250}).kind, Kind::kDelivered);
  const Outcome refused =
      ClassifySmtp(p, {.status = 550, .body = "RCPT failed: 550 5.1.1 no such user"});
  EXPECT_EQ(refused.kind, Kind::kPermanent);
  EXPECT_TRUE(refused.part_only);
  EXPECT_EQ(refused.reason, "recipient bob@example.org refused: RCPT failed: 550 5.1.1 no such user");
  EXPECT_EQ(ClassifySmtp(p, {.status = 451, .body = "RCPT failed: 451 later"}).kind, Kind::kRetry);
  EXPECT_EQ(ClassifySmtp(p, {.status = 530, .body = "MAIL failed: 530 auth"}).kind, Kind::kRetry);
  const Outcome auth = ClassifySmtp(
      p, {.failure = "SMTP smtps://mail.example.org/: authentication as bot failed: 535 no"});
  EXPECT_EQ(auth.kind, Kind::kRetry);
  EXPECT_NE(auth.reason.find("authentication as bot failed"), std::string::npos);
  EXPECT_EQ(ClassifySmtp(p, {.failure = "timeout", .timed_out = true}).kind, Kind::kRetry);
}

}  // namespace
}  // namespace digestd
