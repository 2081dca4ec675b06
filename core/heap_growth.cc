#include "core/heap_growth.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

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

}  // namespace

void PopulateHeapGrowth() {
  thread_local std::uintptr_t seen = 0;
  const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  if (end == std::uintptr_t(-1)) return;
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

}  // namespace digestd
