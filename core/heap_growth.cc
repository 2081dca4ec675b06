#include "core/heap_growth.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>

namespace digestd {
namespace {

std::uintptr_t PageSize() {
  static const auto size = std::uintptr_t(sysconf(_SC_PAGESIZE));
  return size;
}

void Populate(std::uintptr_t from, std::uintptr_t to) {
  const std::uintptr_t page = PageSize();
  from &= ~(page - 1);
  if (to <= from) return;
  // Fails harmlessly where unsupported (EINVAL): the pages then fault one by one.
  madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE);
}

// A long day's step of heap. A huge page is only given to an aligned 2 MiB range that lies
// whole inside one mapping, and each step is a mapping of its own (its first pages are
// written before they can be advised), so a step keeps most of itself in huge pages only
// when it is large. The peers' 10,000-item feed to one email, against the build before (11
// to 15 pairs in turns): 16 MiB steps took 0.925 of its time for 0.2 MiB more at its peak
// (the untouched rest of the huge page being filled); 20 MiB, 0.900 for 0.4 MiB more, about
// the margin left under issue 8's memory bound.
constexpr std::size_t kLongDayStep = 16 * 1024 * 1024;
// glibc's own M_TOP_PAD, which ReturnHeap restores (mallopt(3): 128*1024).
constexpr int kUsualTopPad = 128 * 1024;

// Whether madvise(MADV_HUGEPAGE) gives this process 2 MiB pages: the kernel's setting is
// "always" or "madvise", and its huge page is no larger than that (a 64 KiB-page arm64
// kernel's is 512 MiB).
bool HugePagesOnRequest() {
  static const bool yes = [] {
    std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
    std::ifstream size("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
    std::string setting;
    std::uint64_t bytes = 0;
    if (!std::getline(enabled, setting) || !(size >> bytes)) return false;
    const bool on = setting.find("[always]") != std::string::npos ||
                    setting.find("[madvise]") != std::string::npos;
    return on && bytes != 0 && bytes <= 2 * 1024 * 1024;
  }();
  return yes;
}

// The open long day, if any: whether one is open (set and cleared under the mutex; read
// without it first by PopulateHeapGrowth), and where the heap ended when it was last advised.
std::mutex long_day_mutex;
std::atomic<bool> long_day_open{false};
std::uintptr_t advised_end = 0;    // guarded by long_day_mutex
std::uintptr_t advised_start = 0;  // where the long day's advice began; the same

// Advises the heap's growth up to `end` to take huge pages; false when no long day is open.
bool AdviseLongDayGrowth(std::uintptr_t end) {
  std::lock_guard lock(long_day_mutex);
  if (!long_day_open.load(std::memory_order_relaxed)) return false;
  if (end > advised_end) {
    madvise(reinterpret_cast<void*>(advised_end), end - advised_end, MADV_HUGEPAGE);
  }
  advised_end = end;  // also where the heap was trimmed below it
  return true;
}

}  // namespace

void PopulateHeapGrowth() {
  thread_local std::uintptr_t seen = 0;
  const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  if (end == std::uintptr_t(-1)) return;
  if (long_day_open.load(std::memory_order_acquire) && AdviseLongDayGrowth(end)) {
    seen = end;
    return;
  }
  // A step of the allocator's usual size (what was asked, and its 128 KiB of slack) is
  // taken by the allocations that follow. A larger one is a large block or slack left free
  // at the top of the heap, not written soon: it faults as it is used.
  constexpr std::uintptr_t kLargestStep = 160 * 1024;
  if (seen != 0 && end > seen && end - seen <= kLargestStep) Populate(seen, end);
  seen = end;
}

void PopulateRange(void* from, std::size_t bytes) {
  if (bytes == 0) return;
  const auto start = reinterpret_cast<std::uintptr_t>(from);
  Populate(start, start + bytes);
}

void PopulateLargeBlock(void* data, std::size_t bytes) {
  constexpr std::size_t kLargeBlock = 128 * 1024;
  if (bytes >= kLargeBlock) PopulateRange(data, bytes);
}

void PopulateHelperHeap() {
  if (!long_day_open.load(std::memory_order_acquire)) return;
  // A block larger than the small ones the thread frees and takes again (which the
  // allocator's caches and bins hold), and below the mmap threshold, comes from the top of
  // the thread's arena, which grows for it by one call where it must. Two such blocks, one
  // after the other, are the room the next allocations take: its pages not yet present are
  // made so, and the blocks, freed, join the top again.
  thread_local std::uintptr_t present_end = 0;
  void* first = malloc(kHelperHeapBlock);
  void* second = first != nullptr ? malloc(kHelperHeapBlock) : nullptr;
  if (second != nullptr) {
    const auto start = reinterpret_cast<std::uintptr_t>(first);
    const auto end = std::max(start, reinterpret_cast<std::uintptr_t>(second)) + kHelperHeapBlock;
    if (end > present_end) {
      Populate(std::max(start, present_end), end);
      present_end = end;
    }
  }
  free(second);
  free(first);
}

void BeginLongDay() {
  if (!HugePagesOnRequest()) return;
  std::lock_guard lock(long_day_mutex);
  if (long_day_open.load(std::memory_order_relaxed)) return;
  const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  if (end == std::uintptr_t(-1)) return;
  // A sanitizer's allocator takes no such advice (its mallopt returns 0), nor uses brk.
  if (mallopt(M_TOP_PAD, int(kLongDayStep)) == 0) return;
  advised_start = end;
  advised_end = end;
  long_day_open.store(true, std::memory_order_release);
}

void ReturnHeap() {
  {
    std::lock_guard lock(long_day_mutex);
    if (long_day_open.load(std::memory_order_relaxed)) {
      mallopt(M_TOP_PAD, kUsualTopPad);
      // The day's heap no longer asks for huge pages. Otherwise the kernel's khugepaged
      // fills each 2 MiB range in which a page is still present back into a whole huge page
      // after malloc_trim has given the rest away: a service came back 11 MB above its size
      // after a 10,000-paper markdown day, its heap all huge pages again.
      const std::uintptr_t from = advised_start & ~(PageSize() - 1);
      if (advised_end > from) {
        madvise(reinterpret_cast<void*>(from), advised_end - from, MADV_NOHUGEPAGE);
      }
      long_day_open.store(false, std::memory_order_release);
    }
  }
  malloc_trim(0);
}

bool LongDayOpen() { return long_day_open.load(std::memory_order_acquire); }

}  // namespace digestd
