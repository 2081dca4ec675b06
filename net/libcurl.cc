#include "net/libcurl.h"

#include <cassert>
#include <string>

#include "core/shared_library.h"

namespace digestd {
namespace {

Result<CurlApi> Load() {
  auto library = SharedLibrary::Open("libcurl.so.4");
  if (!library) return Unexpected(library.error());
  CurlApi api;
  SharedLibrary& l = *library;
  l.Bind(api.global_init, "curl_global_init");
  l.Bind(api.version_info, "curl_version_info");
  l.Bind(api.easy_init, "curl_easy_init");
  l.Bind(api.easy_cleanup, "curl_easy_cleanup");
  l.Bind(api.easy_reset, "curl_easy_reset");
  l.Bind(api.easy_setopt, "curl_easy_setopt");
  l.Bind(api.easy_getinfo, "curl_easy_getinfo");
  l.Bind(api.easy_perform, "curl_easy_perform");
  l.Bind(api.easy_strerror, "curl_easy_strerror");
  l.Bind(api.free, "curl_free");
  l.Bind(api.slist_append, "curl_slist_append");
  l.Bind(api.slist_free_all, "curl_slist_free_all");
  l.Bind(api.url, "curl_url");
  l.Bind(api.url_cleanup, "curl_url_cleanup");
  l.Bind(api.url_get, "curl_url_get");
  l.Bind(api.url_set, "curl_url_set");
  l.Bind(api.url_strerror, "curl_url_strerror");
  l.Bind(api.multi_init, "curl_multi_init");
  l.Bind(api.multi_cleanup, "curl_multi_cleanup");
  l.Bind(api.multi_setopt, "curl_multi_setopt");
  l.Bind(api.multi_add_handle, "curl_multi_add_handle");
  l.Bind(api.multi_remove_handle, "curl_multi_remove_handle");
  l.Bind(api.multi_info_read, "curl_multi_info_read");
  l.Bind(api.multi_perform, "curl_multi_perform");
  l.Bind(api.multi_poll, "curl_multi_poll");
  l.Bind(api.multi_wakeup, "curl_multi_wakeup");
  l.Bind(api.multi_assign, "curl_multi_assign");
  l.Bind(api.multi_socket_action, "curl_multi_socket_action");
  l.Bind(api.multi_strerror, "curl_multi_strerror");
  if (auto st = l.Bound(); !st) return Unexpected(st.error());
  // Options and flags digestd sets exist from the version of the headers it was built with.
  const curl_version_info_data* version = api.version_info(CURLVERSION_NOW);
  if (version->version_num < LIBCURL_VERSION_NUM) {
    return Unexpected(std::string("libcurl.so.4 is version ") + version->version +
                      "; digestd needs " LIBCURL_VERSION " or newer");
  }
  if (const CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return Unexpected(std::string("libcurl failed to initialise: ") + api.easy_strerror(rc));
  }
  return api;
}

const Result<CurlApi>& Loaded() {
  static const Result<CurlApi> api = Load();
  return api;
}

}  // namespace

Result<const CurlApi*> LoadLibcurl() {
  const Result<CurlApi>& api = Loaded();
  if (!api) return Unexpected(api.error());
  return &*api;
}

const CurlApi& Libcurl() {
  assert(Loaded().has_value());
  return *Loaded();
}

}  // namespace digestd
