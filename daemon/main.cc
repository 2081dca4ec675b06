// digestd: the command-line entry point. Everything it does lives in daemon/cli.h.
#include <malloc.h>

#include "core/heap_growth.h"
#include "core/shared_library.h"
#include "daemon/cli.h"

int main(int argc, char** argv) {
  // digestd works in bursts (a cycle, a delivery pass) between long idle stretches. glibc
  // raises its mmap and trim thresholds each time a large block is freed, so after the first
  // long day every list and message of a burst comes from the heap, and the heap keeps the
  // burst's high-water mark. Fixed at glibc's own starting values, a block of 128 KiB or more
  // (a day's paper list, an email) is mapped for itself and goes back when freed, and free
  // space at the heap's top goes back at once: a 10,000-paper cycle peaks about 2 MB lower
  // and returns closer to its idle size.
  mallopt(M_MMAP_THRESHOLD, digestd::kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  digestd::DeferGnutlsInitialisation();
  return digestd::RunCli(argc, argv);
}
