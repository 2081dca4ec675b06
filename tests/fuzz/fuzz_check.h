// Shared by the libFuzzer targets (tests/fuzz/*_fuzz.cc): the entry point macro, a check
// that aborts (libFuzzer records the input as a crash), and the invariants several targets
// assert. Each target is built twice: with clang-14 and -fsanitize=fuzzer,address,undefined
// (DIGESTD_FUZZ=ON, scripts/fuzz.sh), and with the normal compiler against replay_main.cc so
// ctest replays the seeds and every regression input (tests/fuzz/regressions/TARGET/).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/paper.h"
#include "core/utf8.h"

// The one function each target defines: `DIGESTD_FUZZ_TARGET { ...data, size... }`.
#define DIGESTD_FUZZ_TARGET \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)

// Aborts with what failed: a broken invariant is a finding, as a crash is.
#define FUZZ_CHECK(cond, what)                                                     \
  do {                                                                             \
    if (!(cond)) ::digestd::fuzz::Fail(__FILE__, __LINE__, #cond, (what));         \
  } while (0)

namespace digestd::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* cond, std::string_view what) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n  %.*s\n", file, line, cond,
               static_cast<int>(std::min<std::size_t>(what.size(), 2000)), what.data());
  std::abort();
}

inline std::string_view Bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Where `text` stops being valid UTF-8, with some context around it, for a failure message.
inline std::string AroundInvalidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t len = ValidUtf8SequenceLength(text.substr(i));
    if (len == 0) break;
    i += len;
  }
  const std::size_t from = i > 200 ? i - 200 : 0;
  return "invalid UTF-8 at byte " + std::to_string(i) + " after: " +
         ToValidUtf8(text.substr(from, i - from));
}

// What every parser promises of its result: valid UTF-8 in every text field.
inline void CheckParseResult(const ParseResult& result) {
  const auto utf8 = [](const std::string& s, const char* field) {
    FUZZ_CHECK(IsValidUtf8(s), std::string(field) + ": " + AroundInvalidUtf8(s));
  };
  utf8(result.digest.date, "date");
  for (const Paper& p : result.digest.papers) {
    utf8(p.key, "key");
    utf8(p.title, "title");
    utf8(p.url, "url");
    utf8(p.media_url, "media_url");
    utf8(p.version, "version");
    for (const std::string& a : p.authors) utf8(a, "author");
    for (const std::string& s : p.summary) utf8(s, "summary");
    for (const std::string& t : p.tags) utf8(t, "tag");
    for (const auto& [k, v] : p.extra) {
      utf8(k, "extra key");
      utf8(v, "extra value");
    }
  }
  for (const ParseWarning& w : result.warnings) {
    FUZZ_CHECK(!w.message.empty(), "empty warning");
    FUZZ_CHECK(w.line >= 0, "negative warning line");
  }
}

}  // namespace digestd::fuzz
