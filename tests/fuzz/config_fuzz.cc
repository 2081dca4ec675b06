// The config loader (config/config_loader.h) on any text: diagnostics or a config, never a
// crash; a failed load names at least one error, and every diagnostic prints. The text
// stands for a file in a directory that does not exist, so relative paths read nothing.
// Inputs that would make the loader read other files (`include`, `*_file`, or a key spelled
// with escapes) are skipped: the loader's file handling is tested by config_loader_test.cc,
// and a fuzzer must not wander the disk (nor block on a device).
#include "config/config_loader.h"
#include "tests/fuzz/fuzz_check.h"

DIGESTD_FUZZ_TARGET {
  using namespace digestd;
  const std::string_view text = fuzz::Bytes(data, size);
  for (std::string_view reads_files : {"nclude", "_file", "\\u", "\\U"}) {
    if (text.find(reads_files) != std::string_view::npos) return 0;
  }
  const ConfigLoad load = LoadConfigText(text, "/nonexistent-digestd-fuzz/digestd.toml");
  bool error = false;
  for (const ConfigDiagnostic& d : load.diagnostics) {
    error = error || !d.warning;
    FUZZ_CHECK(!d.ToString().empty(), "a diagnostic that prints as nothing");
  }
  FUZZ_CHECK(load.config || error, "a failed load without an error");
  FUZZ_CHECK(!load.config || !error, "a config despite an error");
  return 0;
}
