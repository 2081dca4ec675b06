// PlainFilePath answers for libcurl's URL parser where a run has no other use for libcurl:
// for every URL it takes, libcurl must read the same path and print the URL back unchanged.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "net/easy_transfer.h"
#include "net/http_client.h"
#include "net/libcurl.h"

namespace digestd {
namespace {

struct Parsed {
  bool ok = false;
  std::string path;  // decoded
  std::string url;   // as libcurl prints it
};

Parsed ByLibcurl(const std::string& url) {
  const CurlApi& curl = **LoadLibcurl();
  std::unique_ptr<CURLU, decltype(curl.url_cleanup)> handle(curl.url(), curl.url_cleanup);
  Parsed parsed;
  if (curl.url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
      CURLUE_OK) {
    return parsed;
  }
  char* path = nullptr;
  char* whole = nullptr;
  if (curl.url_get(handle.get(), CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK ||
      curl.url_get(handle.get(), CURLUPART_URL, &whole, 0) != CURLUE_OK) {
    curl.free(path);
    return parsed;
  }
  parsed = {.ok = true, .path = path, .url = whole};
  curl.free(path);
  curl.free(whole);
  return parsed;
}

TEST(PlainFilePath, ReadsWhatLibcurlReadsOrLeavesTheUrlToIt) {
  ASSERT_TRUE(LoadLibcurl()) << LoadLibcurl().error().message;
  const char* plain[] = {
      "file:///tmp/digests/2024-01-29.md", "file:///srv/papers/{date}.md", "file:///",
      "file:///tmp/x/", "file:////tmp/x", "file:///tmp//b", "file:///tmp/a..b/.c",
      "file:///tmp/a:b", "file:///tmp/a@b", "file:///tmp/x\\y", "file:///tmp/.hidden",
      "file:///tmp/...", "file:///tmp/a.b/..c"};
  for (const char* url : plain) {
    const auto path = PlainFilePath(url);
    ASSERT_TRUE(path) << url;
    const Parsed curl = ByLibcurl(url);
    ASSERT_TRUE(curl.ok) << url;
    EXPECT_EQ(*path, curl.path) << url;
    EXPECT_EQ(curl.url, url) << "libcurl prints it otherwise: " << url;
    EXPECT_EQ(RedactUrl(url), url);
  }
  // Each of these libcurl reads otherwise (a host, a query, a fragment, an escape, a dot
  // segment, a drive letter, upper case) or refuses (a space, a control): its parser's.
  const char* others[] = {
      "file://localhost/tmp/x", "FILE:///tmp/x", "file:/tmp/x", "file:///tmp/x?q=1",
      "file:///tmp/x#f", "file:///tmp/a%20b", "file:///tmp/a/../b", "file:///tmp/./b",
      "file:///tmp/..", "file:///tmp/.", "file:///C:/x", "file:///c|/x", "file:///tmp/x y",
      "file:///tmp/\x01", "file:///tmp/\xc3\xa4", "file://host/tmp/x", "file://", "http://h/x",
      "https://127.0.0.1/a.md", "", "file:", "file:///tmp/x\x7f"};
  for (const char* url : others) EXPECT_FALSE(PlainFilePath(url)) << url;
}

TEST(UrlOrigin, IsOnlyAnHttpUrls) {
  EXPECT_EQ(UrlOrigin("file:///tmp/x.md"), "");
  EXPECT_EQ(UrlOrigin("ftp://example.org/x"), "");
  EXPECT_EQ(UrlOrigin("no scheme"), "");
  EXPECT_EQ(UrlOrigin("HTTPS://Example.ORG/a?b"), "https://example.org:443");
  EXPECT_EQ(UrlOrigin("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
}

}  // namespace
}  // namespace digestd
