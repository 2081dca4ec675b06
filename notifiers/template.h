// A message template (issue 9 point 5): a Mustache text whose every value is escaped for the
// platform it goes to. Unescaped tags ({{{x}}}, {{& x}}), partials and delimiter changes are
// refused when compiled, so no value reaches a target unescaped. Used by the chat channels
// (their built-in texts are templates too) and by `digestd check`. Immutable: thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace digestd {

// The values one rendering sees. A name that is absent (or empty) is false in a section, so
// {{#url}}...{{/url}} shows only when there is a link.
struct TemplateData {
  std::map<std::string, std::string> values;              // {{name}}
  std::map<std::string, std::vector<std::string>> lists;  // {{#name}}{{.}}{{/name}}
};

// Escapes one value for a platform's markup (EscapeSlack, telegram's HTML, ...).
using TemplateEscape = std::string (*)(std::string_view);

class MessageTemplate {
 public:
  // `text` checked and parsed, without its final line break (a file's last line ends with
  // one); `path` names it in errors ("" for a built-in text). Fails with
  // "PATH:LINE:COL: what" for a syntax error or a refused tag; `first_line` is the line of
  // `path` that `text` starts on (a section of a file).
  static Result<MessageTemplate> Compile(std::string text, std::string path, int first_line = 1);

  // `text` with every {{name}} replaced by escape(value) (never fails: compiled already).
  std::string Render(const TemplateData& data, TemplateEscape escape) const;

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }

 private:
  MessageTemplate(std::string text, std::string path)
      : text_(std::move(text)), path_(std::move(path)) {}
  std::string text_;
  std::string path_;
};

// A template_file's sections (README "Templates"). A file without a section line is the
// `paper` section alone. Otherwise each line that holds only `{{! paper }}`, `{{! heading }}`
// or `{{! footer }}` (a Mustache comment; spaces inside the braces optional) starts that
// section, which runs to the next section line; only blank lines may come before the first,
// and a section may be given once. A section not given is nullopt (the kind's built-in).
struct TemplateSections {
  std::optional<MessageTemplate> paper;    // one paper's entry
  std::optional<MessageTemplate> heading;  // the message's heading
  std::optional<MessageTemplate> footer;   // "and N more"
};

// `text` split into its sections, each compiled (errors name PATH:LINE:COL in the file).
Result<TemplateSections> ParseTemplateFile(std::string_view text, const std::string& path);

// The escaping of no markup (ntfy's plain text; values are ChatLine-safe already).
std::string NoEscape(std::string_view text);

}  // namespace digestd
