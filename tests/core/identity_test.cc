#include "core/identity.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace digestd {
namespace {

// "key version" of `text`, or "none", so each expectation reads on one line.
std::string Id(std::string_view text) {
  const std::optional<ArxivIdentity> id = ExtractArxivId(text);
  if (!id) return "none";
  return id->key + " " + id->version;
}

TEST(ExtractArxivId, ArxivAbsUrls) {
  EXPECT_EQ(Id("https://arxiv.org/abs/2401.15024"), "arxiv:2401.15024 ");
  EXPECT_EQ(Id("http://arxiv.org/abs/2401.15024v3"), "arxiv:2401.15024 v3");
  EXPECT_EQ(Id("https://www.arxiv.org/abs/2401.15024"), "arxiv:2401.15024 ");
  EXPECT_EQ(Id("http://export.arxiv.org/abs/2401.15024v1"), "arxiv:2401.15024 v1");
  EXPECT_EQ(Id("HTTPS://ArXiv.org/abs/2401.15024/"), "arxiv:2401.15024 ");
  EXPECT_EQ(Id("https://arxiv.org/abs/2401.15024?context=cs#refs"), "arxiv:2401.15024 ");
  EXPECT_EQ(Id("  https://arxiv.org/abs/0706.0001\n"), "arxiv:0706.0001 ");
  EXPECT_EQ(Id("https://arxiv.org/abs/1501.00001v1"), "arxiv:1501.00001 v1");
}

TEST(ExtractArxivId, ArxivPdfUrls) {
  EXPECT_EQ(Id("https://arxiv.org/pdf/2401.15024"), "arxiv:2401.15024 ");
  EXPECT_EQ(Id("https://arxiv.org/pdf/2401.15024.pdf"), "arxiv:2401.15024 ");
  EXPECT_EQ(Id("https://arxiv.org/pdf/2401.15024v2"), "arxiv:2401.15024 v2");
  EXPECT_EQ(Id("http://export.arxiv.org/pdf/2401.15024v12.pdf"), "arxiv:2401.15024 v12");
}

TEST(ExtractArxivId, OldStyleIds) {
  EXPECT_EQ(Id("http://arxiv.org/abs/astro-ph/9904306v1"), "arxiv:astro-ph/9904306 v1");
  EXPECT_EQ(Id("https://arxiv.org/pdf/nucl-ex/0408020.pdf"), "arxiv:nucl-ex/0408020 ");
  EXPECT_EQ(Id("math.GT/0309136"), "arxiv:math.GT/0309136 ");
  EXPECT_EQ(Id("hep-th/9711200v2"), "arxiv:hep-th/9711200 v2");
}

TEST(ExtractArxivId, HuggingFacePaperPages) {
  EXPECT_EQ(Id("https://huggingface.co/papers/2311.10770"), "arxiv:2311.10770 ");
  EXPECT_EQ(Id("http://www.huggingface.co/papers/2311.10770#community"), "arxiv:2311.10770 ");
  EXPECT_EQ(Id("/papers/2311.10770"), "arxiv:2311.10770 ");
}

TEST(ExtractArxivId, RssGuidsAndApiIds) {
  EXPECT_EQ(Id("oai:arXiv.org:2606.13677v1"), "arxiv:2606.13677 v1");
  EXPECT_EQ(Id("oai:arXiv.org:2009.13987 v3"), "arxiv:2009.13987 v3");
  EXPECT_EQ(Id("oai:arXiv.org:astro-ph/9904306v1"), "arxiv:astro-ph/9904306 v1");
  EXPECT_EQ(Id("arXiv:2401.15024v2"), "arxiv:2401.15024 v2");
  EXPECT_EQ(Id("2606.00467"), "arxiv:2606.00467 ");
  EXPECT_EQ(Id("2606.00467v4"), "arxiv:2606.00467 v4");
}

TEST(ExtractArxivId, RejectsWhatIsNoArxivId) {
  EXPECT_EQ(Id(""), "none");
  EXPECT_EQ(Id("https://example.org/abs/2401.15024"), "none");
  EXPECT_EQ(Id("https://arxiv.org.example.com/abs/2401.15024"), "none");
  EXPECT_EQ(Id("https://arxiv.org/list/cs.LG/recent"), "none");
  EXPECT_EQ(Id("https://arxiv.org/abs/"), "none");
  EXPECT_EQ(Id("https://huggingface.co/avatars/2401.15024.svg"), "none");
  EXPECT_EQ(Id("/avatars/2401.15024"), "none");
  EXPECT_EQ(Id("2401.1502"), "none");  // five digits since 1501
  EXPECT_EQ(Id("2401.150245"), "none");
  EXPECT_EQ(Id("1412.12345"), "none");     // four digits before 1501
  EXPECT_EQ(Id("2413.15024"), "none");     // month 13
  EXPECT_EQ(Id("2401.15024v"), "none");    // version without number
  EXPECT_EQ(Id("2401.15024 v2"), "none");  // a space only in GUIDs
  EXPECT_EQ(Id("2401.15024x"), "none");
  EXPECT_EQ(Id("astro-ph/990430"), "none");
  EXPECT_EQ(Id("Astro-ph/9904306"), "none");
  EXPECT_EQ(Id("doi:10.1000/182"), "none");
}

TEST(ResolveHuggingFaceUrl, ResolvesRootRelativeLinks) {
  EXPECT_EQ(ResolveHuggingFaceUrl("/papers/2311.10770"),
            "https://huggingface.co/papers/2311.10770");
  EXPECT_EQ(ResolveHuggingFaceUrl("/avatars/abc.svg"), "https://huggingface.co/avatars/abc.svg");
  EXPECT_EQ(ResolveHuggingFaceUrl("//cdn.example.org/x.png"), "https://cdn.example.org/x.png");
}

TEST(ResolveHuggingFaceUrl, LeavesAbsoluteAndEmptyAlone) {
  EXPECT_EQ(ResolveHuggingFaceUrl("https://arxiv.org/abs/2401.15024"),
            "https://arxiv.org/abs/2401.15024");
  EXPECT_EQ(ResolveHuggingFaceUrl("http://example.org/a b"), "http://example.org/a b");
  EXPECT_EQ(ResolveHuggingFaceUrl(" https://x.org/ "), "https://x.org/");
  EXPECT_EQ(ResolveHuggingFaceUrl(""), "");
}

TEST(KeyForUrl, ArxivKeyElseResolvedUrl) {
  EXPECT_EQ(KeyForUrl("https://arxiv.org/abs/2401.15024v2"), "arxiv:2401.15024");
  EXPECT_EQ(KeyForUrl("/papers/2311.10770"), "arxiv:2311.10770");
  EXPECT_EQ(KeyForUrl("/blog/some-post"), "https://huggingface.co/blog/some-post");
  EXPECT_EQ(KeyForUrl("https://example.org/paper/7"), "https://example.org/paper/7");
  EXPECT_EQ(KeyForUrl(""), "");
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

TEST(CanonicalUrl, LowercasesSchemeAndHostButNotPath) {
  EXPECT_EQ(CanonicalUrl("HTTPS://Blog.Example.ORG/Posts/Hello"),
            "https://blog.example.org/Posts/Hello");
  EXPECT_EQ(CanonicalUrl("  http://user:Pw@Example.org/a  "), "http://user:Pw@example.org/a");
}

TEST(CanonicalUrl, DropsDefaultPortsOnly) {
  EXPECT_EQ(CanonicalUrl("http://example.org:80/a"), "http://example.org/a");
  EXPECT_EQ(CanonicalUrl("https://example.org:443/a"), "https://example.org/a");
  EXPECT_EQ(CanonicalUrl("https://example.org:80/a"), "https://example.org:80/a");
  EXPECT_EQ(CanonicalUrl("http://example.org:8080/a"), "http://example.org:8080/a");
  EXPECT_EQ(CanonicalUrl("http://[2001:DB8::1]:80/a"), "http://[2001:db8::1]/a");
  EXPECT_EQ(CanonicalUrl("http://[2001:db8::1]/a"), "http://[2001:db8::1]/a");
}

TEST(CanonicalUrl, DropsFragmentAndTrailingSlashKeepsRoot) {
  EXPECT_EQ(CanonicalUrl("https://example.org/a/b/#comments"), "https://example.org/a/b");
  EXPECT_EQ(CanonicalUrl("https://example.org/a//"), "https://example.org/a");
  EXPECT_EQ(CanonicalUrl("https://example.org/"), "https://example.org/");
  EXPECT_EQ(CanonicalUrl("https://example.org"), "https://example.org/");
  EXPECT_EQ(CanonicalUrl("https://example.org#top"), "https://example.org/");
  EXPECT_EQ(CanonicalUrl("https://example.org?x=1"), "https://example.org/?x=1");
}

TEST(CanonicalUrl, RemovesTrackingParametersKeepingOrder) {
  EXPECT_EQ(CanonicalUrl("https://example.org/p?utm_source=rss&id=7&UTM_Medium=x&page=2"),
            "https://example.org/p?id=7&page=2");
  EXPECT_EQ(CanonicalUrl("https://example.org/p?fbclid=a&gclid=b&mc_cid=c&mc_eid=d&ref=e"
                         "&ref_src=f&igshid=g&_hsenc=h&_hsmi=i&yclid=j&msclkid=k"),
            "https://example.org/p");
  EXPECT_EQ(CanonicalUrl("https://example.org/p/?z=1&a=2&&referrer=3"),
            "https://example.org/p?z=1&a=2&referrer=3");
  EXPECT_EQ(CanonicalUrl("https://example.org/p?ref"), "https://example.org/p");
  EXPECT_EQ(CanonicalUrl("https://example.org/p?q=a%20b#f"), "https://example.org/p?q=a%20b");
}

TEST(CanonicalUrl, LeavesNonUrlsAlone) {
  EXPECT_EQ(CanonicalUrl(""), "");
  EXPECT_EQ(CanonicalUrl(" /relative/path/ "), "/relative/path/");
  EXPECT_EQ(CanonicalUrl("urn:uuid:1225c695-cfb8"), "urn:uuid:1225c695-cfb8");
  EXPECT_EQ(CanonicalUrl("tag:example.org,2024:Post/1"), "tag:example.org,2024:Post/1");
}

}  // namespace
}  // namespace digestd
