#include "core/heap_growth.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace digestd {
namespace {

std::uintptr_t PageSize() { return std::uintptr_t(sysconf(_SC_PAGESIZE)); }

// Whether the page holding `address` is in memory (mincore).
bool Resident(std::uintptr_t address) {
  unsigned char vec = 0;
  const std::uintptr_t page = address & ~(PageSize() - 1);
  return mincore(reinterpret_cast<void*>(page), PageSize(), &vec) == 0 && (vec & 1) != 0;
}

// Whether this kernel has MADV_POPULATE_WRITE (Linux 5.14 and later).
bool KernelPopulates() {
  void* probe = mmap(nullptr, PageSize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
  if (probe == MAP_FAILED) return false;
  const bool ok = madvise(probe, PageSize(), MADV_POPULATE_WRITE) == 0;
  munmap(probe, PageSize());
  return ok;
}

// Issue 8/12: room about to be written is made present in one call, every page of it, and
// keeps what it holds.
TEST(HeapGrowth, ARangeIsMadePresentWithoutChangingIt) {
  if (!KernelPopulates()) GTEST_SKIP() << "no MADV_POPULATE_WRITE in this kernel";
  constexpr std::size_t kPages = 16;
  const std::size_t size = kPages * PageSize();
  void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(block, MAP_FAILED);
  const auto start = reinterpret_cast<std::uintptr_t>(block);
  static_cast<char*>(block)[0] = 'x';
  for (std::size_t i = 1; i < kPages; ++i) EXPECT_FALSE(Resident(start + i * PageSize())) << i;
  // From inside the first page to inside the last: whole pages.
  PopulateRange(static_cast<char*>(block) + 1, size - 2);
  for (std::size_t i = 0; i < kPages; ++i) EXPECT_TRUE(Resident(start + i * PageSize())) << i;
  EXPECT_EQ(static_cast<char*>(block)[0], 'x');
  EXPECT_EQ(static_cast<char*>(block)[size - 1], '\0');
  PopulateRange(block, 0);  // nothing to do
  munmap(block, size);
}

// Issue 8/12: when the allocator grows the heap by its usual step, the pages it has not
// handed out yet (its slack at the top) are present after the next call, not faulted in one
// by one as blocks are written.
TEST(HeapGrowth, TheHeapsNewPagesArePresent) {
  if (!KernelPopulates()) GTEST_SKIP() << "no MADV_POPULATE_WRITE in this kernel";
  PopulateHeapGrowth();  // remembers where the heap ends
  const auto before = reinterpret_cast<std::uintptr_t>(sbrk(0));
  std::vector<std::unique_ptr<char[]>> kept;
  std::uintptr_t after = before;
  // Small blocks until the heap's end moves (a sanitizer's allocator never moves it).
  for (int i = 0; i < 100000 && after == before; ++i) {
    kept.push_back(std::make_unique<char[]>(64));
    after = reinterpret_cast<std::uintptr_t>(sbrk(0));
  }
  if (after == before) GTEST_SKIP() << "the allocator does not grow the heap with brk";
  if (after - before > 160 * 1024) GTEST_SKIP() << "a step larger than the allocator's usual";
  // The last page below the new end is slack nothing has written yet.
  EXPECT_FALSE(Resident(after - 1));
  PopulateHeapGrowth();
  EXPECT_TRUE(Resident(after - 1));
  EXPECT_TRUE(Resident(before));
}

// Whether this kernel gives huge pages to memory advised to take them ("always" or
// "madvise"), as BeginLongDay asks.
bool KernelGivesHugePages() {
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string setting;
  return std::getline(enabled, setting) &&
         (setting.find("[always]") != std::string::npos ||
          setting.find("[madvise]") != std::string::npos);
}

// The lines of /proc/self/smaps that start with `field` ("AnonHugePages:") in each of the
// main heap's mappings ([heap]), the field's name cut off.
std::vector<std::string> HeapField(const std::string& field) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_heap = false;
  std::vector<std::string> values;
  while (std::getline(smaps, line)) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.find('-') != std::string::npos && !first.ends_with(":")) {
      in_heap = line.ends_with("[heap]");  // a mapping's first line: "start-end perms ..."
    } else if (in_heap && first == field) {
      values.push_back(line.substr(field.size()));
    }
  }
  return values;
}

// The kilobytes of the main heap held in huge pages.
long HeapHugePagesKb() {
  long kb = 0;
  for (const std::string& value : HeapField("AnonHugePages:")) kb += std::atol(value.c_str());
  return kb;
}

// Issue 8/12: once a long day begins, the heap's growth takes huge pages as it is written,
// and after ReturnHeap it grows by its usual step again.
TEST(HeapGrowth, ALongDaysHeapTakesHugePagesUntilItIsReturned) {
  if (!KernelGivesHugePages()) GTEST_SKIP() << "transparent huge pages are off in this kernel";
  ReturnHeap();
  const auto start = reinterpret_cast<std::uintptr_t>(sbrk(0));
  BeginLongDay();
  if (!LongDayOpen()) GTEST_SKIP() << "the allocator takes no M_TOP_PAD (a sanitizer's)";
  BeginLongDay();  // a second call changes nothing
  EXPECT_TRUE(LongDayOpen());
  const long huge_before = HeapHugePagesKb();
  // 12 MiB in blocks of 1 KiB, written as a parse writes its papers.
  std::vector<std::unique_ptr<char[]>> kept;
  for (int i = 0; i < 12 * 1024; ++i) {
    kept.push_back(std::make_unique<char[]>(1024));
    std::memset(kept.back().get(), 'p', 1024);
    PopulateHeapGrowth();
  }
  const auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
  if (end == start) GTEST_SKIP() << "the allocator does not grow the heap with brk";
  // One step of address space, more than was asked.
  EXPECT_GE(end - start, std::uintptr_t(16) << 20);
  EXPECT_GE(HeapHugePagesKb() - huge_before, 4096);
  kept.clear();
  ReturnHeap();
  EXPECT_FALSE(LongDayOpen());
  // The step's free room went back, and the heap grows by its usual step again.
  const auto returned = reinterpret_cast<std::uintptr_t>(sbrk(0));
  EXPECT_LT(returned, end);
  std::uintptr_t before = returned;
  std::uintptr_t after = returned;
  for (int i = 0; i < 100000 && after <= before; ++i) {
    before = after;  // where a free trimmed the heap meanwhile, from there
    kept.push_back(std::make_unique<char[]>(64));
    after = reinterpret_cast<std::uintptr_t>(sbrk(0));
  }
  EXPECT_GT(after, before);
  EXPECT_LE(after - before, std::uintptr_t(1) << 20);
}

// The VmFlags of each of the main heap's mappings, as their two-letter names ("rd wr mr mw
// me ac hg").
std::vector<std::vector<std::string>> HeapVmFlags() {
  std::vector<std::vector<std::string>> mappings;
  for (const std::string& value : HeapField("VmFlags:")) {
    std::istringstream names(value);
    mappings.emplace_back();
    for (std::string name; names >> name;) mappings.back().push_back(name);
  }
  return mappings;
}

// Issue 12: once returned, a long day's heap asks for huge pages no more. Were it still
// advised to, the kernel's khugepaged would fill each 2 MiB range that keeps a page present
// back into a whole huge page after malloc_trim gave the rest away: a service came back
// 11 MB above its idle size after a 10,000-paper markdown day, its heap all huge pages.
TEST(HeapGrowth, AReturnedHeapAsksForHugePagesNoMore) {
  if (!KernelGivesHugePages()) GTEST_SKIP() << "transparent huge pages are off in this kernel";
  ReturnHeap();
  BeginLongDay();
  if (!LongDayOpen()) GTEST_SKIP() << "the allocator takes no M_TOP_PAD (a sanitizer's)";
  const auto has = [](const std::vector<std::vector<std::string>>& mappings, const char* flag) {
    for (const auto& flags : mappings) {
      if (std::find(flags.begin(), flags.end(), flag) != flags.end()) return true;
    }
    return false;
  };
  std::vector<std::unique_ptr<char[]>> kept;
  const auto start = reinterpret_cast<std::uintptr_t>(sbrk(0));
  for (int i = 0; i < 8 * 1024; ++i) {
    kept.push_back(std::make_unique<char[]>(1024));
    PopulateHeapGrowth();
  }
  if (reinterpret_cast<std::uintptr_t>(sbrk(0)) == start) {
    GTEST_SKIP() << "the allocator does not grow the heap with brk";
  }
  EXPECT_TRUE(has(HeapVmFlags(), "hg")) << "the day's heap asks for huge pages";
  // Every other block freed: free pages between those kept, which the heap keeps mapped.
  for (std::size_t i = 0; i < kept.size(); i += 2) kept[i].reset();
  ReturnHeap();
  const auto flags = HeapVmFlags();
  EXPECT_FALSE(has(flags, "hg"));
  EXPECT_TRUE(has(flags, "nh")) << "the day's heap, still mapped, asks for none";
}

// Issue 12: during a long day a helper thread's arena hands out pages made present in one
// call, not faulted one by one; otherwise it is left alone.
TEST(HeapGrowth, AHelpersArenaHandsOutPresentPagesDuringALongDay) {
  if (!KernelPopulates()) GTEST_SKIP() << "no MADV_POPULATE_WRITE in this kernel";
  ReturnHeap();
  BeginLongDay();
  if (!LongDayOpen()) GTEST_SKIP() << "no long day here (no huge pages, or a sanitizer)";
  bool before = true;
  bool after = false;
  std::thread([&] {
    // A block of the size the helper takes, of which only the header is written. Freed,
    // it is where the helper's first block, and the next block of its size, go (the top of
    // the arena, or the same free chunk).
    void* probe = std::malloc(kHelperHeapBlock);
    ASSERT_NE(probe, nullptr);
    const auto middle = [](void* block) {
      return reinterpret_cast<std::uintptr_t>(block) + kHelperHeapBlock / 2;
    };
    before = Resident(middle(probe));
    const auto probe_at = reinterpret_cast<std::uintptr_t>(probe);
    std::free(probe);
    PopulateHelperHeap();
    void* block = std::malloc(kHelperHeapBlock);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block), probe_at);
    after = Resident(middle(block));
    std::free(block);
  }).join();
  ReturnHeap();
  if (before) GTEST_SKIP() << "the arena this thread was given had the pages present already";
  EXPECT_TRUE(after);
}

// Issue 8/12: a large block about to be written is present at once; a long list's next
// entries are present once the one before them was appended.
TEST(HeapGrowth, ALargeBlockAndALongListsNextEntriesArePresent) {
  if (!KernelPopulates()) GTEST_SKIP() << "no MADV_POPULATE_WRITE in this kernel";
  const std::size_t size = 64 * PageSize();
  void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(block, MAP_FAILED);
  madvise(block, size, MADV_NOHUGEPAGE);  // a huge page would make all of it present at once
  const auto start = reinterpret_cast<std::uintptr_t>(block);
  PopulateLargeBlock(block, 4 * PageSize());  // under 128 KiB: left to fault
  EXPECT_FALSE(Resident(start));
  PopulateLargeBlock(block, size);
  for (std::size_t i = 0; i < 64; ++i) EXPECT_TRUE(Resident(start + i * PageSize())) << i;
  munmap(block, size);

  struct Entry {
    char bytes[1024];
  };
  std::vector<Entry> list;
  // 40 MiB: over any mmap threshold glibc sets itself, so a fresh mapping, of which only
  // what is written is present.
  list.reserve(40 * 1024);
  const auto at = [&](std::size_t i) { return reinterpret_cast<std::uintptr_t>(&list.data()[i]); };
  madvise(reinterpret_cast<void*>((at(0) + PageSize() - 1) & ~(PageSize() - 1)), 1 << 20,
          MADV_NOHUGEPAGE);
  list.resize(63);
  PopulateNextEntries(list);  // not at a multiple of 64: nothing
  EXPECT_FALSE(Resident(at(100)));
  list.emplace_back();
  PopulateNextEntries(list);
  for (std::size_t i = 64; i < 128; ++i) EXPECT_TRUE(Resident(at(i))) << i;
  EXPECT_FALSE(Resident(at(200)));
}

}  // namespace
}  // namespace digestd
