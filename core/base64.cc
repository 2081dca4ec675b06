#include "core/base64.h"

#include <array>
#include <cstdint>

namespace digestd {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Each character's six bits, or -1 for a character outside the alphabet.
constexpr std::array<std::int8_t, 256> kValues = [] {
  std::array<std::int8_t, 256> values{};
  values.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return values;
}();

}  // namespace

char* EncodeBase64(std::string_view bytes, char* out) {
  const auto byte = [&](std::size_t i) {
    return std::uint32_t(static_cast<unsigned char>(bytes[i]));
  };
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
    *out++ = kAlphabet[v & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = byte(i) << 16;
    if (rest == 2) v |= byte(i + 1) << 8;
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    *out++ = '=';
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  std::string out(Base64Size(bytes.size()), '\0');
  EncodeBase64(bytes, out.data());
  return out;
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  std::size_t data = text.size();
  while (data > 0 && text.size() - data < 2 && text[data - 1] == '=') --data;
  // Padded, the text is whole groups of four; unpadded, a last group of one character
  // would hold less than a byte.
  if (data % 4 == 1 || (data < text.size() && text.size() % 4 != 0)) return std::nullopt;
  std::string out;
  out.reserve(data / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int held = 0;
  for (std::size_t i = 0; i < data; ++i) {
    const std::int8_t v = kValues[static_cast<unsigned char>(text[i])];
    if (v < 0) return std::nullopt;
    bits = bits << 6 | std::uint32_t(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out += static_cast<char>((bits >> held) & 0xFF);
    }
  }
  return out;
}

}  // namespace digestd
