// Untrusted text (titles, summaries, authors from digests) made safe for chat targets
// (reference/platforms.md §1): control characters and bidi controls removed, mentions
// defused, each platform's escaping, links limited to http(s), lengths counted and cut in
// the unit a platform counts. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/channel_limits.h"

namespace digestd {

// One line of untrusted text: valid UTF-8 (invalid bytes become U+FFFD); C0 and C1 controls,
// DEL, bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069) removed; runs of whitespace (newlines too) made one space,
// ends trimmed; and every '@' directly before a letter, digit or '_' followed by U+2060
// WORD JOINER, as is every '<' directly before '!', '@', '#' or "users/", so no platform
// reads "@everyone", "@here", "@channel", "@name", "<!channel>", "<@U1>" or "<users/all>"
// as a mention (even where its markup is not escaped) while it still reads the same.
std::string ChatLine(std::string_view text);

// The length of valid UTF-8 `text` in `unit`.
std::size_t TextLength(std::string_view text, TextUnit unit);

// `text` (valid UTF-8) cut to at most `max` in `unit`, on a character boundary, with "…"
// (counted) at the end when anything was cut; trailing spaces before the "…" dropped.
std::string CutText(std::string_view text, std::size_t max, TextUnit unit);

// HTML text and attribute escaping: & < > " (and ' unless `apostrophe` is false: Telegram
// knows only the named entities &lt; &gt; &amp; &quot;).
std::string EscapeHtml(std::string_view text, bool apostrophe = true);

// What a reader sees of the simple HTML chat targets take: tags dropped (<br> and </p> as a
// line break), &lt; &gt; &amp; &quot; &#39; read. For counting visible text and for plain
// twins of templated HTML.
std::string HtmlAsText(std::string_view html);

// Slack mrkdwn: exactly & < > as &amp; &lt; &gt; (Slack decodes nothing else), which also
// keeps <!here>, <!channel> and <@U...> from being sent.
std::string EscapeSlack(std::string_view text);

// Markdown inline text: a backslash before each ASCII character markdown gives a meaning
// (\ ` * _ ~ [ ] ( ) # + - ! | { } and, unless `angle_entities`, < >); with
// `angle_entities` & < > become &amp; &lt; &gt; instead (Mattermost, whose Slack
// compatibility reads "<!channel>" before markdown does).
std::string EscapeMarkdown(std::string_view text, bool angle_entities = false);

// `text` with every byte but an ASCII letter, a digit or one of `kept` written %XX
// (upper-case hex, RFC 3986 §2.1).
std::string PercentEncoded(std::string_view text, std::string_view kept);

// `url` when it is an absolute http(s) URL, with every byte outside
// [A-Za-z0-9-._~:/?#@!$&+,;=%] percent-encoded (so no quote, bracket, parenthesis, pipe,
// space or angle bracket can end a link in any markup); "" for any other scheme.
std::string SafeUrl(std::string_view url);

// True when `url` (a SafeUrl) names an image by its extension (.png .jpg .jpeg .gif .webp),
// which platforms that fetch thumbnails accept; a video or page is not one.
bool LooksLikeImage(std::string_view url);

}  // namespace digestd
