#include "net/http_client.h"

#include <curl/curl.h>

#include <string>

#include "net/easy_transfer.h"

// The request checks, options, callbacks and error classification live in easy_transfer.cc,
// shared with HttpBatch; RedactUrl and TransferErrorName are defined there too.

namespace digestd {

struct HttpClient::Impl {
  CurlEasyPtr curl;
  CURLcode init_result = CURLE_OK;
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {
  impl_->init_result = CurlGlobalInit();
  if (impl_->init_result == CURLE_OK) impl_->curl.reset(curl_easy_init());
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Fetch(const HttpRequest& request) {
  CURL* curl = impl_->curl.get();
  if (curl == nullptr) {
    const CURLcode why = impl_->init_result != CURLE_OK ? impl_->init_result : CURLE_OUT_OF_MEMORY;
    return TransferFailure(request, TransferError::kOther,
                           std::string("libcurl failed to initialise: ") + curl_easy_strerror(why));
  }
  // Same handle every time, so connections (and the CA cache) are reused.
  EasyTransfer transfer;
  if (transfer.Prepare(curl, request)) transfer.Finish(curl, curl_easy_perform(curl));
  return transfer.TakeResponse();
}

}  // namespace digestd
