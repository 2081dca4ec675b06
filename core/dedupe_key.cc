#include "core/dedupe_key.h"

namespace digestd {
namespace {

constexpr char kSep = '\x1f';

}  // namespace

void JoinKeyInto(std::string& out, std::initializer_list<std::string_view> fields) {
  out.clear();
  bool first = true;
  for (std::string_view f : fields) {
    if (!first) out.append(1, kSep);
    out.append(f);
    first = false;
  }
}

std::string JoinKey(std::initializer_list<std::string_view> fields) {
  std::string out;
  JoinKeyInto(out, fields);
  return out;
}

std::string DedupeKey::Encode() const {
  std::string out = JoinKey({notifier, paper_key, event_class});
  for (const std::string& w : watches) out.append(1, kSep).append(w);
  return out;
}

std::string NotifiedMark::Encode() const {
  return JoinKey({notifier, paper_key, event_class, watch});
}

std::string NotifiedMark::EncodeSet() const { return JoinKey({notifier, paper_key, event_class}); }

std::optional<DedupeKey> DedupeKey::Decode(std::string_view encoded) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = encoded.find(kSep, start);
    fields.emplace_back(encoded.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (fields.size() < 3) return std::nullopt;
  DedupeKey key{.notifier = std::move(fields[0]),
                .paper_key = std::move(fields[1]),
                .event_class = std::move(fields[2])};
  for (std::size_t i = 3; i < fields.size(); ++i) key.watches.push_back(std::move(fields[i]));
  return key;
}

}  // namespace digestd
