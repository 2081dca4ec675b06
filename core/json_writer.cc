#include "core/json_writer.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "core/utf8.h"

namespace digestd {
namespace {

// \uXXXX for a code point of the BMP (all that IsControlOrBidi names).
void AppendUnicodeEscape(std::string& out, char32_t cp) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
}

// Whether the eight bytes at `p` hold one that is not plain printable ASCII: a control
// (< 0x20), DEL, '"', '\\' or a byte >= 0x80.
// May say yes for a plain word (the zero-byte test can carry), never no for a special one.
bool NeedsLook(const char* p) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  const auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
  return ((w & kHigh) | below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\')) |
          has_zero(w ^ (kOnes * 0x7F))) != 0;
}

// Whether p[i] starts a valid three-byte sequence led by E3-EF (CJK, Hangul): never a
// control or bidi mark, so it is copied as it is.
bool IsPlainThreeByte(const unsigned char* p, std::size_t i, std::size_t n) {
  const unsigned char c = p[i];
  return c >= 0xE3 && c <= 0xEF && i + 2 < n && (p[i + 1] & 0xC0) == 0x80 &&
         (p[i + 2] & 0xC0) == 0x80 && !(c == 0xED && p[i + 1] >= 0xA0);
}

// The bytes copied as they are without a closer look: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kPlainAscii = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7F; ++c) plain[std::size_t(c)] = c != '"' && c != '\\';
  return plain;
}();

}  // namespace

bool AppendJsonQuoted(std::string& out, std::string_view value) {
  bool exact = true;
  out.reserve(out.size() + value.size() + 2);
  out += '"';
  // Bytes that need no change (printable ASCII but '"' and '\\', and valid UTF-8 sequences)
  // are copied in runs; only escapes and invalid bytes break a run. They are found sixteen
  // at a time where the CPU can (Utf8PlainPrefix), and past the block where that stops, a
  // character at a time for at least sixteen bytes.
  std::size_t run = 0;  // start of the bytes not yet copied
  std::size_t i = 0;
  std::size_t careful_until = 0;  // where the blocks may be tried again
  const std::size_t n = value.size();
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  while (i < n) {
    if (i >= careful_until) {
      i += Utf8PlainPrefix(value.substr(i), Utf8Plain::kJsonAsIs);
      careful_until = i + 16;
      if (i >= n) break;
    }
    // Plain ASCII eight bytes at a time, then a byte at a time up to the next other byte
    // (a short string, the end of a long one, the word before an accent or an escape).
    while (i + 8 <= n && !NeedsLook(value.data() + i)) i += 8;
    while (i < n && kPlainAscii[p[i]]) ++i;
    if (i >= n) break;
    const unsigned char c = p[i];
    if (IsPlainThreeByte(p, i, n)) {
      // CJK and Hangul text, and the plain ASCII between its words, byte by byte: it would
      // fail the eight-byte test at every character. Eight at a time again where a space
      // is followed by ASCII (English text).
      for (i += 3; i < n && i < careful_until;) {
        const unsigned char d = p[i];
        if (d == ' ') {
          ++i;
          if (i + 8 <= n && p[i] < 0x80 && !NeedsLook(value.data() + i)) break;
        } else if (d > 0x20 && d < 0x7F && d != '"' && d != '\\') {
          ++i;
        } else if (IsPlainThreeByte(p, i, n)) {
          i += 3;
        } else {
          break;
        }
      }
      continue;
    }
    if (c >= 0x7F) {  // DEL or a UTF-8 lead byte: printable ASCII never gets this far
      if (const std::size_t len = ValidUtf8SequenceLength(value.substr(i)); len != 0) {
        // Only DEL and sequences led by C2 (C1 controls), D8 (U+061C) and E2 (U+200E-U+2069)
        // can be controls or bidi marks; the rest (Hangul, CJK, accents) needs no decoding.
        const bool maybe_control = c == 0x7F || c == 0xC2 || c == 0xD8 || c == 0xE2;
        const char32_t cp = !maybe_control ? char32_t{0xFFFD}
                            : len == 1     ? char32_t{c}
                                           : DecodeUtf8Sequence(value.substr(i, len));
        if (!maybe_control || !IsControlOrBidi(cp)) {
          i += len;
          continue;
        }
        // DEL, C1 controls and bidi controls: escaped, so the text stays exact and the JSON
        // stays safe to print on a terminal.
        out.append(value.data() + run, i - run);
        AppendUnicodeEscape(out, cp);
        i += len;
        run = i;
        continue;
      }
    }
    out.append(value.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c >= 0x80) {
          out += "\xEF\xBF\xBD";  // an invalid byte becomes U+FFFD
          exact = false;
        } else {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        }
    }
    run = ++i;
  }
  out.append(value.data() + run, i - run);
  out += '"';
  return exact;
}

std::string JsonQuote(std::string_view value) {
  std::string out;
  AppendJsonQuoted(out, value);
  return out;
}

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ == 0) return;
  const std::size_t top = depth_ - 1;
  if (top < 64) {
    const std::uint64_t bit = std::uint64_t(1) << top;
    if ((first_ & bit) == 0) out_ += ',';
    first_ &= ~bit;
  } else {
    if (!deeper_.back()) out_ += ',';
    deeper_.back() = false;
  }
}

void JsonWriter::Open() {
  if (depth_ < 64) {
    first_ |= std::uint64_t(1) << depth_;
  } else {
    deeper_.push_back(true);
  }
  ++depth_;
}

void JsonWriter::Close() {
  --depth_;
  if (depth_ >= 64) deeper_.pop_back();
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  Open();
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_ += '}';
  Close();
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  Open();
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_ += ']';
  Close();
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  BeforeValue();
  exact_ &= AppendJsonQuoted(out_, key);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  exact_ &= AppendJsonQuoted(out_, value);
  return *this;
}

JsonWriter& JsonWriter::StringOrNull(std::string_view value) {
  return value.empty() ? Null() : String(value);
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_ += json;
  return *this;
}

JsonWriter& JsonWriter::Int(std::int64_t value) {
  BeforeValue();
  out_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::StringArray(const std::vector<std::string>& values) {
  BeginArray();
  for (const auto& v : values) String(v);
  return EndArray();
}

}  // namespace digestd
