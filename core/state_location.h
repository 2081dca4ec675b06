// What kind of state a `state` value names (CONFIG.md [daemon] state): a PostgreSQL URL or
// a SQLite file path.
#pragma once

#include <string_view>

namespace digestd {

// Whether `state` names a PostgreSQL database (postgresql:// or postgres://) rather than a
// SQLite file.
inline bool IsPostgresLocation(std::string_view state) {
  return state.starts_with("postgresql://") || state.starts_with("postgres://");
}

}  // namespace digestd
