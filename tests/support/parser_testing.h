// Helpers shared by the parser and config tests: fixtures under tests/data, a UTF-8 check
// over a whole ParseResult, and the random document mutation the fuzz tests loop over.
// Stateless apart from the caller's generator; safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/paper.h"
#include "core/spool.h"

namespace digestd::test {

// The bytes of tests/data/<relative_path>; adds a test failure and returns "" when the file
// is missing.
std::string ReadTestData(const std::string& relative_path);

// True when every string in `result` (date, every paper field, every warning) is valid UTF-8.
bool AllFieldsValidUtf8(const ParseResult& result);

// `doc` after 1 to `max_edits` random edits, each one of: overwrite a byte, insert one of
// `pieces`, erase up to 32 bytes, duplicate a slice of up to 200 bytes, or truncate. The same
// generator state gives the same result, so a failing round reproduces from its seed.
std::string Mutate(std::string doc, std::mt19937& rng, std::span<const std::string> pieces,
                   int max_edits = 8);

// Each byte of `chars` as a one-byte piece for Mutate().
std::vector<std::string> BytePieces(std::string_view chars);

// Issue 12's check of a parser that reads a body in pieces (a spooled one): documents read in
// random pieces give the papers, and what `shown` shows of the rest (date, warnings), that
// the same bytes in one piece give. Each of `docs` is read first as it is, `as_is` times,
// then mutated with `specials`, for `rounds` rounds in all; every third round's pieces are 1
// to `small` bytes, the others up to `large`.
struct PiecesCheck {
  std::vector<std::string> docs;
  std::vector<std::string> specials;
  int rounds = 600;
  int as_is = 1;
  std::size_t small = 8;
  std::size_t large = 5000;
  std::uint32_t seed = 12;
};
void ExpectPiecesReadAsOne(const PiecesCheck& check,
                           const std::function<ParseResult(const ByteSource&)>& parse,
                           const std::function<std::string(const ParseResult&)>& shown);

}  // namespace digestd::test
