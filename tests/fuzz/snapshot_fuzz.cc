// The snapshot codec (store/snapshot_codec.h) on any bytes: what it compresses reads back
// byte for byte, and any bytes read as a stored row (a damaged state) give an error or some
// text, never a crash, and never more than the codec's size limit. The bytes are tried
// as they are and behind zstd's frame magic, so the frame parser sees them too.
#include <memory>
#include <string>

#include "store/snapshot_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Fixture {
  digestd::sql::SnapshotCodec codec;
  std::int64_t id = 0;
  Fixture() {
    std::string dictionary;
    for (int i = 0; dictionary.size() < digestd::sql::SnapshotCodec::kMinDictionaryBytes; ++i) {
      dictionary += R"({"key":"arxiv:2401.)" + std::to_string(10000 + i) +
                    R"(","title":"희소 어텐션","summary":["효율적인 추론"]})";
    }
    id = digestd::sql::SnapshotCodec::DictionaryId(dictionary);
    codec.Add(id, dictionary);
  }
};

}  // namespace

DIGESTD_FUZZ_TARGET {
  static const std::unique_ptr<Fixture> f = std::make_unique<Fixture>();
  const std::string bytes(digestd::fuzz::Bytes(data, size));
  const std::string stored = f->codec.Compress(bytes);
  FUZZ_CHECK(!stored.empty(), "nothing compressed");
  auto back = f->codec.Decompress(stored, f->id);
  FUZZ_CHECK(back && *back == bytes, "a compressed text did not read back");
  for (const std::string& row : {bytes, std::string("\x28\xB5\x2F\xFD") + bytes}) {
    auto text = f->codec.Decompress(row, f->id);
    if (text) {
      FUZZ_CHECK(text->size() <= digestd::sql::SnapshotCodec::kMaxTextBytes, "over the limit");
    } else {
      FUZZ_CHECK(!text.error().message.empty(), "an error without a message");
    }
  }
  return 0;
}
