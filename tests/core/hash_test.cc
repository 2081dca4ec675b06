// Hashes are stored in the state (sighting content hashes, snapshot hashes, outbox ids), so
// their values must never change: these were computed by the first implementation of each.
#include "core/hash.h"

#include <string>

#include <gtest/gtest.h>

namespace digestd {
namespace {

TEST(Hash128Hex, ValuesNeverChange) {
  EXPECT_EQ(Hash128Hex(""), "f52a15e9a9b5e89bfe5361af3ba51714");
  EXPECT_EQ(Hash128Hex("a"), "02c0bdbf481420f8e7ac85e8b86cb302");
  EXPECT_EQ(Hash128Hex("arxiv:2401.15024"), "4ddb6b02ee5b66ef08263e46ca698310");
  EXPECT_EQ(Hash128Hex("digest\x1fme\x1fhf-ko\x1f" "2024-01-29"),
            "a05f924a4dacbfe77e06c304b2d7b027");
  EXPECT_EQ(Hash128Hex("요약 한국어 text"), "40c9d8e56500d5951f2fe8bb12fb8e33");
}

TEST(Hash128, PiecesHashAsTheirConcatenation) {
  const std::string whole = "title\x1fhttps://arxiv.org/abs/2401.15024\x1f" "Ada\x1e요약\x1e";
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    Hash128 h;
    h.Update(std::string_view(whole).substr(0, cut));
    h.Update(std::string_view(whole).substr(cut));
    EXPECT_EQ(h.Hex(), Hash128Hex(whole)) << cut;
  }
  Hash128 chars;
  for (char c : whole) chars.Update(c);
  EXPECT_EQ(chars.Hex(), Hash128Hex(whole));
}

// Schema 12's hashes of a snapshot's text and a sighting's content. The empty input's are
// xxHash's own published values for XXH3 (seed 0), 64- and 128-bit (high word first).
TEST(Xxh3, ValuesNeverChange) {
  EXPECT_EQ(Xxh3Hash64(""), 0x2d06800538d394c2ULL);
  EXPECT_EQ(Xxh3Digits("").view(), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(Xxh3Hash64("a"), 0xe6c632b61e964e1fULL);
  EXPECT_EQ(Xxh3Hash64("arxiv:2401.15024"), 0x0840da59ce43e4e6ULL);
  EXPECT_EQ(Xxh3Digits("arxiv:2401.15024").view(), "76f21fc701a8b58de189ed954dad2a91");
  EXPECT_EQ(Xxh3Hash64("요약 한국어 text"), 0x15b1324f80d623d8ULL);
  EXPECT_EQ(Xxh3Digits("요약 한국어 text").view(), "d00143e601efda34dfe050b66ed98740");
  // Past XXH3's short-input paths (240 bytes): a snapshot's size.
  const std::string long_text(1300, 'x');
  EXPECT_EQ(Xxh3Hash64(long_text), 0xb75c68e64367f1abULL);
  EXPECT_EQ(Xxh3Digits(long_text).view(), "7de03c4780cadc3bb75c68e64367f1ab");
}

// The digits held in place are the hex string's, and a default one is empty.
TEST(HashDigits, HoldTheHexDigitsInPlace) {
  Hash128 h;
  h.Update("arxiv:2401.15024");
  const HashDigits digits = h.Digits();
  EXPECT_FALSE(digits.empty());
  EXPECT_EQ(digits.view(), Hash128Hex("arxiv:2401.15024"));
  EXPECT_EQ(digits.view().size(), 32u);
  HashDigits none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.view(), "");
  HashDigits cleared = digits;
  cleared.clear();
  EXPECT_TRUE(cleared.empty());
}

}  // namespace
}  // namespace digestd
