// The PostgreSQL test support (tests/support/pg_testing.h): every test database is fresh,
// empty, writable and its own, it is gone after its holder, and a configured server that
// cannot be reached fails a test instead of skipping it.
#include "tests/support/pg_testing.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

namespace digestd::test {
namespace {

using Conn = test::PostgresSession;

std::string Query(const std::string& url, const std::string& sql) {
  return test::PostgresQuery(url, sql);
}

// Sets (or, with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A port of 127.0.0.1 bound but never listened on: connections to it are refused.
class RefusingPort {
 public:
  RefusingPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), len);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

using PgTesting = PostgresTest;

TEST_F(PgTesting, TwoDatabasesAreDistinctEmptyAndWritable) {
  const std::string first = database().url();
  const std::string second = AnotherDatabaseUrl();
  ASSERT_FALSE(second.empty());
  EXPECT_NE(first, second);
  const std::string user_tables =
      "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
      "'information_schema')";
  EXPECT_EQ(Query(first, user_tables), "0");
  EXPECT_EQ(Query(second, user_tables), "0");

  EXPECT_EQ(Query(first, "CREATE TABLE only_here (v text)"), "");
  EXPECT_EQ(Query(first, "INSERT INTO only_here VALUES ('x') RETURNING v"), "x");
  EXPECT_EQ(Query(first, "SELECT count(*) FROM only_here"), "1");
  EXPECT_EQ(Query(second, "SELECT to_regclass('only_here') IS NULL"), "t");
  EXPECT_EQ(Query(second, user_tables), "0");
}

TEST_F(PgTesting, TextSortsByBytes) {
  // The server runs in the C locale, so ORDER BY agrees with SQLite's default BINARY order.
  EXPECT_EQ(Query(database().url(),
                  "SELECT string_agg(v, ',' ORDER BY v) FROM (VALUES ('b'), ('B'), ('a'), "
                  "('é')) AS t(v)"),
            "B,a,b,é");
}

TEST_F(PgTesting, DroppedWithItsHolderEvenWithASessionOpen) {
  const std::string admin = database().url();
  auto made = FreshPostgresDatabase(nullptr);
  ASSERT_TRUE(made) << made.error().message;
  ASSERT_TRUE(made->has_value());
  std::optional<PostgresTestDatabase> held = std::move(*made);
  const std::string name = held->name();
  const std::string exists = "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'";
  EXPECT_EQ(Query(admin, exists), "1");

  Conn leaked(PQconnectdb(held->url().c_str()));
  ASSERT_EQ(PQstatus(leaked.get()), CONNECTION_OK) << PQerrorMessage(leaked.get());
  held.reset();
  EXPECT_EQ(Query(admin, exists), "0");
}

TEST(PgTestingConfig, NoServerConfiguredIsASkipWithAReason) {
  ScopedEnv url("DIGESTD_TEST_PG_URL", std::nullopt);
  ScopedEnv dir("DIGESTD_TEST_PG_DIR", std::nullopt);
  std::string reason;
  auto database = FreshPostgresDatabase(&reason);
  ASSERT_TRUE(database) << database.error().message;
  EXPECT_FALSE(database->has_value());
  EXPECT_NE(reason.find("DIGESTD_TEST_PG_URL"), std::string::npos) << reason;
}

TEST(PgTestingConfig, UnreachableServerIsAnError) {
  RefusingPort refusing;
  ScopedEnv url("DIGESTD_TEST_PG_URL", "postgresql://digestd_test@127.0.0.1:" +
                                           std::to_string(refusing.port()) + "/postgres");
  std::string reason;
  auto database = FreshPostgresDatabase(&reason);
  ASSERT_FALSE(database);
  EXPECT_NE(database.error().message.find("cannot connect"), std::string::npos)
      << database.error().message;
  EXPECT_TRUE(reason.empty());
}

TEST(PgTestingConfig, FixtureFolderWithoutUrlIsAnError) {
  ScopedEnv url("DIGESTD_TEST_PG_URL", std::nullopt);
  ScopedEnv dir("DIGESTD_TEST_PG_DIR", "/nonexistent-digestd-pg-test");
  auto server = PostgresTestServerUrl();
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("postgresql.start"), std::string::npos);
}

TEST(PgTestingConfig, WithDatabaseReplacesOnlyTheDatabase) {
  EXPECT_EQ(WithDatabase("postgresql://u@127.0.0.1:5/postgres", "x"),
            "postgresql://u@127.0.0.1:5/x");
  EXPECT_EQ(WithDatabase("postgresql://u@h:5", "x"), "postgresql://u@h:5/x");
  EXPECT_EQ(WithDatabase("postgresql://u@h/db?sslmode=disable", "x"),
            "postgresql://u@h/x?sslmode=disable");
  EXPECT_EQ(WithDatabase("postgres://[::1]:5?connect_timeout=3", "x"),
            "postgres://[::1]:5/x?connect_timeout=3");
}

}  // namespace
}  // namespace digestd::test
