// Stable, non-cryptographic content hashes for change detection and ids. The values are
// stored in the state database, so they must never change between versions (a new hash for
// a stored value is a schema step that hashes every row again). Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace digestd {

// 64-bit FNV-1a of `bytes`, continuing from `seed`.
std::uint64_t Fnv1a64(std::string_view bytes, std::uint64_t seed = 0xcbf29ce484222325ULL);

// 128 bits as 32 lowercase hex digits: two independent 64-bit hashes of `bytes`.
std::string Hash128Hex(std::string_view bytes);

// Hash128Hex's 32 digits held in place, not in a heap block: a long day's list of them (one
// per paper) takes 32 bytes a paper where strings took about 80. Empty until set.
class HashDigits {
 public:
  HashDigits() = default;

  std::string_view view() const {
    return empty() ? std::string_view() : std::string_view(digits_.data(), digits_.size());
  }
  bool empty() const { return digits_[0] == '\0'; }
  void clear() { digits_[0] = '\0'; }

 private:
  friend class Hash128;
  friend HashDigits Xxh3Digits(std::string_view bytes);
  friend class Xxh3Stream;
  // The 32 digits of two 64-bit halves, high first.
  static HashDigits Of(std::uint64_t high, std::uint64_t low);
  std::array<char, 32> digits_{};
};

// XXH3 (xxHash's; its values are fixed since its 0.8.0), 64- and 128-bit, the second as
// 32 hex digits: the hashes a state keeps of every paper, a snapshot's text and a sighting's
// content (schema 12), which a long day computes over 20 MB. FNV-1a multiplies once per
// byte, each multiply waiting on the one before; XXH3 takes a 64-byte stripe per step on the
// vector unit: both hashes of a 10,000-paper day take 27.9 ms one way and 2.2 ms the other
// (bench/store_bench.cc, BM_PaperHashes).
std::uint64_t Xxh3Hash64(std::string_view bytes);
HashDigits Xxh3Digits(std::string_view bytes);

// Xxh3Digits of bytes given in pieces: Update(a); Update(b); Digits() equals
// Xxh3Digits(a + b), without building a + b.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;

  void Update(std::string_view bytes);
  HashDigits Digits() const;

 private:
  struct State;
  std::unique_ptr<State> state_;  // xxHash's, 576 bytes aligned to 64
};

// Hash128Hex of bytes given in pieces: Update(a); Update(b); Hex() equals
// Hash128Hex(a + b), without building a + b. Both lanes run in one pass over the bytes.
class Hash128 {
 public:
  void Update(std::string_view bytes);
  void Update(char c) { Update(std::string_view(&c, 1)); }
  std::string Hex() const;
  HashDigits Digits() const;

 private:
  std::uint64_t a_ = 0xcbf29ce484222325ULL;
  std::uint64_t b_ = 0x84222325cbf29ce4ULL;
  std::uint64_t size_ = 0;
};

}  // namespace digestd
