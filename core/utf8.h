// UTF-8 helpers shared by every parser and writer. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace digestd {

// `bytes` with every invalid UTF-8 sequence (overlongs, surrogates, truncated sequences,
// stray continuation bytes, code points past U+10FFFF) replaced by U+FFFD.
std::string ToValidUtf8(std::string_view bytes);
// The same for a string the caller gives up: valid text (the usual case) is returned as it
// is, without a copy.
std::string ToValidUtf8(std::string&& bytes);
inline std::string ToValidUtf8(const char* bytes) { return ToValidUtf8(std::string_view(bytes)); }

// The length (1-4) of the valid UTF-8 sequence that starts `bytes`, or 0 when it does not
// start with one (or is empty).
std::size_t ValidUtf8SequenceLength(std::string_view bytes);

// The code point of `sequence`, which must be one valid UTF-8 sequence.
char32_t DecodeUtf8Sequence(std::string_view sequence);

// True for the characters TerminalSafe neutralises: C0 and C1 controls, DEL, bidirectional
// overrides, isolates and marks, line and paragraph separators, and the other invisible
// format characters that can reorder, hide or forge what a terminal or log viewer shows
// (zero-width space, word joiner, BOM, interlinear annotations, tag characters). ZWJ and
// ZWNJ are not: scripts and emoji need them, and they move nothing.
bool IsTerminalUnsafe(char32_t code_point);

// The part of IsTerminalUnsafe that moves or rewrites what a terminal shows: C0, DEL, C1,
// bidirectional overrides, isolates and marks, line and paragraph separators. JSON escapes
// these (core/json_writer.h); the invisible rest stays raw there (chat payloads insert a
// word joiner on purpose).
bool IsControlOrBidi(char32_t code_point);

// True when `bytes` is entirely valid UTF-8.
bool IsValidUtf8(std::string_view bytes);
// The length of the longest valid UTF-8 prefix of `bytes`: where ToValidUtf8 would put its
// first U+FFFD (for one byte, then go on after it).
std::size_t ValidUtf8PrefixLength(std::string_view bytes);

// What Utf8PlainPrefix passes over besides valid UTF-8.
enum class Utf8Plain {
  kAnyValid,    // every valid character
  kJsonAsIs,    // those AppendJsonQuoted copies as they are: no C0 control, '"', '\\' or
                // DEL, and no character led by C2, D8 or E2 (C1 controls, bidi marks)
};

// A length of the start of `bytes` that is valid UTF-8 made only of `plain` characters, and
// ends where a character starts; measured sixteen bytes at a time with the CPU's vector
// instructions (SSSE3), so it stops at the block that holds the first byte of any other kind,
// or within 18 bytes of the end. 0 on a CPU without them. Callers go on from there a character
// at a time: this only lets them pass over long plain text fast (issue 12: a 10,000-paper day
// is validated once and quoted twice).
std::size_t Utf8PlainPrefix(std::string_view bytes, Utf8Plain plain);

// Appends `bytes` to `out` as ToValidUtf8 makes it: each invalid byte as U+FFFD, and each
// valid run between them through `append_run(out, run)`, which may rewrite it on the way
// (the markdown parser's line ends). ToValidUtf8 is this with a plain append.
template <typename AppendRun>
void AppendValidUtf8(std::string& out, std::string_view bytes, AppendRun append_run) {
  while (true) {
    const std::size_t valid = ValidUtf8PrefixLength(bytes);
    append_run(out, bytes.substr(0, valid));
    if (valid == bytes.size()) return;
    out += "\xEF\xBF\xBD";  // the invalid byte at `valid`
    bytes.remove_prefix(valid + 1);
  }
}

// `text` with runs of ASCII whitespace collapsed to one space and the ends trimmed.
std::string CollapseWhitespace(std::string_view text);
// The same, done in place in a string the caller gives up.
std::string CollapseWhitespace(std::string&& text);
inline std::string CollapseWhitespace(const char* text) {
  return CollapseWhitespace(std::string_view(text));
}

// `text` made safe to print on a terminal or in a log: valid UTF-8, with C0 and C1 control
// characters (ESC, BEL, CSI U+009B, ...), DEL, bidirectional overrides and marks
// (U+202A-U+202E, U+2066-U+2069, LRM, RLM, ALM), line and paragraph separators and the
// other invisible format characters (zero-width space, word joiner, BOM, tag characters)
// replaced by a space, except newlines when `keep_newlines`. The one function every
// human-facing output (logs included) passes fetched text through; JSON output escapes
// instead. Cut to at most
// `max_bytes` on a character boundary, with "..." when cut.
std::string TerminalSafe(std::string_view text, std::size_t max_bytes = std::string::npos,
                         bool keep_newlines = false);

// How many bytes of `bytes` are `byte`, counted eight at a time (a long document's lines).
std::size_t CountByte(std::string_view bytes, char byte);

// `text` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

}  // namespace digestd
