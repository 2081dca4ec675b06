#include "notifiers/template.h"

#include <kainjow/mustache.hpp>

#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

namespace digestd {
namespace {

// "PATH:LINE:COL: " of byte `offset` in `text` (lines and columns from 1, columns in bytes).
std::string Where(std::string_view path, std::string_view text, std::size_t offset) {
  std::size_t line = 1;
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
std::optional<std::string> RefusedTag(std::string_view path, std::string_view text) {
  for (std::size_t at = text.find("{{"); at != std::string_view::npos;
       at = text.find("{{", at + 2)) {
    std::size_t i = at + 2;
    const bool triple = i < text.size() && text[i] == '{';
    // Skipped as kainjow trims a tag's contents: any whitespace, line breaks included.
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (triple) {
      return Where(path, text, at) +
             "unescaped tag {{{...}}} refused: every value is escaped for the platform; "
             "use {{name}}";
    }
    if (i >= text.size()) break;
    switch (text[i]) {
      case '&':
        return Where(path, text, at) +
               "unescaped tag {{& ...}} refused: every value is escaped for the platform; "
               "use {{name}}";
      case '>':
        return Where(path, text, at) + "partials {{> ...}} are not supported";
      case '=':
        return Where(path, text, at) + "delimiter changes {{=...=}} are not supported";
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

}  // namespace

Result<MessageTemplate> MessageTemplate::Compile(std::string text, std::string path) {
  if (auto refused = RefusedTag(path, text)) return Unexpected(*refused);
  // A file's last line break ends its last line; it is not a line of the message.
  if (text.ends_with("\r\n")) {
    text.resize(text.size() - 2);
  } else if (text.ends_with('\n')) {
    text.pop_back();
  }
  kainjow::mustache::mustache parsed(text);
  if (!parsed.is_valid()) {
    const auto [what, offset] = SplitOffset(parsed.error_message());
    return Unexpected(Where(path, text, offset) + what);
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
