// Fresh PostgreSQL databases for tests, on the server the `postgresql` ctest fixture starts
// (tests/support/pg_server.py) or any server $DIGESTD_TEST_PG_URL names. Each test gets an
// empty database of its own, dropped when its holder dies. Thread-compatible.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace digestd::test {

// The test server's URL: $DIGESTD_TEST_PG_URL, else the first line of $DIGESTD_TEST_PG_DIR/url.
// nullopt when neither variable is set (no server here: skip); an error when
// DIGESTD_TEST_PG_DIR is set but holds no url (the fixture failed: fail).
Result<std::optional<std::string>> PostgresTestServerUrl();

// A libpq session for a test's own SQL, closed when it dies.
struct PostgresSessionCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PostgresSession = std::unique_ptr<PGconn, PostgresSessionCloser>;

// The first value `sql` returns on `session`, "" when it returns no row, or
// "error: <message>".
std::string PostgresQuery(PGconn* session, const std::string& sql);
// The same on a session of its own to `url` (or "error: <message>" when it cannot connect).
std::string PostgresQuery(const std::string& url, const std::string& sql);

// `url` (postgresql://[user@]host[:port][/db][?params]) naming database `database` instead.
std::string WithDatabase(const std::string& url, const std::string& database);

// A database of its own on a test server, dropped when this object dies (its sessions closed
// by force, so a leaked connection does not keep it). Move-only.
class PostgresTestDatabase {
 public:
  // Creates an empty database named digestd_t_<pid>_<counter>_<random> on the server at
  // `server_url`. An error carries the URL and libpq's message.
  static Result<PostgresTestDatabase> Create(const std::string& server_url);

  PostgresTestDatabase(PostgresTestDatabase&& other) noexcept;
  PostgresTestDatabase& operator=(PostgresTestDatabase&& other) noexcept;
  PostgresTestDatabase(const PostgresTestDatabase&) = delete;
  PostgresTestDatabase& operator=(const PostgresTestDatabase&) = delete;
  ~PostgresTestDatabase();  // a failed drop is reported on stderr, never thrown

  const std::string& name() const { return name_; }
  // postgresql://digestd_test@127.0.0.1:PORT/digestd_t_…: what `state =` takes.
  const std::string& url() const { return url_; }

  // Drops the database now; the destructor then does nothing.
  Status Drop();

 private:
  PostgresTestDatabase(std::string server_url, std::string name);

  std::string server_url_;  // where CREATE and DROP DATABASE run
  std::string name_;
  std::string url_;
};

// The usual way in: a fresh database on the configured test server. nullopt with
// *skip_reason set when no server is configured (GTEST_SKIP() << *skip_reason); an error when
// one is configured but cannot be reached or refuses CREATE DATABASE: the test must fail.
Result<std::optional<PostgresTestDatabase>> FreshPostgresDatabase(std::string* skip_reason);

// A base for tests that need PostgreSQL: SetUp() skips the test when no server is configured
// and fails it when the server is unusable; otherwise database() is fresh for every test.
class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override;

  const PostgresTestDatabase& database() const { return *database_; }
  // Another fresh database on the same server, dropped with the test; "" (and the test
  // fails) when it cannot be made.
  std::string AnotherDatabaseUrl();

 private:
  std::string server_url_;
  std::optional<PostgresTestDatabase> database_;
  std::vector<PostgresTestDatabase> more_;
};

}  // namespace digestd::test
