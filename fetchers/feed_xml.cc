#include "fetchers/feed_xml.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <utility>

#include "core/dates.h"
#include "core/utf8.h"
#include "fetchers/parse_limits.h"

namespace digestd {
namespace {

// A hostile or broken document can raise an error per byte; a few dozen say enough.
constexpr int kMaxXmlWarnings = 20;

struct XmlDocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocDeleter>;

struct ParserCtxtDeleter {
  void operator()(xmlParserCtxt* ctxt) const { xmlFreeParserCtxt(ctxt); }
};
using ParserCtxtPtr = std::unique_ptr<xmlParserCtxt, ParserCtxtDeleter>;

struct ParseState {
  std::vector<ParseWarning>* warnings = nullptr;
  int errors = 0;
  bool entities_ignored = false;
  const ParseBudget* budget = nullptr;
  XmlTree* tree = nullptr;
  // What libxml2's node stack holds for each element the tree has open: libxml2 limits
  // the stack's depth, and pops it behind its handlers' backs where a start tag is cut off.
  xmlNode placeholder{};
  const XmlElementSink* sink = nullptr;
  const XmlStartHook* on_start = nullptr;
  unsigned elements = 0;
  bool budget_exhausted = false;
  bool guard_changed = false;  // the shape guard warned of, or a NUL became a space
};

// The parse running on this thread. libxml2 reports some errors (encoding conversion, I/O)
// without a parser context, through its per-thread handler; this finds our state from there.
thread_local ParseState* t_state = nullptr;

void RecordWarning(int line, const char* message) {
  ParseState* state = t_state;
  if (state == nullptr) return;
  ++state->errors;
  if (state->errors > kMaxXmlWarnings) return;
  std::string text = "XML: ";
  if (state->errors == kMaxXmlWarnings) {
    text += "too many errors; the rest are not reported";
  } else {
    text += message != nullptr ? CollapseWhitespace(message) : "error";
  }
  state->warnings->push_back(ParseWarning{.line = line, .message = ToValidUtf8(text)});
}

void RecordError(const xmlError* error) {
  if (error == nullptr || error->level == XML_ERR_NONE) return;
  RecordWarning(error->line, error->message);
}

void OnStructuredError(void* /*user*/, xmlErrorPtr error) { RecordError(error); }

// Printf-style handler for the rare direct xmlGenericError calls: swallowed, never stderr.
void OnGenericError(void* /*user*/, const char* /*format*/, ...) {}

// Entity declarations are dropped before libxml2 stores them, so no reference can ever be
// substituted (billion laughs) or loaded (XXE), whatever libxml2 version or option.
void IgnoreEntityDecl(void* /*ctx*/, const xmlChar* /*name*/, int /*type*/,
                      const xmlChar* /*public_id*/, const xmlChar* /*system_id*/,
                      xmlChar* /*content*/) {
  if (t_state != nullptr) t_state->entities_ignored = true;
}
void IgnoreUnparsedEntityDecl(void* /*ctx*/, const xmlChar* /*name*/, const xmlChar* /*public_id*/,
                              const xmlChar* /*system_id*/, const xmlChar* /*notation*/) {
  if (t_state != nullptr) t_state->entities_ignored = true;
}
xmlParserInputPtr RefuseResolveEntity(void* /*ctx*/, const xmlChar* /*public_id*/,
                                      const xmlChar* /*system_id*/) {
  return nullptr;
}

std::string_view View(const xmlChar* text) {
  return text == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(text));
}

// libxml2's SAX2 events, written into the parse's XmlTree instead of a libxml2 tree. The
// tree's open elements follow libxml2's node stack, as its own tree builder's did: where the
// parser pops the stack by itself (a start tag it could not finish), the tree closes the
// element too, and the next end tag closes the element the stack has on top.

// Comments are not kept; a handler all the same, since without one libxml2 reads them
// another way, and words its errors about them otherwise.
void IgnoreComment(void* /*ctx*/, const xmlChar* /*text*/) {}

// Returns the parse's state with its tree in step with libxml2's node stack, or null.
ParseState* SyncedState(xmlParserCtxtPtr ctxt) {
  ParseState* state = t_state;
  if (state == nullptr || state->tree == nullptr) return nullptr;
  const std::size_t stack = ctxt->nodeNr > 0 ? std::size_t(ctxt->nodeNr) : 0;
  int depth = 0;
  while (state->tree->open_elements() > stack) state->tree->End(depth);
  return state;
}

// Where the start tag being read ends: libxml2 tells its handler of an element before it
// reads the tag's "/>" or '>', and its input is the document's bytes unless an encoding is
// converted.
std::uint64_t TagCloseOffset(xmlParserCtxtPtr ctxt) {
  const xmlParserInputPtr in = ctxt->input;
  if (in == nullptr || in->base == nullptr || in->cur == nullptr || in->cur < in->base ||
      (in->buf != nullptr && in->buf->encoder != nullptr)) {
    return XmlStart::kUnknownOffset;
  }
  return std::uint64_t(in->consumed) + std::uint64_t(in->cur - in->base);
}

// Every element start: now and then, the budget is checked and the parse stopped (what was
// read so far stays) when it has run out.
void OnStartElement(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri,
                    int nb_namespaces, const xmlChar** namespaces, int nb_attributes,
                    int nb_defaulted, const xmlChar** attributes) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  ParseState* state = SyncedState(ctxt);
  if (state == nullptr) return;
  if (state->budget != nullptr && (++state->elements % 64) == 0 && !state->budget_exhausted &&
      state->budget->Exhausted()) {
    state->budget_exhausted = true;
    xmlStopParser(ctxt);
    return;
  }
  const std::size_t depth = state->tree->open_elements();
  if (state->on_start != nullptr && *state->on_start && (depth == 1 || depth == 2)) {
    const XmlStart start{
        .parent = state->tree->innermost_open(),
        .local_name = View(localname),
        .prefix = View(prefix),
        .depth = int(depth),
        .line = ctxt->input != nullptr ? ctxt->input->line : 0,
        .tag_close = TagCloseOffset(ctxt),
        .clean = state->errors == 0 && !state->guard_changed && !state->entities_ignored};
    if ((*state->on_start)(start)) {
      xmlStopParser(ctxt);
      return;
    }
  }
  // Attributes defaulted from a DTD are not read (libxml2's tree leaves them out too
  // without XML_PARSE_DTDATTR).
  const int count = nb_attributes - nb_defaulted;
  // libxml2's depth limit: past it, the parse stops with an error.
  if (nodePush(ctxt, &state->placeholder) < 0) return;
  const int line = ctxt->input != nullptr ? ctxt->input->line : 0;
  if (!state->tree->Start(localname, prefix, uri, namespaces, nb_namespaces, attributes,
                          count > 0 ? count : 0, line)) {
    // libxml2's tree builder's warning, word for word.
    const std::string message =
        prefix != nullptr ? "Namespace prefix " + std::string(View(prefix)) + " was not found"
                          : std::string("Namespace default prefix was not found");
    RecordWarning(line, message.c_str());
  }
}

void OnCharacters(void* ctx, const xmlChar* text, int length) {
  ParseState* state = SyncedState(static_cast<xmlParserCtxtPtr>(ctx));
  if (state == nullptr || text == nullptr || length <= 0) return;
  state->tree->AddText(std::string_view(reinterpret_cast<const char*>(text), std::size_t(length)));
}

// Every element end: the element is closed, then, if it is one or two levels below the root,
// offered to the sink, which may have it dropped.
void OnEndElement(void* ctx, const xmlChar* /*localname*/, const xmlChar* /*prefix*/,
                  const xmlChar* /*uri*/) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  ParseState* state = SyncedState(ctxt);
  if (state == nullptr) return;
  nodePop(ctxt);
  int depth = 0;
  const XmlElement* element = state->tree->End(depth);
  if (element == nullptr || state->sink == nullptr || !*state->sink || depth < 1 || depth > 2) {
    return;
  }
  if ((*state->sink)(element)) state->tree->DropLast(*element);
}

bool IsXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The byte-level guard run before libxml2: in each start tag, the attributes past
// kMaxXmlAttributesPerElement and any attribute whose value is longer than
// kMaxXmlAttributeBytes are blanked out (newlines kept, so that libxml2's line numbers stay
// right), with a warning naming the limit and the line. It reads the document a piece at a
// time: a construct (tag, comment, CDATA section, ...) that a piece cuts off is held back
// until the rest of it has come, and it waits for at least as many new bytes as it holds
// before it looks again, so it stays linear in the input however long a construct is.
class XmlShapeGuard {
 public:
  explicit XmlShapeGuard(std::vector<ParseWarning>& warnings) : warnings_(warnings) {}

  // Takes the next piece of the document (`last`: there is no more) and returns the bytes
  // now ready for libxml2, valid until the next call.
  std::string_view Feed(std::string_view piece, bool last) {
    lines_ += CountByte(std::string_view(work_).substr(0, ready_), '\n');
    work_.erase(0, ready_);
    ready_ = 0;
    work_.append(piece);
    if (!last && work_.size() < 2 * held_) return {};  // too little new to look again
    ready_ = Scan(last);
    held_ = work_.size() - ready_;
    return std::string_view(work_).substr(0, ready_);
  }

  // The count of warnings not reported one by one, as a last warning.
  void Finish() {
    if (unreported_ > 0) {
      warnings_.push_back(ParseWarning{
          .message = "XML: " + std::to_string(unreported_) + " more elements over the limits"});
    }
  }

 private:
  void Warn(std::size_t at, std::string message) {
    constexpr int kMaxGuardWarnings = 10;  // each costs a line count
    if (reported_ >= kMaxGuardWarnings) {
      ++unreported_;
      return;
    }
    ++reported_;
    const int line =
        1 + static_cast<int>(lines_ + CountByte(std::string_view(work_).substr(0, at), '\n'));
    warnings_.push_back(ParseWarning{.line = line, .message = std::move(message)});
  }

  void Blank(std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k) {
      if (work_[k] != '\n') work_[k] = ' ';
    }
  }

  // Guards work_ from its start; returns where the first construct it cuts off begins (its
  // end when `last`, or when none is cut off).
  std::size_t Scan(bool last) {
    const std::string_view bytes = work_;
    const std::size_t n = bytes.size();
    std::size_t i = 0;
    while (i < n) {
      const std::size_t lt = bytes.find('<', i);
      if (lt == std::string_view::npos) break;
      const std::string_view rest = bytes.substr(lt);
      std::string_view skip_to;
      if (rest.starts_with("<!--")) {
        skip_to = "-->";
      } else if (rest.starts_with("<![CDATA[")) {
        skip_to = "]]>";
      } else if (rest.starts_with("<?")) {
        skip_to = "?>";
      } else if (rest.starts_with("<!") || rest.starts_with("</")) {
        skip_to = ">";
      }
      if (!skip_to.empty()) {
        const std::size_t end = bytes.find(skip_to, lt + 2);
        if (end == std::string_view::npos) return last ? n : lt;
        i = end + skip_to.size();
        continue;
      }
      // A start tag: its name, then attributes up to the '>' outside quotes.
      std::size_t j = lt + 1;
      while (j < n && !IsXmlSpace(bytes[j]) && bytes[j] != '>' && bytes[j] != '/') ++j;
      if (j == n && !last) return lt;
      const std::string name = TerminalSafe(bytes.substr(lt + 1, j - lt - 1), 64);
      std::size_t attributes = 0;
      std::size_t excess_from = std::string_view::npos;
      std::size_t attribute_start = j;
      std::vector<std::pair<std::size_t, std::size_t>> long_values;  // [from, to) to blank
      while (j < n && bytes[j] != '>') {
        const char c = bytes[j];
        if (IsXmlSpace(c) || c == '/' || c == '=') {
          ++j;
        } else if (c == '"' || c == '\'') {
          std::size_t close = bytes.find(c, j + 1);
          if (close == std::string_view::npos) {
            if (!last) return lt;
            close = n - 1;
          }
          if (close - j - 1 > kMaxXmlAttributeBytes && excess_from == std::string_view::npos) {
            long_values.push_back({j, close - j - 1});
            long_values.push_back({attribute_start, close + 1});
          }
          j = close + 1;
        } else {
          ++attributes;
          attribute_start = j;
          if (attributes == kMaxXmlAttributesPerElement + 1) excess_from = j;
          while (j < n && !IsXmlSpace(bytes[j]) && bytes[j] != '=' && bytes[j] != '>' &&
                 bytes[j] != '/' && bytes[j] != '"' && bytes[j] != '\'') {
            ++j;
          }
        }
      }
      if (j >= n && !last) return lt;  // the tag goes on in the next piece
      // The tag is whole: its warnings and blanks, in the order they were found.
      for (std::size_t k = 0; k < long_values.size(); k += 2) {
        Warn(long_values[k].first, "XML: <" + name + "> has an attribute value of " +
                                       std::to_string(long_values[k].second) +
                                       " bytes, over the limit of " +
                                       std::to_string(kMaxXmlAttributeBytes) +
                                       "; the attribute is ignored");
        Blank(long_values[k + 1].first, long_values[k + 1].second);
      }
      if (excess_from != std::string_view::npos) {
        std::size_t to = std::min(j, n);
        if (to > excess_from && bytes[to - 1] == '/') --to;  // keep "/>" an empty element
        Warn(lt, "XML: <" + name + "> has " + std::to_string(attributes) +
                     " attributes, over the limit of " +
                     std::to_string(kMaxXmlAttributesPerElement) +
                     " per element; the ones past it are ignored");
        Blank(excess_from, to);
      }
      i = j + 1;
    }
    return n;
  }

  std::vector<ParseWarning>& warnings_;
  std::string work_;        // the bytes not yet handed on, from the first held back
  std::size_t ready_ = 0;   // of work_, handed on by the last Feed
  std::size_t held_ = 0;    // bytes the last scan held back
  std::size_t lines_ = 0;   // newlines in the bytes before work_
  int reported_ = 0;
  int unreported_ = 0;
};

// Routes this thread's libxml2 error handlers to `state` for one parse and restores them.
class ThreadErrorScope {
 public:
  explicit ThreadErrorScope(ParseState* state)
      : previous_state_(std::exchange(t_state, state)),
        previous_structured_(xmlStructuredError),
        previous_structured_context_(xmlStructuredErrorContext),
        previous_generic_(xmlGenericError),
        previous_generic_context_(xmlGenericErrorContext) {
    xmlSetStructuredErrorFunc(nullptr, OnStructuredError);
    xmlSetGenericErrorFunc(nullptr, OnGenericError);
  }
  ~ThreadErrorScope() {
    xmlSetStructuredErrorFunc(previous_structured_context_, previous_structured_);
    xmlSetGenericErrorFunc(previous_generic_context_, previous_generic_);
    t_state = previous_state_;
  }
  ThreadErrorScope(const ThreadErrorScope&) = delete;
  ThreadErrorScope& operator=(const ThreadErrorScope&) = delete;

 private:
  ParseState* previous_state_;
  xmlStructuredErrorFunc previous_structured_;
  void* previous_structured_context_;
  xmlGenericErrorFunc previous_generic_;
  void* previous_generic_context_;
};

void InitLibxmlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

bool Matches(const XmlElement* node, std::string_view name, const char* ns_uri) {
  return node != nullptr && node->local_name() == name &&
         (ns_uri == nullptr || node->namespace_uri() == ns_uri);
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The code point of a character reference's body ("#38", "#x26"), out-of-range values
// as 0x110000 (AppendUtf8 writes U+FFFD for them); none when it is not one.
std::optional<char32_t> NumericReference(std::string_view body) {
  if (!body.starts_with('#')) return std::nullopt;
  const bool hex = body.size() > 1 && (body[1] == 'x' || body[1] == 'X');
  const std::string_view digits = body.substr(hex ? 2 : 1);
  if (digits.empty()) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : digits) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (hex && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (hex && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return std::nullopt;
    value = value * (hex ? 16 : 10) + static_cast<std::uint32_t>(digit);
    if (value > 0x10FFFF) value = 0x110000;  // stays out of range, never overflows
  }
  return static_cast<char32_t>(value);
}

// Appends the value of an attribute as libxml2 gives it to its tree builder: where it holds
// a '&', libxml2 decoded it and left a reference for each entity it did not (a predefined
// one written "&#38;", an undeclared one by name), which its tree made a text or an entity
// reference node. Here: character references and predefined entities become text; the
// others are skipped, as text reading skips entity reference nodes.
void AppendAttributeValue(std::string_view value, std::string& out) {
  while (!value.empty()) {
    const std::size_t amp = value.find('&');
    out.append(value.substr(0, amp));
    if (amp == std::string_view::npos) return;
    value.remove_prefix(amp);
    const std::size_t semicolon = value.find(';');
    if (semicolon == std::string_view::npos) {
      out.append(value);
      return;
    }
    const std::string_view name = value.substr(1, semicolon - 1);
    if (name.starts_with('#')) {
      if (const std::optional<char32_t> code_point = NumericReference(name)) {
        AppendUtf8(*code_point, out);
      }
    } else {
      static constexpr std::array<std::pair<std::string_view, char>, 5> kPredefined = {
          {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}}};
      for (const auto& [entity, c] : kPredefined) {
        if (name == entity) out += c;
      }
    }
    value.remove_prefix(semicolon + 1);
  }
}

struct NamedEntity {
  std::string_view name;
  char32_t code_point;
};
// The named references seen in feed descriptions; others stay as written.
constexpr std::array<NamedEntity, 22> kNamedEntities = {{
    {"amp", '&'},      {"lt", '<'},        {"gt", '>'},       {"quot", '"'},      {"apos", '\''},
    {"nbsp", ' '},     {"ndash", 0x2013},  {"mdash", 0x2014}, {"hellip", 0x2026}, {"lsquo", 0x2018},
    {"rsquo", 0x2019}, {"ldquo", 0x201C},  {"rdquo", 0x201D}, {"laquo", 0x00AB},  {"raquo", 0x00BB},
    {"copy", 0x00A9},  {"reg", 0x00AE},    {"trade", 0x2122}, {"middot", 0x00B7}, {"bull", 0x2022},
    {"times", 0x00D7}, {"eacute", 0x00E9},
}};

// Decodes the reference at text[0] == '&'; returns the bytes consumed, 0 when it is none.
std::size_t DecodeReference(std::string_view text, std::string& out) {
  const std::size_t semicolon = text.find(';');
  if (semicolon == std::string_view::npos || semicolon < 2 || semicolon > 12) return 0;
  const std::string_view body = text.substr(1, semicolon - 1);
  if (body.front() == '#') {
    const std::optional<char32_t> code_point = NumericReference(body);
    if (!code_point) return 0;
    AppendUtf8(*code_point, out);
    return semicolon + 1;
  }
  for (const NamedEntity& entity : kNamedEntities) {
    if (entity.name == body) {
      AppendUtf8(entity.code_point, out);
      return semicolon + 1;
    }
  }
  return 0;
}

bool IsBlockTag(std::string_view tag) {
  static constexpr std::array<std::string_view, 21> kBlock = {
      "br", "p",  "div", "li", "ul", "ol",  "h1",    "h2",         "h3",         "h4",     "h5",
      "h6", "tr", "td",  "th", "hr", "pre", "table", "blockquote", "figcaption", "section"};
  for (std::string_view block : kBlock) {
    if (tag == block) return true;
  }
  return false;
}

int TwoDigits(std::string_view text, std::size_t at) {
  if (at + 2 > text.size()) return -1;
  const char a = text[at];
  const char b = text[at + 1];
  if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
  return (a - '0') * 10 + (b - '0');
}

// The first words of a written date, split at spaces, commas and tabs: a day name, the day,
// the month, the year, the time and the zone, at most. `count` says how many were found.
struct DateTokens {
  std::array<std::string_view, 6> words;
  std::size_t count = 0;

  explicit DateTokens(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && count < words.size()) {
      while (i < text.size() && (text[i] == ' ' || text[i] == ',' || text[i] == '\t')) ++i;
      const std::size_t start = i;
      while (i < text.size() && text[i] != ' ' && text[i] != ',' && text[i] != '\t') ++i;
      if (i > start) words[count++] = text.substr(start, i - start);
    }
  }
};

bool ParseNumber(std::string_view text, int& value) {
  if (text.empty() || text.size() > 4) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

// The offset of an RFC 822 zone in minutes; false for a zone we do not know.
bool ZoneOffset(std::string_view zone, int& minutes) {
  if ((zone.size() == 5) && (zone[0] == '+' || zone[0] == '-')) {
    const int hours = TwoDigits(zone, 1);
    const int mins = TwoDigits(zone, 3);
    if (hours < 0 || mins < 0 || mins > 59) return false;
    minutes = (zone[0] == '-' ? -1 : 1) * (hours * 60 + mins);
    return true;
  }
  static constexpr std::array<std::pair<std::string_view, int>, 12> kZones = {{
      {"GMT", 0},
      {"UT", 0},
      {"UTC", 0},
      {"Z", 0},
      {"EST", -300},
      {"EDT", -240},
      {"CST", -360},
      {"CDT", -300},
      {"MST", -420},
      {"MDT", -360},
      {"PST", -480},
      {"PDT", -420},
  }};
  for (const auto& [name, offset] : kZones) {
    if (zone == name) {
      minutes = offset;
      return true;
    }
  }
  return false;
}

}  // namespace

XmlTreePtr ParseXml(std::string_view bytes, std::vector<ParseWarning>& warnings,
                    const ParseBudget& budget, const XmlElementSink& on_element) {
  return ParseXml(PiecesOf(bytes), warnings, budget, on_element);
}

XmlTreePtr ParseXml(const ByteSource& next, std::vector<ParseWarning>& warnings,
                    const ParseBudget& budget, const XmlElementSink& on_element,
                    const XmlStartHook& on_start) {
  InitLibxmlOnce();
  // The guard's warnings come first, then the NUL warning, then libxml2's: kept apart while
  // the pieces come, in that order at the end.
  std::vector<ParseWarning> guard_warnings;
  std::vector<ParseWarning> xml_warnings;
  XmlShapeGuard guard(guard_warnings);
  auto tree = std::make_unique<XmlTree>();
  ParseState state{.warnings = &xml_warnings,
                   .budget = &budget,
                   .tree = tree.get(),
                   .sink = &on_element,
                   .on_start = &on_start};
  // A push parser, fed the document a piece at a time as the guard passes it on: neither
  // the document nor libxml2's input needs to be in memory whole. Made once the first four
  // bytes are known: libxml2 detects the encoding from them.
  ParserCtxtPtr ctxt;
  std::string first;
  // libxml2 takes a NUL byte for the end of the input and drops every item after it. In a
  // document of an ASCII-compatible encoding a NUL is never XML, so it becomes a space; a
  // UTF-16 or UTF-32 document (a BOM, or a NUL in its first two bytes) keeps its bytes.
  bool wide = false;  // known once `first` is
  bool nul_read = false;
  std::string piece_copy;
  bool failed = false;
  bool stopped = false;
  auto feed = [&](std::string_view ready, bool last) {
    if (ctxt == nullptr) {
      first.append(ready);
      if (first.size() < 4 && !last) return;
      wide = first.starts_with("\xFE\xFF") || first.starts_with("\xFF\xFE") ||
             (first.size() >= 2 && (first[0] == '\0' || first[1] == '\0'));
      if (!wide && first.find('\0') != std::string::npos) {
        std::replace(first.begin(), first.end(), '\0', ' ');
        nul_read = true;
        state.guard_changed = true;
      }
      const std::size_t head = std::min<std::size_t>(first.size(), 4);
      ctxt.reset(xmlCreatePushParserCtxt(nullptr, nullptr, first.data(), int(head), nullptr));
      if (ctxt == nullptr || ctxt->sax == nullptr) {
        failed = true;
        return;
      }
      // The context owns its own copy of the SAX handler, so these overrides stay local to
      // this parse.
      ctxt->sax->entityDecl = IgnoreEntityDecl;
      ctxt->sax->unparsedEntityDecl = IgnoreUnparsedEntityDecl;
      ctxt->sax->resolveEntity = RefuseResolveEntity;
      ctxt->sax->externalSubset = nullptr;
      ctxt->sax->serror = OnStructuredError;
      // No libxml2 tree: elements and text go to the XmlTree; what it does not keep
      // (comments, processing instructions, entity references) is not made at all.
      ctxt->sax->startElementNs = OnStartElement;
      ctxt->sax->endElementNs = OnEndElement;
      ctxt->sax->characters = OnCharacters;
      ctxt->sax->ignorableWhitespace = OnCharacters;
      ctxt->sax->reference = nullptr;
      ctxt->sax->comment = IgnoreComment;
      ctxt->sax->processingInstruction = nullptr;
      // No XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_DTDVALID or
      // XML_PARSE_HUGE: libxml2 keeps its default size and depth limits.
      const int options = XML_PARSE_RECOVER | XML_PARSE_NONET | XML_PARSE_NOERROR |
                          XML_PARSE_NOWARNING | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES;
      xmlCtxtUseOptions(ctxt.get(), options);
      first.erase(0, head);
      piece_copy = std::move(first);
      ready = piece_copy;
    } else if (!wide && ready.find('\0') != std::string_view::npos) {
      piece_copy.assign(ready);
      std::replace(piece_copy.begin(), piece_copy.end(), '\0', ' ');
      ready = piece_copy;
      nul_read = true;
      state.guard_changed = true;
    }
    constexpr std::size_t kChunk = 64 * 1024;
    while (true) {
      const std::size_t n = std::min(kChunk, ready.size());
      const bool end = last && n == ready.size();
      if (n == 0 && !end) return;
      xmlParseChunk(ctxt.get(), ready.data(), static_cast<int>(n), end ? 1 : 0);
      ready.remove_prefix(n);
      // XML_PARSER_EOF before the end: stopped by the budget or by a fatal error.
      if (ctxt->instate == XML_PARSER_EOF) stopped = true;
      if (stopped || end) return;
    }
  };

  {
    ThreadErrorScope scope(&state);
    for (std::string_view piece = next(); !failed && !stopped; piece = next()) {
      const bool last = piece.empty();
      const std::string_view ready = guard.Feed(piece, last);
      state.guard_changed = !guard_warnings.empty() || nul_read;
      feed(ready, last);
      if (last) break;
    }
    guard.Finish();
    // libxml2's document holds only what the prolog declared (a DTD): not read.
    if (ctxt != nullptr) XmlDocPtr(std::exchange(ctxt->myDoc, nullptr));
  }
  warnings.insert(warnings.end(), std::make_move_iterator(guard_warnings.begin()),
                  std::make_move_iterator(guard_warnings.end()));
  if (nul_read) warnings.push_back(ParseWarning{.message = "XML: NUL bytes read as spaces"});
  if (failed) {
    warnings.push_back(ParseWarning{.message = "XML: out of memory"});
    return nullptr;
  }
  warnings.insert(warnings.end(), std::make_move_iterator(xml_warnings.begin()),
                  std::make_move_iterator(xml_warnings.end()));
  if (state.budget_exhausted) {
    warnings.push_back(ParseWarning{
        .message = "XML: the source's processing budget ran out; the rest of the document is "
                   "not read"});
  }
  if (state.entities_ignored) {
    warnings.push_back(
        ParseWarning{.message = "XML: entity declarations ignored; references not expanded"});
  }
  if (tree->root() == nullptr) {
    warnings.push_back(ParseWarning{.message = "XML: no document element could be read"});
    return nullptr;
  }
  return tree;
}

std::string_view XmlElement::local_name() const { return tree_->String(name_at_, name_size_); }

std::string_view XmlElement::namespace_uri() const { return tree_->namespaces_[namespace_]; }

const XmlElement* XmlElement::parent() const { return tree_->At(parent_); }
const XmlElement* XmlElement::first_child() const { return tree_->At(first_child_); }
const XmlElement* XmlElement::next_sibling() const { return tree_->At(next_); }

std::string_view XmlElement::text() const {
  const std::size_t end = open_ ? tree_->text_.size() : text_end_;
  return std::string_view(tree_->text_).substr(text_begin_, end - text_begin_);
}

std::string_view XmlElement::attribute(std::string_view name) const {
  for (std::uint32_t i = attributes_begin_; i < attributes_end_; ++i) {
    const XmlTree::Attr& a = tree_->attributes_[i];
    if (tree_->String(a.name_at, a.name_size) == name) {
      return tree_->String(a.value_at, a.value_size);
    }
  }
  return {};
}

std::uint32_t XmlTree::NamespaceIndex(std::string_view uri) {
  if (uri.empty()) return 0;
  const auto known = std::find(namespaces_.begin(), namespaces_.end(), uri);
  if (known != namespaces_.end()) return std::uint32_t(known - namespaces_.begin());
  namespaces_.emplace_back(uri);
  return std::uint32_t(namespaces_.size() - 1);
}

const std::uint32_t* XmlTree::Resolve(std::string_view prefix) const {
  for (auto it = in_scope_.rbegin(); it != in_scope_.rend(); ++it) {
    if (it->first == prefix) return &it->second;
  }
  return nullptr;
}

bool XmlTree::Start(const unsigned char* local_name, const unsigned char* prefix,
                    const unsigned char* uri, const unsigned char** declarations,
                    int declaration_count, const unsigned char** attributes, int attribute_count,
                    int line) {
  const auto index = std::uint32_t(elements_.size());
  XmlElement& e = elements_.emplace_back();
  e.tree_ = this;
  e.line_ = line;
  e.name_at_ = std::uint32_t(strings_.size());
  // An undeclared prefix stays part of the name, as in libxml2's tree.
  if (prefix != nullptr && uri == nullptr) strings_.append(View(prefix)).append(":");
  strings_.append(View(local_name));
  e.name_size_ = std::uint32_t(strings_.size() - e.name_at_);
  in_scope_marks_.push_back(in_scope_.size());
  for (int i = 0; i < declaration_count; ++i) {
    const std::uint32_t declared = NamespaceIndex(View(declarations[2 * i + 1]));
    in_scope_.emplace_back(View(declarations[2 * i]), declared);
  }
  // The "xml" prefix is always bound; any other is looked up from this element out.
  bool found = true;
  if (uri != nullptr) {
    if (View(prefix) == "xml") {
      e.namespace_ = NamespaceIndex(View(uri));
    } else if (const std::uint32_t* declared = Resolve(View(prefix))) {
      e.namespace_ = *declared;
    } else {
      found = false;
    }
  }
  e.attributes_begin_ = std::uint32_t(attributes_.size());
  for (int i = 0; i < attribute_count; ++i) {
    const unsigned char** a = attributes + 5 * i;  // name, prefix, URI, value, value's end
    if (a[0] == nullptr || a[3] == nullptr || a[4] < a[3]) continue;
    // A prefixed attribute is read only where libxml2's tree leaves it without a namespace:
    // named with its prefix when the parser knew none, by its local name when the parser
    // knew one but no declaration of it is in scope.
    Attr attr{.name_at = std::uint32_t(strings_.size())};
    if (a[1] != nullptr && a[2] == nullptr) {
      strings_.append(View(a[1])).append(":");
    } else if (a[1] != nullptr && (View(a[1]) == "xml" || Resolve(View(a[1])) != nullptr)) {
      continue;
    }
    strings_.append(View(a[0]));
    attr.name_size = std::uint32_t(strings_.size() - attr.name_at);
    attr.value_at = std::uint32_t(strings_.size());
    AppendAttributeValue(std::string_view(View(a[3]).data(), std::size_t(a[4] - a[3])), strings_);
    attr.value_size = std::uint32_t(strings_.size() - attr.value_at);
    attributes_.push_back(attr);
  }
  e.attributes_end_ = std::uint32_t(attributes_.size());
  e.text_begin_ = text_.size();
  if (!open_.empty()) {
    XmlElement& parent = elements_[open_.back()];
    e.parent_ = open_.back();
    e.previous_ = parent.last_child_;
    if (parent.last_child_ == XmlElement::kNone) {
      parent.first_child_ = index;
    } else {
      elements_[parent.last_child_].next_ = index;
    }
    parent.last_child_ = index;
  }
  open_.push_back(index);
  return found;
}

void XmlTree::AddText(std::string_view text) {
  if (!open_.empty()) text_.append(text);
}

const XmlElement* XmlTree::End(int& depth) {
  if (open_.empty()) return nullptr;
  depth = int(open_.size()) - 1;
  XmlElement& e = elements_[open_.back()];
  open_.pop_back();
  in_scope_.resize(in_scope_marks_.back());
  in_scope_marks_.pop_back();
  e.open_ = false;
  e.text_end_ = text_.size();
  return &e;
}

void XmlTree::DropLast(const XmlElement& element) {
  const auto index = std::uint32_t(&element - elements_.data());
  const XmlElement& e = elements_[index];
  if (e.parent_ != XmlElement::kNone) {
    XmlElement& parent = elements_[e.parent_];
    text_.resize(e.previous_ != XmlElement::kNone ? elements_[e.previous_].text_end_
                                                  : parent.text_begin_);
    parent.last_child_ = e.previous_;
    if (e.previous_ == XmlElement::kNone) {
      parent.first_child_ = XmlElement::kNone;
    } else {
      elements_[e.previous_].next_ = XmlElement::kNone;
    }
  } else {
    text_.resize(e.text_begin_);
  }
  attributes_.resize(e.attributes_begin_);
  strings_.resize(e.name_at_);
  elements_.resize(index);
}

std::string_view LocalName(const XmlElement* node) {
  return node == nullptr ? std::string_view() : node->local_name();
}

std::string_view NamespaceUri(const XmlElement* node) {
  return node == nullptr ? std::string_view() : node->namespace_uri();
}

const XmlElement* FirstChild(const XmlElement* parent, std::string_view name, const char* ns_uri) {
  if (parent == nullptr) return nullptr;
  for (const XmlElement* child = parent->first_child(); child != nullptr;
       child = child->next_sibling()) {
    if (Matches(child, name, ns_uri)) return child;
  }
  return nullptr;
}

std::vector<const XmlElement*> Children(const XmlElement* parent, std::string_view name,
                                        const char* ns_uri) {
  std::vector<const XmlElement*> found;
  if (parent == nullptr) return found;
  for (const XmlElement* child = parent->first_child(); child != nullptr;
       child = child->next_sibling()) {
    if (Matches(child, name, ns_uri)) found.push_back(child);
  }
  return found;
}

std::string NodeBytes(const XmlElement* node) {
  return node == nullptr ? std::string() : std::string(node->text());
}

std::string NodeText(const XmlElement* node) {
  return node == nullptr ? std::string() : ToValidUtf8(node->text());
}

std::string CollapsedText(const XmlElement* node) { return CollapseWhitespace(NodeText(node)); }

std::string Attribute(const XmlElement* node, const char* name) {
  return node == nullptr ? std::string() : ToValidUtf8(node->attribute(name));
}

namespace {

// Whether `html` holds neither a tag nor a reference: most descriptions are plain text.
// Two memchr scans, each far faster than one find_first_of over a set.
bool IsPlainText(std::string_view html) {
  return html.find('<') == std::string_view::npos && html.find('&') == std::string_view::npos;
}

// `html` made text where it is (tags removed, references decoded), before the UTF-8 check and
// the whitespace collapse. What is written never passes what is read, since nothing read
// becomes longer: a tag becomes a space at most, a run of text stays as it is, a reference
// is written in fewer bytes than it is spelled with (the shortest, "&lt;" and "&#0;", in one
// and three), and a byte left as written stays one byte.
void StripHtmlInPlace(std::string& html) {
  const std::string_view in = html;  // read at i; written at out <= i
  std::size_t out = 0;
  const auto put = [&](std::size_t from, std::size_t n) {
    if (out != from) std::memmove(html.data() + out, html.data() + from, n);
    out += n;
  };
  // The text between tags and references is moved a run at a time; each is found by
  // memchr, and found again only once passed.
  std::size_t next_tag = in.find('<');
  std::size_t next_reference = in.find('&');
  std::size_t i = 0;
  while (i < in.size()) {
    if (next_tag < i) next_tag = in.find('<', i);
    if (next_reference < i) next_reference = in.find('&', i);
    const std::size_t stop = std::min({next_tag, next_reference, in.size()});
    put(i, stop - i);
    i = stop;
    if (i == in.size()) break;
    const char c = in[i];
    if (c == '<' && i + 1 < in.size()) {
      const char next = in[i + 1];
      if (in.substr(i, 4) == "<!--") {
        const std::size_t end = in.find("-->", i + 4);
        i = end == std::string_view::npos ? in.size() : end + 3;
        continue;
      }
      const bool letter = (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z');
      if (letter || next == '/' || next == '!' || next == '?') {
        const std::size_t end = in.find('>', i + 1);
        if (end == std::string_view::npos) break;  // a cut-off tag ends the text
        std::size_t name_start = i + 1 + (next == '/' ? 1 : 0);
        std::string tag;
        while (name_start < end && tag.size() < 16) {
          const char t = LowerAscii(in[name_start]);
          if (!((t >= 'a' && t <= 'z') || (t >= '0' && t <= '9'))) break;
          tag += t;
          ++name_start;
        }
        if (IsBlockTag(tag)) html[out++] = ' ';
        i = end + 1;
        if (next != '/' && (tag == "script" || tag == "style")) {
          // Skip to the matching close tag, case-insensitively.
          std::size_t close = i;
          const std::string closing = "</" + tag;
          while (close < in.size()) {
            close = in.find("</", close);
            if (close == std::string_view::npos) break;
            bool match = close + closing.size() <= in.size();
            for (std::size_t k = 0; match && k < closing.size(); ++k) {
              match = LowerAscii(in[close + k]) == closing[k];
            }
            if (match) break;
            close += 2;
          }
          if (close == std::string_view::npos || close >= in.size()) {
            i = in.size();
          } else {
            const std::size_t gt = in.find('>', close);
            i = gt == std::string_view::npos ? in.size() : gt + 1;
          }
        }
        continue;
      }
    }
    if (c == '&') {
      std::string decoded;  // a few bytes: no allocation
      const std::size_t used = DecodeReference(in.substr(i), decoded);
      if (used > 0) {
        decoded.copy(html.data() + out, decoded.size());
        out += decoded.size();
        i += used;
        continue;
      }
    }
    html[out++] = c;
    ++i;
  }
  html.resize(out);
}

}  // namespace

std::string HtmlToText(std::string_view html) {
  // Plain text: nothing to do but make it valid and collapse the whitespace.
  if (IsPlainText(html)) return CollapseWhitespace(ToValidUtf8(html));
  std::string text(html);
  StripHtmlInPlace(text);
  return CollapseWhitespace(ToValidUtf8(std::move(text)));
}

std::string HtmlToText(std::string&& html) {
  if (!IsPlainText(html)) StripHtmlInPlace(html);
  return CollapseWhitespace(ToValidUtf8(std::move(html)));
}

std::string NormalizeFeedDate(std::string_view text) {
  text = Trim(text);
  if (text.size() >= 10 && TwoDigits(text, 0) >= 0 && TwoDigits(text, 2) >= 0 && text[4] == '-' &&
      TwoDigits(text, 5) >= 1 && text[7] == '-' && TwoDigits(text, 8) >= 1) {
    return ToValidUtf8(text);
  }
  const DateTokens date(text);
  // An optional leading day name ("Thu").
  const bool day_name = date.count > 0 && !(date.words[0][0] >= '0' && date.words[0][0] <= '9');
  const std::span<const std::string_view> tokens(date.words.data() + (day_name ? 1 : 0),
                                                 date.count - (day_name ? 1 : 0));
  if (tokens.size() < 3) return {};
  int day = 0;
  int year = 0;
  if (!ParseNumber(tokens[0], day) || !ParseNumber(tokens[2], year) || day < 1 || day > 31) {
    return {};
  }
  if (tokens[2].size() == 2) year += year < 50 ? 2000 : 1900;
  static constexpr std::array<std::string_view, 12> kMonths = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  int month = 0;
  if (tokens[1].size() >= 3) {
    const char lower[3] = {LowerAscii(tokens[1][0]), LowerAscii(tokens[1][1]),
                           LowerAscii(tokens[1][2])};
    for (std::size_t m = 0; m < kMonths.size(); ++m) {
      if (kMonths[m] == std::string_view(lower, 3)) month = static_cast<int>(m) + 1;
    }
  }
  if (month == 0 || year < 1000) return {};
  std::string out;
  out.reserve(25);  // 2026-11-12T09:00:00+09:00
  AppendDigits(out, unsigned(year), 4);
  out += '-';
  AppendDigits(out, unsigned(month), 2);
  out += '-';
  AppendDigits(out, unsigned(day), 2);
  if (tokens.size() < 4) return out;
  const std::string_view time = tokens[3];
  const int hour = TwoDigits(time, 0);
  const int minute = TwoDigits(time, 3);
  const int second = time.size() >= 8 ? TwoDigits(time, 6) : 0;
  if (time.size() < 5 || time[2] != ':' || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
      second < 0 || second > 60) {
    return out;
  }
  int offset = 0;
  if (tokens.size() >= 5 && !ZoneOffset(tokens[4], offset)) offset = 0;
  const int abs_offset = offset < 0 ? -offset : offset;
  out += 'T';
  AppendDigits(out, unsigned(hour), 2);
  out += ':';
  AppendDigits(out, unsigned(minute), 2);
  out += ':';
  AppendDigits(out, unsigned(second), 2);
  out += offset < 0 ? '-' : '+';
  AppendDigits(out, unsigned(abs_offset / 60), 2);
  out += ':';
  AppendDigits(out, unsigned(abs_offset % 60), 2);
  return out;
}

}  // namespace digestd
