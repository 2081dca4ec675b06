// Transport: how the delivery engine moves payloads — started one by one, reaped as they end.
// The one seam between the engine and the outside world: LiveTransport (live_transport.h)
// does real HTTP, exec, file and console transfers; tests put a recording fake here to fail
// the N-th transfer (STYLE.md's fail-count idiom). Used from one thread, except Wake().
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "notifiers/channel.h"

namespace digestd {

// What to hand Transport::Start: `part` itself, its body moved out of it. The rest of
// `part` stays for Classify, which never reads the body; a part is sent once per delivery
// pass (a retry renders it again).
inline Payload TakeForSending(Payload& part) {
  std::string body = std::exchange(part.body, std::string());
  Payload sending = part;
  sending.body = std::move(body);
  return sending;
}

struct TransferDone {
  std::uint64_t ticket = 0;
  Response response;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Starts sending `payload`, which it takes (a long digest's email is megabytes: the caller
  // keeps what Classify reads, as TakeForSending leaves it); its response comes back from
  // Wait under `ticket`, never from here.
  virtual void Start(std::uint64_t ticket, Payload payload) = 0;

  // Returns the transfers that ended, waiting at most `wait` while none has. Returns early
  // on Wake().
  virtual std::vector<TransferDone> Wait(std::chrono::milliseconds wait) = 0;

  // Makes a Wait in progress (or the next one) return at once. Thread-safe.
  virtual void Wake() = 0;

  // Stops every transfer still running, within a few seconds at most; none is reported.
  virtual void Abandon() = 0;
};

}  // namespace digestd
