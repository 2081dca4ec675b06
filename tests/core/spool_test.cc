#include "core/spool.h"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

namespace digestd {
namespace {

// All the bytes of `next`; `largest` gets the size of its largest piece.
std::string Drain(const ByteSource& next, std::size_t* largest = nullptr) {
  std::string all;
  for (std::string_view piece = next(); !piece.empty(); piece = next()) {
    all.append(piece);
    if (largest != nullptr) *largest = std::max(*largest, piece.size());
  }
  return all;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("digestd-spool-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::size_t FilesInDir() const {
    return std::size_t(std::distance(std::filesystem::directory_iterator(dir_),
                                     std::filesystem::directory_iterator()));
  }
  std::filesystem::path dir_;
};

TEST_F(SpoolTest, KeepsBytesInMemoryUpToItsLimit) {
  Spool spool(dir_.string(), 10);
  ASSERT_TRUE(spool.Append("hello "));
  ASSERT_TRUE(spool.Append("you!"));
  EXPECT_FALSE(spool.in_file());
  EXPECT_EQ(spool.memory(), "hello you!");
  EXPECT_EQ(spool.size(), 10u);
  EXPECT_EQ(Drain(spool.Reader(3)), "hello you!");
}

// A body is read again from any point (a parser reading two parts of it at once): from the
// file, from the bytes not yet written to it, and from memory alike.
TEST_F(SpoolTest, IsReadFromAnyPoint) {
  Spool in_file(dir_.string(), 8);
  Spool in_memory(dir_.string(), 1 << 20);
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string more = "line " + std::to_string(i) + "\n";
    ASSERT_TRUE(in_file.Append(more));
    ASSERT_TRUE(in_memory.Append(more));
    expected += more;
  }
  ASSERT_TRUE(in_file.in_file());
  ASSERT_FALSE(in_memory.in_file());
  const RereadableBody of_bytes = RereadableOf(expected, 5);
  for (const RereadableBody& body : {in_file.Rereadable(7), in_memory.Rereadable(7), of_bytes}) {
    EXPECT_EQ(body.size, expected.size());
    for (std::uint64_t from : {std::uint64_t(0), std::uint64_t(1), std::uint64_t(1000),
                               std::uint64_t(expected.size() - 3), std::uint64_t(expected.size()),
                               std::uint64_t(expected.size() + 9)}) {
      std::string error;
      EXPECT_EQ(Drain(body.from(from, &error)),
                expected.substr(std::size_t(std::min<std::uint64_t>(from, expected.size()))))
          << from;
      EXPECT_EQ(error, "");
    }
  }
  // Every point, in the file and in the bytes it has not been given yet.
  for (std::size_t from = 0; from <= expected.size(); from += 97) {
    ASSERT_EQ(Drain(in_file.ReaderFrom(from, 64)), expected.substr(from)) << from;
  }
}

TEST_F(SpoolTest, PastItsLimitEverythingGoesToAFileWithoutAName) {
  Spool spool(dir_.string(), 8);
  ASSERT_TRUE(spool.Append("12345"));
  ASSERT_TRUE(spool.Append("67890"));  // past 8: both pieces move to the file
  std::string expected = "1234567890";
  for (int i = 0; i < 1000; ++i) {
    const std::string more = "line " + std::to_string(i) + "\n";
    ASSERT_TRUE(spool.Append(more));
    expected += more;
  }
  EXPECT_TRUE(spool.in_file());
  EXPECT_EQ(spool.memory(), "");
  EXPECT_EQ(spool.size(), expected.size());
  EXPECT_EQ(FilesInDir(), 0u);  // nothing to clean up after a crash
  std::size_t largest = 0;
  EXPECT_EQ(Drain(spool.Reader(100), &largest), expected);
  EXPECT_EQ(largest, 100u);
  EXPECT_EQ(Drain(spool.Reader()), expected);  // read again, from the start
  auto all = spool.ReadAll();
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, expected);

  Spool moved = std::move(spool);
  EXPECT_TRUE(moved.in_file());
  EXPECT_EQ(*moved.ReadAll(), expected);
}

TEST_F(SpoolTest, ManyPiecesPastTheWriteBufferReadBackInOrder) {
  // Written to the file a quarter megabyte at a time; the bytes not yet written are read
  // after the file's, from memory.
  Spool spool(dir_.string(), 1000);
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    const std::string piece = std::to_string(i) + std::string(97 + i % 13, char('a' + i % 26));
    ASSERT_TRUE(spool.Append(piece));
    expected += piece;
  }
  ASSERT_TRUE(spool.in_file());
  EXPECT_EQ(spool.size(), expected.size());
  EXPECT_GT(expected.size(), 2u * 256 * 1024);
  for (std::size_t piece : {std::size_t(1), std::size_t(4096), std::size_t(1) << 20}) {
    std::size_t largest = 0;
    ASSERT_EQ(Drain(spool.Reader(piece), &largest), expected) << piece;
    EXPECT_LE(largest, piece);
  }
}

TEST_F(SpoolTest, AFolderItCannotWriteIsNamedInTheError) {
  const std::string missing = (dir_ / "missing").string();
  Spool spool(missing, 0);
  const Status st = spool.Append("x");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find(missing), std::string::npos) << st.error().message;
  EXPECT_EQ(spool.size(), 0u);
}

// A file fetched from file:// is read where it is: its bytes in pieces, nothing copied, and
// nothing can be added to it.
TEST_F(SpoolTest, OfFileReadsAFileInPlaceAndTakesNoMore) {
  const std::filesystem::path path = dir_ / "digest.md";
  std::string bytes;
  for (int i = 0; i < 5000; ++i) bytes += "line " + std::to_string(i) + "\n";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  Spool spool = Spool::OfFile(fd, bytes.size());
  EXPECT_TRUE(spool.in_file());
  EXPECT_TRUE(spool.read_only());
  EXPECT_EQ(spool.size(), bytes.size());
  std::size_t largest = 0;
  EXPECT_EQ(Drain(spool.Reader(1000), &largest), bytes);
  EXPECT_EQ(largest, 1000u);
  const Status added = spool.Append("more");
  ASSERT_FALSE(added);
  EXPECT_EQ(std::filesystem::file_size(path), bytes.size());
  Spool moved = std::move(spool);
  EXPECT_EQ(moved.ReadAll().value_or(""), bytes);
  EXPECT_FALSE(moved.Append("more"));
  EXPECT_FALSE(moved.Digits().has_value());  // its bytes are read for their hash
  EXPECT_EQ(FilesInDir(), 1u);  // the file itself, no copy
  // Cut short since: the reader says so rather than give fewer bytes as all of them.
  std::filesystem::resize_file(path, 100);
  std::string error;
  EXPECT_EQ(Drain(moved.Reader(1000, &error)).size(), 100u);
  EXPECT_EQ(error, "cannot read the file: it is shorter than when it was opened");
  EXPECT_FALSE(Spool().read_only());
}

// A fetched body's hash (the state's BodyHash) is made as its bytes are appended, in
// memory and past the limit in a file; a spool whose bytes did not all come through Append
// has none, and the caller reads the bytes for it.
TEST_F(SpoolTest, DigitsAreTheHashOfWhatWasAppended) {
  std::string expected;
  Spool memory;
  Spool file(dir_.string(), 1000);
  for (int i = 0; i < 3000; ++i) {
    const std::string piece = std::to_string(i) + std::string(50 + i % 7, char('a' + i % 26));
    ASSERT_TRUE(memory.Append(piece));
    ASSERT_TRUE(file.Append(piece));
    expected += piece;
  }
  ASSERT_TRUE(file.in_file());
  ASSERT_TRUE(memory.Digits().has_value());
  EXPECT_EQ(memory.Digits()->view(), Xxh3Digits(expected).view());
  ASSERT_TRUE(file.Digits().has_value());
  EXPECT_EQ(file.Digits()->view(), Xxh3Digits(expected).view());
  const Spool moved = std::move(file);
  ASSERT_TRUE(moved.Digits().has_value());
  EXPECT_EQ(moved.Digits()->view(), Xxh3Digits(expected).view());
  EXPECT_EQ(Spool().Digits()->view(), Xxh3Digits("").view());

  EXPECT_FALSE(Spool(expected).Digits().has_value());
  Spool failed((dir_ / "missing").string(), 0);
  ASSERT_FALSE(failed.Append("x"));
  EXPECT_FALSE(failed.Digits().has_value());
}

TEST(PiecesOf, GivesTheBytesInPiecesOfAtMostTheSize) {
  std::size_t pieces = 0;
  EXPECT_EQ(Drain(PiecesOf("abcdefg", 3), &pieces), "abcdefg");
  EXPECT_EQ(pieces, 3u);
  EXPECT_EQ(Drain(PiecesOf("", 3)), "");
}

// A byte order mark is left out wherever the first pieces end, and only at the start.
TEST(WithoutUtf8Bom, LeavesOutTheMarkAtTheStartOnly) {
  const std::string bom = "\xEF\xBB\xBF";
  for (std::size_t piece = 1; piece <= 8; ++piece) {
    EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf(bom + "ab" + bom + "c", piece))), "ab" + bom + "c")
        << piece;
    EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf(bom, piece))), "") << piece;
    EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf(bom + bom, piece))), bom) << piece;
    EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf("\xEF\xBBx\xBF", piece))), "\xEF\xBBx\xBF") << piece;
    EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf("\xEF", piece))), "\xEF") << piece;
    EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf("plain text", piece))), "plain text") << piece;
  }
  EXPECT_EQ(Drain(WithoutUtf8Bom(PiecesOf("", 4))), "");
}

}  // namespace
}  // namespace digestd
