// Utf8PlainPrefix: UTF-8 validated sixteen bytes at a time. Each byte is judged with the
// byte before it by three table lookups (the high and low half of the byte before, the high
// half of this one) whose AND names what is wrong with the pair; whether a continuation
// byte may follow a continuation is decided apart, from the lead two and three bytes back.
// The tables are derived below from the rules of UTF-8 (RFC 3629, section 4), as Keiser and
// Lemire describe the method ("Validating UTF-8 in less than one instruction per byte", 2021).
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/utf8.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DIGESTD_UTF8_SSSE3 1
#include <immintrin.h>
#endif

namespace digestd {
namespace {

#ifdef DIGESTD_UTF8_SSSE3

// What a pair (the byte before, this byte) can have wrong; one bit each.
enum : std::uint8_t {
  kTooShort = 1 << 0,   // a lead byte, then no continuation
  kTooLong = 1 << 1,    // ASCII, then a continuation
  kOverlong3 = 1 << 2,  // E0 80-9F
  kTooLarge = 1 << 3,   // F4 90-BF, or F5-FF then 90-BF: past U+10FFFF
  kSurrogate = 1 << 4,  // ED A0-BF
  kOverlong2 = 1 << 5,  // C0 or C1, then a continuation
  kOverlong4 = 1 << 6,  // F0 80-8F, or F5-FF then 80-8F (past U+10FFFF)
  kTwoConts = 1 << 7,   // a continuation after a continuation: wrong unless a third or fourth
};

struct PairTables {
  std::array<std::uint8_t, 16> before_high{};  // by the high half of the byte before
  std::array<std::uint8_t, 16> before_low{};   // by its low half
  std::array<std::uint8_t, 16> this_high{};    // by the high half of this byte
};

constexpr PairTables MakePairTables() {
  PairTables t;
  auto mark = [](std::array<std::uint8_t, 16>& table, int from, int to, std::uint8_t bit) {
    for (int k = from; k <= to; ++k) table[std::size_t(k)] |= bit;
  };
  constexpr int kAscii0 = 0x0, kAscii7 = 0x7, kCont8 = 0x8, kContB = 0xB, kLeadC = 0xC,
                kLeadF = 0xF;
  mark(t.before_high, kLeadC, kLeadF, kTooShort);
  mark(t.before_low, 0x0, 0xF, kTooShort);
  mark(t.this_high, kAscii0, kAscii7, kTooShort);
  mark(t.this_high, kLeadC, kLeadF, kTooShort);

  mark(t.before_high, kAscii0, kAscii7, kTooLong);
  mark(t.before_low, 0x0, 0xF, kTooLong);
  mark(t.this_high, kCont8, kContB, kTooLong);

  mark(t.before_high, kCont8, kContB, kTwoConts);
  mark(t.before_low, 0x0, 0xF, kTwoConts);
  mark(t.this_high, kCont8, kContB, kTwoConts);

  mark(t.before_high, 0xC, 0xC, kOverlong2);  // C0, C1
  mark(t.before_low, 0x0, 0x1, kOverlong2);
  mark(t.this_high, kCont8, kContB, kOverlong2);

  mark(t.before_high, 0xE, 0xE, kOverlong3);  // E0 80-9F
  mark(t.before_low, 0x0, 0x0, kOverlong3);
  mark(t.this_high, 0x8, 0x9, kOverlong3);

  mark(t.before_high, 0xE, 0xE, kSurrogate);  // ED A0-BF
  mark(t.before_low, 0xD, 0xD, kSurrogate);
  mark(t.this_high, 0xA, 0xB, kSurrogate);

  mark(t.before_high, 0xF, 0xF, kTooLarge);  // F4-FF 90-BF
  mark(t.before_low, 0x4, 0xF, kTooLarge);
  mark(t.this_high, 0x9, 0xB, kTooLarge);

  mark(t.before_high, 0xF, 0xF, kOverlong4);  // F0 80-8F, F5-FF 80-8F
  mark(t.before_low, 0x0, 0x0, kOverlong4);
  mark(t.before_low, 0x5, 0xF, kOverlong4);
  mark(t.this_high, 0x8, 0x8, kOverlong4);
  return t;
}

constexpr PairTables kPairs = MakePairTables();

__attribute__((target("ssse3"))) __m128i Table(const std::array<std::uint8_t, 16>& t) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.data()));
}

// Per byte of `in`, nonzero where the pair it ends, or the sequence it belongs to, is not
// UTF-8; `before` is the block before `in` (zeros at the start).
__attribute__((target("ssse3"))) __m128i BlockErrors(__m128i in, __m128i before) {
  const __m128i low_half = _mm_set1_epi8(0x0F);
  const __m128i prev1 = _mm_alignr_epi8(in, before, 15);
  const auto high = [&](__m128i v) { return _mm_and_si128(_mm_srli_epi16(v, 4), low_half); };
  const __m128i pair = _mm_and_si128(
      _mm_and_si128(_mm_shuffle_epi8(Table(kPairs.before_high), high(prev1)),
                    _mm_shuffle_epi8(Table(kPairs.before_low), _mm_and_si128(prev1, low_half))),
      _mm_shuffle_epi8(Table(kPairs.this_high), high(in)));
  // A third byte (a lead E0-FF two back) or a fourth (F0-FF three back) must be a
  // continuation after a continuation: there kTwoConts is right, and elsewhere wrong.
  const __m128i third = _mm_subs_epu8(_mm_alignr_epi8(in, before, 14), _mm_set1_epi8(char(0xDF)));
  const __m128i fourth = _mm_subs_epu8(_mm_alignr_epi8(in, before, 13), _mm_set1_epi8(char(0xEF)));
  const __m128i must_continue = _mm_and_si128(
      _mm_cmpgt_epi8(_mm_or_si128(third, fourth), _mm_setzero_si128()), _mm_set1_epi8(char(0x80)));
  return _mm_xor_si128(pair, must_continue);
}

// Per byte of `in`, 0xFF where AppendJsonQuoted does not copy it as it is.
__attribute__((target("ssse3"))) __m128i JsonStops(__m128i in) {
  const auto eq = [&](unsigned char b) { return _mm_cmpeq_epi8(in, _mm_set1_epi8(char(b))); };
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(in, _mm_set1_epi8(0x1F)), in);
  return _mm_or_si128(
      _mm_or_si128(_mm_or_si128(control, eq('"')), _mm_or_si128(eq('\\'), eq(0x7F))),
      _mm_or_si128(_mm_or_si128(eq(0xC2), eq(0xD8)), eq(0xE2)));
}

bool AnySet(__m128i v) {
  return _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) != 0xFFFF;
}

template <Utf8Plain kPlain>
__attribute__((target("ssse3"))) std::size_t PlainBlocks(const unsigned char* p, std::size_t n) {
  // Nonzero in its last three bytes where the block before ends within a sequence.
  const __m128i last_leads =
      _mm_setr_epi8(char(0xFF), char(0xFF), char(0xFF), char(0xFF), char(0xFF), char(0xFF),
                    char(0xFF), char(0xFF), char(0xFF), char(0xFF), char(0xFF), char(0xFF),
                    char(0xFF), char(0xEF), char(0xDF), char(0xBF));
  __m128i before = _mm_setzero_si128();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    if constexpr (kPlain == Utf8Plain::kJsonAsIs) {
      if (AnySet(JsonStops(in))) break;
    }
    const __m128i errors = _mm_movemask_epi8(in) == 0
                               ? _mm_subs_epu8(before, last_leads)  // ASCII: nothing left open
                               : BlockErrors(in, before);
    if (AnySet(errors)) break;
    before = in;
  }
  // Back to the start of a sequence the last block left open (its lead is valid so far).
  for (std::size_t k = 1; k <= 3 && k <= i; ++k) {
    const unsigned char b = p[i - k];
    if (b < 0x80) break;
    if (b >= 0xC0) {
      const std::size_t length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
      return length > k ? i - k : i;
    }
  }
  return i;
}

#endif  // DIGESTD_UTF8_SSSE3

}  // namespace

std::size_t Utf8PlainPrefix(std::string_view bytes, Utf8Plain plain) {
#ifdef DIGESTD_UTF8_SSSE3
  static const bool kSsse3 = __builtin_cpu_supports("ssse3");
  if (!kSsse3 || bytes.size() < 16) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return plain == Utf8Plain::kJsonAsIs ? PlainBlocks<Utf8Plain::kJsonAsIs>(p, bytes.size())
                                       : PlainBlocks<Utf8Plain::kAnyValid>(p, bytes.size());
#else
  (void)bytes;
  (void)plain;
  return 0;
#endif
}

}  // namespace digestd
