// The PostgreSQL backend of the state (sql.h), through libpq: one session per Db, which
// reconnects with backoff when the server goes away. Internal to store/.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "store/sql.h"

namespace digestd::sql {

// Connects to the database at `url` (postgresql://user[:password]@host[:port]/db?...;
// libpq's parameters such as sslmode are honoured). `read_only` makes every transaction of
// the session read-only. Does not migrate (StateStore does). Fails naming the URL without
// its password, and libpq's message.
Result<std::unique_ptr<Db>> OpenPostgres(const std::string& url, bool read_only);

// `url` without its password (the user's part up to ':' is kept): for messages and status.
std::string RedactedPostgresUrl(const std::string& url);

}  // namespace digestd::sql
