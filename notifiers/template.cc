#include "notifiers/template.h"

#include <kainjow/mustache.hpp>

#include <cctype>
#include <charconv>
#include <optional>
#include <utility>
#include <vector>

namespace digestd {
namespace {

// "PATH:LINE:COL: " of byte `offset` in `text` (lines and columns from 1, columns in bytes).
std::string Where(std::string_view path, std::string_view text, std::size_t offset,
                  int first_line) {
  std::size_t line = std::size_t(first_line < 1 ? 1 : first_line);
  std::size_t col = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  const std::string name = path.empty() ? std::string("(built-in template)") : std::string(path);
  return name + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
}

// The first tag that would bypass escaping or read beyond this text, as an error.
std::optional<std::string> RefusedTag(std::string_view path, std::string_view text,
                                      int first_line) {
  for (std::size_t at = text.find("{{"); at != std::string_view::npos;
       at = text.find("{{", at + 2)) {
    std::size_t i = at + 2;
    const bool triple = i < text.size() && text[i] == '{';
    // Skipped as kainjow trims a tag's contents: any whitespace, line breaks included.
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (triple) {
      return Where(path, text, at, first_line) +
             "unescaped tag {{{...}}} refused: every value is escaped for the platform; "
             "use {{name}}";
    }
    if (i >= text.size()) break;
    switch (text[i]) {
      case '&':
        return Where(path, text, at, first_line) +
               "unescaped tag {{& ...}} refused: every value is escaped for the platform; "
               "use {{name}}";
      case '>':
        return Where(path, text, at, first_line) + "partials {{> ...}} are not supported";
      case '=':
        return Where(path, text, at, first_line) + "delimiter changes {{=...=}} are not supported";
      default:
        break;
    }
  }
  return std::nullopt;
}

// kainjow reports "... at OFFSET": the message without it, and the offset.
std::pair<std::string, std::size_t> SplitOffset(const std::string& message) {
  const std::size_t at = message.rfind(" at ");
  std::size_t offset = 0;
  if (at != std::string::npos) {
    const char* first = message.data() + at + 4;
    const char* last = message.data() + message.size();
    if (std::from_chars(first, last, offset).ptr == last) return {message.substr(0, at), offset};
  }
  return {message, 0};
}

kainjow::mustache::data ToData(const TemplateData& data) {
  kainjow::mustache::data out;
  for (const auto& [name, value] : data.values) {
    if (!value.empty()) out.set(name, value);
  }
  for (const auto& [name, items] : data.lists) {
    if (items.empty()) continue;
    kainjow::mustache::data list{kainjow::mustache::data::type::list};
    for (const std::string& item : items) list.push_back(kainjow::mustache::data(item));
    out.set(name, list);
  }
  return out;
}

// The section a line names ("paper", "heading", "footer"), or "" when it is no section line.
std::string_view SectionOf(std::string_view line) {
  const auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  line = trim(line);
  if (!line.starts_with("{{!") || !line.ends_with("}}")) return {};
  const std::string_view name = trim(line.substr(3, line.size() - 5));
  for (std::string_view known : {"paper", "heading", "footer"}) {
    if (name == known) return known;
  }
  return {};
}

}  // namespace

Result<TemplateSections> ParseTemplateFile(std::string_view text, const std::string& path) {
  struct Found {
    std::string_view name;
    std::size_t begin;  // the byte after the section line
    int first_line;     // the line `begin` is on
  };
  std::vector<Found> found;
  std::vector<std::size_t> ends;  // where each section's text ends (its section line's start)
  int line_number = 1;
  for (std::size_t at = 0; at < text.size(); ++line_number) {
    std::size_t end = text.find('\n', at);
    const std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end == std::string_view::npos) end = text.size();
    if (const std::string_view name = SectionOf(text.substr(at, end - at)); !name.empty()) {
      if (found.empty()) {
        const std::string_view before = text.substr(0, at);
        const auto text_at = before.find_first_not_of(" \t\r\n");
        if (text_at != std::string_view::npos) {
          return Unexpected(Where(path, text, text_at, 1) +
                            "text before the first section line ({{! paper }}, "
                            "{{! heading }} or {{! footer }})");
        }
      } else {
        ends.push_back(at);
      }
      for (const Found& f : found) {
        if (f.name == name) {
          return Unexpected(Where(path, text, at, 1) + "section \"" + std::string(name) +
                            "\" given twice");
        }
      }
      found.push_back({name, next, line_number + 1});
    }
    at = next;
  }
  TemplateSections out;
  if (found.empty()) {
    auto paper = MessageTemplate::Compile(std::string(text), path);
    if (!paper) return Unexpected(paper.error());
    out.paper = std::move(*paper);
    return out;
  }
  ends.push_back(text.size());
  for (std::size_t i = 0; i < found.size(); ++i) {
    const Found& f = found[i];
    const std::size_t begin = std::min(f.begin, ends[i]);
    auto compiled =
        MessageTemplate::Compile(std::string(text.substr(begin, ends[i] - begin)), path,
                                 f.first_line);
    if (!compiled) return Unexpected(compiled.error());
    std::optional<MessageTemplate>& slot =
        f.name == "paper" ? out.paper : f.name == "heading" ? out.heading : out.footer;
    slot = std::move(*compiled);
  }
  return out;
}

Result<MessageTemplate> MessageTemplate::Compile(std::string text, std::string path,
                                                 int first_line) {
  if (auto refused = RefusedTag(path, text, first_line)) return Unexpected(*refused);
  // A file's last line break ends its last line; it is not a line of the message.
  if (text.ends_with("\r\n")) {
    text.resize(text.size() - 2);
  } else if (text.ends_with('\n')) {
    text.pop_back();
  }
  kainjow::mustache::mustache parsed(text);
  if (!parsed.is_valid()) {
    const auto [what, offset] = SplitOffset(parsed.error_message());
    return Unexpected(Where(path, text, offset, first_line) + what);
  }
  return MessageTemplate(std::move(text), std::move(path));
}

std::string MessageTemplate::Render(const TemplateData& data, TemplateEscape escape) const {
  // Parsed again per rendering: kainjow's render is not const, and a parse of a few hundred
  // bytes costs less than a lock shared by every delivery thread.
  kainjow::mustache::mustache parsed(text_);
  parsed.set_custom_escape([escape](const std::string& value) { return escape(value); });
  return parsed.render(ToData(data));
}

std::string NoEscape(std::string_view text) { return std::string(text); }

}  // namespace digestd
