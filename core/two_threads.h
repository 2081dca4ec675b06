// Work over a long list shared between the caller's thread and one helper, for the stages of
// a large digest whose items do not depend on each other (reading entries, matching papers).
#pragma once

#include <algorithm>
#include <cstddef>
#include <future>

namespace digestd {

// Calls a worker on [first, last) ranges of [0, count), `chunk` items each. With one chunk
// or less the caller's thread does it all. With more, the caller and one helper thread take
// the chunks in turn (0, 2, 4, ... and 1, 3, 5, ...), so neither waits on the other for
// long, and each writes only its own items. `make_worker()` is called on each thread for
// that thread's worker (which may keep state of its own, such as a parser); a worker
// returns false to stop its thread early. An exception on either thread reaches the caller
// once both have stopped.
template <typename MakeWorker>
void OnTwoThreads(std::size_t count, std::size_t chunk, MakeWorker make_worker) {
  const auto run = [&](std::size_t first_chunk) {
    auto worker = make_worker();
    for (std::size_t first = first_chunk * chunk; first < count; first += 2 * chunk) {
      if (!worker(first, std::min(first + chunk, count))) return;
    }
  };
  if (count <= chunk) {
    run(0);
    return;
  }
  auto helper = std::async(std::launch::async, run, 1);
  run(0);
  helper.get();
}

}  // namespace digestd
