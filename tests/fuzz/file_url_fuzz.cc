// PlainFilePath (net/easy_transfer.h) on any URL: where it reads a file URL's path without
// libcurl, libcurl's parser reads the same path and prints the URL back unchanged, and
// RedactUrl leaves it as it is. The input is the URL when it starts with "file:", else what
// follows "file:///".
#include <memory>
#include <string>

#include "net/easy_transfer.h"
#include "net/http_client.h"
#include "net/libcurl.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view bytes = fuzz::Bytes(data, size);
  const std::string url = bytes.starts_with("file:") ? std::string(bytes)
                                                     : "file:///" + std::string(bytes);
  const auto path = PlainFilePath(url);
  if (!path) return 0;
  FUZZ_CHECK(RedactUrl(url) == url, "a plain file URL redacted: " + url);
  const auto loaded = LoadLibcurl();
  FUZZ_CHECK(loaded.has_value(), "libcurl cannot be loaded to compare with");
  const CurlApi& curl = **loaded;
  std::unique_ptr<CURLU, decltype(curl.url_cleanup)> handle(curl.url(), curl.url_cleanup);
  FUZZ_CHECK(curl.url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) ==
                 CURLUE_OK,
             "libcurl refuses a plain file URL: " + url);
  char* decoded = nullptr;
  char* printed = nullptr;
  FUZZ_CHECK(curl.url_get(handle.get(), CURLUPART_PATH, &decoded, CURLU_URLDECODE) == CURLUE_OK &&
                 curl.url_get(handle.get(), CURLUPART_URL, &printed, 0) == CURLUE_OK,
             "libcurl has no path for a plain file URL: " + url);
  const std::string curl_path(decoded);
  const std::string curl_url(printed);
  curl.free(decoded);
  curl.free(printed);
  FUZZ_CHECK(curl_path == *path, "libcurl reads another path: " + curl_path + " for " + url);
  FUZZ_CHECK(curl_url == url, "libcurl prints it otherwise: " + curl_url + " for " + url);
  return 0;
}
