// Issue 11, point 6: the notified/dedupe key is one struct with one encoding.
#include "core/dedupe_key.h"

#include <gtest/gtest.h>

#include "core/digest_format.h"
#include "core/planner.h"

namespace digestd {
namespace {

TEST(Issue11, DedupeKeyKeepsTheStoredLayout) {
  // The strings already in users' state files: the layout must never change.
  const DedupeKey outbox{.notifier = "me",
                         .paper_key = "arxiv:2401.15024",
                         .event_class = "updated:abc",
                         .watches = {"a", "b"}};
  EXPECT_EQ(outbox.Encode(),
            "me\x1f"
            "arxiv:2401.15024\x1f"
            "updated:abc\x1f"
            "a\x1f"
            "b");
  EXPECT_EQ(outbox.Set().Encode(),
            "me\x1f"
            "arxiv:2401.15024\x1f"
            "updated:abc");
  EXPECT_EQ(NotifiedKey("me", "arxiv:1", "paper", "w"),
            (DedupeKey{"me", "arxiv:1", "paper", {"w"}}.Encode()));
}

// A plan's mark is the key of one watch, without the copies, and encodes as that key does.
TEST(Issue11, NotifiedMarkEncodesAsItsDedupeKey) {
  const DedupeKey key{"me", "arxiv:1", "updated:abc", {"w"}};
  const NotifiedMark mark{.notifier = key.notifier,
                          .paper_key = key.paper_key,
                          .event_class = key.event_class,
                          .watch = key.watches.front()};
  EXPECT_EQ(mark.Encode(), key.Encode());
  EXPECT_EQ(mark.EncodeSet(), key.Set().Encode());
  EXPECT_TRUE(mark.SameSet(NotifiedMark{"me", "arxiv:1", "updated:abc", "other"}));
  EXPECT_FALSE(mark.SameSet(NotifiedMark{"me", "arxiv:1", "paper", "w"}));
  EXPECT_FALSE(mark.SameSet(NotifiedMark{"you", "arxiv:1", "updated:abc", "w"}));
  EXPECT_FALSE(mark.SameSet(NotifiedMark{"me", "arxiv:2", "updated:abc", "w"}));
}

TEST(Issue11, DedupeKeyDecodesWhatItEncodes) {
  for (const DedupeKey& key :
       {DedupeKey{"me", "arxiv:1", "paper", {}}, DedupeKey{"me", "arxiv:1", "paper", {"w"}},
        DedupeKey{"n", "feed:x", "version:v2", {"a b", "c"}}, DedupeKey{"n", "", "paper", {""}}}) {
    const auto back = DedupeKey::Decode(key.Encode());
    ASSERT_TRUE(back.has_value()) << key.Encode();
    EXPECT_EQ(*back, key);
  }
  EXPECT_FALSE(DedupeKey::Decode("").has_value());
  EXPECT_FALSE(DedupeKey::Decode("me\x1f"
                                 "arxiv:1")
                   .has_value());
}

// The keys of messages about no single paper keep the layout they were stored with.
TEST(Issue11, JoinKeyKeepsTheStoredLayoutOfOtherMessages) {
  EXPECT_EQ(JoinKey({"highlights", "morning", "team", "2024-01-29"}),
            "highlights\x1fmorning\x1fteam\x1f" "2024-01-29");
  EXPECT_EQ(JoinKey({"alert", "me", "", "source_failing", "7"}),
            "alert\x1fme\x1f\x1fsource_failing\x1f" "7");
  EXPECT_EQ(JoinKey({}), "");
  EXPECT_EQ((DedupeKey{.notifier = "me", .paper_key = "arxiv:1", .event_class = "paper"}.Encode()),
            JoinKey({"me", "arxiv:1", "paper"}));
}

TEST(Issue11, FormatTableNamesEachFormatOnce) {
  ASSERT_EQ(DigestFormats().size(), 4u);
  for (const DigestFormat& f : DigestFormats()) EXPECT_EQ(FindDigestFormat(f.name), &f);
  EXPECT_EQ(FindDigestFormat("markdwon"), nullptr);
  EXPECT_TRUE(FindDigestFormat("markdown")->carries_votes);
  EXPECT_TRUE(FindDigestFormat("hf-daily")->carries_votes);
  EXPECT_FALSE(FindDigestFormat("feed")->carries_votes);
  EXPECT_TRUE(FindDigestFormat("markdown")->dated);
  EXPECT_FALSE(FindDigestFormat("arxiv")->dated);
}

}  // namespace
}  // namespace digestd
