// JSON for papers and digests in the shapes of CONFIG.md "JSON shapes" (`digestd parse
// --json`, `once --json`, the file notifier). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "core/json_writer.h"
#include "core/paper.h"

namespace digestd {

// Writes the members of a paper object (no braces), so callers can add "source"/"date".
void WritePaperMembers(JsonWriter& json, const Paper& paper);

// About as many bytes as WritePaperMembers writes for `paper` (escapes aside): room to
// reserve, so that a paper's JSON is not grown and copied a dozen times on its way.
std::size_t PaperJsonSize(const Paper& paper);

// `{"source": ..., "date": ..., "papers": [...]}`.
std::string DigestToJson(const Digest& digest);

}  // namespace digestd
