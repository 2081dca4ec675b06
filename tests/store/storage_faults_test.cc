// Storage faults under the delivery claims (Issue 7 point 11): recording deliveries that fails
// at any row of a batch, on a full disk, past the file size limit, behind another writer's
// lock, on a read-only connection or file, fails with an error naming what failed and loses
// nothing: the rows stay `sending` by their owner, claimable by another once the lease ends.
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>

#include "store/state_store.h"
#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using test::AllAlive;
using test::CheckClaimed;
using test::Row;
using Kind = DeliveryResult::Kind;

constexpr std::int64_t kLeaseUntil = 1000;

std::vector<std::string> RowIds(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back("r" + std::to_string(100 + i));
  return ids;
}

std::vector<DeliveryResult> AllSent(const std::vector<std::string>& ids) {
  std::vector<DeliveryResult> results;
  for (const std::string& id : ids) {
    results.push_back({.id = id, .kind = Kind::kSent, .parts_sent = 1, .remote_id = "m-" + id});
  }
  return results;
}

// Queues `ids` for "me" and claims them for "p1" until kLeaseUntil; "" or what failed.
std::string QueueAndClaim(StateStore& store, const std::vector<std::string>& ids) {
  std::vector<Notification> rows;
  for (const std::string& id : ids) rows.push_back(Row("me", id));
  if (auto st = store.QueueNotifications(rows, 100); !st) return "queue: " + st.error().message;
  auto claimed = store.ClaimDue("me", 100, 1000, "p1", kLeaseUntil, AllAlive);
  if (!claimed) return "claim: " + claimed.error().message;
  if (test::Ids(*claimed) != ids) return "claimed other rows than queued";
  return "";
}

// Claims 20 rows for "p1" in the state file at `path`, breaks the storage, records every row
// sent, mends the storage, and checks that the failure lost nothing: the error names what
// failed and `expected_error`; the rows are still p1's, on the connection that failed and in
// the file; that connection records half of them once the storage works; another owner gets
// the other half when the lease ends, not before. Returns "" or what went wrong (it runs in
// a child, where gtest assertions would not reach the parent).
std::string RecordWhileStorageFails(const std::string& path,
                                    const std::function<std::string()>& break_storage,
                                    const std::function<void()>& mend_storage,
                                    const std::string& expected_error) {
  auto store = StateStore::Open(path);
  if (!store) return "open: " + store.error().message;
  const std::vector<std::string> ids = RowIds(20);
  if (std::string e = QueueAndClaim(**store, ids); !e.empty()) return e;

  if (std::string e = break_storage(); !e.empty()) return e;
  auto st = (*store)->RecordDeliveries(AllSent(ids), "p1", 150);
  mend_storage();
  if (st) return "RecordDeliveries succeeded on broken storage";
  const std::string& message = st.error().message;
  if (message.find("record deliver") == std::string::npos ||
      message.find(expected_error) == std::string::npos) {
    return "unclear error: " + message;
  }

  std::string report = CheckClaimed(**store, ids, "p1", kLeaseUntil);
  auto other = StateStore::Open(path);
  if (!other) return "reopen: " + other.error().message;
  report += CheckClaimed(**other, ids, "p1", kLeaseUntil);

  const std::vector<std::string> first(ids.begin(), ids.begin() + 10);
  const std::vector<std::string> rest(ids.begin() + 10, ids.end());
  if (auto again = (*store)->RecordDeliveries(AllSent(first), "p1", 200); !again) {
    report += "record after mending: " + again.error().message;
  }
  auto early = (*other)->ClaimDue("me", kLeaseUntil - 1, 100, "p2", 2000, AllAlive);
  if (!early || !early->empty()) report += "claimed before the lease ended; ";
  auto late = (*other)->ClaimDue("me", kLeaseUntil, 100, "p2", 2000, AllAlive);
  if (!late || test::Ids(*late) != rest) report += "the lease's end did not free the rest; ";
  if (!(*other)->RecordDeliveries(AllSent(rest), "p2", 1001)) report += "p2 could not record; ";
  auto counts = (*other)->OutboxCounts();
  if (!counts || *counts != std::map<std::string, int>{{"sent", 20}}) {
    report += "not every row was sent exactly once; ";
  }
  return report;
}

TEST(Issue7, RecordDeliveriesFailingAtAnyRowRecordsNothing) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  const std::vector<std::string> ids = RowIds(4);
  ASSERT_EQ(QueueAndClaim(**store, ids), "");
  const std::vector<DeliveryResult> batch = {
      {.id = ids[0], .kind = Kind::kSent, .parts_sent = 1, .remote_id = "m-1"},
      {.id = ids[1], .kind = Kind::kRetry, .error = "HTTP 503", .next_attempt_at = 500},
      {.id = ids[2], .kind = Kind::kDead, .error = "HTTP 400"},
      {.id = ids[3], .kind = Kind::kRelease, .next_attempt_at = 100}};
  // Fail the n-th row of the batch, for every n: the whole batch is rolled back each time.
  int injected = 0;
  for (const DeliveryResult& failing : batch) {
    test::ExecOn(path, "CREATE TRIGGER fail_one BEFORE UPDATE ON outbox WHEN old.id = '" +
                           failing.id + "' BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    auto st = (*store)->RecordDeliveries(batch, "p1", 150);
    ASSERT_FALSE(st) << failing.id;
    EXPECT_NE(st.error().message.find("record delivery of " + failing.id), std::string::npos)
        << st.error().message;
    EXPECT_NE(st.error().message.find("injected failure"), std::string::npos);
    EXPECT_EQ(CheckClaimed(**store, ids, "p1", kLeaseUntil), "") << "failing at " << failing.id;
    test::ExecOn(path, "DROP TRIGGER fail_one");
    ++injected;
  }
  EXPECT_EQ(injected, 4);
  ASSERT_TRUE((*store)->RecordDeliveries(batch, "p1", 150));
  EXPECT_EQ(*(*store)->OutboxCounts(),
            (std::map<std::string, int>{{"dead", 1}, {"pending", 2}, {"sent", 1}}));
}

// Fills the file system under `filler` until it refuses another byte; "" or what failed.
std::string FillDisk(const std::string& filler) {
  const int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return "open filler: " + std::string(std::strerror(errno));
  const std::string block(64 * 1024, 'x');
  for (std::size_t size = block.size(); size > 0; size /= 2) {
    while (write(fd, block.data(), size) == ssize_t(size)) {
    }
  }
  const int error = errno;
  close(fd);
  return error == ENOSPC ? "" : "filler stopped with " + std::string(std::strerror(error));
}

TEST(Issue7, RecordDeliveriesOnAFullDiskLosesNothing) {
  test::TempDir dir;
  const std::string small = dir.File("small");
  ASSERT_EQ(mkdir(small.c_str(), 0700), 0);
  const std::string report = test::InChild([&small]() -> std::string {
    // A 1 MiB tmpfs in a private mount namespace: it goes away with the child.
    if (unshare(CLONE_NEWNS) != 0) return "skip: unshare: " + std::string(std::strerror(errno));
    if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
      return "skip: mount: " + std::string(std::strerror(errno));
    }
    const std::string filler = small + "/filler";
    return RecordWhileStorageFails(
        small + "/state.db", [&filler] { return FillDisk(filler); },
        [&filler] { unlink(filler.c_str()); }, "database or disk is full");
  });
  if (report.rfind("skip: ", 0) == 0) {
    GTEST_SKIP() << "a tmpfs needs CAP_SYS_ADMIN (" << report
                 << "); RecordDeliveriesPastTheFileSizeLimitLosesNothing covers the same path";
  }
  EXPECT_EQ(report, "");
}

TEST(Issue7, RecordDeliveriesPastTheFileSizeLimitLosesNothing) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const std::string report = test::InChild([&path]() -> std::string {
    // Past RLIMIT_FSIZE a write is cut short (EFBIG) instead of killing the process.
    signal(SIGXFSZ, SIG_IGN);
    rlimit unlimited{};
    if (getrlimit(RLIMIT_FSIZE, &unlimited) != 0) return "getrlimit failed";
    auto limit = [&path, unlimited]() -> std::string {
      // The write-ahead log is where a commit writes: let it grow by 10 bytes, less than a
      // frame header.
      struct stat wal {};
      if (stat((path + "-wal").c_str(), &wal) != 0) return "no write-ahead log";
      const rlimit small{.rlim_cur = rlim_t(wal.st_size) + 10, .rlim_max = unlimited.rlim_max};
      return setrlimit(RLIMIT_FSIZE, &small) == 0 ? "" : "setrlimit failed";
    };
    return RecordWhileStorageFails(
        path, limit, [unlimited] { setrlimit(RLIMIT_FSIZE, &unlimited); }, "disk I/O error");
  });
  EXPECT_EQ(report, "");
}

// A database that cannot grow (PRAGMA max_page_count at its current size): recording a batch
// of large results fails clearly, and the rows stay claimed, none marked sent.
TEST(Issue7, RecordDeliveriesInAFullDatabaseLosesNothing) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  const std::vector<std::string> ids = RowIds(40);
  ASSERT_EQ(QueueAndClaim(**store, ids), "");
  std::int64_t pages = 0;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &s, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    pages = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  ASSERT_TRUE((*store)->LimitPages(pages));
  std::vector<DeliveryResult> results = AllSent(ids);
  for (DeliveryResult& r : results) r.remote_id = std::string(8000, 'r');  // needs new pages
  auto st = (*store)->RecordDeliveries(results, "p1", 150);
  ASSERT_FALSE(st) << "the full database took the batch";
  EXPECT_NE(st.error().message.find("record delivery"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("full"), std::string::npos) << st.error().message;
  EXPECT_EQ(CheckClaimed(**store, ids, "p1", kLeaseUntil), "");

  ASSERT_TRUE((*store)->LimitPages(1'000'000));
  ASSERT_TRUE((*store)->RecordDeliveries(AllSent(ids), "p1", 151));
  EXPECT_EQ(*(*store)->OutboxCounts(), (std::map<std::string, int>{{"sent", 40}}));
}

TEST(Issue7, RecordDeliveriesBehindAnotherWritersLockLosesNothing) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store) << store.error().message;
  const std::vector<std::string> ids = RowIds(5);
  ASSERT_EQ(QueueAndClaim(**store, ids), "");

  // Another process (here: connection) holds the write lock past our busy timeout.
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  (*store)->SetBusyTimeout(50);
  auto st = (*store)->RecordDeliveries(AllSent(ids), "p1", 150);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("record deliveries"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("database is locked"), std::string::npos) << st.error().message;
  auto claim = (*store)->ClaimDue("me", 2000, 10, "p2", 3000, AllAlive);
  ASSERT_FALSE(claim);
  EXPECT_NE(claim.error().message.find("claim outbox rows: database is locked"), std::string::npos)
      << claim.error().message;
  EXPECT_EQ(sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(holder);

  EXPECT_EQ(CheckClaimed(**store, ids, "p1", kLeaseUntil), "");
  ASSERT_TRUE((*store)->RecordDeliveries(AllSent(ids), "p1", 151));
  EXPECT_EQ(*(*store)->OutboxCounts(), (std::map<std::string, int>{{"sent", 5}}));
}

TEST(Issue7, ReadOnlyOpenRefusesEveryWriteClearly) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  const std::vector<std::string> ids = RowIds(3);
  {
    auto writer = StateStore::Open(path);
    ASSERT_TRUE(writer) << writer.error().message;
    ASSERT_EQ(QueueAndClaim(**writer, ids), "");
    test::ExecOn(path,
                 "INSERT INTO outbox(id, dedupe_key, notifier, kind, event, message, "
                 "state, created_at, next_attempt_at) VALUES('dead-1', 'dk', 'me', "
                 "'instant', 'new', '{}', 'dead', 1, 1)");
  }
  auto reader = StateStore::Open(path, /*read_only=*/true);
  ASSERT_TRUE(reader) << reader.error().message;
  auto expect_refused = [](const Error& error, const std::string& what) {
    EXPECT_NE(error.message.find(what), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("readonly database"), std::string::npos) << error.message;
  };
  auto claim = (*reader)->ClaimDue("me", 2000, 10, "p2", 3000, AllAlive);
  ASSERT_FALSE(claim);
  expect_refused(claim.error(), "claim outbox rows");
  auto record = (*reader)->RecordDeliveries(AllSent(ids), "p1", 150);
  ASSERT_FALSE(record);
  expect_refused(record.error(), "record deliver");
  auto release = (*reader)->ReleaseClaims("p1");
  ASSERT_FALSE(release);
  expect_refused(release.error(), "release claimed rows");
  auto retry = (*reader)->RetryDead("", 2000);
  ASSERT_FALSE(retry);
  expect_refused(retry.error(), "retry dead rows");
  auto drop = (*reader)->DropDead("");
  ASSERT_FALSE(drop);
  expect_refused(drop.error(), "drop dead rows");
  auto health = (*reader)->PutNotifierHealth("me", {.alerted = true});
  ASSERT_FALSE(health);
  expect_refused(health.error(), "record notifier health");
  EXPECT_EQ((*reader)->ListOutbox("", "", 10)->size(), 4u) << "reading works";
  reader->reset();

  auto store = StateStore::Open(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(CheckClaimed(**store, ids, "p1", kLeaseUntil), "");
  EXPECT_EQ(test::FindRow(**store, "dead-1")->state, "dead");
  EXPECT_FALSE((*store)->GetNotifierHealth("me")->alerted);
}

// Makes file modes bind this process as they bind any user, root included: drops
// CAP_DAC_OVERRIDE from its effective capabilities. False when that fails.
bool DropFileModeOverride() {
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  data[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
  return syscall(SYS_capset, &header, data) == 0;
}

TEST(Issue7, ReadOnlyFileOpenedForWritingIsRefusedClearly) {
  test::TempDir dir;
  const std::string path = dir.File("state.db");
  {
    auto writer = StateStore::Open(path);
    ASSERT_TRUE(writer) << writer.error().message;
    ASSERT_EQ(QueueAndClaim(**writer, RowIds(3)), "");
  }
  ASSERT_EQ(chmod(path.c_str(), 0444), 0);
  const std::string report = test::InChild([&path]() -> std::string {
    if (!DropFileModeOverride()) return "cannot drop CAP_DAC_OVERRIDE";
    if (const int fd = open(path.c_str(), O_WRONLY); fd >= 0) {
      close(fd);
      return "the 0444 file is still writable: the test proves nothing";
    }
    auto store = StateStore::Open(path);
    if (store) {
      auto st = (*store)->RecordDeliveries(AllSent(RowIds(3)), "p1", 150);
      return "Open succeeded; RecordDeliveries then says: " +
             (st ? std::string("ok") : st.error().message);
    }
    const std::string& message = store.error().message;
    if (message.find(path) == std::string::npos || message.find("read-only") == std::string::npos) {
      return "unclear error: " + message;
    }
    return "";
  });
  EXPECT_EQ(report, "");
  auto store = StateStore::Open(path, /*read_only=*/true);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ(CheckClaimed(**store, RowIds(3), "p1", kLeaseUntil), "") << "the file is unchanged";
}

}  // namespace
}  // namespace digestd
