#include "core/hash.h"

// The implementation is the header's, inlined here (cmake/dependencies.cmake).
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace digestd {
namespace {

// SplitMix64's finaliser: spreads FNV's weak low bits before the value is printed.
std::uint64_t Mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// `v` as 16 hex digits at `out`.
void WriteHex(char* out, std::uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) *out++ = kHex[(v >> shift) & 0xF];
}

}  // namespace

std::uint64_t Fnv1a64(std::string_view bytes, std::uint64_t seed) {
  std::uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void Hash128::Update(std::string_view bytes) {
  // The two FNV lanes are independent: interleaved, each multiply waits on its own lane only.
  std::uint64_t a = a_;
  std::uint64_t b = b_;
  for (unsigned char c : bytes) {
    a = (a ^ c) * 0x100000001b3ULL;
    b = (b ^ c) * 0x100000001b3ULL;
  }
  a_ = a;
  b_ = b;
  size_ += bytes.size();
}

HashDigits HashDigits::Of(std::uint64_t high, std::uint64_t low) {
  HashDigits out;
  WriteHex(out.digits_.data(), high);
  WriteHex(out.digits_.data() + 16, low);
  return out;
}

HashDigits Hash128::Digits() const { return HashDigits::Of(Mix(a_), Mix(b_ ^ size_)); }

std::string Hash128::Hex() const { return std::string(Digits().view()); }

std::uint64_t Xxh3Hash64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

HashDigits Xxh3Digits(std::string_view bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return HashDigits::Of(h.high64, h.low64);
}

struct Xxh3Stream::State {
  XXH3_state_t xxh;
};

Xxh3Stream::Xxh3Stream() : state_(std::make_unique<State>()) {
  XXH3_INITSTATE(&state_->xxh);
  XXH3_128bits_reset(&state_->xxh);
}

Xxh3Stream::~Xxh3Stream() = default;

void Xxh3Stream::Update(std::string_view bytes) {
  XXH3_128bits_update(&state_->xxh, bytes.data(), bytes.size());
}

HashDigits Xxh3Stream::Digits() const {
  const XXH128_hash_t h = XXH3_128bits_digest(&state_->xxh);
  return HashDigits::Of(h.high64, h.low64);
}

std::string Hash128Hex(std::string_view bytes) {
  Hash128 h;
  h.Update(bytes);
  return h.Hex();
}

}  // namespace digestd
