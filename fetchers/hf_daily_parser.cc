#include "fetchers/hf_daily_parser.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
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

// `bytes` with every \\u escape of an unpaired UTF-16 surrogate made \\uFFFD (the same
// length), so one broken character spoils that character, not the day: Boost.JSON rejects the
// whole document on a lone surrogate. Only a backslash outside an escape starts an escape.
std::string_view RepairLoneSurrogates(std::string_view bytes, std::string& storage) {
  const auto hex4 = [&](std::size_t at) -> int {
    if (at + 4 > bytes.size()) return -1;
    int v = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
      const char c = bytes[i];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  };
  const auto low_at = [&](std::size_t at) {
    if (at + 6 > bytes.size() || bytes[at] != '\\' || bytes[at + 1] != 'u') return false;
    const int v = hex4(at + 2);
    return v >= 0xDC00 && v <= 0xDFFF;
  };
  for (std::size_t i = bytes.find('\\'); i != std::string_view::npos && i + 1 < bytes.size();
       i = bytes.find('\\', i)) {
    if (bytes[i + 1] != 'u') {
      i += 2;
      continue;
    }
    const int v = hex4(i + 2);
    if (v >= 0xD800 && v <= 0xDBFF && low_at(i + 6)) {
      i += 12;  // a proper pair
      continue;
    }
    if (v >= 0xD800 && v <= 0xDFFF) {
      if (storage.empty()) storage.assign(bytes);
      storage.replace(i + 2, 4, "FFFD");
      bytes = storage;
    }
    i += 6;
  }
  return bytes;
}

}  // namespace

ParseResult ParseHfDaily(std::string_view bytes) {
  ParseResult result;
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);

  json::parse_options options;
  // Invalid UTF-8 inside strings is repaired field by field rather than failing the day.
  options.allow_invalid_utf8 = true;
  std::string repaired;
  bytes = RepairLoneSurrogates(bytes, repaired);
  json::monotonic_resource arena;
  boost::system::error_code error;
  const json::value root =
      json::parse(json::string_view(bytes.data(), bytes.size()), error, &arena, options);
  if (error) {
    result.warnings.push_back(
        ParseWarning{.message = "hf-daily: not valid JSON: " + error.message()});
    return result;
  }
  const json::array* items = root.if_array();
  if (items == nullptr) {
    result.warnings.push_back(
        ParseWarning{.message = "hf-daily: expected a JSON array of items, got " +
                                std::string(root.is_object() ? "an object" : "a scalar")});
    return result;
  }

  result.digest.papers.reserve(items->size());
  for (std::size_t index = 0; index < items->size(); ++index) {
    const json::object* item = (*items)[index].if_object();
    std::string why = "not an object";
    std::optional<Paper> paper;
    if (item != nullptr) paper = ParseItem(*item, why);
    if (!paper) {
      result.warnings.push_back(
          ParseWarning{.message = "hf-daily: item " + std::to_string(index) + " skipped: " + why});
      continue;
    }
    if (result.digest.date.empty()) {
      result.digest.date = DatePart(StringAt(ObjectAt(item, "paper"), "submittedOnDailyAt"));
    }
    result.digest.papers.push_back(std::move(*paper));
  }
  return result;
}

}  // namespace digestd
