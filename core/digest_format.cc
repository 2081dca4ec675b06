#include "core/digest_format.h"

namespace digestd {
namespace {

constexpr DigestFormat kFormats[] = {
    {.name = "markdown", .carries_votes = true, .dated = true},
    {.name = "hf-daily", .carries_votes = true, .dated = false},
    {.name = "arxiv", .carries_votes = false, .dated = false},
    {.name = "feed", .carries_votes = false, .dated = false},
};

}  // namespace

std::span<const DigestFormat> DigestFormats() { return kFormats; }

const DigestFormat* FindDigestFormat(std::string_view name) {
  for (const DigestFormat& f : kFormats) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace digestd
