// LiveTransport: the Transport that moves real bytes. HTTP(S) and SMTP payloads go through
// one HttpMulti (net/); exec payloads run on a thread each (RunCommand); append payloads are
// written per file in one write and one fsync per Wait, all or nothing (a failed write is
// truncated away, so no half line stays); console payloads go to a caller's sink. Used from
// the delivery engine's thread, except Wake().
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/transport.h"

namespace digestd {

class LiveTransport final : public Transport {
 public:
  // `console` receives console payloads' text; `user_agent` is sent with every HTTP request.
  LiveTransport(std::function<void(const std::string&)> console, std::string user_agent);
  ~LiveTransport() override;

  void Start(std::uint64_t ticket, Payload payload) override;
  std::vector<TransferDone> Wait(std::chrono::milliseconds wait) override;
  void Wake() override;
  void Abandon() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace digestd
