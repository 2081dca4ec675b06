#include "fetchers/markdown_parser.h"

#include <cmark-gfm.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "core/heap_growth.h"
#include "core/identity.h"
#include "core/two_threads.h"
#include "core/utf8.h"

namespace digestd {
namespace {

// An entry bigger than this is no digest entry (the largest real one, 663 authors, is
// ~15 KB); refusing it bounds cmark's worst-case time on hostile input.
constexpr std::size_t kMaxEntryBytes = 256 * 1024;
// How much offending text a warning quotes.
constexpr std::size_t kMaxQuotedBytes = 160;

struct CmarkParserDeleter {
  void operator()(cmark_parser* parser) const { cmark_parser_free(parser); }
};
struct CmarkNodeDeleter {
  void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct CmarkIterDeleter {
  void operator()(cmark_iter* iter) const { cmark_iter_free(iter); }
};
using CmarkParserPtr = std::unique_ptr<cmark_parser, CmarkParserDeleter>;
using CmarkNodePtr = std::unique_ptr<cmark_node, CmarkNodeDeleter>;
using CmarkIterPtr = std::unique_ptr<cmark_iter, CmarkIterDeleter>;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimRight(std::string_view text) {
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

std::string_view TrimLeft(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  return text;
}

// At most kMaxQuotedBytes of `text`, cut on a character boundary, for warnings.
std::string Quote(std::string_view text) {
  if (text.size() <= kMaxQuotedBytes) return "'" + std::string(text) + "'";
  std::size_t end = kMaxQuotedBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return "'" + std::string(text.substr(0, end)) + "...'";
}

// Appends valid UTF-8 `text` with CR and CRLF made LF, and NUL made U+FFFD: runs between
// them are copied whole, each found once by memchr.
void AppendWithLfLineEnds(std::string& out, std::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  const auto next = [end](const char* from, char c) {
    const void* at = std::memchr(from, c, std::size_t(end - from));
    return at ? static_cast<const char*>(at) : end;
  };
  const char* cr = next(p, '\r');
  const char* nul = next(p, '\0');
  while (true) {
    const char* stop = std::min(cr, nul);
    out.append(p, std::size_t(stop - p));
    if (stop == end) return;
    p = stop + 1;
    if (stop == cr) {
      out += '\n';
      if (p < end && *p == '\n') ++p;
      cr = next(p, '\r');
    } else {
      out += "\xEF\xBF\xBD";
      nul = next(p, '\0');
    }
  }
}

// How many bytes at the end of `raw` must wait for the next piece: a UTF-8 sequence the end
// cuts, and a CR that may be the first half of a CRLF. What comes before them reads the same
// alone as with the rest: every byte that is not a continuation byte starts a character (or
// is replaced alone), so the cut falls where the whole text's decoding would pass too.
std::size_t HeldBack(std::string_view raw) {
  std::size_t end = raw.size();
  for (std::size_t k = 1; k <= 3 && k <= raw.size(); ++k) {
    const auto c = static_cast<unsigned char>(raw[raw.size() - k]);
    if ((c & 0xC0) == 0x80) continue;
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > k) end -= k;
    break;
  }
  if (end > 0 && raw[end - 1] == '\r') --end;
  return raw.size() - end;
}

// Appends `raw` as valid UTF-8 with LF line ends and no NUL. cmark counts lines and columns
// on what it is fed, and it would turn CR into line ends and NUL into U+FFFD itself; doing
// both first keeps its line numbers equal to ours. The usual digest is so already and is
// copied as it is.
void AppendNormalized(std::string& out, std::string_view raw) {
  if (raw.empty()) return;  // (an empty piece's data() may be null, which memchr must not get)
  if (std::memchr(raw.data(), '\r', raw.size()) == nullptr &&
      std::memchr(raw.data(), '\0', raw.size()) == nullptr && IsValidUtf8(raw)) {
    out.append(raw);
    return;
  }
  AppendValidUtf8(out, raw, AppendWithLfLineEnds);
}

// `text`'s lines into `lines` (whose room is kept from the entry before).
void SplitLines(std::string_view text, std::vector<std::string_view>& lines) {
  lines.clear();
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
}

// "YYYY-MM-DD" from a `## Daily Papers (YYYY-MM-DD)` header, or empty.
std::string DateOfHeader(std::string_view header) {
  std::string_view rest = Trim(header.substr(std::string_view("## Daily Papers").size()));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') return {};
  rest = Trim(rest.substr(1, rest.size() - 2));
  if (rest.size() != 10) return {};
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const bool dash = i == 4 || i == 7;
    if (dash ? rest[i] != '-' : (rest[i] < '0' || rest[i] > '9')) return {};
  }
  return std::string(rest);
}

struct TitleLine {
  std::string title;
  std::string url;
};

// `### [TITLE](URL)`: TITLE runs to the LAST "](" because titles hold brackets ("[IDK]",
// "GPT-[n]"), URL from there to the final ")". Returns an error message when unreadable.
std::variant<TitleLine, std::string> ReadTitleLine(std::string_view line) {
  std::string_view rest = TrimRight(TrimLeft(line.substr(4)));
  if (rest.empty() || rest.front() != '[') {
    return "title line does not start with '### [': " + Quote(line);
  }
  if (rest.back() != ')') return "title line does not end with ')': " + Quote(line);
  const std::size_t mid = rest.rfind("](");
  if (mid == std::string_view::npos || mid == 0) {
    return "title line has no '](' before its URL: " + Quote(line);
  }
  std::string_view url = Trim(rest.substr(mid + 2, rest.size() - 1 - (mid + 2)));
  if (url.size() >= 2 && url.front() == '<' && url.back() == '>') {
    url = url.substr(1, url.size() - 2);
  }
  // `[t](url "link title")`: the link title is not part of the URL.
  url = url.substr(0, std::min(url.find(' '), url.find('\t')));
  return TitleLine{.title = CollapseWhitespace(rest.substr(1, mid - 1)),
                   .url = ResolveHuggingFaceUrl(url)};
}

// Python's str(list): quoted items with backslash escapes (a name with an apostrophe is
// double-quoted, one with both quote kinds gets \'). Unquoted junk is read up to a comma.
std::vector<std::string> SplitPythonList(std::string_view text) {
  std::vector<std::string> items;
  std::size_t i = 0;
  while (i < text.size()) {
    if (IsBlank(text[i]) || text[i] == ',') {
      ++i;
      continue;
    }
    const char quote = text[i];
    if (quote != '\'' && quote != '"') {
      const std::size_t comma = std::min(text.find(',', i), text.size());
      items.emplace_back(text.substr(i, comma - i));
      i = comma;
      continue;
    }
    std::string item;
    for (++i; i < text.size() && text[i] != quote; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        const char escaped = text[++i];
        if (escaped == 'n' || escaped == 't') {
          item += ' ';
        } else if (escaped == '\\' || escaped == '\'' || escaped == '"') {
          item += escaped;
        } else {  // \xNN and friends are left as written
          item += '\\';
          item += escaped;
        }
      } else {
        item += text[i];
      }
    }
    ++i;  // the closing quote
    items.push_back(std::move(item));
  }
  return items;
}

// A paper's authors as they are read: each name once, in the order first given. A name is
// looked for among the kept ones, and past kLinearAuthors (a collaboration's thousands) in a
// set of them. A paper's names are the most small strings a digest holds: none is copied
// on its way in (issue 12: two copies and a set node a name were a tenth of the parse).
class AuthorList {
 public:
  // `expected`: how many names the line may hold (its commas say), for the list's room: up
  // to kRoomAtMost, so that a line of commas keeps no room for names it does not have.
  AuthorList(Paper& paper, std::size_t expected) : paper_(paper) {
    paper_.authors.reserve(std::min(expected, kRoomAtMost));
  }

  void Add(std::string_view raw) {
    std::string name = CollapseWhitespace(raw);
    if (name == "+") {
      paper_.authors_truncated = true;
      return;
    }
    if (name.empty() || Has(name)) return;
    const bool moves = paper_.authors.size() == paper_.authors.capacity();
    paper_.authors.push_back(std::move(name));
    if (seen_.empty() && paper_.authors.size() <= kLinearAuthors) return;
    if (moves || seen_.empty()) {  // the set views the names where they are now
      seen_.clear();
      seen_.insert(paper_.authors.begin(), paper_.authors.end());
    } else {
      seen_.insert(paper_.authors.back());
    }
  }

 private:
  static constexpr std::size_t kLinearAuthors = 32;
  static constexpr std::size_t kRoomAtMost = 64;

  bool Has(std::string_view name) const {
    if (!seen_.empty()) return seen_.count(name) > 0;
    return std::find(paper_.authors.begin(), paper_.authors.end(), name) != paper_.authors.end();
  }

  Paper& paper_;
  std::unordered_set<std::string_view> seen_;
};

// `Authors: A, B, +, C` or `Authors: ['A', "B'c"]` into `paper`.
void ReadAuthors(std::string_view text, Paper& paper) {
  text = Trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    const std::vector<std::string> items = SplitPythonList(text.substr(1, text.size() - 2));
    AuthorList authors(paper, items.size());
    for (const std::string& item : items) authors.Add(item);
    return;
  }
  AuthorList authors(paper, std::size_t(std::count(text.begin(), text.end(), ',')) + 1);
  while (!text.empty()) {
    const std::size_t comma = std::min(text.find(','), text.size());
    authors.Add(text.substr(0, comma));
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
}

bool IsVideoUrl(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  for (std::string_view ext : {".mp4", ".webm", ".mov", ".qt", ".m4v", ".ogv"}) {
    if (url.ends_with(ext)) return true;
  }
  return false;
}

// The src of the first <video ...> (or its <source ...>) in raw HTML, or empty.
std::string VideoSourceIn(std::string_view html) {
  const std::size_t video = html.find("<video");
  if (video == std::string_view::npos) return {};
  std::size_t at = video;
  while ((at = html.find("src=", at)) != std::string_view::npos) {
    at += 4;
    if (at >= html.size()) break;
    const char quote = html[at];
    if (quote == '"' || quote == '\'') {
      const std::size_t end = html.find(quote, at + 1);
      if (end == std::string_view::npos) break;
      return std::string(Trim(html.substr(at + 1, end - at - 1)));
    }
    const std::size_t end = std::min(html.find_first_of(" \t\n>", at), html.size());
    return std::string(html.substr(at, end - at));
  }
  return {};
}

std::string_view LiteralOf(cmark_node* node) {
  const char* literal = cmark_node_get_literal(node);
  return literal ? std::string_view(literal) : std::string_view();
}

// The media of a block before the bullets: an image, a [Watch Video](...) link or the src
// of raw <video> HTML, whichever comes first. Empty when the block has none.
std::string MediaIn(cmark_node* block) {
  CmarkIterPtr iter(cmark_iter_new(block));
  cmark_event_type event;
  while ((event = cmark_iter_next(iter.get())) != CMARK_EVENT_DONE) {
    if (event != CMARK_EVENT_ENTER) continue;
    cmark_node* node = cmark_iter_get_node(iter.get());
    const char* url = cmark_node_get_url(node);
    switch (cmark_node_get_type(node)) {
      case CMARK_NODE_IMAGE:
        if (url && *url) return url;
        break;
      case CMARK_NODE_LINK: {
        cmark_node* text = cmark_node_first_child(node);
        const bool watch = text && LiteralOf(text).find("Video") != std::string_view::npos;
        if (url && *url && (watch || IsVideoUrl(url))) return url;
        break;
      }
      case CMARK_NODE_HTML_BLOCK:
      case CMARK_NODE_HTML_INLINE:
        if (std::string src = VideoSourceIn(LiteralOf(node)); !src.empty()) return src;
        break;
      default:
        break;
    }
  }
  return {};
}

// Appends `line` (as written, minus trailing blanks) to a bullet on its own line.
void AppendLine(std::string& bullet, std::string_view line) {
  line = TrimRight(line);
  if (line.empty()) return;
  if (!bullet.empty()) bullet += '\n';
  bullet.append(line);
}

// How many spaces `line` starts with; npos when it holds nothing else.
std::size_t Indent(std::string_view line) { return line.find_first_not_of(' '); }

// Whether `text` could be read by cmark as a line of only '-', '=', '*' or '_' (and blanks):
// a thematic break or a setext heading's underline, which change the blocks around them.
bool IsRuleLike(std::string_view text) {
  return !text.empty() && text.find_first_not_of("-=*_ \t") == std::string_view::npos;
}

bool IsMarker(char c) { return c == '-' || c == '*' || c == '+'; }

// A line cmark could read as opening a block that swallows or reshapes the lines after it
// (fenced code, raw HTML, a block quote, a heading, an ordered list, a rule), or as a link
// reference definition, which the media before the bullets may use; `text` is the line from
// its first non-blank.
bool OpensOtherBlock(std::string_view text) {
  switch (text.front()) {
    case '`':
    case '~':
    case '<':
    case '>':
    case '#':
    case '|':
    case '[':
    case '\t':
      return true;
    default:
      break;
  }
  if (text.front() >= '0' && text.front() <= '9') {
    const std::size_t end = text.find_first_not_of("0123456789");
    return end != std::string_view::npos && (text[end] == '.' || text[end] == ')');
  }
  return IsRuleLike(text);
}

// The 0-based index of each top-level bullet's first line among `lines` (an entry's body),
// found without cmark when the body is made only of the shapes real digests use: blank
// lines, text lines, bullets at the line start ("- text") and indented lines after the first
// bullet. There cmark's top-level list items are exactly the lines that start with a marker,
// a space and text, and whatever cmark makes of the other lines (nested lists, lazy
// continuations, paragraphs) only joins a bullet. nullopt when any line could mean more (a
// fence, HTML, a quote, a heading, an ordered list, a rule, a tab, a link definition, an
// empty or oddly spaced bullet, an indented bullet before the first): cmark reads those.
// tests/fuzz/markdown_fuzz.cc checks both readings agree on any input.
// The starts go to `starts` (whose room is kept from the entry before); false where cmark
// must read the body.
bool PlainBulletStarts(const std::vector<std::string_view>& lines,
                       std::vector<std::size_t>& starts) {
  starts.clear();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t indent = Indent(line);
    if (indent == std::string_view::npos) continue;  // blank
    const std::string_view text = line.substr(indent);
    if (OpensOtherBlock(text)) return false;
    const bool marker = IsMarker(text.front()) && (text.size() == 1 || text[1] == ' ' ||
                                                   text[1] == '\t');
    if (!marker) continue;  // text: a paragraph's line or a lazy continuation
    if (indent > 0) {
      if (starts.empty()) return false;         // might start the first list
      continue;                                 // nested, or a sibling cmark indents
    }
    // "- text": the content must start right after one space with something that opens no
    // block of its own (a marker may start it as emphasis, "- **bold**", not as a list).
    const std::string_view content = text.substr(std::min<std::size_t>(2, text.size()));
    if (text[1] != ' ' || content.empty() || content.front() == ' ' ||
        OpensOtherBlock(content) ||
        (IsMarker(content.front()) &&
         (content.size() == 1 || content[1] == ' ' || content[1] == '\t'))) {
      return false;
    }
    starts.push_back(i);
  }
  return true;
}

// What reading an entry needs room for, kept by a thread from one entry to the next.
struct EntryScratch {
  std::vector<std::string_view> lines;
  std::vector<std::size_t> bullet_starts;  // 0-based, into `lines`
  std::vector<cmark_node*> front_blocks;
};

// Everything one `### ` entry needs while it is read.
class EntryReader {
 public:
  // `plain_blocks`: read the blocks of plain bodies without cmark (PlainBulletStarts).
  EntryReader(cmark_parser* parser, ParseResult& result, bool plain_blocks, EntryScratch& scratch)
      : parser_(parser), result_(result), plain_blocks_(plain_blocks), scratch_(scratch) {}

  // `entry` is the text from the `### ` line up to the next heading; `first_line` is the
  // 1-based input line of its `### ` line.
  void Read(std::string_view entry, int first_line) {
    const std::size_t nl = entry.find('\n');
    const std::string_view heading = entry.substr(0, nl);
    const std::string_view body =
        nl == std::string_view::npos ? std::string_view() : entry.substr(nl + 1);
    auto title_line = ReadTitleLine(heading);
    if (auto* error = std::get_if<std::string>(&title_line)) {
      Warn(first_line, "entry skipped: " + *error);
      return;
    }
    if (body.size() > kMaxEntryBytes) {
      Warn(first_line, "entry skipped: longer than " + std::to_string(kMaxEntryBytes) +
                           " bytes: " + Quote(heading));
      return;
    }
    auto& title = std::get<TitleLine>(title_line);
    Paper paper;
    paper.title = std::move(title.title);
    paper.url = std::move(title.url);
    if (auto arxiv = ExtractArxivId(paper.url)) {
      paper.key = std::move(arxiv->key);
      paper.version = std::move(arxiv->version);
    } else {
      paper.key = KeyForUrl(paper.url);
    }
    if (paper.url.empty()) Warn(first_line, "entry has no URL: " + Quote(heading));
    ReadBody(body, first_line + 1, paper);
    result_.digest.papers.push_back(std::move(paper));
  }

 private:
  void Warn(int line, std::string message) {
    result_.warnings.push_back(ParseWarning{.line = line, .message = std::move(message)});
  }

  // The body's block structure comes from cmark, or for a plain body from its lines
  // (PlainBulletStarts); the text of fields always from the source lines.
  // Lines before the first top-level bullet carry media, `Vote:` and `Authors:`. From the
  // first bullet on, each top-level bullet starts a summary item, and every other line
  // (nested bullets, indented bullets, stray paragraphs) joins the item before it.
  void ReadBody(std::string_view body, int first_line, Paper& paper) {
    std::vector<std::string_view>& lines = scratch_.lines;
    SplitLines(body, lines);
    // 0-based index into `lines` of each top-level bullet's first line.
    std::vector<std::size_t>& bullet_starts = scratch_.bullet_starts;
    std::vector<cmark_node*>& front_blocks = scratch_.front_blocks;
    front_blocks.clear();
    // A plain body's bullets are known from its lines, and cmark reads only the lines before
    // the first, for their media: the summaries, most of the text, would cost it an inline
    // parse each for nothing.
    const bool plain = plain_blocks_ && PlainBulletStarts(lines, bullet_starts);
    if (!plain) bullet_starts.clear();
    std::size_t read = body.size();
    if (plain && !bullet_starts.empty()) {
      read = std::size_t(lines[bullet_starts.front()].data() - body.data());
    }
    cmark_parser_feed(parser_, body.data(), read);
    CmarkNodePtr root(cmark_parser_finish(parser_));
    if (!root) return;
    if (plain) {
      for (cmark_node* block = cmark_node_first_child(root.get()); block;
           block = cmark_node_next(block)) {
        front_blocks.push_back(block);
      }
    } else {
      ReadBlocks(root.get(), lines, bullet_starts, front_blocks);
    }
    const std::size_t front_end = bullet_starts.empty() ? lines.size() : bullet_starts.front();
    for (cmark_node* block : front_blocks) {
      if (!paper.media_url.empty()) break;
      paper.media_url = ResolveHuggingFaceUrl(ToValidUtf8(MediaIn(block)));
    }
    ReadFields(lines, front_end, first_line, paper);

    paper.summary.reserve(bullet_starts.size());
    for (std::size_t b = 0; b < bullet_starts.size(); ++b) {
      const std::size_t end = b + 1 < bullet_starts.size() ? bullet_starts[b + 1] : lines.size();
      std::string bullet(BulletText(lines[bullet_starts[b]]));
      for (std::size_t i = bullet_starts[b] + 1; i < end; ++i) AppendLine(bullet, lines[i]);
      if (!bullet.empty()) paper.summary.push_back(std::move(bullet));
    }
  }

  // The top-level bullets and the blocks before the first of them, as cmark read them.
  static void ReadBlocks(cmark_node* root, const std::vector<std::string_view>& lines,
                         std::vector<std::size_t>& bullet_starts,
                         std::vector<cmark_node*>& front_blocks) {
    for (cmark_node* block = cmark_node_first_child(root); block;
         block = cmark_node_next(block)) {
      const bool bullets = cmark_node_get_type(block) == CMARK_NODE_LIST &&
                           cmark_node_get_list_type(block) == CMARK_BULLET_LIST;
      if (!bullets) {
        if (bullet_starts.empty()) front_blocks.push_back(block);
        continue;
      }
      for (cmark_node* item = cmark_node_first_child(block); item; item = cmark_node_next(item)) {
        const int start = cmark_node_get_start_line(item);
        if (start < 1 || static_cast<std::size_t>(start) > lines.size()) continue;
        // An indented bullet after a bullet reads as nested, whatever cmark made of it.
        if (!bullet_starts.empty() &&
            (cmark_node_get_start_column(item) > 1 ||
             static_cast<std::size_t>(start - 1) <= bullet_starts.back())) {
          continue;
        }
        bullet_starts.push_back(static_cast<std::size_t>(start - 1));
      }
    }
  }

  // `Vote:` and `Authors:` lines among lines[0, end); the first of each wins.
  void ReadFields(const std::vector<std::string_view>& lines, std::size_t end, int first_line,
                  Paper& paper) {
    bool have_votes = false;
    bool have_authors = false;
    for (std::size_t i = 0; i < end; ++i) {
      const std::string_view line = TrimLeft(lines[i]);
      if (!have_votes && line.starts_with("Vote:")) {
        have_votes = true;
        const std::string_view value = Trim(line.substr(5));
        int votes = 0;
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), votes);
        if (ec == std::errc() && ptr == value.data() + value.size()) {
          paper.votes = votes;
        } else if (value != "-" && !value.empty()) {
          Warn(first_line + static_cast<int>(i), "unreadable vote count: " + Quote(value));
        }
      } else if (!have_authors && line.starts_with("Authors:")) {
        have_authors = true;
        ReadAuthors(line.substr(8), paper);
      }
    }
  }

  // A bullet's first line without its marker ("- ", "* ", "+ ") and blanks.
  static std::string_view BulletText(std::string_view line) {
    line = TrimLeft(line);
    if (!line.empty()) line.remove_prefix(1);
    return TrimRight(TrimLeft(line));
  }

  cmark_parser* parser_;
  ParseResult& result_;
  bool plain_blocks_;
  EntryScratch& scratch_;
};

// One `### ` entry the scan found, and what reading it gave besides its paper.
struct Entry {
  std::string_view text;  // from the `### ` line up to the next heading
  int line = 0;           // 1-based input line of its `### ` line
  std::vector<ParseWarning> warnings;
  bool has_paper = false;
  bool done = false;      // read before the budget ran out
};

// Reads `entries` (in place; entry i's paper into papers[i]), each with its own cmark AST,
// freed before the next. A long digest is read on two threads: entries are independent, and
// cmark is most of the parse. Stops when `budget` runs out.
void ReadEntries(std::vector<Entry>& entries, std::vector<Paper>& papers,
                 const ParseBudget& budget, bool plain_blocks) {
  OnTwoThreads(entries.size(), 128, [&] {
    // One parser per thread: cmark_parser_finish leaves it ready for the next document.
    return [&, parser = CmarkParserPtr(cmark_parser_new(CMARK_OPT_DEFAULT)), read = ParseResult(),
            scratch = EntryScratch()](std::size_t first, std::size_t last) mutable {
      for (std::size_t i = first; i < last; ++i) {
        if (budget.Exhausted()) return false;
        Entry& entry = entries[i];
        EntryReader(parser.get(), read, plain_blocks, scratch).Read(entry.text, entry.line);
        entry.has_paper = !read.digest.papers.empty();
        if (entry.has_paper) papers[i] = std::move(read.digest.papers.front());
        entry.warnings = std::move(read.warnings);
        read.digest.papers.clear();
        read.warnings.clear();
        entry.done = true;
      }
      return true;
    };
  });
}

constexpr std::string_view kBudgetRanOut =
    "the source's processing budget ran out; the rest is not read";

// Reads a digest a piece at a time, so that a long one is never held whole (issue 12: a
// 12 MB digest was the peak of a first run's memory): the text is made valid (HeldBack,
// AppendNormalized), its lines scanned for the `### ` and `## ` headings by hand, and the
// entries found are read in batches (ReadEntries, each with its own cmark AST), after which
// their text goes. What is held is a batch, the entry still open (no more of it than
// EntryReader reads) and the line being scanned (whole: the source's max_bytes bounds it).
// The scan's own warnings go between the entries', where they were found: each with the
// number of entries before it.
class DigestReader {
 public:
  // `plain_blocks` as for EntryReader.
  DigestReader(const ParseBudget& budget, bool plain_blocks)
      : budget_(budget), plain_blocks_(plain_blocks) {}

  // Reads `next`, whose byte order mark, if it had one, is gone (WithoutUtf8Bom).
  ParseResult Read(const ByteSource& next) {
    for (std::string_view piece = next(); !piece.empty() && !Done(); piece = next()) {
      Feed(piece, false);
    }
    if (!Done()) Feed({}, true);
    if (!Done()) FinishEntry(text_.size());
    ReadBatch();
    if (!stopped_) EmitScanWarnings(entries_read_);
    return std::move(result_);
  }

 private:
  // A `### ` entry found, by its place in text_.
  struct Found {
    std::size_t begin = 0;
    std::size_t end = 0;
    int line = 0;
  };

  // A batch is read once it holds this many entries or spans this many bytes: enough chunks of
  // ReadEntries for both threads to share them evenly (batches of 1 MiB read a 1,000-entry
  // digest a third slower, in an uneven second batch).
  static constexpr std::size_t kBatchEntries = 2048;
  static constexpr std::size_t kBatchBytes = 2 * 1024 * 1024;
  // The text before what is still needed goes once it is this long (not a move per line).
  static constexpr std::size_t kDropAbove = 64 * 1024;
  // What the text holds at most, but for a line longer than an entry: a batch, the entry
  // still open, a piece not yet scanned and what was not yet dropped before them.
  static constexpr std::size_t kTextRoom = kBatchBytes + kMaxEntryBytes + 4 * kDropAbove;

  bool Done() const { return ran_out_ || stopped_; }
  std::size_t EntriesFound() const { return entries_read_ + found_.size(); }

  // Takes `piece` (with the bytes held back from the one before); `last` at the end.
  void Feed(std::string_view piece, bool last) {
    std::string_view raw = piece;
    if (!held_.empty()) {
      held_.append(piece);
      raw = held_;
    }
    const std::size_t held = last ? 0 : HeldBack(raw);
    MakeRoom(raw.size() - held);
    AppendNormalized(text_, raw.substr(0, raw.size() - held));
    std::string rest(raw.substr(raw.size() - held));  // raw may point into held_
    held_ = std::move(rest);
    Scan(last);
    if (!found_.empty() && (found_.back().end - found_.front().begin >= kBatchBytes ||
                            found_.size() >= kBatchEntries)) {
      ReadBatch();
    }
    Drop();
  }

  // Makes room in text_ for `bytes` more. A text that outgrows a few pieces (a long day) takes
  // its whole room at once, not by doublings: each doubling copied the text into a new block
  // whose every page then faulted as it was first written (about 1,100 of a 10,000-paper
  // first run's 6,300 faults). The room's pages are made present as the text first reaches
  // them.
  void MakeRoom(std::size_t bytes) {
    const std::size_t size = text_.size() + bytes;
    if (size > 2 * kDropAbove && text_.capacity() < kTextRoom) text_.reserve(kTextRoom);
    if (text_.capacity() < kTextRoom) return;
    if (text_.data() != present_in_) {  // a new block (a line longer than the room)
      present_in_ = text_.data();
      present_ = text_.size();
    }
    const std::size_t to = std::min(size, text_.capacity());
    if (to <= present_) return;
    PopulateRange(text_.data() + present_, to - present_);
    present_ = to;
  }

  // Reads the whole lines of text_ not scanned yet (the last one too at the end).
  void Scan(bool last) {
    while (scan_ < text_.size()) {
      // The clock is read every 256 lines, not each: 120,000 readings were 4% of scanning a
      // 10,000-paper day. 256 lines take microseconds.
      if (line_number_ % 256 == 0 && budget_.Exhausted()) {
        scan_warnings_.emplace_back(
            EntriesFound(),
            ParseWarning{.line = line_number_, .message = std::string(kBudgetRanOut)});
        ran_out_ = true;
        return;
      }
      std::size_t nl = text_.find('\n', std::max(scan_, searched_));
      if (nl == std::string::npos) {
        searched_ = text_.size();  // a long line cut by many pieces is searched once
        if (!last) return;
        nl = text_.size();
      }
      const std::string_view line = std::string_view(text_).substr(scan_, nl - scan_);
      ++line_number_;
      if (line.starts_with("### ")) {
        FinishEntry(scan_);
        if (!in_other_section_) {
          entry_begin_ = scan_;
          entry_line_ = line_number_;
        }
      } else if (line.starts_with("## ")) {
        FinishEntry(scan_);
        in_other_section_ = !line.starts_with("## Daily Papers");
        if (!in_other_section_ && result_.digest.date.empty()) {
          result_.digest.date = DateOfHeader(TrimRight(line));
          if (result_.digest.date.empty()) {
            scan_warnings_.emplace_back(
                EntriesFound(),
                ParseWarning{.line = line_number_,
                             .message = "day header without a date: " + Quote(line)});
          }
        }
      }
      scan_ = std::min(nl + 1, text_.size());
      searched_ = scan_;
    }
  }

  void FinishEntry(std::size_t end) {
    if (entry_begin_ == std::string::npos) return;
    found_.push_back({.begin = entry_begin_, .end = end, .line = entry_line_});
    entry_begin_ = std::string::npos;
  }

  // Reads the entries found, each paper into the result with the warnings before it; the
  // first one the budget left unread ends the parse.
  void ReadBatch() {
    if (found_.empty() || stopped_) return;
    std::vector<Entry> entries;
    entries.reserve(found_.size());
    for (const Found& f : found_) {
      entries.push_back({.text = std::string_view(text_).substr(f.begin, f.end - f.begin),
                         .line = f.line});
    }
    // The batch's papers go where the last batch's were: pages already touched.
    std::vector<Paper>& papers = batch_papers_;
    papers.clear();
    papers.resize(entries.size());
    ReadEntries(entries, papers, budget_, plain_blocks_);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      EmitScanWarnings(entries_read_ + i);
      Entry& entry = entries[i];
      if (!entry.done) {
        result_.warnings.push_back(
            ParseWarning{.line = entry.line, .message = std::string(kBudgetRanOut)});
        stopped_ = true;
        break;
      }
      if (entry.has_paper) AppendToDay(result_.digest.papers, std::move(papers[i]));
      for (ParseWarning& warning : entry.warnings) result_.warnings.push_back(std::move(warning));
    }
    entries_read_ += found_.size();
    found_.clear();
  }

  // The scan's warnings found before entry `index` was.
  void EmitScanWarnings(std::size_t index) {
    for (; next_scan_warning_ < scan_warnings_.size() &&
           scan_warnings_[next_scan_warning_].first <= index;
         ++next_scan_warning_) {
      result_.warnings.push_back(std::move(scan_warnings_[next_scan_warning_].second));
    }
  }

  // Lets go of the text no entry needs any more. An open entry past the size EntryReader
  // refuses keeps only enough of its body to be refused as too long, whatever follows.
  void Drop() {
    if (entry_begin_ != std::string::npos) {
      const std::size_t heading_end = text_.find('\n', entry_begin_);
      if (heading_end < scan_) {
        const std::size_t keep_to = heading_end + 1 + kMaxEntryBytes + 1;
        if (scan_ > keep_to) {
          text_.erase(keep_to, scan_ - keep_to);
          searched_ -= scan_ - keep_to;
          scan_ = keep_to;
        }
      }
    }
    std::size_t needed = scan_;
    if (entry_begin_ != std::string::npos) needed = std::min(needed, entry_begin_);
    if (!found_.empty()) needed = std::min(needed, found_.front().begin);
    if (needed < kDropAbove && needed * 2 < text_.size()) return;
    text_.erase(0, needed);
    scan_ -= needed;
    searched_ -= needed;
    if (entry_begin_ != std::string::npos) entry_begin_ -= needed;
    for (Found& f : found_) {
      f.begin -= needed;
      f.end -= needed;
    }
  }

  const ParseBudget& budget_;
  const bool plain_blocks_;
  ParseResult result_;
  std::string held_;        // raw bytes waiting for the next piece (HeldBack)
  std::string text_;        // valid UTF-8, LF line ends: from the oldest entry still needed
  const char* present_in_ = nullptr;  // MakeRoom's: text_'s block whose first present_ bytes
  std::size_t present_ = 0;           // ... are known to be present
  std::size_t scan_ = 0;    // in text_: the first line not scanned
  std::size_t searched_ = 0;  // in text_: no line end from scan_ up to here (>= scan_)
  int line_number_ = 0;     // lines scanned
  std::size_t entry_begin_ = std::string::npos;  // in text_: the open entry's `### ` line
  int entry_line_ = 0;
  bool in_other_section_ = false;  // under a `## ` heading that is not a day header
  std::vector<Found> found_;       // entries found and not read yet, in order
  std::vector<Paper> batch_papers_;  // ReadBatch's, each moved to result_ when read
  std::size_t entries_read_ = 0;
  std::vector<std::pair<std::size_t, ParseWarning>> scan_warnings_;
  std::size_t next_scan_warning_ = 0;
  bool ran_out_ = false;  // the budget ran out in the scan: the rest is not read
  bool stopped_ = false;  // ... or while reading an entry: nothing after it is kept
};

}  // namespace

ParseResult ParseMarkdownDigest(std::string_view bytes, const ParseBudget& budget) {
  return ParseMarkdownDigest(PiecesOf(bytes), budget);
}

ParseResult ParseMarkdownDigest(const ByteSource& next, const ParseBudget& budget) {
  return DigestReader(budget, true).Read(WithoutUtf8Bom(next));
}

ParseResult ParseMarkdownDigestWithCmark(std::string_view bytes, const ParseBudget& budget) {
  return DigestReader(budget, false).Read(WithoutUtf8Bom(PiecesOf(bytes)));
}

}  // namespace digestd
