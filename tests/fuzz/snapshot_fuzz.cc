// The snapshot codec (store/snapshot_codec.h) on any bytes: what it compresses reads back
// byte for byte, and any bytes read as a stored row (a damaged state) give an error or some
// text, never a crash, and never more than the codec's size limit. The bytes are tried
// as they are and behind zstd's frame magic, so the frame parser sees them too, against
// both kinds of dictionary a state holds: raw texts, and texts behind entropy tables. An
// input that starts with 'D' is also the sample text a dictionary's tables are counted from.
#include <memory>
#include <string>
#include <vector>

#include "store/snapshot_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using digestd::sql::SnapshotCodec;

std::string Text(int i) {
  return R"({"key":"arxiv:2401.)" + std::to_string(10000 + i) + R"(","title":"희소 어텐션 )" +
         std::to_string(i * 7919 % 1000) + R"(","summary":["효율적인 추론 )" +
         std::to_string(i * 104729 % 100000) + R"("]})";
}

// Texts enough to fill a dictionary, and then `samples` of text beyond it.
std::vector<std::string> Texts(std::size_t samples) {
  std::vector<std::string> texts;
  std::size_t bytes = 0;
  for (int i = 0; bytes < SnapshotCodec::kDictionaryBytes + samples; ++i) {
    bytes += texts.emplace_back(Text(i)).size();
  }
  return texts;
}

struct Codec {
  SnapshotCodec codec;
  std::int64_t id = 0;
  explicit Codec(const std::string& dictionary) : id(SnapshotCodec::DictionaryId(dictionary)) {
    codec.Add(id, dictionary);
  }
};

struct Fixture {
  Codec raw{SnapshotCodec::MakeDictionary(Texts(0))};
  Codec tables{SnapshotCodec::MakeDictionary(Texts(SnapshotCodec::kSampleBytes))};
};

void Check(const Codec& c, const std::string& bytes) {
  const std::string stored = c.codec.Compress(bytes);
  FUZZ_CHECK(!stored.empty(), "nothing compressed");
  auto back = c.codec.Decompress(stored, c.id);
  FUZZ_CHECK(back && *back == bytes, "a compressed text did not read back");
  for (const std::string& row : {bytes, std::string("\x28\xB5\x2F\xFD") + bytes}) {
    auto text = c.codec.Decompress(row, c.id);
    if (text) {
      FUZZ_CHECK(text->size() <= SnapshotCodec::kMaxTextBytes, "over the limit");
    } else {
      FUZZ_CHECK(!text.error().message.empty(), "an error without a message");
    }
  }
}

}  // namespace

DIGESTD_FUZZ_TARGET {
  static const std::unique_ptr<Fixture> f = std::make_unique<Fixture>();
  const std::string bytes(digestd::fuzz::Bytes(data, size));
  Check(f->raw, bytes);
  Check(f->tables, bytes);
  if (!bytes.empty() && bytes[0] == 'D') {
    // These bytes, over and over, as the texts the tables are counted from.
    std::vector<std::string> texts = Texts(0);
    for (std::size_t n = 0; n < SnapshotCodec::kMinSampleBytes; n += bytes.size()) {
      texts.push_back(bytes);
    }
    Check(Codec(SnapshotCodec::MakeDictionary(texts)), bytes);
  }
  return 0;
}
