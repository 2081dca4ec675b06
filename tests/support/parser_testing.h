// Helpers shared by the parser and config tests: fixtures under tests/data, a UTF-8 check
// over a whole ParseResult, and the random document mutation the fuzz tests loop over.
// Stateless apart from the caller's generator; safe to call from any thread.
#pragma once

#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/paper.h"

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

}  // namespace digestd::test
