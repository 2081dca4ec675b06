#include "tests/support/pg_testing.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <utility>

namespace digestd::test {

std::string PostgresQuery(PGconn* session, const std::string& sql) {
  PGresult* res = PQexec(session, sql.c_str());
  std::string out;
  const auto status = PQresultStatus(res);
  if (status == PGRES_TUPLES_OK && PQntuples(res) > 0) {
    out = PQgetvalue(res, 0, 0);
  } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    out = "error: " + std::string(PQresultErrorMessage(res));
  }
  PQclear(res);
  return out;
}

std::string PostgresQuery(const std::string& url, const std::string& sql) {
  PostgresSession session(PQconnectdb(url.c_str()));
  if (PQstatus(session.get()) != CONNECTION_OK) {
    return "error: " + std::string(PQerrorMessage(session.get()));
  }
  return PostgresQuery(session.get(), sql);
}
namespace {

// Bounds every connection attempt: an unreachable server fails the test, it does not hang it.
constexpr const char* kConnectTimeoutSeconds = "10";
constexpr const char* kNoServer =
    "no PostgreSQL test server: set DIGESTD_TEST_PG_URL, or run through ctest, whose "
    "postgresql fixture sets DIGESTD_TEST_PG_DIR";

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct ResultClearer {
  void operator()(PGresult* res) const { PQclear(res); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using PgResult = std::unique_ptr<PGresult, ResultClearer>;

std::string Trimmed(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// libpq's message without the newline it ends with.
std::string ErrorOf(const PGconn* conn) { return Trimmed(PQerrorMessage(conn)); }

Result<Conn> Connect(const std::string& url) {
  // The URL is expanded as a connection string; the keyword after it overrides it.
  const char* keywords[] = {"dbname", "connect_timeout", nullptr};
  const char* values[] = {url.c_str(), kConnectTimeoutSeconds, nullptr};
  Conn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (!conn) return Unexpected("out of memory connecting to " + url);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Unexpected("cannot connect to PostgreSQL at " + url + ": " + ErrorOf(conn.get()));
  }
  // NOTICEs ("database ... does not exist, skipping") are noise on a test's stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

Status Execute(const std::string& url, const std::string& sql) {
  auto conn = Connect(url);
  if (!conn) return Unexpected(conn.error());
  PgResult res(PQexec(conn->get(), sql.c_str()));
  if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    return Unexpected(sql + " on " + url + ": " + ErrorOf(conn->get()));
  }
  return Ok();
}

// digestd_t_<pid>_<counter>_<random>: unique across the test binaries ctest -j runs at once
// on one server, and across runs that reuse a pid.
std::string UniqueDatabaseName() {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  char name[64];
  std::snprintf(name, sizeof name, "digestd_t_%ld_%u_%08x", static_cast<long>(getpid()),
                counter.fetch_add(1), static_cast<unsigned>(random()));
  return name;
}

}  // namespace

Result<std::optional<std::string>> PostgresTestServerUrl() {
  if (const char* url = std::getenv("DIGESTD_TEST_PG_URL"); url && *url) {
    return std::optional<std::string>(Trimmed(url));
  }
  const char* dir = std::getenv("DIGESTD_TEST_PG_DIR");
  if (!dir || !*dir) return std::optional<std::string>();
  const std::string path = std::string(dir) + "/url";
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || Trimmed(line).empty()) {
    return Unexpected("DIGESTD_TEST_PG_DIR is set but " + path +
                      " holds no URL: did the postgresql.start fixture fail?");
  }
  return std::optional<std::string>(Trimmed(line));
}

std::string WithDatabase(const std::string& url, const std::string& database) {
  const auto scheme_end = url.find("://");
  const auto authority = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  const auto query = url.find('?', authority);
  const auto path = url.find('/', authority);
  const auto authority_end = std::min(path, query);
  std::string out = url.substr(0, authority_end == std::string::npos ? url.size() : authority_end);
  out += "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

PostgresTestDatabase::PostgresTestDatabase(std::string server_url, std::string name)
    : server_url_(std::move(server_url)),
      name_(std::move(name)),
      url_(WithDatabase(server_url_, name_)) {}

PostgresTestDatabase::PostgresTestDatabase(PostgresTestDatabase&& other) noexcept
    : server_url_(std::move(other.server_url_)),
      name_(std::exchange(other.name_, {})),
      url_(std::exchange(other.url_, {})) {}

PostgresTestDatabase& PostgresTestDatabase::operator=(PostgresTestDatabase&& other) noexcept {
  if (this != &other) {
    (void)Drop();  // the destructor's policy: reported on stderr, not returned
    server_url_ = std::move(other.server_url_);
    name_ = std::exchange(other.name_, {});
    url_ = std::exchange(other.url_, {});
  }
  return *this;
}

PostgresTestDatabase::~PostgresTestDatabase() { (void)Drop(); }

Result<PostgresTestDatabase> PostgresTestDatabase::Create(const std::string& server_url) {
  std::string name = UniqueDatabaseName();
  // Names we make need no quoting; the quotes keep them exactly as written.
  if (auto made = Execute(server_url, "CREATE DATABASE \"" + name + "\""); !made) {
    return Unexpected(made.error());
  }
  return PostgresTestDatabase(server_url, std::move(name));
}

Status PostgresTestDatabase::Drop() {
  if (name_.empty()) return Ok();
  const std::string name = std::exchange(name_, {});
  url_.clear();
  // FORCE closes sessions a test left open, which would otherwise block the drop.
  auto dropped = Execute(server_url_, "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)");
  if (!dropped) std::fprintf(stderr, "pg_testing: %s\n", dropped.error().message.c_str());
  return dropped;
}

Result<std::optional<PostgresTestDatabase>> FreshPostgresDatabase(std::string* skip_reason) {
  auto server = PostgresTestServerUrl();
  if (!server) return Unexpected(server.error());
  if (!server->has_value()) {
    if (skip_reason) *skip_reason = kNoServer;
    return std::optional<PostgresTestDatabase>();
  }
  auto database = PostgresTestDatabase::Create(**server);
  if (!database) return Unexpected(database.error());
  return std::optional<PostgresTestDatabase>(std::move(*database));
}

void PostgresTest::SetUp() {
  auto server = PostgresTestServerUrl();
  ASSERT_TRUE(server) << server.error().message;
  if (!server->has_value()) GTEST_SKIP() << kNoServer;
  server_url_ = **server;
  auto database = PostgresTestDatabase::Create(server_url_);
  ASSERT_TRUE(database) << database.error().message;
  database_.emplace(std::move(*database));
}

std::string PostgresTest::AnotherDatabaseUrl() {
  auto database = PostgresTestDatabase::Create(server_url_);
  if (!database) {
    ADD_FAILURE() << database.error().message;
    return "";
  }
  more_.push_back(std::move(*database));
  return more_.back().url();
}

}  // namespace digestd::test
