// JsonWriter: builds compact JSON text. Strings are escaped and made valid UTF-8 (invalid
// bytes become U+FFFD), so any input yields valid JSON; what IsControlOrBidi names (DEL,
// C1, bidi controls, ...) is written as \u escapes, so the text stays exact and the JSON
// is safe on a terminal. One writer per document; not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace digestd {

class JsonWriter {
 public:
  JsonWriter() = default;
  // Writes after what `text` holds already (Take gives it back with the document appended),
  // so a caller making many documents into one buffer does not grow a new one each time.
  explicit JsonWriter(std::string text) : out_(std::move(text)) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& StringOrNull(std::string_view value);  // null when empty (CONFIG.md)
  JsonWriter& Int(std::int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  JsonWriter& StringArray(const std::vector<std::string>& values);
  // A value already written as JSON (by another JsonWriter), inserted as it is.
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  // Whether every string went in byte for byte: none had an invalid UTF-8 byte to replace,
  // so the text reads back exactly as it was given.
  bool exact() const { return exact_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();

  // The open containers, innermost last: whether each has no element yet. Bit d of
  // `first_` says it for depth d below 64, `deeper_` for the rest (no document digestd
  // writes nests that deep): a writer made for each paper allocates nothing for it.
  void Open();
  void Close();

  std::string out_;
  std::uint64_t first_ = 0;
  std::size_t depth_ = 0;
  std::vector<char> deeper_;
  bool after_key_ = false;
  bool exact_ = true;
};

// `value` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view value);

// Appends JsonQuote(value) to `out` without a temporary: the writer's hot path. False when
// an invalid byte of `value` had to be replaced.
bool AppendJsonQuoted(std::string& out, std::string_view value);

}  // namespace digestd
