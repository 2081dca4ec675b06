// OnTwoThreads: every item once, on at most two threads, each with its own worker.
#include "core/two_threads.h"

#include <atomic>
#include <set>
#include <stdexcept>
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

}  // namespace
}  // namespace digestd
