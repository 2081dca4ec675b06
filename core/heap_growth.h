// Memory about to be written, made present in one call instead of one page fault per page:
// on a machine where each first touch of a page is a fault of 11-14 µs (a VM with shadow
// page tables, as this project's measuring machine is), MADV_POPULATE_WRITE over the same
// pages costs half. Loops that fill memory page after page (a parse keeping a long day's
// papers) call these as they go. Where faults are cheap, or the kernel has no
// MADV_POPULATE_WRITE (before Linux 5.14), they cost a system call that fails, or nothing.
// Only memory about to be used is made present, so memory use grows by little more than it
// would: the allocator's own slack at the top of the heap (128 KiB by default).
#pragma once

#include <cstddef>

namespace digestd {

// Makes present the pages the main heap grew by since the last call on this thread: the
// ones the allocator hands out next. sbrk(0) reads the heap's end without a system call.
void PopulateHeapGrowth();

// Makes present the pages of [from, from + bytes) (rounded out to whole pages), which must be
// mapped and writable: room reserved but not yet written, about to be.
void PopulateRange(void* from, std::size_t bytes);

}  // namespace digestd
