#include "notifiers/message_texts.h"

#include <cstdlib>
#include <utility>
#include <vector>

namespace digestd {
namespace {

MessageTemplate BuiltIn(std::string_view text) {
  auto compiled = MessageTemplate::Compile(std::string(text), std::string());
  // A built-in text that does not compile is a bug caught by every test that renders it.
  if (!compiled) std::abort();
  return std::move(*compiled);
}

std::string Join(const std::vector<std::string>& items, TemplateEscape clean) {
  std::string out;
  for (const std::string& item : items) {
    const std::string one = clean(item);
    if (one.empty()) continue;
    if (!out.empty()) out += ", ";
    out += one;
  }
  return out;
}

}  // namespace

Result<MessageTexts> LoadMessageTexts(const NotifierConfig& notifier, std::string_view paper,
                                      std::string_view heading, std::string_view footer) {
  TemplateSections sections;
  if (!notifier.template_file.empty()) {
    auto parsed = ParseTemplateFile(notifier.template_text, notifier.template_file);
    if (!parsed) return Unexpected(parsed.error());
    sections = std::move(*parsed);
  }
  return MessageTexts{.paper = sections.paper ? std::move(*sections.paper) : BuiltIn(paper),
                      .heading = sections.heading ? std::move(*sections.heading)
                                                  : BuiltIn(heading),
                      .footer = sections.footer ? std::move(*sections.footer) : BuiltIn(footer)};
}

TemplateData FrameData(const Notification& n, const FrameFacts& facts, TemplateEscape clean) {
  TemplateData d;
  std::vector<std::string> watches;
  for (const std::string& w : n.watches) {
    if (std::string one = clean(w); !one.empty()) watches.push_back(std::move(one));
  }
  std::string source = n.source;
  if (source.empty() && !n.papers.empty()) source = n.papers.front().source;
  const std::size_t more = facts.count > facts.shown ? facts.count - facts.shown : 0;
  d.values = {{"heading", facts.heading},
              {"more_line", facts.more_line},
              {"count", std::to_string(facts.count)},
              {"shown", std::to_string(facts.shown)},
              {"more", more > 0 ? std::to_string(more) : std::string()},
              {"digest_url", facts.digest_url},
              {"kind", clean(n.kind)},
              {"event", clean(n.event)},
              {"watches", Join(n.watches, clean)},
              {"source", clean(source)},
              {"alert", n.kind == "alert" ? clean(n.message) : std::string()},
              {"date", facts.date},
              {"notifier", clean(n.notifier)}};
  d.lists = {{"watch_list", std::move(watches)}};
  return d;
}

}  // namespace digestd
