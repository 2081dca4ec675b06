// Memory about to be written, made present in few steps instead of one page fault per page:
// on a machine where each first touch of a page is a fault of 11-14 µs (a VM with shadow
// page tables, as this project's measuring machine is), MADV_POPULATE_WRITE over the same
// pages costs half, and a 2 MiB transparent huge page takes one fault for 512 pages. Loops
// that fill memory page after page (a parse keeping a long day's papers) call these as they
// go. Where faults are cheap, or the kernel has neither (MADV_POPULATE_WRITE came in Linux
// 5.14; huge pages may be turned off), they cost a system call that fails, or nothing.
// Only memory about to be used is made present, so memory use grows by little more than it
// would: the allocator's own slack at the top of the heap (128 KiB by default), or, on a long
// day, the untouched part of the huge page being filled (under 2 MiB).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace digestd {

// Makes present the pages the main heap grew by since the last call on this thread: the
// ones the allocator hands out next. sbrk(0) reads the heap's end without a system call.
// While a long day is open (BeginLongDay), the heap's growth is advised to take huge pages
// instead.
void PopulateHeapGrowth();

// Makes present the pages of [from, from + bytes) (rounded out to whole pages), which must be
// mapped and writable: room reserved but not yet written, about to be.
void PopulateRange(void* from, std::size_t bytes);

// Makes present the first `bytes` of a block just allocated, which are written next, where
// the block is large: 128 KiB or more, which the allocator maps for itself (its mmap
// threshold, as daemon/main.cc fixes it), each page faulting as it is first written. A
// smaller block comes from the heap, whose growth PopulateHeapGrowth sees to.
void PopulateLargeBlock(void* data, std::size_t bytes);

// After an entry was appended to `list`, whose room was reserved for a long day: every
// 64 entries, makes present the room of the next 64 (within what was reserved), where each
// page would fault as an entry first reaches it.
template <typename T>
void PopulateNextEntries(std::vector<T>& list) {
  constexpr std::size_t kAhead = 64;
  if (list.size() % kAhead != 0) return;
  PopulateRange(list.data() + list.size(),
                std::min(kAhead, list.capacity() - list.size()) * sizeof(T));
}

// Says that a long day has begun: its papers, plan, commit and messages take tens of
// megabytes in small blocks. Where the kernel gives transparent huge pages on request (its
// setting is "always" or "madvise"), the heap then grows in large steps (16 MiB of
// address space, not memory), each advised to take huge pages as it is touched, and is not
// trimmed below that step, until ReturnHeap. Elsewhere it does nothing. Thread-safe; a
// second call while a long day is open does nothing.
void BeginLongDay();

// The size from which the allocator maps a block for itself (mallopt M_MMAP_THRESHOLD), as
// main() fixes it: glibc's own starting value.
inline constexpr int kMmapThreshold = 128 * 1024;

// Called on a helper thread (core/two_threads.h) between pieces of its work while a long day
// is open (elsewhere it does nothing): makes present the next pages the thread's malloc arena
// hands out. glibc gives helper threads arenas of their own (each reused by the next
// helper), which grow a page at a time, a system call (mprotect) each, M_TOP_PAD not applying
// to them, and where every page faults as it is first written: a 10,000-paper first run's
// helpers made 2,000 such calls and 2,100 faults (11 µs each on the measuring machine, where
// MADV_POPULATE_WRITE makes a page present in 0.9).
// Here the arena grows by up to 240 KiB at once, made present in one call. For helpers whose
// work stays (a parse's papers, a match's decisions); one whose blocks are freed as it goes
// (a commit's snapshot pipeline) reuses its few pages, and looking ahead there only held
// more memory (0.3 MiB at a first run's peak).
void PopulateHelperHeap();
// The size of the two blocks it takes: below the mmap threshold, so from the arena's top.
inline constexpr std::size_t kHelperHeapBlock = std::size_t(kMmapThreshold) - 8 * 1024;

// Ends a long day, if one is open, and gives the heap's free pages back to the system
// (malloc_trim): what the owner of a job calls once the job's cycle is done.
void ReturnHeap();

// Whether a long day is open: BeginLongDay took effect and ReturnHeap has not been called.
bool LongDayOpen();

}  // namespace digestd
