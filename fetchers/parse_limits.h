// The bounds every digest parse keeps, whatever the bytes (issue 13): how much of a
// document is read into papers, and how long a parse may run. Plain data and one helper;
// thread-safe.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include "core/heap_growth.h"

namespace digestd {

// Byte-level limits on XML, checked before libxml2 sees the bytes (Debian 12's libxml2
// checks duplicate attributes in quadratic time inside one uninterruptible call).
inline constexpr std::size_t kMaxXmlAttributesPerElement = 256;
inline constexpr std::size_t kMaxXmlAttributeBytes = 64 * 1024;

// Limits on what one digest yields; beyond them the rest is dropped with a warning.
inline constexpr std::size_t kMaxPapersPerDigest = 20000;
inline constexpr std::size_t kMaxAuthorsPerPaper = 1000;  // then authors_truncated
inline constexpr std::size_t kMaxTitleBytes = 2048;
inline constexpr std::size_t kMaxSummaryBytes = 64 * 1024;  // all bullets of one paper
inline constexpr std::size_t kMaxUrlBytes = 8192;           // url, media_url, key
inline constexpr std::size_t kMaxNameBytes = 512;           // one author or tag
inline constexpr std::size_t kMaxTagsPerPaper = 200;
inline constexpr std::size_t kMaxExtraBytes = 4096;  // one value in `extra`

// A digest's papers, and lists kept beside them one per paper, are appended through this.
// Once a list is longer than a short day, it takes room for kMaxPapersPerDigest entries, as
// address space only (a block this large is mapped by the allocator and its pages touched as
// entries fill them), so no entry of a long day is moved again, nor its new place faulted
// in: grown by doubling, a 10,000-paper day moved each paper twice on average, into fresh
// pages. A short day takes no room: a 6 MB block for every parse made fuzzing under ASan
// 10 to 60 times slower. A long day is said to the heap (BeginLongDay, core/heap_growth.h),
// which then grows in huge pages where the kernel gives them; as its entries fill that room
// and the heap, the pages they are about to take are made present a run at a time, where a
// fault a page would cost twice as much.
inline constexpr std::size_t kShortDayPapers = 256;

template <typename T>
void AppendToDay(std::vector<T>& list, T item) {
  if (list.size() >= kShortDayPapers && list.capacity() < kMaxPapersPerDigest) {
    list.reserve(kMaxPapersPerDigest);
    BeginLongDay();
  }
  list.push_back(std::move(item));
  if (list.size() < kShortDayPapers) return;
  PopulateNextEntries(list);
  PopulateHeapGrowth();
}

// When a parse must give up: a deadline, and a flag the service sets when it stops. A parse
// that runs out returns what it read so far with a warning naming the budget.
struct ParseBudget {
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;

  bool Exhausted() const {
    return (cancel != nullptr && cancel->load(std::memory_order_relaxed)) ||
           std::chrono::steady_clock::now() >= deadline;
  }
};

}  // namespace digestd
