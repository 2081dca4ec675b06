#include "core/crypto.h"

#include <gcrypt.h>

#include <algorithm>
#include <memory>
#include <type_traits>

namespace digestd {
namespace {

// libgcrypt, initialised once (its manual: before any other call, from one thread). libsystemd
// may have done it first, which is as good.
bool Ready() {
  static const bool ready = [] {
    if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) return true;
    if (gcry_check_version(GCRYPT_VERSION) == nullptr) return false;
    // Nothing digestd hashes needs locked memory (a key is in ordinary memory already).
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    return true;
  }();
  return ready;
}

struct MdCloser {
  void operator()(gcry_md_hd_t md) const { gcry_md_close(md); }
};
using Md = std::unique_ptr<std::remove_pointer_t<gcry_md_hd_t>, MdCloser>;

// A SHA-256 context, keyed for HMAC when `key` is given; null when libgcrypt refuses.
Md OpenSha256(std::optional<std::string_view> key) {
  if (!Ready()) return nullptr;
  gcry_md_hd_t raw = nullptr;
  if (gcry_md_open(&raw, GCRY_MD_SHA256, key ? GCRY_MD_FLAG_HMAC : 0) != 0) return nullptr;
  Md md(raw);
  if (key) {
    // HMAC pads a short key with zero bytes, so an empty key is one zero byte's, which
    // libgcrypt takes where it refuses an empty one.
    const std::string_view k = key->empty() ? std::string_view("\0", 1) : *key;
    if (gcry_md_setkey(raw, k.data(), k.size()) != 0) return nullptr;
  }
  return md;
}

Sha256Digest Read(const Md& md) {
  Sha256Digest digest{};
  const unsigned char* bytes = gcry_md_read(md.get(), GCRY_MD_SHA256);
  std::copy(bytes, bytes + digest.size(), digest.begin());
  return digest;
}

}  // namespace

std::string Sha256Hex(const ByteSource& next) {
  const Md md = OpenSha256(std::nullopt);
  if (md == nullptr) return {};
  for (std::string_view piece = next(); !piece.empty(); piece = next()) {
    gcry_md_write(md.get(), piece.data(), piece.size());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (const unsigned char b : Read(md)) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0xF];
  }
  return hex;
}

std::optional<Sha256Digest> HmacSha256(std::string_view key, std::string_view message) {
  const Md md = OpenSha256(key);
  if (md == nullptr) return std::nullopt;
  gcry_md_write(md.get(), message.data(), message.size());
  return Read(md);
}

}  // namespace digestd
