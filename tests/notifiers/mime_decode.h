// Decoders for the transfer encodings notifiers/mime.h writes, written apart from it so that
// the tests and the mime fuzz target check its output against an independent reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace digestd::test {

// Base64 (RFC 2045 §6.8): CR, LF and "=" padding skipped; nullopt for any other character
// outside the alphabet.
inline std::optional<std::string> DecodeBase64(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\r' || c == '\n') continue;
    const std::size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    acc = acc << 6 | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Quoted-printable (RFC 2045 §6.7): "=" CRLF is a soft break (nothing), "=XX" a byte (upper
// case hex, as the RFC asks of encoders); every other character stands for itself. nullopt
// for an "=" that starts neither.
inline std::optional<std::string> DecodeQuotedPrintable(std::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out += text[i];
      continue;
    }
    if (text.substr(i + 1, 2) == "\r\n") {
      i += 2;
      continue;
    }
    if (i + 2 >= text.size() || hex(text[i + 1]) < 0 || hex(text[i + 2]) < 0) return std::nullopt;
    out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
    i += 2;
  }
  return out;
}

}  // namespace digestd::test
