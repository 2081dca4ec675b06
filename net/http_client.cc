#include "net/http_client.h"

#include <curl/curl.h>

#include <future>
#include <string>
#include <system_error>

#include "net/easy_transfer.h"

// The request checks, options, callbacks and error classification live in easy_transfer.cc,
// shared with HttpBatch; RedactUrl and TransferErrorName are defined there too.

namespace digestd {

bool LoadTransfers() { return LoadLibcurl().has_value(); }

std::future<bool> LoadTransfersAside() {
  try {
    return std::async(std::launch::async, LoadTransfers);
  } catch (const std::system_error&) {
    // No thread to be had (a tasks limit): loaded here, as the caller would have.
    std::promise<bool> loaded;
    loaded.set_value(LoadTransfers());
    return loaded.get_future();
  }
}

struct HttpClient::Impl {
  CurlEasyPtr curl;  // made with the first transfer libcurl performs
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Fetch(const HttpRequest& request) {
  EasyTransfer transfer;
  if (!transfer.Check(request)) return transfer.TakeResponse();
  // Same handle every time, so connections (and the CA cache) are reused.
  if (!impl_->curl) impl_->curl.reset(Libcurl().easy_init());
  CURL* curl = impl_->curl.get();
  if (curl == nullptr) {
    return TransferFailure(request, TransferError::kOther,
                           "libcurl could not create a transfer handle");
  }
  if (transfer.Prepare(curl, request)) transfer.Finish(curl, Libcurl().easy_perform(curl));
  return transfer.TakeResponse();
}

}  // namespace digestd
