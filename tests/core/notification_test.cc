// Grouping of instant notifications by digest (CONFIG.md `group = "digest"`) and the JSON
// forms of a grouped notification.
#include "core/notification.h"

#include <gtest/gtest.h>

#include "core/planner.h"

namespace digestd {
namespace {

Notification One(const std::string& notifier, const std::string& id, const std::string& event,
                 std::vector<std::string> watches) {
  Notification n;
  n.notifier = notifier;
  n.event = event;
  n.watches = std::move(watches);
  n.dedupe_key = notifier + "|" + id + "|" + event;
  n.id = NotificationId(n.dedupe_key);
  n.digest_url = "https://example.org/2024-01-29.md";
  Paper p;
  p.key = "arxiv:" + id;
  p.title = "Paper " + id;
  n.papers.push_back({.paper = p, .source = "hf", .date = "2024-01-29"});
  return n;
}

// Issue 12, point 3: a paper is shared by the messages about it, and changing one holder's
// copies it first, so no other holder sees the change.
TEST(SharedPaper, CopiesShareOnePaperAndAnEditCopiesItFirst) {
  const SharedPaper a(Paper{.key = "arxiv:1", .title = "Original"});
  SharedPaper b = a;
  EXPECT_TRUE(b.SameAs(a));
  EXPECT_EQ(&*b, &*a);

  b.Edit().title = "Changed";
  EXPECT_FALSE(b.SameAs(a));
  EXPECT_EQ(a->title, "Original");
  EXPECT_EQ(b->title, "Changed");
  EXPECT_EQ(b->key, "arxiv:1");

  // Held by nothing else, an edit changes it in place.
  const Paper* before = &*b;
  b.Edit().title = "Again";
  EXPECT_EQ(&*b, before);
}

// Issue 12: a day's papers are shared where the parse left them, not each moved into a block
// of its own; they stay alive while any of them is held, and an edit copies only the one.
TEST(SharedPaper, ADaysPapersAreSharedWhereTheyAreAndOutliveTheirList) {
  std::vector<Paper> day;
  for (int i = 0; i < 300; ++i) day.push_back(Paper{.key = "k" + std::to_string(i)});
  const Paper* first = day.data();
  std::vector<SharedPaper> shared = SharePapers(std::move(day));
  ASSERT_EQ(shared.size(), 300u);
  for (std::size_t i = 0; i < shared.size(); ++i) {
    EXPECT_EQ(&*shared[i], first + i);  // the parse's own objects: none moved or copied
    EXPECT_EQ(shared[i]->key, "k" + std::to_string(i));
  }
  SharedPaper kept = shared[7];
  SharedPaper edited = shared[8];
  shared.clear();  // the list goes; what is still held stays whole
  EXPECT_EQ(kept->key, "k7");
  edited.Edit().title = "Changed";  // the day's block holds it too: copied first
  EXPECT_NE(&*edited, first + 8);
  EXPECT_EQ(edited->key, "k8");
  EXPECT_EQ(edited->title, "Changed");
  EXPECT_EQ(&*kept, first + 7);
  EXPECT_EQ(first[8].title, "");
}

TEST(SharedPaper, EqualsByContentAndDefaultsToAnEmptyPaper) {
  EXPECT_EQ(SharedPaper(Paper{.key = "k"}), SharedPaper(Paper{.key = "k"}));
  EXPECT_NE(SharedPaper(Paper{.key = "k"}), SharedPaper(Paper{.key = "j"}));
  SharedPaper empty, other;
  EXPECT_EQ(*empty, Paper{});
  empty.Edit().key = "mine";  // every default one starts from the same object: copied first
  EXPECT_EQ(other->key, "");
  EXPECT_EQ(SharedPaper()->key, "");
}

// Issue 12: a new paper's entry (every entry of a first run) holds no prior state, and
// copies of an entry share the one it has.
TEST(SourcedPaper, HoldsAPriorStateOnlyWhenTheSourceSaidOne) {
  SourcedPaper fresh;
  fresh.SetPrior({});
  EXPECT_EQ(fresh.prior, nullptr);
  EXPECT_TRUE(fresh.Prior().empty());

  SourcedPaper changed;
  changed.SetPrior({.votes = 3, .version = "v1"});
  ASSERT_NE(changed.prior, nullptr);
  EXPECT_EQ(changed.Prior().votes, 3);
  EXPECT_EQ(changed.Prior().version, "v1");
  EXPECT_EQ(changed.Prior().title, "");
  const SourcedPaper copy = changed;
  EXPECT_EQ(copy.prior, changed.prior);
}

TEST(Issue7, GroupByDigestMergesOnlyTheGroupedNotifiers) {
  std::vector<Notification> in = {One("team", "1", "new", {"a"}), One("me", "1", "new", {"a"}),
                                  One("team", "2", "threshold", {"b", "a"}),
                                  One("team", "3", "new", {"c"})};
  const std::vector<Notification> out = GroupByDigest(in, {"team"});
  ASSERT_EQ(out.size(), 2u);
  const Notification& team = out[0].notifier == "team" ? out[0] : out[1];
  const Notification& me = out[0].notifier == "me" ? out[0] : out[1];
  EXPECT_EQ(me.id, in[1].id) << "a notifier grouped by paper passes through unchanged";
  ASSERT_EQ(team.papers.size(), 3u);
  EXPECT_EQ(team.papers[1].paper->key, "arxiv:2");
  EXPECT_EQ(team.EventOf(team.papers[1]), "threshold");
  EXPECT_EQ(team.WatchesOf(team.papers[1]), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(team.event, "mixed");
  EXPECT_EQ(team.watches, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(team.digest_url, "https://example.org/2024-01-29.md");
  EXPECT_EQ(team.id, NotificationId(team.dedupe_key));

  // The same plan gives the same id (a re-planned digest is the same outbox row); another
  // set of papers another id.
  EXPECT_EQ(GroupByDigest(in, {"team"})[0].id, out[0].id);
  in.pop_back();
  const auto fewer = GroupByDigest(in, {"team"});
  const Notification& team2 = fewer[0].notifier == "team" ? fewer[0] : fewer[1];
  EXPECT_NE(team2.id, team.id);
}

TEST(Issue7, GroupedNotificationKeepsEachPapersEventInJson) {
  const auto grouped = GroupByDigest(
      {One("team", "1", "new", {"a"}), One("team", "2", "updated", {"b"})}, {"team"});
  ASSERT_EQ(grouped.size(), 1u);
  const std::vector<std::string> lines = NotificationJsonLines(grouped[0]);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"event\":\"new\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"watches\":[\"a\"]"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"event\":\"updated\""), std::string::npos) << lines[1];
  const std::string stored = NotificationToJson(grouped[0]);
  EXPECT_NE(stored.find("\"digest_url\":\"https://example.org/2024-01-29.md\""),
            std::string::npos);
}

TEST(Issue8, GroupedPapersOfTheMessagesOwnWatchesKeepNoCopyOfThem) {
  // A long day of one watch: every paper's watches are the message's, and none is copied.
  const auto one_watch = GroupByDigest(
      {One("team", "1", "new", {"a"}), One("team", "2", "new", {"a"})}, {"team"});
  ASSERT_EQ(one_watch.size(), 1u);
  const Notification& m = one_watch[0];
  ASSERT_EQ(m.papers.size(), 2u);
  for (const SourcedPaper& p : m.papers) {
    EXPECT_TRUE(p.watches.empty());
    EXPECT_EQ(m.WatchesOf(p), (std::vector<std::string>{"a"}));
    EXPECT_EQ(p.event, "new") << "a merged message's papers keep their own event";
  }
  const std::string stored = NotificationToJson(m);
  EXPECT_EQ(stored.find("\"watches\""), stored.rfind("\"watches\"")) << stored;
  for (const std::string& line : NotificationJsonLines(m)) {
    EXPECT_NE(line.find("\"watches\":[\"a\"]"), std::string::npos) << line;
  }

  // Papers of other watches than the whole message's keep theirs.
  const auto two_watches = GroupByDigest(
      {One("team", "1", "new", {"a"}), One("team", "2", "new", {"b"}),
       One("team", "3", "new", {"a", "b"})},
      {"team"});
  ASSERT_EQ(two_watches.size(), 1u);
  const Notification& t = two_watches[0];
  EXPECT_EQ(t.papers[0].watches, (std::vector<std::string>{"a"}));
  EXPECT_EQ(t.papers[1].watches, (std::vector<std::string>{"b"}));
  EXPECT_TRUE(t.papers[2].watches.empty());
  EXPECT_EQ(t.WatchesOf(t.papers[2]), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace digestd
