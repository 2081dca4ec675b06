// Paper identity (DESIGN.md §2 step 3): the one place that turns arXiv ids, arXiv and Hugging
// Face URLs and arXiv RSS GUIDs into the stable key "arxiv:ID" plus a separate version.
// Pure functions of their input; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace digestd {

struct ArxivIdentity {
  std::string key;      // "arxiv:2401.15024" or "arxiv:astro-ph/9904306", never a version
  std::string version;  // "v2" when the input carried one; else empty
};

// The arXiv identity in `text`, which may be (surrounding whitespace ignored):
//   a bare id                  2401.15024, 2401.15024v2, astro-ph/9904306v1, math.GT/0309136
//   an "arXiv:" id             arXiv:2401.15024v1
//   an OAI GUID                oai:arXiv.org:2401.15024v1 (a space before vN is tolerated)
//   an arXiv abs or pdf URL    http(s)://[www.|export.]arxiv.org/{abs,pdf}/ID[vN][.pdf][/]
//   a Hugging Face paper page  https://huggingface.co/papers/ID, or relative /papers/ID
// Query strings and fragments of URLs are ignored. nullopt for anything else.
std::optional<ArxivIdentity> ExtractArxivId(std::string_view text);

// `url` made absolute: a root-relative link (/papers/..., /avatars/...) is resolved against
// https://huggingface.co, a protocol-relative one (//host/...) gets https:. Anything else,
// including empty, comes back unchanged (surrounding whitespace trimmed).
std::string ResolveHuggingFaceUrl(std::string_view url);

// The key of a paper known by `url`: "arxiv:ID" when the URL names an arXiv paper (see
// ExtractArxivId), else the URL resolved by ResolveHuggingFaceUrl; empty for an empty URL.
std::string KeyForUrl(std::string_view url);

// `url` in the canonical form feed identity uses: scheme and host lowercased, the default
// port (:80 for http, :443 for https) and the fragment dropped, trailing slashes of the path
// dropped (an empty path becomes "/"), tracking query parameters (utm_*, fbclid, gclid,
// mc_cid, mc_eid, ref, ref_src, igshid, _hsenc, _hsmi, yclid, msclkid) removed with the rest
// kept in order. A string without "scheme://" comes back trimmed but otherwise unchanged.
std::string CanonicalUrl(std::string_view url);

}  // namespace digestd
