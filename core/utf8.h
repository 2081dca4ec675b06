// UTF-8 helpers shared by every parser and writer. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace digestd {

// `bytes` with every invalid UTF-8 sequence (overlongs, surrogates, truncated sequences,
// stray continuation bytes, code points past U+10FFFF) replaced by U+FFFD.
std::string ToValidUtf8(std::string_view bytes);

// True when `bytes` is entirely valid UTF-8.
bool IsValidUtf8(std::string_view bytes);

// `text` with runs of ASCII whitespace collapsed to one space and the ends trimmed.
std::string CollapseWhitespace(std::string_view text);

// `text` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

}  // namespace digestd
