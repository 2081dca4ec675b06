#include "fetchers/hf_daily_parser.h"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/identity.h"
#include "core/utf8.h"

namespace digestd {
namespace {

namespace json = boost::json;

// The string at `key` of `object` (null object allowed), made valid UTF-8; "" when absent or
// not a string.
std::string StringAt(const json::object* object, std::string_view key) {
  if (object == nullptr) return {};
  const json::value* value = object->if_contains(key);
  if (value == nullptr || !value->is_string()) return {};
  const json::string& text = value->get_string();
  return ToValidUtf8(std::string_view(text.data(), text.size()));
}

const json::object* ObjectAt(const json::object* object, std::string_view key) {
  if (object == nullptr) return nullptr;
  const json::value* value = object->if_contains(key);
  return value != nullptr ? value->if_object() : nullptr;
}

const json::array* ArrayAt(const json::object* object, std::string_view key) {
  if (object == nullptr) return nullptr;
  const json::value* value = object->if_contains(key);
  return value != nullptr ? value->if_array() : nullptr;
}

// A JSON number as an int (the API's own types call upvotes a float), clamped to int's
// range; nullopt for anything else, NaN included.
std::optional<int> IntAt(const json::object* object, std::string_view key) {
  if (object == nullptr) return std::nullopt;
  const json::value* value = object->if_contains(key);
  if (value == nullptr) return std::nullopt;
  double number = 0;
  if (value->is_int64()) {
    number = static_cast<double>(value->get_int64());
  } else if (value->is_uint64()) {
    number = static_cast<double>(value->get_uint64());
  } else if (value->is_double()) {
    number = value->get_double();
  } else {
    return std::nullopt;
  }
  if (std::isnan(number)) return std::nullopt;
  constexpr double kMin = std::numeric_limits<int>::min();
  constexpr double kMax = std::numeric_limits<int>::max();
  if (number <= kMin) return std::numeric_limits<int>::min();
  if (number >= kMax) return std::numeric_limits<int>::max();
  return static_cast<int>(std::llround(number));
}

// "YYYY-MM-DD" from the front of an ISO timestamp; "" when it does not start with one.
std::string DatePart(std::string_view timestamp) {
  if (timestamp.size() < 10 || timestamp[4] != '-' || timestamp[7] != '-') return {};
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (timestamp[i] < '0' || timestamp[i] > '9') return {};
  }
  return std::string(timestamp.substr(0, 10));
}

void PutExtra(Paper& paper, const char* name, std::string value) {
  if (!value.empty()) paper.extra[name] = std::move(value);
}

void AddUnique(std::vector<std::string>& list, std::string value) {
  if (value.empty()) return;
  for (const std::string& existing : list) {
    if (existing == value) return;
  }
  list.push_back(std::move(value));
}

// The first non-empty string of an array of URLs.
std::string FirstUrl(const json::array* urls) {
  if (urls == nullptr) return {};
  for (const json::value& url : *urls) {
    if (!url.is_string()) continue;
    std::string text(Trim(ToValidUtf8(url.get_string())));
    if (!text.empty()) return text;
  }
  return {};
}

// One item; nullopt (with `why` set) when it lacks a usable paper id or title.
std::optional<Paper> ParseItem(const json::object& item, std::string& why) {
  const json::object* paper_json = ObjectAt(&item, "paper");
  if (paper_json == nullptr) {
    why = "no \"paper\" object";
    return std::nullopt;
  }
  const std::string id(Trim(StringAt(paper_json, "id")));
  if (id.empty()) {
    why = "no paper.id";
    return std::nullopt;
  }
  std::string title = CollapseWhitespace(StringAt(paper_json, "title"));
  if (title.empty()) title = CollapseWhitespace(StringAt(&item, "title"));
  if (title.empty()) {
    why = "no paper.title";
    return std::nullopt;
  }

  Paper paper;
  paper.title = std::move(title);
  if (auto arxiv = ExtractArxivId(id)) {
    paper.url = "https://arxiv.org/abs/" + arxiv->key.substr(6);
    paper.key = std::move(arxiv->key);
    paper.version = std::move(arxiv->version);
  } else {
    // Not an arXiv id (none seen so far): the paper page is then the identity.
    paper.url = "https://huggingface.co/papers/" + id;
    paper.key = KeyForUrl(paper.url);
  }

  // Authors marked "hidden" are kept: the flag hides the Hugging Face profile link, while the
  // name itself is public on the arXiv page.
  if (const json::array* authors = ArrayAt(paper_json, "authors")) {
    for (const json::value& author : *authors) {
      AddUnique(paper.authors, CollapseWhitespace(StringAt(author.if_object(), "name")));
    }
  }

  std::string abstract = CollapseWhitespace(StringAt(paper_json, "summary"));
  if (abstract.empty()) abstract = CollapseWhitespace(StringAt(&item, "summary"));
  if (!abstract.empty()) paper.summary.push_back(std::move(abstract));
  std::string ai_summary = CollapseWhitespace(StringAt(paper_json, "ai_summary"));
  if (!ai_summary.empty()) paper.summary.push_back(std::move(ai_summary));

  paper.votes = IntAt(paper_json, "upvotes");

  std::string media(Trim(StringAt(&item, "thumbnail")));
  if (media.empty()) media = FirstUrl(ArrayAt(&item, "mediaUrls"));
  if (media.empty()) media = FirstUrl(ArrayAt(paper_json, "mediaUrls"));
  paper.media_url = ResolveHuggingFaceUrl(media);

  if (const json::array* keywords = ArrayAt(paper_json, "ai_keywords")) {
    for (const json::value& keyword : *keywords) {
      if (keyword.is_string()) {
        AddUnique(paper.tags, CollapseWhitespace(ToValidUtf8(keyword.get_string())));
      }
    }
  }

  PutExtra(paper, "github", std::string(Trim(StringAt(paper_json, "githubRepo"))));
  if (auto stars = IntAt(paper_json, "githubStars")) {
    PutExtra(paper, "github_stars", std::to_string(*stars));
  }
  PutExtra(paper, "project_page", std::string(Trim(StringAt(paper_json, "projectPage"))));
  if (auto comments = IntAt(&item, "numComments")) {
    PutExtra(paper, "comments", std::to_string(*comments));
  }
  std::string organization = StringAt(ObjectAt(&item, "organization"), "name");
  if (organization.empty()) organization = StringAt(ObjectAt(paper_json, "organization"), "name");
  PutExtra(paper, "organization", CollapseWhitespace(organization));
  PutExtra(paper, "submitted_on_daily", DatePart(StringAt(paper_json, "submittedOnDailyAt")));
  PutExtra(paper, "published", std::string(Trim(StringAt(paper_json, "publishedAt"))));
  return paper;
}

// The value of the four hex digits at text[at..at+4), or -1.
int HexQuad(std::string_view text, std::size_t at) {
  if (at + 4 > text.size()) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const char c = text[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// JSON text, given in pieces, whose \uD800-\uDFFF escapes that are not a high-low pair are
// replaced by \uFFFD: Boost.JSON refuses the whole document for one, where the character is
// all that is wrong. An escape a piece cuts (a pair is 12 bytes) waits for the next piece;
// the text before it reads as it would whole, as every escape starts where the scan of the
// whole text would find it.
class SurrogateRepair {
 public:
  // What is settled of `piece` with the bytes held back before it, repaired; `last` at the
  // end. Valid until the next call.
  std::string_view Next(std::string_view piece, bool last) {
    std::string_view text = piece;
    if (!held_.empty()) {
      held_.append(piece);
      text = held_;
    }
    out_.clear();
    std::size_t copied = 0;  // text[0, copied) is settled in `out_` already
    std::size_t settled = text.size();
    for (std::size_t i = text.find('\\'); i != std::string_view::npos; i = text.find('\\', i)) {
      if (!last && i + 12 > text.size()) {
        settled = i;
        break;
      }
      if (i + 1 >= text.size() || text[i + 1] != 'u') {
        i += 2;  // any other escape, the escaped backslash included
        continue;
      }
      const int unit = HexQuad(text, i + 2);
      const bool high = unit >= 0xD800 && unit <= 0xDBFF;
      const bool low = unit >= 0xDC00 && unit <= 0xDFFF;
      if (high && text.substr(i + 6, 2) == "\\u") {
        const int next = HexQuad(text, i + 8);
        if (next >= 0xDC00 && next <= 0xDFFF) {
          i += 12;  // a proper pair
          continue;
        }
      }
      if (high || low) {
        out_.append(text.substr(copied, i - copied)).append("\\ufffd");
        copied = i + 6;
        ++replaced_;
      }
      i += 6;
    }
    std::string rest(text.substr(settled));  // `text` may be held_
    std::string_view done = text.substr(0, settled);
    if (copied > 0) {
      out_.append(text.substr(copied, settled - copied));
      done = out_;
    } else if (!held_.empty()) {
      out_.assign(done);
      done = out_;
    }
    held_ = std::move(rest);
    return done;
  }

  int replaced() const { return replaced_; }

 private:
  std::string held_;  // the start of an escape a piece cut
  std::string out_;
  int replaced_ = 0;
};

// The events of Boost.JSON's push parser for a top-level array, building one item at a time:
// each element of the array becomes a json::value of its own, handed to `on_item`, and is
// freed before the next one starts, so the memory held is that of the largest item, not of
// the document. A root that is not an array is only validated (nothing is built).
class ItemHandler {
 public:
  // Limits the parser asks of its handler; the same as Boost.JSON's own tree builder.
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  enum class Root { kNone, kArray, kObject, kScalar };

  // Called with each item and its index; returns false to stop the parse (budget spent).
  using ItemSink = std::function<bool(const json::value& item, std::size_t index)>;

  explicit ItemHandler(ItemSink on_item)
      : arena_(arena_buffer_, sizeof(arena_buffer_)), on_item_(std::move(on_item)) {}

  Root root() const { return root_; }
  bool stopped() const { return stopped_; }

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }

  bool on_object_begin(boost::system::error_code& ec) {
    if (!BeginValue(Root::kObject, ec)) return false;
    ++level_;
    return true;
  }
  bool on_object_end(std::size_t n, boost::system::error_code& ec) {
    --level_;
    if (Building()) stack_.push_object(n);
    return EndValue(ec);
  }
  bool on_array_begin(boost::system::error_code& ec) {
    if (level_ == 0 && root_ == Root::kNone) {
      root_ = Root::kArray;
      level_ = 1;
      return true;
    }
    if (!BeginValue(Root::kScalar, ec)) return false;
    ++level_;
    return true;
  }
  bool on_array_end(std::size_t n, boost::system::error_code& ec) {
    --level_;
    if (level_ == 0) return true;  // the end of the root
    if (Building()) stack_.push_array(n);
    return EndValue(ec);
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (Building()) stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    if (Building()) stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (!in_string_) {
      if (!BeginValue(Root::kScalar, ec)) return false;
      in_string_ = true;
    }
    if (Building()) stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (!in_string_ && !BeginValue(Root::kScalar, ec)) return false;
    in_string_ = false;
    if (Building()) stack_.push_string(s);
    return EndValue(ec);
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, boost::system::error_code& ec) {
    if (!BeginValue(Root::kScalar, ec)) return false;
    if (Building()) stack_.push_int64(i);
    return EndValue(ec);
  }
  bool on_uint64(std::uint64_t u, json::string_view, boost::system::error_code& ec) {
    if (!BeginValue(Root::kScalar, ec)) return false;
    if (Building()) stack_.push_uint64(u);
    return EndValue(ec);
  }
  bool on_double(double d, json::string_view, boost::system::error_code& ec) {
    if (!BeginValue(Root::kScalar, ec)) return false;
    if (Building()) stack_.push_double(d);
    return EndValue(ec);
  }
  bool on_bool(bool b, boost::system::error_code& ec) {
    if (!BeginValue(Root::kScalar, ec)) return false;
    if (Building()) stack_.push_bool(b);
    return EndValue(ec);
  }
  bool on_null(boost::system::error_code& ec) {
    if (!BeginValue(Root::kScalar, ec)) return false;
    if (Building()) stack_.push_null();
    return EndValue(ec);
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  // Items are built only inside a root array (level_ 1 is the array's own level).
  bool Building() const { return root_ == Root::kArray && level_ >= 1; }

  // A value starts; at the root it names the root's kind, at level 1 it starts an item.
  bool BeginValue(Root kind, boost::system::error_code&) {
    if (level_ == 0 && root_ == Root::kNone) {
      root_ = kind;
      return true;
    }
    if (root_ == Root::kArray && level_ == 1) stack_.reset(json::storage_ptr(&arena_));
    return true;
  }

  // A value ends; back at level 1 of the root array, an item is complete.
  bool EndValue(boost::system::error_code& ec) {
    if (root_ != Root::kArray || level_ != 1) return true;
    {
      const json::value item = stack_.release();
      if (!on_item_(item, index_++)) {
        stopped_ = true;
        ec = json::error::exception;  // any error: it only stops the parser
        return false;
      }
    }
    arena_.release();
    return true;
  }

  unsigned char arena_buffer_[16 * 1024];
  json::monotonic_resource arena_;  // one item's tree at a time
  json::value_stack stack_;
  ItemSink on_item_;
  Root root_ = Root::kNone;
  std::size_t level_ = 0;  // containers open
  std::size_t index_ = 0;  // of the next item
  bool in_string_ = false;
  bool stopped_ = false;
};

}  // namespace

ParseResult ParseHfDaily(std::string_view bytes, const ParseBudget& budget) {
  return ParseHfDaily(PiecesOf(bytes), budget);
}

ParseResult ParseHfDaily(const ByteSource& pieces, const ParseBudget& budget) {
  ParseResult result;
  json::parse_options options;
  // Invalid UTF-8 inside strings is repaired field by field rather than failing the day.
  options.allow_invalid_utf8 = true;

  // Items are read into papers as the parser meets them; their warnings are kept apart, as a
  // document that turns out not to be JSON yields only the one warning saying so.
  std::vector<ParseWarning> item_warnings;
  std::optional<ParseWarning> budget_warning;
  auto on_item = [&](const json::value& value, std::size_t index) {
    if (index % 256 == 255 && budget.Exhausted()) {
      budget_warning = ParseWarning{
          .message = "hf-daily: the source's processing budget ran out at item " +
                     std::to_string(index) + "; the rest is not read"};
      return false;
    }
    const json::object* item = value.if_object();
    std::string why = "not an object";
    std::optional<Paper> paper;
    if (item != nullptr) paper = ParseItem(*item, why);
    if (!paper) {
      item_warnings.push_back(
          ParseWarning{.message = "hf-daily: item " + std::to_string(index) + " skipped: " + why});
      return true;
    }
    if (result.digest.date.empty()) {
      result.digest.date = DatePart(StringAt(ObjectAt(item, "paper"), "submittedOnDailyAt"));
    }
    AppendToDay(result.digest.papers, std::move(*paper));
    return true;
  };

  // The pieces go to the push parser as they come, repaired; a byte that is not white space
  // after the document is an error, as json::parse says.
  json::basic_parser<ItemHandler> parser(options, on_item);
  const ItemHandler& handler = parser.handler();
  boost::system::error_code error;
  SurrogateRepair repair;
  const ByteSource next = WithoutUtf8Bom(pieces);
  for (bool last = false; !last && !error && !handler.stopped();) {
    const std::string_view piece = next();
    last = piece.empty();
    const std::string_view input = repair.Next(piece, last);
    if (parser.done()) {
      if (input.find_first_not_of(" \t\r\n") != std::string_view::npos) {
        error = json::error::extra_data;
      }
      continue;
    }
    const std::size_t used = parser.write_some(!last, input.data(), input.size(), error);
    if (!error && used < input.size()) error = json::error::extra_data;
  }
  // The repairs are counted in a document read to its end: the count of one that stopped
  // early would depend on where its pieces ended.
  if (repair.replaced() > 0 && !handler.stopped() && !error) {
    result.warnings.push_back(
        ParseWarning{.message = "hf-daily: " + std::to_string(repair.replaced()) +
                                " unpaired surrogate escape(s) (\\uD800-\\uDFFF) read as U+FFFD"});
  }
  if (handler.stopped()) {
    for (ParseWarning& w : item_warnings) result.warnings.push_back(std::move(w));
    result.warnings.push_back(std::move(*budget_warning));
    return result;
  }
  if (error) {
    result.digest = Digest{};
    result.warnings.push_back(
        ParseWarning{.message = "hf-daily: not valid JSON: " + error.message()});
    return result;
  }
  if (handler.root() != ItemHandler::Root::kArray) {
    result.warnings.push_back(ParseWarning{
        .message = "hf-daily: expected a JSON array of items, got " +
                   std::string(handler.root() == ItemHandler::Root::kObject ? "an object"
                                                                           : "a scalar")});
    return result;
  }
  for (ParseWarning& w : item_warnings) result.warnings.push_back(std::move(w));
  return result;
}

}  // namespace digestd
