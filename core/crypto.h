// SHA-256 and HMAC-SHA256: the hashes that must be cryptographic (the id a state keeps of a
// fetched URL, which may hold a token; the body of a fetch; a webhook's signature). From
// libgcrypt, which libsystemd loads into every digestd already: OpenSSL's libcrypto, linked
// for these two functions alone, cost each run 3.4 MB of resident pages and 3 ms of
// relocations. Thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "core/spool.h"

namespace digestd {

using Sha256Digest = std::array<unsigned char, 32>;

// The SHA-256 of the bytes `next` gives, as 64 lowercase hex digits; "" only when libgcrypt
// cannot start (older than the one digestd was built with).
std::string Sha256Hex(const ByteSource& next);

// HMAC-SHA256 of `message` under `key` (RFC 2104); nullopt as Sha256Hex's "".
std::optional<Sha256Digest> HmacSha256(std::string_view key, std::string_view message);

}  // namespace digestd
