#include "core/paper_json.h"

namespace digestd {

void WritePaperMembers(JsonWriter& json, const Paper& paper) {
  json.Key("key").StringOrNull(paper.key);
  json.Key("title").StringOrNull(paper.title);
  json.Key("url").StringOrNull(paper.url);
  json.Key("authors").StringArray(paper.authors);
  json.Key("authors_truncated").Bool(paper.authors_truncated);
  json.Key("votes");
  if (paper.votes) {
    json.Int(*paper.votes);
  } else {
    json.Null();
  }
  json.Key("media_url").StringOrNull(paper.media_url);
  json.Key("summary").StringArray(paper.summary);
  json.Key("tags").StringArray(paper.tags);
  json.Key("version").StringOrNull(paper.version);
  json.Key("extra").BeginObject();
  for (const auto& [name, value] : paper.extra) json.Key(name).String(value);
  json.EndObject();
}

std::size_t PaperJsonSize(const Paper& paper) {
  // Each member's name, quotes and separators; each list item's quotes and comma.
  constexpr std::size_t kMembers = 160;
  constexpr std::size_t kPerItem = 3;
  std::size_t size = kMembers + paper.key.size() + paper.title.size() + paper.url.size() +
                     paper.media_url.size() + paper.version.size();
  for (const auto* list : {&paper.authors, &paper.summary, &paper.tags}) {
    for (const std::string& item : *list) size += item.size() + kPerItem;
  }
  for (const auto& [name, value] : paper.extra) size += name.size() + value.size() + 2 * kPerItem;
  return size;
}

std::string DigestToJson(const Digest& digest) {
  JsonWriter json;
  json.BeginObject();
  json.Key("source").StringOrNull(digest.source);
  json.Key("date").StringOrNull(digest.date);
  json.Key("papers").BeginArray();
  for (const Paper& paper : digest.papers) {
    json.BeginObject();
    WritePaperMembers(json, paper);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.Take();
}

}  // namespace digestd
