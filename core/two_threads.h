// Work over a long list shared between the caller's thread and one helper, for the stages of
// a large digest whose items do not depend on each other (reading entries, matching papers).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "core/heap_growth.h"

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
      if (first_chunk == 1) PopulateHelperHeap();
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

// Ends a helper thread its owner runs beside it: sets `stop` under `mutex`, wakes the helper
// through `wake` and joins it. Nothing when `thread` never started.
inline void StopHelper(std::mutex& mutex, bool& stop, std::condition_variable& wake,
                       std::thread& thread) {
  if (!thread.joinable()) return;
  {
    const std::lock_guard lock(mutex);
    stop = true;
  }
  wake.notify_one();
  thread.join();
}

// Items that come one by one from a reader that keeps the caller's thread busy (libxml2),
// each turned into an Out by `convert` on one helper thread while the reader goes on, so that
// the other core does that stage during the read instead of after it. Items go to the helper
// a batch at a time; no thread starts before the first batch is full, so a short list is
// converted on the caller's thread by Finish (and every batch as it fills where no thread can
// be started, a task limit, or where the caller asks for none). Add and Finish are the caller's
// alone; `convert` may run on both threads at once.
template <typename In, typename Out, typename Convert = std::function<Out(In&&)>>
class BatchHelper {
 public:
  BatchHelper(std::size_t batch, Convert convert) : batch_(batch), convert_(std::move(convert)) {}

  // Stops the helper after the batch it converts (a reader that failed waits for no more).
  ~BatchHelper() { StopHelper(mutex_, stop_, wake_, thread_); }

  BatchHelper(const BatchHelper&) = delete;
  BatchHelper& operator=(const BatchHelper&) = delete;

  void Add(In item) {
    filling_.push_back(std::move(item));
    if (filling_.size() < batch_) return;
    if (no_thread_) {  // each batch converted as it fills, after any queued before
      for (std::vector<In>& items : queued_) Append(ConvertAll(std::move(items)));
      queued_.clear();
      Append(ConvertAll(std::exchange(filling_, {})));
      filling_.reserve(batch_);
      return;
    }
    {
      const std::lock_guard lock(mutex_);
      queued_.push_back(std::exchange(filling_, {}));
    }
    if (thread_.joinable()) {
      wake_.notify_one();
    } else if (!no_thread_) {
      try {
        thread_ = std::thread([this] { Help(); });
      } catch (const std::system_error&) {
        no_thread_ = true;  // none to be had (a task limit): the caller converts each batch
      }
    }
    filling_.reserve(batch_);
  }

  // No helper thread from here on, where none has started: each batch is converted on the
  // caller's thread as it fills (the caller has another thread beside it already).
  void StayOnCallersThread() {
    if (!thread_.joinable()) no_thread_ = true;
  }

  // Every item's Out, in the order the items were added; rethrows what `convert` threw on the
  // helper (std::bad_alloc). The caller converts the last, partial batch meanwhile.
  std::vector<Out> Finish() {
    std::vector<Out> last = ConvertAll(std::exchange(filling_, {}));
    if (thread_.joinable()) {
      {
        const std::lock_guard lock(mutex_);
        closing_ = true;
      }
      wake_.notify_one();
      thread_.join();
      if (failure_) std::rethrow_exception(failure_);
    }
    for (std::vector<In>& items : queued_) {  // none but where no thread could be started
      Append(ConvertAll(std::move(items)));
    }
    queued_.clear();
    Append(std::move(last));
    return std::exchange(done_, {});
  }

 private:
  // Moves `out` to the end of done_ (under mutex_ while the helper runs).
  void Append(std::vector<Out> out) {
    done_.insert(done_.end(), std::make_move_iterator(out.begin()),
                 std::make_move_iterator(out.end()));
  }

  std::vector<Out> ConvertAll(std::vector<In> items) {
    std::vector<Out> out;
    out.reserve(items.size());
    for (In& item : items) out.push_back(convert_(std::move(item)));
    return out;
  }

  void Help() {
    try {
      std::unique_lock lock(mutex_);
      while (true) {
        wake_.wait(lock, [this] { return stop_ || closing_ || !queued_.empty(); });
        if (stop_ || queued_.empty()) return;  // closing: every batch is converted
        std::vector<In> items = std::move(queued_.front());
        queued_.pop_front();
        lock.unlock();
        PopulateHelperHeap();
        std::vector<Out> out = ConvertAll(std::move(items));
        lock.lock();
        Append(std::move(out));
      }
    } catch (...) {
      failure_ = std::current_exception();  // read by Finish after the join
    }
  }

  const std::size_t batch_;
  Convert convert_;  // called on the helper, and on the caller's thread in Finish
  std::vector<In> filling_;  // the caller's: the batch not yet handed over
  bool no_thread_ = false;   // the caller's: the helper could not be started

  std::mutex mutex_;  // guards the four below
  std::condition_variable wake_;  // a batch came, or the caller finishes or stops
  std::deque<std::vector<In>> queued_;
  std::vector<Out> done_;  // converted, in order
  bool closing_ = false;
  bool stop_ = false;
  std::exception_ptr failure_;  // the helper's, set as it ends
  std::thread thread_;  // last: started once the rest exists, joined before it goes
};

}  // namespace digestd
