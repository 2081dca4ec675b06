// Base64 (RFC 4648 §4, the standard alphabet with padding): MIME bodies and encoded words,
// webhook secrets and signatures.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace digestd {

// How many characters the base64 of `bytes` bytes takes.
constexpr std::size_t Base64Size(std::size_t bytes) { return (bytes + 2) / 3 * 4; }

// Writes the base64 of `bytes` at `out`, which has room for Base64Size(bytes.size());
// returns the end of what it wrote.
char* EncodeBase64(std::string_view bytes, char* out);

std::string Base64(std::string_view bytes);

// The bytes of `text`, base64 with or without its padding; nullopt for anything else (a
// character outside the alphabet, padding anywhere but at the end, or a length no bytes
// encode to).
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace digestd
