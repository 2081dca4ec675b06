// Paper snapshots (issue 12, point 1): what a source said about a paper is stored once,
// sightings and outbox rows refer to it, a retry sends what was planned, unchanged sightings
// are not rewritten, and Prune drops the snapshots nothing refers to any more.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/hash.h"
#include "core/planner.h"
#include "store/state_store.h"
#include "tests/store/store_testing.h"
#include "tests/support/temp_dir.h"

namespace digestd {
namespace {

using test::Dump;
using test::ExecOn;
using test::Scalar;

Paper MakePaper(const std::string& id, const std::string& title) {
  Paper p;
  p.key = "arxiv:" + id;
  p.title = title;
  p.url = "https://arxiv.org/abs/" + id;
  p.authors = {"Ada Lovelace", "김철수"};
  p.summary = {"첫 번째 요약", "second bullet"};
  p.votes = 7;
  return p;
}

// `count` papers, arxiv:2401.00000 on, titled "Paper 0" on.
std::vector<Paper> NumberedPapers(int count) {
  std::vector<Paper> papers;
  for (int i = 0; i < count; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "2401.%05d", i);
    papers.push_back(MakePaper(id, "Paper " + std::to_string(i)));
  }
  return papers;
}

Notification MakeNotification(const std::string& notifier, const Paper& paper) {
  Notification n;
  n.notifier = notifier;
  n.dedupe_key = notifier + "|" + paper.key + "|paper|w";
  n.id = NotificationId(n.dedupe_key);
  n.event = "new";
  n.watches = {"w"};
  n.digest_url = "https://example.org/2024-01-29.md";
  n.papers.push_back({.paper = paper, .source = "hf-ko", .date = "2024-01-29"});
  // What changed travels with the row, beside the snapshot.
  n.papers.back().SetPrior({.votes = 3, .version = "v1", .title = "Old title"});
  return n;
}

DigestCommit MakeCommit(std::vector<Paper> papers, std::int64_t now,
                        const std::string& date = "2024-01-29") {
  DigestCommit c;
  c.source = "hf-ko";
  c.url = "https://example.org/" + date + ".md";
  c.date = date;
  c.now = now;
  c.papers = SharePapers(std::move(papers));
  return c;
}

std::string PaperText(const Paper& p) { return SnapshotText(p); }

// The snapshot text of each sighting, in key order, as DumpThroughStore shows rows.
std::string SightingSnapshots(const std::string& path) {
  return test::DumpThroughStore(path,
                                "SELECT snapshot_text(s.paper, s.encoding) FROM sightings g "
                                "JOIN snapshots s ON s.id = g.snapshot ORDER BY g.paper_key");
}

// What SightingSnapshots shows for sightings of `papers` (in key order).
std::string SnapshotRows(const std::vector<Paper>& papers) {
  std::string rows;
  for (const Paper& p : papers) rows += SnapshotText(p) + "|\n";
  return rows;
}

class Snapshots : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = StateStore::Open(path_);
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
  }

  test::TempDir dir_;
  std::string path_ = dir_.File("state.db");
  std::unique_ptr<StateStore> store_;
};

TEST_F(Snapshots, OnePaperIsStoredOnceForItsSightingAndEveryOutboxRow) {
  const Paper p = MakePaper("2401.00001", "SliceGPT");
  DigestCommit c = MakeCommit({p}, 100);
  for (int i = 0; i < 50; ++i) c.notifications.push_back(MakeNotification("n" + std::to_string(i), p));
  ASSERT_TRUE(store_->CommitDigest(c));

  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 1);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM outbox"), 50);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM outbox WHERE instr(message, 'SliceGPT') > 0"), 0)
      << "outbox rows refer to the snapshot; they do not copy the paper";
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE paper = " +
                              std::string("'") + PaperText(p) + "'"),
            1);

  auto due = store_->DueOutbox(100, 100);
  ASSERT_TRUE(due) << due.error().message;
  ASSERT_EQ(due->size(), 50u);
  for (const OutboxRow& row : *due) {
    ASSERT_EQ(row.unreadable, "");
    const Notification want = MakeNotification(row.notifier, p);
    EXPECT_EQ(NotificationToJson(row.notification), NotificationToJson(want)) << row.notifier;
    // Read back, the rows of one snapshot share one paper, as they were planned.
    EXPECT_TRUE(row.notification.papers[0].paper.SameAs(due->front().notification.papers[0].paper));
  }
  auto sightings = store_->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(sightings);
  ASSERT_EQ(sightings->size(), 1u);
  EXPECT_EQ(sightings->front().paper, p);
}

TEST_F(Snapshots, ARetrySendsWhatWasPlannedAfterTheSourceChangedThePaper) {
  const Paper v1 = MakePaper("2401.00001", "First title");
  DigestCommit first = MakeCommit({v1}, 100);
  first.notifications = {MakeNotification("me", v1)};
  ASSERT_TRUE(store_->CommitDigest(first));

  Paper v2 = v1;
  v2.title = "Second title";
  v2.votes = 12;
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({v2}, 200)));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 2);

  auto claimed = store_->ClaimDue("me", 300, 10, "p1", 400, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_EQ(claimed->front().notification.papers.size(), 1u);
  EXPECT_EQ(claimed->front().notification.papers[0].paper, v1) << "the planned snapshot";
  auto sightings = store_->LoadSightings("", v1.key);
  ASSERT_TRUE(sightings);
  ASSERT_EQ(sightings->size(), 1u);
  EXPECT_EQ(sightings->front().paper, v2) << "the sighting says what the source says now";
}

TEST_F(Snapshots, AnUnchangedSightingIsNotRewrittenButSeenAtMovesDaily) {
  const Paper p = MakePaper("2401.00001", "Same");
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({p}, 1000)));
  const std::string row = "SELECT seen_at FROM sightings";
  ASSERT_EQ(Scalar(path_, row), 1000);

  // The same paper an hour later: nothing to write (a day has not passed).
  ExecOn(path_, "CREATE TABLE writes(n); CREATE TRIGGER count_writes AFTER UPDATE ON sightings "
                "BEGIN INSERT INTO writes VALUES(1); END;");
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({p}, 1000 + 3600)));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM writes"), 0);
  EXPECT_EQ(Scalar(path_, row), 1000);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 1);

  // A day later, seen_at is brought forward once (Prune reads it).
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({p}, 1000 + 86400 + 1)));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM writes"), 1);
  EXPECT_EQ(Scalar(path_, row), 1000 + 86400 + 1);

  // Another date's digest with the same paper is a change: rewritten at once.
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({p}, 1000 + 86400 + 2, "2024-01-30")));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM writes"), 2);
  EXPECT_EQ(Dump(path_, "SELECT date, first_seen FROM sightings"), "T:2024-01-30|I:1000|\n");
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 1);
}

TEST_F(Snapshots, ALongCommitThatFailsHalfWayStopsItsHelperAndKeepsNothing) {
  // Many more papers than the commit's second thread prepares ahead of the inserts: when the
  // database fills early on, the commit returns its error without waiting for the helper to
  // prepare the rest (it stops at its next chunk), and nothing of the commit stays.
  const std::vector<Paper> papers = NumberedPapers(3000);
  ASSERT_TRUE(store_->LimitPages(Scalar(path_, "PRAGMA page_count") + 10));
  const auto full = store_->CommitDigest(MakeCommit(papers, 100));
  ASSERT_FALSE(full) << "the full database took 3,000 papers";
  EXPECT_NE(full.error().message.find("full"), std::string::npos) << full.error().message;
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings"), 0);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 0);

  ASSERT_TRUE(store_->LimitPages(1'000'000));
  ASSERT_TRUE(store_->CommitDigest(MakeCommit(papers, 100)));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings"), 3000);
  // Every paper has its own snapshot, however the chunks its helper made were handed over.
  EXPECT_EQ(SightingSnapshots(path_), SnapshotRows(papers));
}

TEST_F(Snapshots, ABatchOfSightingsWithPapersTheStateKnowsGoesAgainAsTheUpsert) {
  // A commit writes its sightings 32 to a statement, first as new rows only; a batch with a
  // known paper goes again as the upsert, and so do the batches after it. Papers 40-49 are
  // known (in the second batch): 40-44 have changed since, 45-49 have not.
  std::vector<Paper> papers = NumberedPapers(100);
  ASSERT_TRUE(store_->CommitDigest(
      MakeCommit(std::vector<Paper>(papers.begin() + 40, papers.begin() + 50), 1000)));
  for (int i = 40; i < 45; ++i) papers[i].title += " (revised)";
  ExecOn(path_,
         "CREATE TABLE writes(paper_key); CREATE TRIGGER count_writes AFTER UPDATE ON "
         "sightings BEGIN INSERT INTO writes VALUES(new.paper_key); END;");
  ASSERT_TRUE(store_->CommitDigest(MakeCommit(papers, 5000)));

  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings"), 100);
  // Only the five that changed were rewritten: neither the unchanged known ones nor the new
  // rows of the batch that went twice.
  EXPECT_EQ(Dump(path_, "SELECT paper_key FROM writes ORDER BY paper_key"),
            "T:arxiv:2401.00040|\nT:arxiv:2401.00041|\nT:arxiv:2401.00042|\n"
            "T:arxiv:2401.00043|\nT:arxiv:2401.00044|\n");
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings WHERE first_seen = 1000"), 10);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings WHERE first_seen = 5000"), 90);
  EXPECT_EQ(SightingSnapshots(path_), SnapshotRows(papers));
}

// The files made in `folder` from now on, told by inotify (SQLite unlinks its temporary
// files as it opens them: they are never seen in a listing).
class FilesMadeIn {
 public:
  explicit FilesMadeIn(const std::string& folder) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_GE(fd_, 0);
    EXPECT_GE(inotify_add_watch(fd_, folder.c_str(), IN_CREATE), 0);
  }
  ~FilesMadeIn() { close(fd_); }
  FilesMadeIn(const FilesMadeIn&) = delete;
  FilesMadeIn& operator=(const FilesMadeIn&) = delete;

  // The names made since the last call.
  std::vector<std::string> Take() {
    std::vector<std::string> names;
    alignas(inotify_event) char buffer[4096];
    ssize_t n;
    while ((n = read(fd_, buffer, sizeof buffer)) > 0) {
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        names.emplace_back(event->len > 0 ? event->name : "");
        at += ssize_t(sizeof(inotify_event) + event->len);
      }
    }
    return names;
  }

 private:
  int fd_;
};

// SQLite's folder for temporary files, `folder` while this lives.
class SqliteTemporaryFolder {
 public:
  explicit SqliteTemporaryFolder(const std::string& folder) : before_(sqlite3_temp_directory) {
    sqlite3_temp_directory = sqlite3_mprintf("%s", folder.c_str());
  }
  ~SqliteTemporaryFolder() {
    sqlite3_free(sqlite3_temp_directory);
    sqlite3_temp_directory = before_;
  }
  SqliteTemporaryFolder(const SqliteTemporaryFolder&) = delete;
  SqliteTemporaryFolder& operator=(const SqliteTemporaryFolder&) = delete;

 private:
  char* before_;
};

TEST_F(Snapshots, AFirstRunItsClaimAndTheRecordOfItsDeliveriesWriteNoTemporaryFile) {
  // A statement of many rows that may fail part way keeps the pages it changes in a
  // temporary file, to undo its own rows alone: a first run's sightings (written 32 to a
  // statement), a claim of many rows and the record of its sent rows (a run of rows to a
  // statement) are written by statements that cannot, and keep nothing.
  const std::string folder = dir_.File("sqlite-tmp");
  ASSERT_TRUE(std::filesystem::create_directory(folder));
  const SqliteTemporaryFolder temporary(folder);
  FilesMadeIn made(folder);

  const std::vector<Paper> papers = NumberedPapers(2000);
  DigestCommit c = MakeCommit(papers, 100);
  for (const Paper& p : papers) c.notifications.push_back(MakeNotification("out", p));
  ASSERT_TRUE(store_->CommitDigest(std::move(c)));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings"), 2000);
  EXPECT_EQ(made.Take(), std::vector<std::string>());

  auto claimed = store_->ClaimDue("out", 200, 2000, "me", 300, test::AllAlive);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2000u);
  EXPECT_EQ(made.Take(), std::vector<std::string>());
  std::vector<DeliveryResult> sent;
  for (const OutboxRow& row : *claimed) sent.push_back({.id = row.id, .parts_sent = 1});
  ASSERT_TRUE(store_->RecordDeliveries(sent, "me", 210));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM outbox WHERE state = 'sent'"), 2000);
  EXPECT_EQ(made.Take(), std::vector<std::string>());

  // Known papers go as the upsert, which keeps what it changes: the folder is the one SQLite
  // uses (this test could not fail if it were not).
  std::vector<Paper> revised = papers;
  for (Paper& p : revised) p.title += " (revised)";
  ASSERT_TRUE(store_->CommitDigest(MakeCommit(revised, 400)));
  EXPECT_FALSE(made.Take().empty());
}

TEST_F(Snapshots, AnOutboxRowLeftOutForAnythingButItsIdFailsTheCommit) {
  // Rows go into the outbox 32 to a statement, a row whose id is queued already left out;
  // one left out for any other reason (here a trigger's) is not taken for queued.
  ExecOn(path_,
         "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN new.notifier = 'b' "
         "BEGIN SELECT RAISE(IGNORE); END;");
  const std::vector<Paper> papers = NumberedPapers(40);
  DigestCommit c = MakeCommit(papers, 100);
  for (std::size_t i = 0; i < papers.size(); ++i) {
    c.notifications.push_back(MakeNotification(i == 35 ? "b" : "a", papers[i]));
  }
  const std::string refused = c.notifications[35].id;
  const auto st = store_->CommitDigest(std::move(c));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("queue notification " + refused), std::string::npos)
      << st.error().message;
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM outbox"), 0);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings"), 0);
}

TEST_F(Snapshots, ALongCommitKeepsTheContentHashesItIsGivenAndMakesTheOthers) {
  // The plan gives each paper's content hash; one it did not give is made beside the paper's
  // snapshot, on whichever of the commit's two threads prepares it. The papers come in
  // reverse key order: the hashes go into the trees' order with their papers.
  std::vector<Paper> papers = NumberedPapers(1500);
  std::reverse(papers.begin(), papers.end());
  DigestCommit c = MakeCommit(papers, 100);
  c.content_hashes.resize(papers.size());
  std::string expected;
  std::map<std::string, std::string> by_key;
  for (std::size_t i = 0; i < papers.size(); ++i) {
    // A hash no paper has: only a commit that keeps what it is given stores it.
    if (i % 3 == 0) c.content_hashes[i] = Xxh3Digits("given " + std::to_string(i));
    by_key[papers[i].key] = std::string(i % 3 == 0 ? c.content_hashes[i].view()
                                                   : SightingContentDigits(papers[i]).view());
  }
  for (const auto& [key, hash] : by_key) expected += key + "|" + hash + "|\n";
  ASSERT_TRUE(store_->CommitDigest(std::move(c)));
  EXPECT_EQ(test::DumpThroughStore(
                path_, "SELECT paper_key, content_hash FROM sightings ORDER BY paper_key", 2),
            expected);
}

TEST_F(Snapshots, TwoTextsWithOneHashStayApart) {
  const Paper p = MakePaper("2401.00001", "Real");
  // A stored text that shares the new paper's hash but says something else.
  const std::int64_t hash = std::int64_t(Xxh3Hash64(PaperText(p)));
  ExecOn(path_, "INSERT INTO snapshots(hash, paper) VALUES(" + std::to_string(hash) +
                    ", '{\"key\":\"arxiv:2401.00001\",\"title\":\"Impostor\"}')");
  DigestCommit c = MakeCommit({p}, 100);
  c.notifications = {MakeNotification("me", p)};
  ASSERT_TRUE(store_->CommitDigest(c));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 2);
  auto due = store_->DueOutbox(100, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->front().notification.papers.at(0).paper->title, "Real");
  EXPECT_EQ(store_->LoadSightings("", p.key)->at(0).paper->title, "Real");
}

TEST_F(Snapshots, PruneDropsOnlySnapshotsNothingRefersTo) {
  const Paper old_paper = MakePaper("2401.00001", "Old");
  const Paper queued = MakePaper("2401.00002", "Queued");
  DigestCommit c = MakeCommit({old_paper, queued}, 100);
  c.notifications = {MakeNotification("me", queued)};
  ASSERT_TRUE(store_->CommitDigest(c));
  Paper changed = queued;
  changed.title = "Queued, retitled";
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({changed}, 200)));
  ASSERT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 3);

  // Sightings seen before 150 go: "Old" (seen at 100) has no one left; the planned "Queued"
  // is kept by its pending outbox row though its sighting now says "retitled".
  ASSERT_TRUE(store_->Prune(150));
  EXPECT_EQ(Dump(path_, "SELECT json_extract(paper, '$.title') FROM snapshots ORDER BY id"),
            "T:Queued|\nT:Queued, retitled|\n");
  auto due = store_->DueOutbox(300, 10);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ(due->front().unreadable, "");
  EXPECT_EQ(due->front().notification.papers.at(0).paper, queued);
}

TEST_F(Snapshots, AnUnreadableRowSaysWhyAndTheOthersStillRead) {
  const Paper p = MakePaper("2401.00001", "A");
  DigestCommit c = MakeCommit({p}, 100);
  c.notifications = {MakeNotification("a", p), MakeNotification("b", p),
                     MakeNotification("c", p)};
  ASSERT_TRUE(store_->CommitDigest(c));
  ExecOn(path_, "UPDATE outbox SET message = 'not json' WHERE notifier = 'a'");
  ExecOn(path_,
         "UPDATE outbox SET message = '{\"papers\":[{\"snapshot\":999}]}' WHERE notifier = 'b'");
  auto rows = store_->ListOutbox("", "", 10);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  for (const OutboxRow& row : *rows) {
    if (row.notifier == "a") {
      EXPECT_NE(row.unreadable.find("not a JSON object"), std::string::npos) << row.unreadable;
      EXPECT_NE(row.unreadable.find(row.id), std::string::npos) << row.unreadable;
    } else if (row.notifier == "b") {
      EXPECT_NE(row.unreadable.find("snapshot 999 is missing"), std::string::npos)
          << row.unreadable;
    } else {
      EXPECT_EQ(row.unreadable, "");
      EXPECT_EQ(row.notification.papers.at(0).paper, p);
    }
  }
}


// Issue 12: a claim in the process that queued the rows takes their notifications as they
// were queued, not parsed back from the state, and gets exactly what the state holds.
class Queued : public Snapshots {
 protected:
  // The rows of notifier "n" claimed through `store`, by id.
  std::map<std::string, Notification> Claim(StateStore& store, int limit = 100) {
    auto rows = store.ClaimDue("n", 100, limit, "me", 1000, nullptr);
    EXPECT_TRUE(rows) << rows.error().message;
    std::map<std::string, Notification> out;
    if (!rows) return out;
    for (OutboxRow& r : *rows) {
      EXPECT_EQ(r.unreadable, "");
      out.emplace(r.id, std::move(r.notification));
    }
    return out;
  }
  // The same rows as a second process reads them from the file.
  std::map<std::string, std::string> FromTheFile(int limit = 100) {
    auto other = StateStore::Open(path_);
    EXPECT_TRUE(other);
    std::map<std::string, std::string> out;
    if (!other) return out;
    auto rows = (*other)->DueOutbox(1000, limit);
    EXPECT_TRUE(rows);
    if (!rows) return out;
    for (const OutboxRow& r : *rows) out.emplace(r.id, NotificationToJson(r.notification));
    return out;
  }
};

TEST_F(Queued, AClaimAfterTheCommitTakesTheQueuedNotificationsAsTheStateHoldsThem) {
  DigestCommit c = MakeCommit({MakePaper("2401.00001", "One"), MakePaper("2401.00002", "Two")},
                              100);
  for (const SharedPaper& p : c.papers) {
    Notification n = MakeNotification("n", *p);
    n.papers[0].paper = p;  // shared, as the planner does
    c.notifications.push_back(std::move(n));
  }
  ASSERT_TRUE(store_->CommitDigest(c));
  const auto stored = FromTheFile();
  const auto claimed = Claim(*store_);
  ASSERT_EQ(claimed.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const Notification& n = claimed.at(c.notifications[i].id);
    EXPECT_EQ(NotificationToJson(n), stored.at(n.id));
    EXPECT_TRUE(n.papers[0].paper.SameAs(c.papers[i])) << "taken as queued, not parsed again";
  }
}

TEST_F(Queued, TextThatWouldNotReadBackTheSameIsReadFromTheState) {
  DigestCommit c = MakeCommit({MakePaper("2401.00001", "Broken \xFF title")}, 100);
  c.notifications.push_back(MakeNotification("n", *c.papers[0]));
  c.notifications[0].papers[0].paper = c.papers[0];
  ASSERT_TRUE(store_->CommitDigest(c));
  const auto stored = FromTheFile();
  const auto claimed = Claim(*store_);
  ASSERT_EQ(claimed.size(), 1u);
  const Notification& n = claimed.begin()->second;
  EXPECT_EQ(NotificationToJson(n), stored.at(n.id));
  EXPECT_EQ(n.papers[0].paper->title, "Broken \uFFFD title");
}

TEST_F(Queued, ALongDigestIsStoredAsItsShortOneWouldBe) {
  // More papers than one chunk the commit prepares ahead on its second thread: 700, one of
  // them listed twice and one with a byte that is not UTF-8.
  std::vector<Paper> papers = NumberedPapers(700);
  papers[400].title = "Broken \xFF title";
  DigestCommit c = MakeCommit(std::move(papers), 100);
  c.papers[600] = c.papers[5];
  for (std::size_t i = 0; i < c.papers.size(); ++i) {
    if (i == 600) continue;
    Notification n = MakeNotification("n", *c.papers[i]);
    n.papers[0].paper = c.papers[i];
    c.notifications.push_back(std::move(n));
  }
  ASSERT_TRUE(store_->CommitDigest(c));

  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 699);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM sightings"), 699);
  for (std::size_t i : {0, 255, 256, 257, 400, 511, 512, 699}) {
    const Paper& p = *c.papers[i];
    EXPECT_EQ(test::DumpThroughStore(path_,
                                     "SELECT snapshot_text(s.paper, s.encoding) "
                                     "FROM sightings g JOIN snapshots s "
                                     "ON s.id = g.snapshot WHERE g.paper_key = '" +
                                         p.key + "'"),
              SnapshotText(p) + "|\n")
        << i;
  }
  const auto stored = FromTheFile(1000);
  const auto claimed = Claim(*store_, 1000);
  ASSERT_EQ(claimed.size(), 699u);
  for (std::size_t i = 0; i < c.papers.size(); ++i) {
    if (i == 600) continue;
    const Notification& n = claimed.at(NotificationId("n|" + c.papers[i]->key + "|paper|w"));
    EXPECT_EQ(NotificationToJson(n), stored.at(n.id)) << i;
    EXPECT_EQ(n.papers[0].paper.SameAs(c.papers[i]), i != 400) << i;
  }
}

TEST_F(Queued, ReleaseMemoryForgetsWhatWasQueued) {
  DigestCommit c = MakeCommit({MakePaper("2401.00001", "One")}, 100);
  c.notifications.push_back(MakeNotification("n", *c.papers[0]));
  c.notifications[0].papers[0].paper = c.papers[0];
  ASSERT_TRUE(store_->CommitDigest(c));
  store_->ReleaseMemory();
  const auto claimed = Claim(*store_);
  ASSERT_EQ(claimed.size(), 1u);
  const Notification& n = claimed.begin()->second;
  EXPECT_FALSE(n.papers[0].paper.SameAs(c.papers[0]));
  EXPECT_EQ(NotificationToJson(n), NotificationToJson(c.notifications[0]));
}

}  // namespace
}  // namespace digestd

namespace digestd {
namespace {

// A day of `count` papers, each with its notification to "n".
DigestCommit Day(int count, std::int64_t now, const std::string& date = "2024-01-29") {
  std::vector<Paper> papers;
  for (int i = 0; i < count; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "2401.%05d", i);
    Paper p = MakePaper(id, "희소 어텐션 " + std::to_string(i));
    p.summary.push_back("이 논문은 긴 문맥에서 효율적인 추론을 위한 방법을 제안합니다 " +
                        std::to_string(i * 7919));
    papers.push_back(std::move(p));
  }
  DigestCommit c = MakeCommit(std::move(papers), now, date);
  for (const SharedPaper& p : c.papers) {
    Notification n = MakeNotification("n", *p);
    n.papers[0].paper = p;
    c.notifications.push_back(std::move(n));
  }
  return c;
}

// Issue 12, point 1: a state that holds enough snapshot text gets a zstd dictionary, and the
// snapshots stored after it are compressed against it. Every reader reads them back as they
// were, in this process and in another one.
class Compressed : public Snapshots {
 protected:
  std::int64_t Dictionary() { return Scalar(path_, "SELECT id FROM snapshot_dicts"); }
};

TEST_F(Compressed, ALargeDayGetsADictionaryAndEveryReaderReadsItsPapers) {
  const DigestCommit c = Day(300, 100);
  ASSERT_TRUE(store_->CommitDigest(c));
  ASSERT_EQ(Scalar(path_, "SELECT count(*) FROM snapshot_dicts"), 1);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE encoding = " +
                              std::to_string(Dictionary())),
            300);
  std::int64_t text = 0;
  for (const SharedPaper& p : c.papers) text += std::int64_t(SnapshotText(p).size());
  const std::int64_t stored = Scalar(path_, "SELECT sum(length(paper)) FROM snapshots");
  EXPECT_LT(stored * 3, text) << "stored " << stored << " bytes for " << text << " of text";

  // Another process: nothing queued in it, no dictionary known until a row names it.
  auto other = StateStore::Open(path_);
  ASSERT_TRUE(other);
  auto rows = (*other)->DueOutbox(1000, 1000);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 300u);
  std::map<std::string, const Notification*> by_id;
  for (const OutboxRow& r : *rows) {
    EXPECT_EQ(r.unreadable, "");
    by_id[r.id] = &r.notification;
  }
  for (const Notification& n : c.notifications) {
    ASSERT_TRUE(by_id.contains(n.id));
    EXPECT_EQ(NotificationToJson(*by_id[n.id]), NotificationToJson(n));
  }
  auto seen = (*other)->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 300u);
  for (const StoredSighting& s : *seen) {
    EXPECT_EQ(SnapshotText(s.paper), SnapshotText(*c.papers[std::stoi(s.paper->key.substr(11))]));
  }
  auto recent = (*other)->RecentPapers("hf-ko", 3);
  ASSERT_TRUE(recent) << recent.error().message;
  EXPECT_EQ(recent->size(), 3u);
  auto prior = (*other)->LoadPriorSightings("hf-ko", {c.papers[0]->key, c.papers[299]->key});
  ASSERT_TRUE(prior) << prior.error().message;
  ASSERT_EQ(prior->size(), 2u);
  EXPECT_EQ(prior->at(c.papers[299]->key).title, "희소 어텐션 299");

  // Its next day uses the same dictionary; the text that did not change is found again.
  DigestCommit next = Day(300, 200, "2024-01-30");
  next.papers[0] = SharedPaper(MakePaper("2402.00001", "새 논문"));
  next.notifications.clear();
  ASSERT_TRUE((*other)->CommitDigest(next));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshot_dicts"), 1);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 301);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE encoding = 0"), 0);
  auto fresh = (*other)->LoadSightings("2024-01-30", "arxiv:2402.00001");
  ASSERT_TRUE(fresh) << fresh.error().message;
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ(fresh->at(0).paper->title, "새 논문");
}

// A long first day has text enough beyond the dictionary's own to count zstd's tables from
// (SnapshotCodec::MakeDictionary); a short one, the usual day that first reaches the
// dictionary's size, keeps the texts alone. Another process reads both kinds.
TEST_F(Compressed, ALongFirstDayGetsEntropyTablesAndAShortOneTheTextsAlone) {
  const DigestCommit long_day = Day(1000, 100);
  ASSERT_TRUE(store_->CommitDigest(long_day));
  EXPECT_EQ(Scalar(path_, "SELECT hex(substr(dict, 1, 4)) = '37A430EC' FROM snapshot_dicts"), 1)
      << "zstd's dictionary magic";
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE encoding = 0"), 0);
  auto other = StateStore::Open(path_);
  ASSERT_TRUE(other);
  auto seen = (*other)->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 1000u);
  for (const StoredSighting& s : *seen) {
    EXPECT_EQ(SnapshotText(s.paper),
              SnapshotText(*long_day.papers[std::stoi(s.paper->key.substr(11))]));
  }

  test::TempDir dir;
  const std::string short_path = dir.File("short.db");
  auto short_state = StateStore::Open(short_path);
  ASSERT_TRUE(short_state);
  const DigestCommit short_day = Day(120, 100);
  ASSERT_TRUE((*short_state)->CommitDigest(short_day));
  EXPECT_EQ(Scalar(short_path, "SELECT count(*) FROM snapshot_dicts"), 1);
  EXPECT_EQ(Scalar(short_path, "SELECT hex(substr(dict, 1, 1)) = '7B' FROM snapshot_dicts"), 1)
      << "a snapshot text's '{': the texts, as they are";
  auto read = StateStore::Open(short_path);
  ASSERT_TRUE(read);
  auto short_seen = (*read)->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(short_seen) << short_seen.error().message;
  EXPECT_EQ(short_seen->size(), 120u);
}

// A compressed snapshot is prepared without its text (a long commit holds many): when a
// stored one shares its hash, the text is made again to compare, and a different text stays
// apart.
TEST_F(Compressed, TwoTextsWithOneHashStayApartWhenTheTextWasNotKept) {
  ASSERT_TRUE(store_->CommitDigest(Day(300, 100)));  // a dictionary from here on
  const Paper p = MakePaper("2402.00001", "Real");
  const std::string hash = std::to_string(std::int64_t(Xxh3Hash64(PaperText(p))));
  ExecOn(path_, "INSERT INTO snapshots(hash, paper) VALUES(" + hash +
                    ", '{\"key\":\"arxiv:2402.00001\",\"title\":\"Impostor\"}')");
  DigestCommit c = MakeCommit({p}, 200);
  c.notifications = {MakeNotification("me", p)};
  ASSERT_TRUE(store_->CommitDigest(c));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE hash = " + hash), 2);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE hash = " + hash +
                              " AND encoding = " + std::to_string(Dictionary())),
            1);
  auto due = store_->DueOutbox(200, 1000);
  ASSERT_TRUE(due) << due.error().message;
  const auto real = std::find_if(due->begin(), due->end(), [&](const OutboxRow& r) {
    return r.notification.papers.at(0).paper->key == p.key;
  });
  ASSERT_NE(real, due->end());
  EXPECT_EQ(real->notification.papers.at(0).paper->title, "Real");

  // The same text again is found, not stored twice.
  ASSERT_TRUE(store_->CommitDigest(MakeCommit({p}, 300, "2024-01-31")));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE hash = " + hash), 2);
}

TEST_F(Compressed, ADamagedRowIsSkippedAndTheOthersStillRead) {
  const DigestCommit c = Day(300, 100);
  ASSERT_TRUE(store_->CommitDigest(c));
  ExecOn(path_, "UPDATE snapshots SET paper = x'28b52ffd00112233' WHERE id = 7");
  ExecOn(path_, "UPDATE snapshots SET encoding = 12345 WHERE id = 8");
  auto other = StateStore::Open(path_);
  ASSERT_TRUE(other);
  auto seen = (*other)->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_EQ(seen->size(), 298u);
  auto rows = (*other)->DueOutbox(1000, 1000);
  ASSERT_TRUE(rows) << rows.error().message;
  int unreadable = 0;
  for (const OutboxRow& r : *rows) {
    if (r.unreadable.empty()) continue;
    ++unreadable;
    EXPECT_NE(r.unreadable.find("is missing"), std::string::npos) << r.unreadable;
  }
  EXPECT_EQ(unreadable, 2);
}

TEST_F(Compressed, ADictionaryRolledBackWithItsCommitIsWrittenByTheNext) {
  // Fault injection: the outbox insert fails after the dictionary and snapshots were written.
  ExecOn(path_,
         "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox "
         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  const DigestCommit c = Day(300, 100);
  ASSERT_FALSE(store_->CommitDigest(c));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshot_dicts"), 0);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 0);
  ExecOn(path_, "DROP TRIGGER fail_outbox");
  // A small day: too little text for a dictionary of its own, but this store made one.
  ASSERT_TRUE(store_->CommitDigest(Day(2, 200, "2024-01-30")));
  ASSERT_EQ(Scalar(path_, "SELECT count(*) FROM snapshot_dicts"), 1);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE encoding = " +
                              std::to_string(Dictionary())),
            2);
  auto other = StateStore::Open(path_);
  ASSERT_TRUE(other);
  auto seen = (*other)->LoadSightings("2024-01-30", "");
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_EQ(seen->size(), 2u);
}

TEST_F(Compressed, AStoreThatReleasedItsMemoryReadsAndWritesWithTheSameDictionary) {
  const DigestCommit c = Day(300, 100);
  ASSERT_TRUE(store_->CommitDigest(c));
  store_->ReleaseMemory();  // what a service does between jobs
  auto seen = store_->LoadSightings("2024-01-29", c.papers[42]->key);
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ(SnapshotText(seen->at(0).paper), SnapshotText(*c.papers[42]));
  store_->ReleaseMemory();
  DigestCommit next = Day(1, 200, "2024-01-30");
  next.papers[0] = SharedPaper(MakePaper("2402.00001", "새 논문"));
  next.notifications.clear();
  ASSERT_TRUE(store_->CommitDigest(next));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshot_dicts"), 1);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots"), 301);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE encoding = 0"), 0);
}

TEST_F(Compressed, ASmallStateKeepsItsSnapshotsAsText) {
  ASSERT_TRUE(store_->CommitDigest(Day(20, 100)));
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshot_dicts"), 0);
  EXPECT_EQ(Scalar(path_, "SELECT count(*) FROM snapshots WHERE encoding = 0"), 20);
}

// A compressed SQLite state copied (`digestd migrate`) into a fresh SQLite file, and in the
// PostgreSQL copy of this test into a database: every snapshot arrives as its text.
TEST(Issue12, ACompressedStateIsCopiedAsText) {
  test::TempDir dir;
  auto store = StateStore::Open(dir.File("state.db"));
  ASSERT_TRUE(store);
  const DigestCommit c = Day(300, 100);
  ASSERT_TRUE((*store)->CommitDigest(c));
  ASSERT_EQ(Scalar(dir.File("state.db"), "SELECT count(*) FROM snapshot_dicts"), 1);
  const std::string copy_path = dir.File("copy.db");
  auto copy = StateStore::Open(test::TestStateLocation(copy_path));
  ASSERT_TRUE(copy) << copy.error().message;
  auto report = (*store)->CopyInto(**copy);
  ASSERT_TRUE(report) << report.error().message;
  auto seen = (*copy)->LoadSightings("2024-01-29", "");
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 300u);
  for (const StoredSighting& s : *seen) {
    EXPECT_EQ(SnapshotText(s.paper), SnapshotText(*c.papers[std::stoi(s.paper->key.substr(11))]));
  }
  if (test::OnPostgres()) return;
  EXPECT_EQ(Scalar(copy_path, "SELECT count(*) FROM snapshots WHERE encoding = 0"), 300);
  EXPECT_EQ(Scalar(copy_path, "SELECT count(*) FROM snapshot_dicts"), 0);
  for (std::size_t i : {0, 150, 299}) {
    const Paper& p = *c.papers[i];
    EXPECT_EQ(Dump(copy_path,
                   "SELECT s.paper FROM sightings g JOIN snapshots s ON s.id = "
                   "g.snapshot WHERE g.paper_key = '" +
                       p.key + "'"),
              "T:" + SnapshotText(p) + "|\n")
        << i;
  }
}

}  // namespace
}  // namespace digestd
