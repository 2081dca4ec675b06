#include "core/identity.h"

#include <cstddef>

#include "core/utf8.h"

namespace digestd {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsLower(c) || (c >= 'A' && c <= 'Z'); }

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (ToLower(text[i]) != ToLower(prefix[i])) return false;
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && StartsWithIgnoreCase(a, b);
}

bool EndsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         StartsWithIgnoreCase(text.substr(text.size() - suffix.size()), suffix);
}

// Consumes `count` digits from the front of `text`; false (text untouched) if not there.
bool ConsumeDigits(std::string_view& text, std::size_t count) {
  if (text.size() < count) return false;
  for (std::size_t i = 0; i < count; ++i) {
    if (!IsDigit(text[i])) return false;
  }
  text.remove_prefix(count);
  return true;
}

// New style YYMM.NNNN (2007-2014) or YYMM.NNNNN (from 1501 on); the month check keeps
// dates and version-like numbers out.
bool ConsumeNewStyleId(std::string_view& text) {
  std::string_view rest = text;
  if (!ConsumeDigits(rest, 4)) return false;
  const int yymm =
      ((text[0] - '0') * 10 + (text[1] - '0')) * 100 + (text[2] - '0') * 10 + (text[3] - '0');
  if (yymm % 100 < 1 || yymm % 100 > 12) return false;
  if (rest.empty() || rest.front() != '.') return false;
  rest.remove_prefix(1);
  if (!ConsumeDigits(rest, yymm >= 1501 ? 5 : 4)) return false;
  text = rest;
  return true;
}

// Old style ARCHIVE[.SC]/YYMMNNN, e.g. astro-ph/9904306, math.GT/0309136.
bool ConsumeOldStyleId(std::string_view& text) {
  std::string_view rest = text;
  std::size_t i = 0;
  while (i < rest.size() && (IsLower(rest[i]) || (i > 0 && rest[i] == '-'))) ++i;
  if (i == 0) return false;
  if (i + 3 <= rest.size() && rest[i] == '.' && IsAlpha(rest[i + 1]) && IsAlpha(rest[i + 2])) {
    i += 3;
  }
  if (i >= rest.size() || rest[i] != '/') return false;
  rest.remove_prefix(i + 1);
  if (!ConsumeDigits(rest, 7)) return false;
  text = rest;
  return true;
}

// `text` must be exactly an id with an optional version; `allow_space` tolerates blanks
// between the two (RSS GUIDs written as "ID vN").
std::optional<ArxivIdentity> ParseBareId(std::string_view text, bool allow_space) {
  std::string_view rest = text;
  if (!ConsumeNewStyleId(rest) && !ConsumeOldStyleId(rest)) return std::nullopt;
  const std::string_view id = text.substr(0, text.size() - rest.size());
  if (allow_space) rest = Trim(rest);
  std::string version;
  if (!rest.empty()) {
    if (rest.front() != 'v' || rest.size() < 2) return std::nullopt;
    for (char c : rest.substr(1)) {
      if (!IsDigit(c)) return std::nullopt;
    }
    version = std::string(rest);
  }
  return ArxivIdentity{.key = "arxiv:" + std::string(id), .version = std::move(version)};
}

// The id part of an arXiv or Hugging Face URL path, or empty when the URL is neither.
std::string_view PaperPathOf(std::string_view url) {
  if (StartsWithIgnoreCase(url, "https://")) {
    url.remove_prefix(8);
  } else if (StartsWithIgnoreCase(url, "http://")) {
    url.remove_prefix(7);
  } else if (!url.starts_with("/")) {
    return {};
  }
  std::size_t slash = url.find('/');
  if (slash == std::string_view::npos) return {};
  std::string_view host = url.substr(0, slash);
  std::string_view path = url.substr(slash);
  // Query and fragment never hold the id.
  path = path.substr(0, path.find_first_of("?#"));
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  const bool arxiv = EqualsIgnoreCase(host, "arxiv.org") ||
                     EqualsIgnoreCase(host, "www.arxiv.org") ||
                     EqualsIgnoreCase(host, "export.arxiv.org");
  const bool hugging_face = host.empty() || EqualsIgnoreCase(host, "huggingface.co") ||
                            EqualsIgnoreCase(host, "www.huggingface.co");
  if (arxiv) {
    if (path.starts_with("/abs/")) return path.substr(5);
    if (path.starts_with("/pdf/")) {
      path.remove_prefix(5);
      if (EndsWithIgnoreCase(path, ".pdf")) path.remove_suffix(4);
      return path;
    }
    return {};
  }
  if (hugging_face && path.starts_with("/papers/")) return path.substr(8);
  return {};
}

bool IsTrackingParameter(std::string_view name) {
  static constexpr std::string_view kTracking[] = {"fbclid", "gclid",   "mc_cid", "mc_eid",
                                                   "ref",    "ref_src", "igshid", "_hsenc",
                                                   "_hsmi",  "yclid",   "msclkid"};
  if (StartsWithIgnoreCase(name, "utm_")) return true;
  for (std::string_view tracking : kTracking) {
    if (EqualsIgnoreCase(name, tracking)) return true;
  }
  return false;
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToLower(c);
  return out;
}

}  // namespace

std::optional<ArxivIdentity> ExtractArxivId(std::string_view text) {
  text = Trim(text);
  if (StartsWithIgnoreCase(text, "oai:arxiv.org:")) {
    return ParseBareId(Trim(text.substr(14)), /*allow_space=*/true);
  }
  if (StartsWithIgnoreCase(text, "arxiv:")) return ParseBareId(text.substr(6), false);
  if (text.find("://") != std::string_view::npos || text.starts_with("/")) {
    const std::string_view id = PaperPathOf(text);
    if (id.empty()) return std::nullopt;
    return ParseBareId(id, false);
  }
  return ParseBareId(text, false);
}

std::string ResolveHuggingFaceUrl(std::string_view url) {
  url = Trim(url);
  if (url.starts_with("//")) return "https:" + std::string(url);
  if (url.starts_with("/")) return "https://huggingface.co" + std::string(url);
  return std::string(url);
}

std::string KeyForUrl(std::string_view url) {
  if (auto arxiv = ExtractArxivId(url)) return std::move(arxiv->key);
  return ResolveHuggingFaceUrl(url);
}

std::string CanonicalUrl(std::string_view url) {
  url = Trim(url);
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return std::string(url);
  const std::string scheme = Lowercase(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  const std::size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);

  const std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  // userinfo@host:port, where host may be a bracketed IPv6 literal.
  std::string_view userinfo;
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    userinfo = authority.substr(0, at + 1);
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  const std::size_t colon = authority.rfind(':');
  const std::size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  const bool default_port =
      port.empty() || (scheme == "http" && port == "80") || (scheme == "https" && port == "443");

  std::string out = scheme + "://" + std::string(userinfo) + Lowercase(host);
  if (!default_port) out += ":" + std::string(port);

  const std::size_t query_start = rest.find('?');
  std::string_view path = rest.substr(0, query_start);
  const std::string_view query =
      query_start == std::string_view::npos ? std::string_view() : rest.substr(query_start + 1);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  out += path.empty() ? std::string_view("/") : path;

  std::string kept;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view parameter = query.substr(start, end - start);
    const std::string_view name = parameter.substr(0, parameter.find('='));
    if (!parameter.empty() && !IsTrackingParameter(name)) {
      if (!kept.empty()) kept += '&';
      kept += parameter;
    }
    start = end + 1;
  }
  if (!kept.empty()) out += "?" + kept;
  return out;
}

}  // namespace digestd
