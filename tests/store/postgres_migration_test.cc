// Two instances opening one new PostgreSQL state at once (issue 14): the second waits on the
// migration lock, then must see what the first one made meanwhile and migrate nothing.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "store/state_store.h"
#include "tests/support/pg_testing.h"

namespace digestd {
namespace {

using Conn = test::PostgresSession;

std::string Query(PGconn* conn, const std::string& sql) { return test::PostgresQuery(conn, sql); }

using Issue14Migration = test::PostgresTest;

TEST_F(Issue14Migration, AnOpenThatWaitedForAnotherMigrationSeesItsTables) {
  // Stands in for the first instance, mid-migration: it holds the lock that
  // begin_migration takes (store/postgres_db.cc) and has made no table yet.
  Conn first(PQconnectdb(database().url().c_str()));
  ASSERT_EQ(PQstatus(first.get()), CONNECTION_OK) << PQerrorMessage(first.get());
  ASSERT_EQ(Query(first.get(), "BEGIN"), "");
  ASSERT_EQ(Query(first.get(), "SELECT pg_advisory_xact_lock(7236110511)"), "");

  // The second instance finds no schema, and waits for the lock to migrate.
  std::optional<Result<std::unique_ptr<StateStore>>> second;
  std::thread opener([&] { second = StateStore::Open(database().url()); });
  Conn watcher(PQconnectdb(database().url().c_str()));
  EXPECT_EQ(PQstatus(watcher.get()), CONNECTION_OK) << PQerrorMessage(watcher.get());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Query(watcher.get(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                              "AND NOT granted") != "1" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const bool waiting = Query(watcher.get(), "SELECT count(*) FROM pg_locks WHERE locktype = "
                                            "'advisory' AND NOT granted") == "1";

  // The first instance's migration commits: the schema table, at this binary's version.
  EXPECT_EQ(Query(first.get(), "CREATE TABLE digestd_schema (version INTEGER NOT NULL)"), "");
  EXPECT_EQ(Query(first.get(), "INSERT INTO digestd_schema VALUES (" +
                                   std::to_string(StateStore::kSchemaVersion) + ")"),
            "");
  EXPECT_EQ(Query(first.get(), "COMMIT"), "");
  opener.join();
  ASSERT_TRUE(waiting) << "the second open never waited for the migration lock";
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(*second) << second->error().message;
}

}  // namespace
}  // namespace digestd
