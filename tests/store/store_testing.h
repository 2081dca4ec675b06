// Helpers for the store tests: SQL run on a state file behind the store's back (fault
// injection, checks), outbox rows with chosen ids, and a forked child for tests that change
// process-wide things (mounts, file size limits, capabilities). Header-only; not thread-safe.
#pragma once

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/notification.h"
#include "core/paper.h"
#include "store/sql.h"
#include "store/sqlite_db.h"
#include "store/state_store.h"
#include "tests/support/pg_testing.h"

namespace digestd::test {

// The first column of the first row of `sql` run on the file at `path`; -1 when none. A
// failing statement fails the test with SQLite's message (and gives -1).
inline std::int64_t Scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  std::int64_t v = -1;
  if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) v = sqlite3_column_int64(stmt, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    ADD_FAILURE() << path << ": " << sql << ": " << sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return v;
}

// Every row of `sql` on the file at `path`, one line per row, each value with its type
// (N: null, I: integer, T: text, R: real, B: blob): a table can be compared before and after
// a migration value by value. A failing statement gives "error: <message>".
inline std::string Dump(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    out = std::string("error: ") + sqlite3_errmsg(db);
  }
  while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
    for (int col = 0; col < sqlite3_column_count(stmt); ++col) {
      // Indexed by SQLITE_INTEGER (1), SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL (5).
      constexpr const char* kTypeTags[] = {"?", "I:", "R:", "T:", "B:", "N"};
      out += kTypeTags[sqlite3_column_type(stmt, col)];
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
      if (text) out += text;
      out += '|';
    }
    out += '\n';
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// The schema of the file at `path` (of one table's, when given) as SQLite keeps it, a line
// per table and index ("type name table sql"), in the form that every way of making it
// shares: comments and quotes dropped, white space cut to what separates words. (A table a
// migration rebuilt and renamed is kept as `"outbox"`; a column added later is appended
// after the others' comments.) A new file and a migrated one compare equal on it.
inline std::string Schema(const std::string& path, const std::string& table = "") {
  std::string query =
      "SELECT type || ' ' || name || ' ' || tbl_name || ' ' || "
      "replace(coalesce(sql, ''), char(10), char(30)) FROM sqlite_master";
  if (!table.empty()) query += " WHERE tbl_name = '" + table + "'";
  const std::string rows = Dump(path, query + " ORDER BY type, name");
  std::string out;
  bool space = false;     // white space met since the last character kept
  bool comment = false;   // inside a `--` comment, which a line end (char 30) ends
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const char c = rows[i];
    if (comment) {
      comment = c != '\x1e';
      space = space || !comment;
      continue;
    }
    if (c == '\n') {  // a row's end: Dump's "T:...|\n"
      out += '\n';
      space = false;
    } else if (c == '-' && i + 1 < rows.size() && rows[i + 1] == '-') {
      comment = true;
    } else if (c == ' ' || c == '\t' || c == '\x1e') {
      space = true;
    } else if (c != '"') {
      const bool joins = !out.empty() && std::string_view("(,\n").find(out.back()) ==
                                             std::string_view::npos;
      if (space && joins && std::string_view("(),").find(c) == std::string_view::npos) {
        out += ' ';
      }
      space = false;
      out += c;
    }
  }
  return out;
}

// The first `columns` columns of every row of `sql` on the state file at `path`, read through
// the store's own SQLite connection, which knows snapshot_text(paper, encoding)
// (store/snapshot_codec.h): values as text, '|' after each, a line per row; "error:
// <message>" when it fails.
inline std::string DumpThroughStore(const std::string& path, const std::string& sql,
                                    int columns = 1) {
  auto db = sql::OpenSqlite(path, /*read_only=*/true);
  if (!db) return "error: " + db.error().message;
  sql::Stmt s(**db, sql);
  if (!s.ok()) return "error: " + s.Fail("dump").message;
  std::string out;
  sql::StepResult rc;
  while ((rc = s.Step()) == sql::kRow) {
    for (int col = 0; col < columns; ++col) out += std::string(s.TextView(col)) + '|';
    out += '\n';
  }
  if (rc != sql::kDone) return "error: " + s.Fail("dump").message;
  return out;
}

// Runs `sql` (any number of statements) on the file at `path`: "" when it worked, else
// SQLite's message.
inline std::string ExecError(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  char* message = nullptr;
  std::string error;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    error = message ? message : sqlite3_errmsg(db);
    if (error.empty()) error = "failed";
  }
  sqlite3_free(message);
  sqlite3_close(db);
  return error;
}

inline void ExecOn(const std::string& path, const std::string& sql) {
  ASSERT_EQ(ExecError(path, sql), "") << sql;
}

// Whether the store tests run on PostgreSQL (see TestStateLocation).
inline bool OnPostgres() {
  const char* backend = std::getenv("DIGESTD_TEST_BACKEND");
  return backend != nullptr && std::string_view(backend) == "postgresql";
}

// The state a store test runs on, so one test covers both backends (issue 14): `sqlite` (a
// file, or ":memory:") as it is; with DIGESTD_TEST_BACKEND=postgresql (ctest's
// "postgresql." copies of the store tests), a fresh database on the test server instead,
// dropped when the test process ends. Each call gives another database; a test that opens
// one state twice calls it once. "" (and the test fails) when PostgreSQL is wanted but no
// database can be made.
inline std::string TestStateLocation(const std::string& sqlite) {
  if (!OnPostgres()) return sqlite;
  static std::vector<PostgresTestDatabase> databases;
  std::string skip;
  auto db = FreshPostgresDatabase(&skip);
  if (!db || !*db) {
    ADD_FAILURE() << "DIGESTD_TEST_BACKEND=postgresql, but no database: "
                  << (db ? skip : db.error().message);
    return "";
  }
  databases.push_back(std::move(**db));
  return databases.back().url();
}

// The arXiv paper `id` ("2401.15024") with `title`, one author and one bullet.
inline Paper MakePaper(const std::string& id, const std::string& title,
                       std::optional<int> votes = std::nullopt) {
  Paper p;
  p.key = "arxiv:" + id;
  p.title = title;
  p.url = "https://arxiv.org/abs/" + id;
  p.authors = {"Ada Lovelace"};
  p.summary = {"first bullet"};
  p.votes = votes;
  return p;
}

// An outbox notification for `notifier` with the id `id` (dedupe key "<notifier>|<id>").
inline Notification Row(const std::string& notifier, const std::string& id) {
  Notification n;
  n.notifier = notifier;
  n.id = id;
  n.dedupe_key = notifier + "|" + id;
  n.event = "new";
  return n;
}

inline std::vector<std::string> Ids(const std::vector<OutboxRow>& rows) {
  std::vector<std::string> ids;
  for (const OutboxRow& r : rows) ids.push_back(r.id);
  return ids;
}

// The owner_alive predicate of a ClaimDue that takes over no live owner's rows.
inline bool AllAlive(const std::string&) { return true; }

// The outbox row `id` as the store reads it; nullopt when there is none (or the read fails).
inline std::optional<OutboxRow> FindRow(StateStore& store, const std::string& id) {
  auto rows = store.FindOutbox(id);
  if (!rows) return std::nullopt;
  for (const OutboxRow& r : *rows) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

// "" when every row of `ids` is still `sending`, held by `owner` until `lease_until`, with no
// attempt counted and nothing recorded as sent; else what differs.
inline std::string CheckClaimed(StateStore& store, const std::vector<std::string>& ids,
                                const std::string& owner, std::int64_t lease_until) {
  std::string out;
  for (const std::string& id : ids) {
    const auto row = FindRow(store, id);
    if (!row) {
      out += id + ": missing; ";
      continue;
    }
    if (row->state != "sending") out += id + ": state " + row->state + "; ";
    if (row->lease_owner != owner) out += id + ": owner '" + row->lease_owner + "'; ";
    if (row->lease_until != lease_until) out += id + ": lease_until changed; ";
    if (row->attempts != 0) out += id + ": attempts " + std::to_string(row->attempts) + "; ";
    if (row->sent_at) out += id + ": sent_at set; ";
    if (!row->remote_id.empty()) out += id + ": remote_id " + row->remote_id + "; ";
  }
  return out;
}

inline void WriteAll(int fd, const std::string& text) {
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n <= 0) return;
    written += std::size_t(n);
  }
}

// What the child `pid` wrote to `fd` until it exited, plus how it died when it did not exit 0.
inline std::string WaitForReport(pid_t pid, int fd) {
  std::string report;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) report.append(buffer, std::size_t(n));
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    report += " (child died, wait status " + std::to_string(status) + ")";
  }
  return report;
}

// Runs `body(i)` for each i in [0, n) in its own forked child, all released together once
// every child is forked, and returns what each returned ("" when all went well) or how it
// died. For processes racing on one file, and (n = 1) for tests that change process-wide
// things (mounts, limits, capabilities): the change dies with the child. `body` must not use
// gtest assertions (they would fail the child only).
inline std::vector<std::string> RaceInChildren(int n, const std::function<std::string(int)>& body) {
  int gate[2];
  if (pipe(gate) != 0) return {"pipe failed"};
  std::vector<std::pair<pid_t, int>> children;
  std::vector<std::string> reports;
  for (int i = 0; i < n; ++i) {
    int out[2];
    if (pipe(out) != 0) {
      reports.push_back("pipe failed");
      break;
    }
    const pid_t pid = fork();
    if (pid < 0) {
      reports.push_back("fork failed");
      break;
    }
    if (pid == 0) {
      close(gate[1]);
      close(out[0]);
      char c;
      while (read(gate[0], &c, 1) > 0) {
      }
      WriteAll(out[1], body(i));
      _exit(0);
    }
    close(out[1]);
    children.emplace_back(pid, out[0]);
  }
  close(gate[0]);
  close(gate[1]);  // every child's read returns 0 now: they start together
  for (const auto& [pid, fd] : children) reports.push_back(WaitForReport(pid, fd));
  return reports;
}

// Runs `body` in one forked child: see RaceInChildren.
inline std::string InChild(const std::function<std::string()>& body) {
  return RaceInChildren(1, [&body](int) { return body(); }).front();
}

}  // namespace digestd::test
