// StateStore::CopyInto: a whole state copied, table by table, into a fresh one on either
// backend (`digestd migrate`).
#include <string>
#include <string_view>
#include <vector>

#include "store/sql.h"
#include "store/state_store.h"

namespace digestd {
namespace {

using sql::kDone;
using sql::kRow;
using sql::Run;
using sql::StepResult;
using sql::Stmt;
using sql::Transaction;

enum class Type { kText, kInt, kIntOrNull, kTextOrNull };

struct Column {
  const char* name;
  Type type;
  const char* read = nullptr;  // what is read for it, when not the column itself
};

// One table of schema 8 as the copy sees it: every column, and the order its rows are read
// and inserted in (the outbox's rowid is its queue order, which the destination's own rowid
// then follows).
struct Table {
  const char* name;
  const char* order;
  std::vector<Column> columns;
};

// Every table of the schema but `leader`, parents before the rows that refer to them.
const std::vector<Table>& CopiedTables() {
  // Schema 10: snapshots are copied as their text (encoding 0), which the copy compresses
  // again once it makes its own dictionary; `snapshot_dicts` is not copied. (Schema 12 changed
  // the hashes' values, not a column: both ends hash alike; schemas 13 and 14 indexes; schema
  // 15 the notified sets' primary key, which their order follows; schema 16 dropped `papers`.)
  static_assert(StateStore::kSchemaVersion == 16, "a new schema: copy its tables and columns");
  constexpr Type T = Type::kText, I = Type::kInt, IN = Type::kIntOrNull, TN = Type::kTextOrNull;
  static const std::vector<Table> tables = {
      {"snapshots", "id", {{"id", I}, {"hash", I}, {"paper", T, "snapshot_text(paper, encoding)"}}},
      {"sightings",
       "paper_key, source",
       {{"paper_key", T}, {"source", T}, {"date", T}, {"url", T}, {"votes", IN},
        {"version", T}, {"snapshot", I}, {"content_hash", T}, {"first_seen", I},
        {"seen_at", I}}},
      {"sources",
       "name",
       {{"name", T}, {"first_run_at", IN}, {"last_success_at", IN}, {"last_success_date", T},
        {"failures", I}, {"last_error", T}, {"failing_since", IN}, {"alerted", I},
        {"retry_at", IN}}},
      {"fetch_state",
       "source, url_id",
       {{"source", T}, {"url_id", T}, {"etag", T}, {"last_modified", T}, {"body_hash", T},
        {"last_success", IN}}},
      {"notified_sets",
       "paper_key, key",
       {{"key", T}, {"paper_key", T}, {"watches", T}, {"created_at", I}}},
      {"outbox",
       "rowid",
       {{"id", T}, {"dedupe_key", T}, {"notifier", T}, {"kind", T}, {"event", T},
        {"message", T}, {"state", T}, {"attempts", I}, {"parts_sent", I}, {"created_at", I},
        {"next_attempt_at", I}, {"last_error", T}, {"sent_at", IN}, {"remote_id", T},
        {"lease_owner", TN}, {"lease_until", IN}}},
      {"notifier_health",
       "notifier",
       {{"notifier", T}, {"disabled_fingerprint", T}, {"disabled_reason", T},
        {"disabled_at", IN}, {"failing_since", IN}, {"alerted", I}}},
      {"digest_held",
       "id",
       {{"id", I}, {"watch", T}, {"notifier", T}, {"dedupe_key", T}, {"event", T},
        {"message", T}, {"created_at", I}}},
  };
  return tables;
}

// The tables a fresh state has no row in.
constexpr const char* kEveryTable[] = {
    "snapshots",       "sightings",   "sources", "fetch_state", "notified_sets", "outbox",
    "notifier_health", "digest_held", "leader",  "snapshot_dicts"};

Result<std::int64_t> CountRows(sql::Db& db, const std::string& table) {
  Stmt s(db, "SELECT count(*) FROM " + table);
  if (!s.ok() || s.Step() != kRow) return Unexpected(s.Fail("count " + table));
  return s.Int(0);
}

// Fails naming every table of `db` that holds a row.
Status CheckEmpty(sql::Db& db) {
  std::string full;
  for (const char* table : kEveryTable) {
    Stmt s(db, std::string("SELECT 1 FROM ") + table + " LIMIT 1");
    if (!s.ok()) return Unexpected(s.Fail(std::string("read ") + table));
    const StepResult rc = s.Step();
    if (rc == kRow) {
      full += full.empty() ? table : std::string(", ") + table;
    } else if (rc != kDone) {
      return Unexpected(s.Fail(std::string("read ") + table));
    }
  }
  if (full.empty()) return Ok();
  return Unexpected("not a fresh state: it holds rows (in " + full +
                    "); copy into a new file, or an empty database (drop and create it again)");
}

// Copies every row of `table` from `from` to `to`; returns how many, and counts in
// `released` the outbox rows that were `sending`.
Result<std::int64_t> CopyTable(sql::Db& from, sql::Db& to, const Table& table,
                               std::int64_t& released) {
  std::string names;
  std::string reads;
  std::string marks;
  for (const Column& c : table.columns) {
    const char* read = c.read != nullptr ? c.read : c.name;
    names += names.empty() ? c.name : std::string(", ") + c.name;
    reads += reads.empty() ? read : std::string(", ") + read;
    marks += marks.empty() ? "?" : ", ?";
  }
  Stmt read(from, "SELECT " + reads + " FROM " + table.name + " ORDER BY " + table.order);
  Stmt write(to,
             std::string("INSERT INTO ") + table.name + "(" + names + ") VALUES(" + marks + ")");
  const std::string what = std::string("copy ") + table.name;
  if (!read.ok()) return Unexpected(read.Fail(what));
  if (!write.ok()) return Unexpected(write.Fail(what));
  const bool outbox = std::string_view(table.name) == "outbox";
  std::int64_t rows = 0;
  StepResult rc;
  while ((rc = read.Step()) == kRow) {
    // A row being sent belongs to a process that does not work on the copy: pending again,
    // due as it was, under the same id.
    bool release = false;
    write.Reset();
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      const Column& c = table.columns[i];
      const int col = int(i);
      const std::string_view name = c.name;
      if (outbox && name == "state" && read.TextView(col) == "sending") {
        release = true;
        write.Bind("pending");
      } else if (release && name == "lease_owner") {
        write.BindNull();
      } else if (release && name == "lease_until") {
        write.BindOptional(std::nullopt);
      } else if (c.type == Type::kText) {
        write.Bind(read.TextView(col));
      } else if (c.type == Type::kInt) {
        write.Bind(read.Int(col));
      } else if (c.type == Type::kIntOrNull) {
        write.BindOptional(read.OptInt(col));
      } else if (read.IsNull(col)) {
        write.BindNull();
      } else {
        write.Bind(read.TextView(col));
      }
    }
    if (auto st = Run(write, what); !st) return Unexpected(st.error());
    released += release ? 1 : 0;
    ++rows;
  }
  if (rc != kDone) return Unexpected(read.Fail(what));
  return rows;
}

}  // namespace

Result<StateStore::CopyReport> StateStore::CopyInto(StateStore& to) {
  if (&to == this) return Unexpected("a state cannot be copied into itself");
  for (StateStore* store : {this, &to}) {
    if (const int version = store->SchemaVersion(); version != kSchemaVersion) {
      return Unexpected("copy: a state has schema " + std::to_string(version) + ", not " +
                        std::to_string(kSchemaVersion));
    }
  }
  Transaction snapshot(*db_, db_->dialect().begin_snapshot);
  if (!snapshot.ok()) return Unexpected("read the state: " + snapshot.error());
  Transaction txn(*to.db_);
  if (!txn.ok()) return Unexpected("write the copy: " + txn.error());
  if (auto st = CheckEmpty(*to.db_); !st) return Unexpected(st.error());

  CopyReport report;
  for (const Table& table : CopiedTables()) {
    auto copied = CopyTable(*db_, *to.db_, table, report.released);
    if (!copied) return Unexpected(copied.error());
    report.tables.push_back({.table = table.name, .rows = *copied});
  }
  if (const char* fix = to.db_->dialect().after_copy_with_ids) {
    if (auto st = to.db_->Exec(fix); !st) {
      return Unexpected("set the id sequences: " + st.error().message);
    }
  }
  // Counted afresh on both sides, in the source's snapshot and the copy's transaction.
  for (const TableCount& t : report.tables) {
    auto here = CountRows(*db_, t.table);
    if (!here) return Unexpected(here.error());
    auto there = CountRows(*to.db_, t.table);
    if (!there) return Unexpected(there.error());
    if (*here != t.rows || *there != t.rows) {
      return Unexpected("verify " + t.table + ": the source holds " + std::to_string(*here) +
                        " rows, " + std::to_string(t.rows) + " were copied, the copy holds " +
                        std::to_string(*there));
    }
  }
  if (auto st = txn.Commit(); !st) return Unexpected("write the copy: " + st.error().message);
  return report;
}

}  // namespace digestd
