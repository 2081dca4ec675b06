#include "store/snapshot_codec.h"

#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <vector>

#include "core/hash.h"

namespace digestd::sql {
namespace {

// Level 3, zstd's default. On a 10,000-paper day's rows (1.3 KB each, against a 64 KB
// dictionary) it is no slower than level 1, whose small hash table finds fewer of the
// dictionary's matches, and keeps a tenth less: 3.1 MB of snapshots where level 1 kept 3.4.
constexpr int kLevel = 3;

struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
using DCtxPtr = std::unique_ptr<ZSTD_DCtx, DCtxDeleter>;

}  // namespace

void SnapshotCodec::CCtxDeleter::operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }

struct SnapshotCodec::Dictionary {
  std::int64_t id = 0;
  std::string bytes;
  ZSTD_CDict* cdict = nullptr;
  ZSTD_DDict* ddict = nullptr;
  ~Dictionary() {
    ZSTD_freeCDict(cdict);
    ZSTD_freeDDict(ddict);
  }
};

// The contexts no call holds: a call takes one (or makes one) and gives it back, so a long
// commit's helper threads, each short-lived, share a few instead of making one each.
struct SnapshotCodec::Contexts {
  std::vector<std::unique_ptr<ZSTD_CCtx, CCtxDeleter>> compress;
  std::vector<DCtxPtr> decompress;
};

SnapshotCodec::SnapshotCodec() : contexts_(std::make_unique<Contexts>()) {}
SnapshotCodec::~SnapshotCodec() = default;

std::string SnapshotCodec::MakeDictionary(const std::vector<std::string>& texts) {
  std::string joined;
  std::vector<std::size_t> sizes;
  for (const std::string& t : texts) {
    joined += t;
    sizes.push_back(t.size());
  }
  return MakeDictionary(joined, sizes);
}

std::string SnapshotCodec::MakeDictionary(std::string_view joined,
                                          const std::vector<std::size_t>& sizes) {
  std::size_t content_end = 0;   // where the texts the content takes of end
  std::size_t first_sample = 0;  // the first text wholly beyond the content
  while (first_sample < sizes.size() && content_end < kDictionaryBytes) {
    content_end += sizes[first_sample++];
  }
  const std::string_view content = joined.substr(0, std::min(content_end, kDictionaryBytes));
  // The tables are counted by compressing samples against the content: a text within it
  // would be one long match, and count as no literals at all.
  const std::string_view samples = joined.substr(std::min(content_end, joined.size()));
  const std::vector<std::size_t> sample_sizes(sizes.begin() + std::ptrdiff_t(first_sample),
                                              sizes.end());
  if (samples.size() < kMinSampleBytes) return std::string(content);
  ZDICT_params_t params{};
  params.compressionLevel = kLevel;
  // zstd's own id of the dictionary, written in each frame and checked when one is read:
  // made of the content, so the same texts give the same bytes (0 would be a random id),
  // and within the range the format leaves to private dictionaries.
  constexpr std::uint64_t kFirstPrivateId = 32768;
  constexpr std::uint64_t kPrivateIds = (std::uint64_t(1) << 31) - kFirstPrivateId;
  params.dictID = unsigned(kFirstPrivateId + Fnv1a64(content) % kPrivateIds);
  // The tables' header takes a few hundred bytes; room for them in front of the content.
  std::string dictionary(content.size() + 4096, '\0');
  const std::size_t n =
      ZDICT_finalizeDictionary(dictionary.data(), dictionary.size(), content.data(),
                               content.size(), samples.data(), sample_sizes.data(),
                               unsigned(sample_sizes.size()), params);
  if (ZDICT_isError(n)) return std::string(content);
  dictionary.resize(n);
  return dictionary;
}

std::int64_t SnapshotCodec::DictionaryId(std::string_view dictionary) {
  const std::int64_t id = std::int64_t(Fnv1a64(dictionary) >> 1);
  return id == 0 ? 1 : id;  // 0 means "plain text"
}

void SnapshotCodec::Add(std::int64_t id, std::string_view dictionary) {
  auto d = std::make_shared<Dictionary>();
  d->id = id;
  d->bytes = dictionary;
  // MakeDictionary's bytes start with zstd's dictionary magic; a dictionary of raw content
  // (an older state's, or MakeDictionary's where zstd failed) starts with a snapshot text's
  // '{' and is taken as raw content: zstd finds matches in the bytes as they are.
  d->cdict = ZSTD_createCDict(dictionary.data(), dictionary.size(), kLevel);
  d->ddict = ZSTD_createDDict(dictionary.data(), dictionary.size());
  if (d->cdict == nullptr || d->ddict == nullptr) return;  // out of memory: rows stay plain
  const std::lock_guard lock(mutex_);
  dictionaries_.emplace(id, d);
  if (current_ == nullptr) current_ = d;
}

bool SnapshotCodec::Knows(std::int64_t id) const {
  const std::lock_guard lock(mutex_);
  return dictionaries_.contains(id);
}

std::optional<std::int64_t> SnapshotCodec::Current() const {
  const std::lock_guard lock(mutex_);
  if (current_ == nullptr) return std::nullopt;
  return current_->id;
}

std::string SnapshotCodec::Bytes(std::int64_t id) const {
  const std::lock_guard lock(mutex_);
  const auto it = dictionaries_.find(id);
  return it == dictionaries_.end() ? std::string() : it->second->bytes;
}

void SnapshotCodec::Release() {
  Contexts idle;
  std::map<std::int64_t, std::shared_ptr<const Dictionary>> dictionaries;
  std::shared_ptr<const Dictionary> current;
  {
    const std::lock_guard lock(mutex_);
    std::swap(idle, *contexts_);
    std::swap(dictionaries, dictionaries_);
    std::swap(current, current_);
  }
}

std::string SnapshotCodec::Compress(std::string_view text, std::int64_t* dictionary) const {
  return Compressor(*this).Compress(text, dictionary);
}

SnapshotCodec::Compressor::Compressor(const SnapshotCodec& codec) : codec_(codec) {
  {
    const std::lock_guard lock(codec_.mutex_);
    dictionary_ = codec_.current_;
    if (dictionary_ == nullptr) return;
    if (!codec_.contexts_->compress.empty()) {
      context_ = std::move(codec_.contexts_->compress.back());
      codec_.contexts_->compress.pop_back();
    }
  }
  if (context_ == nullptr) context_.reset(ZSTD_createCCtx());  // null: out of memory
}

SnapshotCodec::Compressor::~Compressor() {
  if (context_ == nullptr) return;
  const std::lock_guard lock(codec_.mutex_);
  codec_.contexts_->compress.push_back(std::move(context_));
}

std::string SnapshotCodec::Compressor::Compress(std::string_view text, std::int64_t* dictionary) {
  if (dictionary_ == nullptr || context_ == nullptr) return {};
  // The frame is made in a buffer each thread keeps, sized for the largest text it met, and
  // copied out at its size: one block of the bytes kept, where a string of the bound (about
  // the text's size) was zeroed, filled, then moved to a smaller block.
  thread_local std::string frame;
  const std::size_t bound = ZSTD_compressBound(text.size());
  if (frame.size() < bound) frame.resize(bound);
  const std::size_t n = ZSTD_compress_usingCDict(context_.get(), frame.data(), bound, text.data(),
                                                 text.size(), dictionary_->cdict);
  if (ZSTD_isError(n)) return {};  // never for a buffer of compressBound; the caller checks
  if (dictionary != nullptr) *dictionary = dictionary_->id;
  return std::string(frame.data(), n);
}

Result<std::string> SnapshotCodec::Decompress(std::string_view stored,
                                              std::int64_t encoding) const {
  std::shared_ptr<const Dictionary> d;
  DCtxPtr dctx;
  {
    const std::lock_guard lock(mutex_);
    if (const auto it = dictionaries_.find(encoding); it != dictionaries_.end()) d = it->second;
    if (!contexts_->decompress.empty()) {
      dctx = std::move(contexts_->decompress.back());
      contexts_->decompress.pop_back();
    }
  }
  if (d == nullptr) return Unexpected("unknown dictionary " + std::to_string(encoding));
  const unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Unexpected("not a zstd frame with its size");
  }
  if (size > kMaxTextBytes) return Unexpected("a frame of " + std::to_string(size) + " bytes");
  if (dctx == nullptr) dctx.reset(ZSTD_createDCtx());
  if (dctx == nullptr) return Unexpected("zstd: out of memory");
  std::string text(std::size_t(size), '\0');
  const std::size_t n = ZSTD_decompress_usingDDict(dctx.get(), text.data(), text.size(),
                                                   stored.data(), stored.size(), d->ddict);
  {
    const std::lock_guard lock(mutex_);
    contexts_->decompress.push_back(std::move(dctx));
  }
  if (ZSTD_isError(n)) return Unexpected(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != text.size()) return Unexpected("a frame shorter than it says");
  return text;
}

}  // namespace digestd::sql
