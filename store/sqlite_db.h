// The SQLite backend of the state (sql.h): one file, WAL, synchronous=FULL. Internal to
// store/.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "store/sql.h"

namespace digestd::sql {

// Opens the SQLite database at `path` (":memory:" for a private one), creating the file with
// the private mode when `read_only` is false. Does not migrate (StateStore does). Fails with
// the path and SQLite's message.
Result<std::unique_ptr<Db>> OpenSqlite(const std::string& path, bool read_only);

}  // namespace digestd::sql
