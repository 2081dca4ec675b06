#include "core/hash.h"

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

void AppendHex(std::string& out, std::uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xF];
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

std::string Hash128Hex(std::string_view bytes) {
  std::string out;
  out.reserve(32);
  AppendHex(out, Mix(Fnv1a64(bytes)));
  AppendHex(out, Mix(Fnv1a64(bytes, 0x84222325cbf29ce4ULL) ^ bytes.size()));
  return out;
}

}  // namespace digestd
