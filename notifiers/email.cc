#include "notifiers/email.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/mailbox.h"
#include "notifiers/email_render.h"
#include "notifiers/mime.h"

namespace digestd {
namespace {

// A List-Id label (RFC 2919: dot-atom) from a notifier name: letters, digits and '-'.
std::string ListLabel(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += keep ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
  }
  return out.empty() ? "notifier" : out;
}

Result<std::vector<Mailbox>> ParseAll(const std::vector<std::string>& list, std::string_view key) {
  std::vector<Mailbox> out;
  for (const std::string& text : list) {
    auto box = ParseMailbox(text);
    if (!box) return Unexpected("\"" + std::string(key) + "\": " + box.error().message);
    out.push_back(std::move(*box));
  }
  return out;
}

std::string AddressHeader(const std::vector<Mailbox>& boxes, std::size_t name_size) {
  std::vector<std::string> formatted;
  for (const Mailbox& b : boxes) formatted.push_back(FormatMailbox(b));
  return JoinAddressList(formatted, name_size);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class EmailChannel final : public Channel {
 public:
  EmailChannel(const NotifierConfig& notifier, EmailSettings settings,
               std::vector<std::string> recipients, std::string mail_from,
               std::optional<EmailTexts> texts)
      : notifier_(notifier.name),
        settings_(std::move(settings)),
        recipients_(std::move(recipients)),
        mail_from_(std::move(mail_from)),
        max_papers_(notifier.max_papers),
        timeout_(notifier.timeout),
        tls_verify_(notifier.tls_verify),
        ca_file_(notifier.ca_file),
        texts_(std::move(texts)) {}

  Result<std::vector<Payload>> Render(const Notification& notification,
                                      const RenderContext& context) const override {
    EmailContent content;
    // The parts come back only for the readable form: a long digest's text is a megabyte.
    auto message = BuildEmailMessage(notification, context, notifier_, settings_, max_papers_,
                                     texts_ ? &*texts_ : nullptr,
                                     context.readable ? &content : nullptr);
    if (!message) return Unexpected(message.error());
    std::string readable;
    if (context.readable) {
      // The envelope, the subject and the text part as a reader sees them, LF line ends;
      // the HTML part carries the same content.
      readable = "From: " + mail_from_ + "\nSubject: " + content.subject + "\n\n";
      for (char c : content.text) {
        if (c != '\r') readable += c;
      }
      readable += "\n(text/html: " + std::to_string(content.html.size()) + " bytes, " +
                  std::to_string(message->size()) + " bytes in all)";
    }
    std::vector<Payload> payloads;
    for (std::size_t k = 0; k < recipients_.size(); ++k) {
      payloads.push_back(Payload{
          .part_id = k == 0 ? context.id : context.id + "-" + std::to_string(k),
          .transfer = Transfer::kSmtp,
          .url = settings_.url,
          .method = "",
          // The last recipient's takes the message: a long digest's is megabytes.
          .body = k + 1 == recipients_.size() ? std::move(*message) : *message,
          .readable = context.readable ? "To: " + recipients_[k] + "\n" + readable : "",
          .timeout = timeout_,
          .tls_verify = tls_verify_,
          .ca_file = ca_file_,
          .mail_from = mail_from_,
          .recipients = {recipients_[k]},
          .username = settings_.username,
          .password = settings_.password,
          .starttls = settings_.starttls});
    }
    return payloads;
  }

  Outcome Classify(const Payload& payload, const Response& response) const override {
    return ClassifySmtp(payload, response);
  }

 private:
  const std::string notifier_;
  const EmailSettings settings_;
  const std::vector<std::string> recipients_;  // bare addresses: to, cc, bcc, each once
  const std::string mail_from_;
  const int max_papers_;
  const std::chrono::milliseconds timeout_;
  const bool tls_verify_;
  const std::string ca_file_;
  const std::optional<EmailTexts> texts_;  // with a template_file only
};

}  // namespace

Result<std::string> BuildEmailMessage(const Notification& n, const RenderContext& context,
                                      const std::string& notifier, const EmailSettings& settings,
                                      int max_papers, const EmailTexts* texts,
                                      EmailContent* content_out) {
  if (context.id.empty() || context.id.find_first_of("<>@ \r\n") != std::string::npos) {
    return Unexpected("notification id '" + context.id + "' cannot be a Message-ID");
  }
  auto from = ParseMailbox(settings.from);
  if (!from) return Unexpected("\"from\": " + from.error().message);
  auto to = ParseAll(settings.to, "to");
  if (!to) return Unexpected(to.error());
  auto cc = ParseAll(settings.cc, "cc");
  if (!cc) return Unexpected(cc.error());
  const std::string domain(MailDomain(from->address));

  EmailContent content = RenderEmailContent(
      n, EmailRenderOptions{.max_papers = max_papers,
                            .subject_prefix = settings.subject_prefix,
                            .texts = texts ? &texts->texts : nullptr,
                            .html_paper_from_texts = texts && texts->html_paper});
  MimeMessage m;
  m.headers.emplace_back("Date", MailDate(context.now));
  m.headers.emplace_back("From", FormatMailbox(*from));
  if (!to->empty()) m.headers.emplace_back("To", AddressHeader(*to, 2));
  if (!cc->empty()) m.headers.emplace_back("Cc", AddressHeader(*cc, 2));
  m.headers.emplace_back("Subject", EncodeUnstructured(content.subject, 7));
  // Stable per outbox row: a retry is the same message, and clients can tell.
  m.headers.emplace_back("Message-ID", "<" + context.id + "@" + domain + ">");
  m.headers.emplace_back("Auto-Submitted", "auto-generated");
  m.headers.emplace_back(
      "List-Id", FormatMailbox(Mailbox{.display_name = "digestd " + notifier,
                                       .address = ListLabel(notifier) + ".digestd." + domain}));
  if (!settings.list_unsubscribe.empty()) {
    std::vector<std::string> targets;
    for (const std::string& u : settings.list_unsubscribe) targets.push_back("<" + HeaderText(u) + ">");
    m.headers.emplace_back("List-Unsubscribe", JoinAddressList(targets, 16));
  }
  m.boundary = "=_digestd_" + context.id;
  // The parts move in, and back out only when asked for: a long digest's are megabytes.
  m.text = std::move(content.text);
  m.html = std::move(content.html);
  std::string message = content_out ? BuildMimeMessage(m) : BuildMimeMessage(std::move(m));
  if (content_out) {
    content.text = std::move(m.text);
    content.html = std::move(m.html);
    *content_out = std::move(content);
  }
  return message;
}

Outcome ClassifySmtp(const Payload& payload, const Response& response) {
  using Kind = Outcome::Kind;
  std::string who;
  for (const std::string& r : payload.recipients) who += (who.empty() ? "" : ", ") + r;
  if (who.empty()) who = "(no recipient)";
  if (response.failure) {
    return {.kind = Kind::kRetry, .reason = *response.failure + " (sending to " + who + ")"};
  }
  const long code = response.status;
  if (code >= 200 && code < 300) return {.kind = Kind::kDelivered};
  const std::string said = ReasonExcerpt(response.body, 300);
  // RFC 4954 §6: authentication required (530), too weak (534), refused (535), or needing
  // encryption (538): the account or the server's settings must change, not the message.
  if (code == 530 || code == 534 || code == 535 || code == 538 || code == 454) {
    return {.kind = Kind::kRetry,
            .reason = "SMTP authentication failed or is required (sending to " + who + "): " +
                      (said.empty() ? std::to_string(code) : said)};
  }
  const std::string reason = "recipient " + who + " " +
                             (code >= 500 ? "refused" : "deferred") + ": " +
                             (said.empty() ? "SMTP " + std::to_string(code) : said);
  if (code >= 500 && code < 600) {
    return {.kind = Kind::kPermanent, .reason = reason, .part_only = true};
  }
  // 4xx, or an answer that is no answer: the server may take it later.
  return {.kind = Kind::kRetry, .reason = reason};
}

Result<std::unique_ptr<Channel>> MakeEmailChannel(const NotifierConfig& notifier,
                                                  const EmailSettings& settings) {
  const std::string where = "notifier '" + notifier.name + "': ";
  if (settings.url.empty()) return Unexpected(where + "url is empty");
  auto from = ParseMailbox(settings.from);
  if (!from) return Unexpected(where + "\"from\": " + from.error().message);
  std::vector<std::string> recipients;
  std::set<std::string> seen;
  for (const auto* list : {&settings.to, &settings.cc, &settings.bcc}) {
    for (const std::string& text : *list) {
      auto box = ParseMailbox(text);
      if (!box) return Unexpected(where + box.error().message);
      if (seen.insert(Lower(box->address)).second) recipients.push_back(box->address);
    }
  }
  if (recipients.empty()) return Unexpected(where + "no recipient in to, cc or bcc");
  std::optional<EmailTexts> texts;
  if (!notifier.template_file.empty()) {
    auto sections = ParseTemplateFile(notifier.template_text, notifier.template_file);
    if (!sections) return Unexpected(sections.error());
    auto loaded = LoadMessageTexts(notifier, kEmailBuiltInPaper);
    if (!loaded) return Unexpected(loaded.error());
    texts = EmailTexts{.texts = std::move(*loaded), .html_paper = sections->paper.has_value()};
  }
  return std::unique_ptr<Channel>(std::make_unique<EmailChannel>(
      notifier, settings, std::move(recipients), from->address, std::move(texts)));
}

}  // namespace digestd
