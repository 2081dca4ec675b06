// SnapshotCodec (issue 12, point 1): what a SQLite state's compressed snapshots are made
// with. A text comes back byte for byte; a damaged or unknown row is an error, never a crash
// or a wrong text.
#include "store/snapshot_codec.h"

#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace digestd::sql {
namespace {

std::string Text(int i) {
  return "{\"key\":\"arxiv:2401." + std::to_string(10000 + i) +
         "\",\"title\":\"희소 어텐션으로 긴 문맥을 읽는 방법 " + std::to_string(i) +
         "\",\"summary\":[\"이 논문은 효율적인 추론을 위한 방법을 제안합니다.\"]}";
}

std::string SomeDictionary() {
  std::string d;
  for (int i = 0; d.size() < SnapshotCodec::kMinDictionaryBytes; ++i) d += Text(i);
  return d;
}

TEST(Issue12SnapshotCodec, ATextComesBackByteForByteAndSmaller) {
  SnapshotCodec codec;
  EXPECT_FALSE(codec.Current());
  const std::string dictionary = SomeDictionary();
  const std::int64_t id = SnapshotCodec::DictionaryId(dictionary);
  EXPECT_GT(id, 0);
  EXPECT_EQ(id, SnapshotCodec::DictionaryId(std::string(dictionary)));
  EXPECT_NE(id, SnapshotCodec::DictionaryId(dictionary + " "));
  codec.Add(id, dictionary);
  ASSERT_EQ(codec.Current(), id);
  EXPECT_EQ(codec.Bytes(id), dictionary);
  for (const std::string& text :
       {Text(100000), std::string("{}"), std::string(), std::string("\0\xFF\xFE binary", 10)}) {
    const std::string stored = codec.Compress(text);
    ASSERT_FALSE(stored.empty());
    auto back = codec.Decompress(stored, id);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, text);
  }
  EXPECT_LT(codec.Compress(Text(100000)).size() * 3, Text(100000).size());
}

TEST(Issue12SnapshotCodec, ADamagedOrUnknownRowIsAnErrorSayingWhat) {
  SnapshotCodec codec;
  const std::string dictionary = SomeDictionary();
  const std::int64_t id = SnapshotCodec::DictionaryId(dictionary);
  codec.Add(id, dictionary);
  const std::string stored = codec.Compress(Text(5));

  auto unknown = codec.Decompress(stored, id + 1);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown dictionary"), std::string::npos);
  auto garbage = codec.Decompress("not zstd at all", id);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("not a zstd frame"), std::string::npos);
  auto cut = codec.Decompress(stored.substr(0, stored.size() - 3), id);
  EXPECT_FALSE(cut);
  std::string flipped = stored;
  flipped[flipped.size() / 2] ^= 0x5A;
  auto damaged = codec.Decompress(flipped, id);
  if (damaged) {
    EXPECT_NE(*damaged, Text(5)) << "a flipped byte never reads as the text";
  }
  EXPECT_FALSE(codec.Decompress("", id));

  // Another dictionary's frame does not read as this one's text.
  SnapshotCodec other;
  const std::string other_dictionary = dictionary + "another";
  other.Add(id, other_dictionary);
  auto wrong = other.Decompress(stored, id);
  if (wrong) {
    EXPECT_NE(*wrong, Text(5));
  }

  // Every cut of a frame: an error or some text, never a crash.
  for (std::size_t n = 0; n < stored.size(); ++n) (void)codec.Decompress(stored.substr(0, n), id);
}

// A paper's text with words drawn from a small vocabulary: alike in shape, unlike in detail,
// as a day's papers are.
std::string VariedText(unsigned seed) {
  static const char* const kWords[] = {"희소", "어텐션", "긴", "문맥", "추론", "효율적인",
                                       "모델", "학습", "데이터", "방법을", "제안합니다", "성능",
                                       "sparse", "attention", "diffusion", "agents", "reward"};
  std::string summary;
  for (int w = 0; w < 40; ++w) {
    seed = seed * 1103515245 + 12345;
    summary += kWords[(seed >> 16) % std::size(kWords)];
    summary += ' ';
  }
  return "{\"key\":\"arxiv:2401." + std::to_string(10000 + seed % 90000) + "\",\"summary\":[\"" +
         summary + "\"]}";
}

// A dictionary as a state makes it: the texts, behind zstd's tables counted from them.
TEST(Issue12SnapshotCodec, AMadeDictionaryEndsWithItsTextsAndCompressesSmallerThanThemAlone) {
  std::vector<std::string> texts;
  std::string all;
  for (int i = 0; all.size() < SnapshotCodec::kDictionaryBytes + SnapshotCodec::kSampleBytes;
       ++i) {
    all += texts.emplace_back(VariedText(unsigned(i)));
  }
  const std::string made = SnapshotCodec::MakeDictionary(texts);
  const std::string content = all.substr(0, SnapshotCodec::kDictionaryBytes);
  ASSERT_GT(made.size(), content.size());
  EXPECT_EQ(made.substr(0, 4), "\x37\xA4\x30\xEC") << "zstd's dictionary magic";
  EXPECT_EQ(made.substr(made.size() - content.size()), content);
  EXPECT_EQ(SnapshotCodec::MakeDictionary(texts), made) << "the same texts, the same bytes";
  std::vector<std::size_t> sizes;
  for (const std::string& t : texts) sizes.push_back(t.size());
  EXPECT_EQ(SnapshotCodec::MakeDictionary(all, sizes), made) << "the texts laid end to end";

  SnapshotCodec with_tables;
  with_tables.Add(SnapshotCodec::DictionaryId(made), made);
  SnapshotCodec raw;
  raw.Add(SnapshotCodec::DictionaryId(content), content);
  std::size_t tables_bytes = 0;
  std::size_t raw_bytes = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string text = VariedText(unsigned(100000 + i));
    const std::string stored = with_tables.Compress(text);
    auto back = with_tables.Decompress(stored, SnapshotCodec::DictionaryId(made));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, text);
    tables_bytes += stored.size();
    raw_bytes += raw.Compress(text).size();
  }
  EXPECT_LT(tables_bytes, raw_bytes);

  // With too little text beyond the dictionary's own to count tables from: the texts alone.
  std::vector<std::string> few;
  std::string few_bytes;
  for (int i = 0; few_bytes.size() < SnapshotCodec::kDictionaryBytes + 1000; ++i) {
    few_bytes += few.emplace_back(VariedText(unsigned(i)));
  }
  EXPECT_EQ(SnapshotCodec::MakeDictionary(few),
            few_bytes.substr(0, SnapshotCodec::kDictionaryBytes));
  const std::string small = SnapshotCodec::MakeDictionary({Text(1)});
  EXPECT_EQ(small, Text(1));
  SnapshotCodec from_one;
  from_one.Add(SnapshotCodec::DictionaryId(small), small);
  auto back = from_one.Decompress(from_one.Compress(Text(2)), SnapshotCodec::DictionaryId(small));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, Text(2));
}

TEST(Issue12SnapshotCodec, TwoThreadsCompressAndDecompressAtOnce) {
  SnapshotCodec codec;
  const std::string dictionary = SomeDictionary();
  const std::int64_t id = SnapshotCodec::DictionaryId(dictionary);
  codec.Add(id, dictionary);
  std::vector<std::string> failures(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string text = Text(t * 1000 + i);
        auto back = codec.Decompress(codec.Compress(text), id);
        if (!back || *back != text) failures[t] = "text " + std::to_string(i);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, std::vector<std::string>(2));
}

}  // namespace
}  // namespace digestd::sql
