#include "core/notification.h"

#include "core/hash.h"
#include "core/json_writer.h"
#include "core/paper_json.h"

namespace digestd {
namespace {

void WriteHeader(JsonWriter& json, const Notification& n) {
  json.Key("notification").String(n.id);
  json.Key("notifier").String(n.notifier);
  json.Key("kind").String(n.kind);
  json.Key("event").String(n.event);
  json.Key("watches").StringArray(n.watches);
}

void WriteSourcedPaper(JsonWriter& json, const SourcedPaper& p) {
  json.BeginObject();
  WritePaperMembers(json, p.paper);
  json.Key("source").StringOrNull(p.source);
  json.Key("date").StringOrNull(p.date);
  json.EndObject();
}

}  // namespace

std::string NotificationId(std::string_view dedupe_key) { return Hash128Hex(dedupe_key); }

std::vector<std::string> NotificationJsonLines(const Notification& n) {
  std::vector<std::string> lines;
  auto line = [&](const SourcedPaper* paper) {
    JsonWriter json;
    json.BeginObject();
    WriteHeader(json, n);
    json.Key("paper");
    if (paper) {
      WriteSourcedPaper(json, *paper);
    } else {
      json.Null();
      json.Key("source").StringOrNull(n.source);
      json.Key("message").StringOrNull(n.message);
    }
    json.EndObject();
    lines.push_back(json.Take());
  };
  if (n.papers.empty()) line(nullptr);
  for (const SourcedPaper& p : n.papers) line(&p);
  return lines;
}

std::string NotificationToJson(const Notification& n) {
  JsonWriter json;
  json.BeginObject();
  WriteHeader(json, n);
  json.Key("dedupe_key").String(n.dedupe_key);
  json.Key("papers").BeginArray();
  for (const SourcedPaper& p : n.papers) WriteSourcedPaper(json, p);
  json.EndArray();
  json.Key("source").StringOrNull(n.source);
  json.Key("message").StringOrNull(n.message);
  json.EndObject();
  return json.Take();
}

}  // namespace digestd
