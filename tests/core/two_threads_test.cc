// OnTwoThreads: every item once, on at most two threads, each with its own worker.
// BatchHelper: every item converted once, given back in order, on the helper only once a
// batch is full.
#include "core/two_threads.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace digestd {
namespace {

TEST(OnTwoThreads, EveryItemOnceAndAShortListOnTheCallersThread) {
  for (const std::size_t count : {0u, 1u, 9u, 10u, 11u, 95u}) {
    std::vector<int> seen(count, 0);
    std::vector<std::thread::id> by(count);
    std::atomic<int> workers{0};
    OnTwoThreads(count, 10, [&] {
      ++workers;
      return [&](std::size_t first, std::size_t last) {
        EXPECT_LE(last - first, 10u);
        EXPECT_EQ(first % 10, 0u);
        for (std::size_t i = first; i < last; ++i) {
          ++seen[i];
          by[i] = std::this_thread::get_id();
        }
        return true;
      };
    });
    EXPECT_EQ(seen, std::vector<int>(count, 1)) << count;
    EXPECT_EQ(workers.load(), count <= 10 ? 1 : 2) << count;
    std::set<std::thread::id> threads(by.begin(), by.end());
    if (count > 0 && count <= 10) {
      EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()}) << count;
    }
    if (count > 10) {
      // Chunks alternate: the caller's thread has chunk 0, the helper chunk 1.
      EXPECT_EQ(by[0], std::this_thread::get_id());
      EXPECT_NE(by[10], std::this_thread::get_id());
      EXPECT_EQ(by[20 % count], by[0]);
    }
  }
}

TEST(OnTwoThreads, AWorkerStopsItsThreadAndAnExceptionReachesTheCaller) {
  std::vector<int> seen(100, 0);
  OnTwoThreads(seen.size(), 10, [&] {
    return [&](std::size_t first, std::size_t last) {
      for (std::size_t i = first; i < last; ++i) ++seen[i];
      return first < 20;  // each thread does its first two chunks only
    };
  });
  std::vector<int> want(100, 0);
  for (std::size_t i = 0; i < 40; ++i) want[i] = 1;
  EXPECT_EQ(seen, want);

  EXPECT_THROW(OnTwoThreads(100, 10,
                            [] {
                              return [](std::size_t first, std::size_t) {
                                if (first == 10) throw std::runtime_error("helper failed");
                                return true;
                              };
                            }),
               std::runtime_error);
}

TEST(BatchHelper, EveryItemInOrderAndAShortListOnTheCallersThread) {
  for (const int count : {0, 1, 9, 10, 11, 95, 1000}) {
    std::vector<std::thread::id> by;
    std::mutex by_mutex;
    BatchHelper<int, std::string> helper(10, [&](int&& item) {
      const std::lock_guard lock(by_mutex);
      by.push_back(std::this_thread::get_id());
      return std::to_string(item);
    });
    for (int i = 0; i < count; ++i) helper.Add(i);
    std::vector<std::string> want;
    for (int i = 0; i < count; ++i) want.push_back(std::to_string(i));
    EXPECT_EQ(helper.Finish(), want) << count;
    std::set<std::thread::id> threads(by.begin(), by.end());
    if (count > 0 && count < 10) {
      EXPECT_EQ(threads, std::set<std::thread::id>{std::this_thread::get_id()}) << count;
    }
    if (count >= 10) {
      // The first batch went to the helper; the caller converts only the last, partial one.
      EXPECT_TRUE(threads.size() == 2 || count % 10 == 0) << count;
      EXPECT_EQ(std::count(by.begin(), by.end(), std::this_thread::get_id()), count % 10)
          << count;
    }
  }
}

// Told to stay on the caller's thread, it converts each batch there as soon as it is full:
// nothing waits for Finish but the last, partial batch.
TEST(BatchHelper, StayingOnTheCallersThreadConvertsEachBatchAsItFills) {
  std::vector<std::thread::id> by;
  int converted = 0;
  BatchHelper<int, std::string> helper(10, [&](int&& item) {
    by.push_back(std::this_thread::get_id());
    ++converted;
    return std::to_string(item);
  });
  helper.StayOnCallersThread();
  for (int i = 0; i < 25; ++i) {
    helper.Add(i);
    EXPECT_EQ(converted, (i + 1) / 10 * 10) << i;
  }
  std::vector<std::string> want;
  for (int i = 0; i < 25; ++i) want.push_back(std::to_string(i));
  EXPECT_EQ(helper.Finish(), want);
  EXPECT_EQ(std::set<std::thread::id>(by.begin(), by.end()),
            std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST(BatchHelper, AnExceptionOnTheHelperReachesFinishAndAnUnfinishedHelperStops) {
  BatchHelper<int, int> failing(4, [](int&& item) {
    if (item == 5) throw std::runtime_error("helper failed");
    return item;
  });
  for (int i = 0; i < 20; ++i) failing.Add(i);
  EXPECT_THROW(failing.Finish(), std::runtime_error);

  // A reader that fails half-way never calls Finish: the helper is stopped and joined.
  // It converts whole batches only, and the items of the batch not handed over not at all.
  std::atomic<int> converted{0};
  std::atomic<int> on_caller{0};
  const std::thread::id caller = std::this_thread::get_id();
  {
    BatchHelper<int, int> abandoned(4, [&](int&& item) {
      ++converted;
      if (std::this_thread::get_id() == caller) ++on_caller;
      return item;
    });
    for (int i = 0; i < 402; ++i) abandoned.Add(i);
  }
  EXPECT_EQ(converted.load() % 4, 0);
  EXPECT_LE(converted.load(), 400);
  EXPECT_EQ(on_caller.load(), 0);
}

}  // namespace
}  // namespace digestd
