// How a SQLite state keeps its paper snapshots small (issue 12, point 1): once the state holds
// enough snapshot text, its first kDictionaryBytes become a zstd dictionary (MakeDictionary:
// the texts as they are, behind zstd's entropy tables when enough texts follow them to count
// those from; no training, nothing to tune), stored once in `snapshot_dicts`, and every
// snapshot stored after is compressed against it. A paper's JSON shares its keys, URL shapes,
// author names and the summaries' common phrases with the dictionary, so the real Korean
// digests shrink to about 0.4 of their text, where zstd without a dictionary gives 0.64 on
// rows this short.
//
// `snapshots.encoding` says how a row's `paper` is kept: 0, the JSON text; otherwise the id of
// the dictionary its zstd frame was made with. A dictionary's id is a hash of its bytes, so a
// dictionary made again (after a rolled-back commit, by another process) is the same row.
// SQL reads every snapshot through `snapshot_text(paper, encoding)`, a function of the
// connection (PostgreSQL keeps text only, and its function returns it as it is).
// Internal to store/. Thread-safe: Compress runs on the snapshot helper thread while the
// connection reads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct ZSTD_CCtx_s;  // zstd.h's ZSTD_CCtx

namespace digestd::sql {

class SnapshotCodec {
 public:
  // The bytes of the dictionary: the newest snapshot texts, this many at most.
  static constexpr std::size_t kDictionaryBytes = 64 * 1024;
  // The text a state must hold before it gets a dictionary: below it, texts stay plain.
  static constexpr std::size_t kMinDictionaryBytes = 32 * 1024;
  // A decoded snapshot larger than this is refused as damaged (a paper is a few KB; the
  // parsers cap a summary far below it).
  static constexpr std::size_t kMaxTextBytes = 16 * 1024 * 1024;

  SnapshotCodec();
  ~SnapshotCodec();
  SnapshotCodec(const SnapshotCodec&) = delete;
  SnapshotCodec& operator=(const SnapshotCodec&) = delete;

  // Text read beyond the dictionary's own bytes to count its entropy tables from, and the
  // least that is worth counting them from.
  static constexpr std::size_t kSampleBytes = 192 * 1024;
  static constexpr std::size_t kMinSampleBytes = 64 * 1024;

  // The dictionary made of `texts` (snapshot texts, newest first; kDictionaryBytes +
  // kSampleBytes of them where the state has them): their first kDictionaryBytes, and, when
  // at least kMinSampleBytes of texts follow them, in front the tables zstd codes literals
  // and sequences with, counted from those texts. Each snapshot's frame then starts from
  // tables made for such text instead of building its own: on a 10,000-paper first day a
  // quarter faster to compress, and 8% smaller. A state that grows a day at a time makes its
  // dictionary as soon as it holds kMinDictionaryBytes, with nothing beyond them to count
  // from: its dictionary is the texts alone (raw content), which compress small days better
  // than tables counted from the dictionary's own texts. The same texts give the same bytes.
  static std::string MakeDictionary(const std::vector<std::string>& texts);
  // The same of the texts laid end to end in `joined`, `sizes` their lengths in order: a
  // caller that gathers them in one block (CommitDigest's, off its thread) allocates no
  // string per text, and the content and samples are read where they lie.
  static std::string MakeDictionary(std::string_view joined, const std::vector<std::size_t>& sizes);

  // The id `dictionary` is stored under: a positive 63-bit hash of its bytes.
  static std::int64_t DictionaryId(std::string_view dictionary);

  // Makes `dictionary` (stored as `id`) known for decoding; the first one known is also the
  // one Compress uses.
  void Add(std::int64_t id, std::string_view dictionary);
  bool Knows(std::int64_t id) const;
  // The dictionary Compress uses; nullopt before there is one.
  std::optional<std::int64_t> Current() const;
  // The bytes of dictionary `id`; empty when it is not known.
  std::string Bytes(std::int64_t id) const;

  // Forgets every dictionary and the contexts kept between calls (a service between jobs:
  // issue 12's idle memory). The state still has them: the next commit or read loads them.
  void Release();

  // `text` compressed against the current dictionary, whose id goes to `dictionary` when
  // given; empty when there is none.
  std::string Compress(std::string_view text, std::int64_t* dictionary = nullptr) const;

 private:
  struct Dictionary;
  struct CCtxDeleter {
    void operator()(ZSTD_CCtx_s* context) const;
  };

 public:
  // Compresses texts one after another, as Compress does, against the dictionary current
  // when it was made, holding one of the codec's zstd contexts meanwhile: a long commit's
  // snapshots take no lock each. Two threads compressing a 10,000-paper day's texts through
  // Compress, which takes the codec's lock and the dictionary's count twice a text, took
  // 19 ms; with a codec each, 17. The codec must outlive it. Thread-compatible.
  class Compressor {
   public:
    explicit Compressor(const SnapshotCodec& codec);
    ~Compressor();  // the context goes back to the codec, for the next
    Compressor(const Compressor&) = delete;
    Compressor& operator=(const Compressor&) = delete;

    std::string Compress(std::string_view text, std::int64_t* dictionary = nullptr);

   private:
    const SnapshotCodec& codec_;
    std::shared_ptr<const Dictionary> dictionary_;  // null: the codec has none yet
    std::unique_ptr<ZSTD_CCtx_s, CCtxDeleter> context_;
  };
  // The text of a row stored with `encoding` (not 0), or an error saying what is wrong with
  // it: an unknown dictionary, a damaged frame, an implausible size.
  Result<std::string> Decompress(std::string_view stored, std::int64_t encoding) const;

 private:
  struct Contexts;            // zstd's contexts, kept for the next call (the costly part)
  mutable std::mutex mutex_;  // guards the map and the contexts; a Dictionary never changes
  std::map<std::int64_t, std::shared_ptr<const Dictionary>> dictionaries_;
  std::shared_ptr<const Dictionary> current_;
  std::unique_ptr<Contexts> contexts_;
};

}  // namespace digestd::sql
