#include "store/state_store.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "core/crypto.h"
#include "core/hash.h"
#include "core/json_writer.h"
#include "core/paper_json.h"
#include "core/two_threads.h"
#include "store/migrations.h"
#include "store/postgres_db.h"
#include "store/snapshot_codec.h"
#include "store/sql.h"
#include "store/sqlite_db.h"

namespace digestd {
namespace {

using sql::kDone;
using sql::kError;
using sql::kRow;
using sql::Run;
using sql::Stmt;
using sql::StepResult;
using sql::Transaction;

// The integer `s` gives, a prepared SELECT of one row and column (a count, an EXISTS) with
// its parameters bound; the statement is done after (it holds no read open).
Result<std::int64_t> OneInt(Stmt& s, std::string_view what) {
  if (!s.ok() || s.Step() != kRow) return Unexpected(s.Fail(what));
  const std::int64_t value = s.Int(0);
  s.Reset();
  return value;
}

std::string KeysJson(const std::vector<std::string>& keys) {
  JsonWriter json;
  json.StringArray(keys);
  return json.Take();
}

// Statements on sending or dead rows say `state <> 'sent'` as well as their own state: it is
// the condition of the outbox's index of due rows (schema 13, store/migrations.h), which
// SQLite uses only for a query that says it. Without it they read the whole outbox.
constexpr const char* kOutboxColumns =
    "id, notifier, kind, event, state, message, attempts, parts_sent, created_at, "
    "next_attempt_at, last_error, sent_at, remote_id, lease_owner, lease_until, dedupe_key";
constexpr int kOutboxColumnCount = 16;

// An outbox row from kOutboxColumns; its notification holds what the columns say, and
// `message` gets the stored JSON (ResolveMessages reads the rest from it).
OutboxRow ReadOutboxRow(const Stmt& s, std::string& message) {
  OutboxRow row{.id = s.Text(0),
                .notifier = s.Text(1),
                .kind = s.Text(2),
                .event = s.Text(3),
                .state = s.Text(4),
                .attempts = int(s.Int(6)),
                .parts_sent = int(s.Int(7)),
                .created_at = s.Int(8),
                .next_attempt_at = s.Int(9),
                .last_error = s.Text(10),
                .sent_at = s.OptInt(11),
                .remote_id = s.Text(12),
                .lease_owner = s.Text(13),
                .lease_until = s.OptInt(14)};
  message = s.Text(5);
  Notification& n = row.notification;
  n.id = row.id;
  n.notifier = row.notifier;
  n.kind = row.kind;
  n.event = row.event;
  n.dedupe_key = s.Text(15);
  return row;
}

std::string Str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::vector<std::string> Strings(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* v = o.if_contains(key); v && v->is_array()) {
    for (const auto& e : v->get_array()) {
      if (e.is_string()) out.emplace_back(e.get_string());
    }
  }
  return out;
}

Paper ReadPaper(const boost::json::object& o) {
  Paper p;
  p.key = Str(o, "key");
  p.title = Str(o, "title");
  p.url = Str(o, "url");
  p.authors = Strings(o, "authors");
  if (const auto* v = o.if_contains("authors_truncated"); v && v->is_bool()) {
    p.authors_truncated = v->get_bool();
  }
  if (const auto* v = o.if_contains("votes"); v && v->is_int64()) p.votes = int(v->get_int64());
  p.media_url = Str(o, "media_url");
  p.summary = Strings(o, "summary");
  p.tags = Strings(o, "tags");
  p.version = Str(o, "version");
  if (const auto* v = o.if_contains("extra"); v && v->is_object()) {
    for (const auto& [k, e] : v->get_object()) {
      if (e.is_string()) p.extra.emplace(std::string(k), std::string(e.get_string()));
    }
  }
  return p;
}

// A snapshot's text: the paper's members as one JSON object.
std::optional<Paper> ParseSnapshot(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return ReadPaper(v.get_object());
}

// A paper's snapshot made ready to store: the text's hash, whether it reads back as the
// paper is (no invalid byte replaced), and the bytes the row keeps: the text compressed when
// the state has a dictionary (`encoding` names it; `text` is then dropped, as a long commit
// holds many of these at once), else the text itself in `text`.
struct PreparedSnapshot {
  std::string text;
  std::int64_t hash = 0;
  bool exact = false;
  std::string stored;
  std::int64_t encoding = 0;
  HashDigits content;  // ContentHashOf the paper: made by SnapshotPipeline only
};

// The `hash` a snapshot's row is found by (schema 12: XXH3; before it, FNV-1a).
std::int64_t SnapshotHash(std::string_view text) { return std::int64_t(Xxh3Hash64(text)); }

// SnapshotText written in `buffer` (its room kept, what it held dropped).
std::string WriteSnapshotText(const Paper& paper, bool* exact, std::string buffer) {
  buffer.clear();
  buffer.reserve(PaperJsonSize(paper));
  JsonWriter json(std::move(buffer));
  json.BeginObject();
  json.Key("key").String(paper.key);
  json.Key("title").String(paper.title);
  json.Key("url").String(paper.url);
  if (!paper.authors.empty()) json.Key("authors").StringArray(paper.authors);
  if (paper.authors_truncated) json.Key("authors_truncated").Bool(true);
  if (paper.votes) json.Key("votes").Int(*paper.votes);
  if (!paper.media_url.empty()) json.Key("media_url").String(paper.media_url);
  if (!paper.summary.empty()) json.Key("summary").StringArray(paper.summary);
  if (!paper.tags.empty()) json.Key("tags").StringArray(paper.tags);
  if (!paper.version.empty()) json.Key("version").String(paper.version);
  if (!paper.extra.empty()) {
    json.Key("extra").BeginObject();
    for (const auto& [name, value] : paper.extra) json.Key(name).String(value);
    json.EndObject();
  }
  json.EndObject();
  if (exact) *exact = json.exact();
  return json.Take();
}

// `compressor` null where the texts stay plain. `scratch`, when given, is where the text is
// written, and is given back to write the next in when the text is compressed: a long
// commit writes each paper's 1.3 KB of JSON into memory its thread has in cache, where a
// fresh block each was allocated, written and freed.
PreparedSnapshot PrepareSnapshot(const Paper& paper, sql::SnapshotCodec::Compressor* compressor,
                                 std::string* scratch = nullptr) {
  PreparedSnapshot prepared;
  std::string text = WriteSnapshotText(paper, &prepared.exact,
                                       scratch != nullptr ? std::move(*scratch) : std::string());
  prepared.hash = SnapshotHash(text);
  if (compressor != nullptr) {
    std::int64_t dictionary = 0;
    prepared.stored = compressor->Compress(text, &dictionary);
    if (!prepared.stored.empty()) {
      prepared.encoding = dictionary;
      if (scratch != nullptr) *scratch = std::move(text);
      return prepared;
    }
  }
  prepared.text = std::move(text);
  return prepared;
}

PreparedSnapshot PrepareSnapshot(const Paper& paper, const sql::SnapshotCodec* codec) {
  if (codec == nullptr) {
    sql::SnapshotCodec::Compressor* none = nullptr;
    return PrepareSnapshot(paper, none);
  }
  sql::SnapshotCodec::Compressor compressor(*codec);
  return PrepareSnapshot(paper, &compressor);
}

// The content hash of c.papers[i]: the plan's, or made now for a caller that gave none.
HashDigits ContentHashOf(const DigestCommit& c, std::size_t i) {
  if (i < c.content_hashes.size() && !c.content_hashes[i].empty()) return c.content_hashes[i];
  return SightingContentDigits(c.papers[i]);
}

// Prepares the snapshots of a long list of papers on two threads, up to kAhead chunks ahead
// of the caller, who stores them in order: serialising, hashing and compressing a
// 10,000-paper digest (13 MB of JSON) then runs beside the inserts instead of before each one.
// A helper thread takes chunks in order; the caller, when the chunk it needs is not ready,
// prepares the next one nobody has taken instead of waiting, so neither core idles while
// preparing is the slower side. A short list (the usual day) is prepared as it is taken. The
// papers must not change meanwhile (SharedPaper).
class SnapshotPipeline {
 public:
  // The snapshots of c.papers, each with its paper's content hash (ContentHashOf: one the
  // plan did not give is made with the snapshot, on whichever thread prepares it).
  SnapshotPipeline(const DigestCommit& c, const sql::SnapshotCodec* codec)
      : commit_(c),
        papers_(c.papers),
        codec_(codec),
        chunks_((papers_.size() + kChunk - 1) / kChunk) {
    if (papers_.size() > kChunk) helper_ = std::thread([this] { Help(); });
  }

  // Stops the helper at its next chunk: a commit that failed half-way waits for no more.
  ~SnapshotPipeline() { StopHelper(mutex_, stop_, room_, helper_); }

  SnapshotPipeline(const SnapshotPipeline&) = delete;
  SnapshotPipeline& operator=(const SnapshotPipeline&) = delete;

  // The snapshot of papers[i], valid until the next call; `i` counts up from 0 by one.
  // Rethrows what the helper threw (std::bad_alloc), as the caller would have met it
  // preparing the snapshot itself.
  const PreparedSnapshot& Take(std::size_t i) {
    if (!helper_.joinable()) {
      std::optional<sql::SnapshotCodec::Compressor> compressor;
      if (codec_ != nullptr) compressor.emplace(*codec_);
      return single_ = Prepare(i, compressor ? &*compressor : nullptr, nullptr);
    }
    if (i >= kChunk * taken_) {
      std::unique_lock lock(mutex_);
      const std::size_t wanted = taken_;
      while (!ready_.contains(wanted)) {
        if (failure_) std::rethrow_exception(failure_);
        if (next_ < chunks_ && next_ < wanted + kAhead) {
          MakeNext(lock);
        } else {
          made_.wait(lock);
        }
      }
      // The chunk used up goes back to the helper, whose allocator made most of its bytes,
      // to be freed there: 10,000 frees on this thread, each taking the lock of the arena
      // the helper was allocating from, were 7% of this thread's time. (The last few, once
      // the helper has made every chunk, go with the pipeline.)
      if (!chunk_.empty()) spent_.push_back(std::move(chunk_));
      chunk_ = std::move(ready_.extract(wanted).mapped());
      ++taken_;
      lock.unlock();
      room_.notify_one();
    }
    return chunk_[i - kChunk * (taken_ - 1)];
  }

 private:
  static constexpr std::size_t kChunk = 256;
  static constexpr std::size_t kAhead = 4;  // chunks made and waiting: about 2 MB

  PreparedSnapshot Prepare(std::size_t i, sql::SnapshotCodec::Compressor* compressor,
                           std::string* scratch) const {
    PreparedSnapshot prepared = PrepareSnapshot(papers_[i], compressor, scratch);
    prepared.content = ContentHashOf(commit_, i);
    return prepared;
  }

  // Takes chunk next_ and makes it ready; `lock` holds mutex_, and is let go while preparing.
  void MakeNext(std::unique_lock<std::mutex>& lock) {
    const std::size_t from = kChunk * next_++;
    lock.unlock();
    std::vector<PreparedSnapshot> prepared;
    const std::size_t to = std::min(from + kChunk, papers_.size());
    prepared.reserve(to - from);
    std::optional<sql::SnapshotCodec::Compressor> compressor;
    if (codec_ != nullptr) compressor.emplace(*codec_);
    std::string scratch;
    for (std::size_t i = from; i < to; ++i) {
      prepared.push_back(Prepare(i, compressor ? &*compressor : nullptr, &scratch));
    }
    lock.lock();
    ready_.emplace(from / kChunk, std::move(prepared));
  }

  void Help() {
    try {
      std::unique_lock lock(mutex_);
      while (true) {
        room_.wait(lock, [this] {
          return stop_ || next_ >= chunks_ || next_ < taken_ + kAhead || !spent_.empty();
        });
        if (!spent_.empty()) {
          std::vector<std::vector<PreparedSnapshot>> spent = std::move(spent_);
          spent_.clear();
          lock.unlock();
          spent.clear();
          lock.lock();
          continue;
        }
        if (stop_ || next_ >= chunks_) return;
        MakeNext(lock);
        made_.notify_one();
      }
    } catch (...) {
      {
        const std::lock_guard lock(mutex_);
        failure_ = std::current_exception();
      }
      made_.notify_one();
    }
  }

  const DigestCommit& commit_;
  const std::vector<SharedPaper>& papers_;  // commit_.papers
  const sql::SnapshotCodec* codec_;
  const std::size_t chunks_;
  std::vector<PreparedSnapshot> chunk_;  // the caller's: chunk taken_ - 1
  PreparedSnapshot single_;              // the caller's, without a helper

  std::mutex mutex_;              // guards the six below
  std::condition_variable made_;  // the helper made a chunk, or failed
  // The caller took a chunk (and gave back the one it used up), or the helper is to stop.
  std::condition_variable room_;
  std::map<std::size_t, std::vector<PreparedSnapshot>> ready_;  // made, not yet taken
  std::vector<std::vector<PreparedSnapshot>> spent_;            // taken and used, to free
  std::size_t next_ = 0;   // the next chunk nobody has taken to prepare
  std::size_t taken_ = 0;  // chunks the caller has taken
  std::exception_ptr failure_;
  bool stop_ = false;
  std::thread helper_;  // last: started once the rest exists, joined before it goes
};

// Stores paper snapshots within the caller's transaction, each distinct text once: a text
// is found by its hash and compared in full, so two texts that share a hash stay apart.
class SnapshotWriter {
 public:
  // `db` at the current schema; `Schema::kBeforeEncoding` for the migration that first made
  // snapshots (schema 5), whose table has no `encoding` yet.
  enum class Schema { kCurrent, kBeforeEncoding };
  explicit SnapshotWriter(sql::Db& db, Schema schema = Schema::kCurrent)
      : find_(db, schema == Schema::kCurrent
                      ? "SELECT id, snapshot_text(paper, encoding) FROM snapshots WHERE hash = ?"
                      : "SELECT id, paper FROM snapshots WHERE hash = ?"),
        insert_(db, std::string(schema == Schema::kCurrent
                                    ? "INSERT INTO snapshots(hash, paper, encoding) VALUES(?, ?, ?)"
                                    : "INSERT INTO snapshots(hash, paper) VALUES(?, ?)") +
                        db.dialect().returning_id),
        db_(db),
        codec_(schema == Schema::kCurrent ? db.snapshot_codec() : nullptr),
        with_encoding_(schema == Schema::kCurrent) {}

  // What compresses the snapshots it stores; null where they stay text.
  const sql::SnapshotCodec* codec() const { return codec_; }

  // The id of the snapshot of `paper`, which must outlive the writer. The papers of one
  // commit are shared by its messages: a paper met before is known by its address, not
  // serialised again.
  Result<std::int64_t> Intern(const Paper& paper) {
    if (auto it = by_address_.find(&paper); it != by_address_.end()) return it->second.id;
    return Store(paper, PrepareSnapshot(paper, codec_));
  }

  // The same with the snapshot of `paper` made ready already.
  Result<std::int64_t> Intern(const Paper& paper, const PreparedSnapshot& prepared) {
    if (auto it = by_address_.find(&paper); it != by_address_.end()) return it->second.id;
    return Store(paper, prepared);
  }

  // Tells the writer that `paper` (which must outlive it) is stored as snapshot `id`.
  void Remember(const Paper& paper, std::int64_t id) {
    by_address_.insert_or_assign(&paper, Stored{.id = id, .exact = false});
  }

  // Whether `paper` was interned here and its snapshot holds its text byte for byte.
  bool Exact(const Paper& paper) const {
    const auto it = by_address_.find(&paper);
    return it != by_address_.end() && it->second.exact;
  }

  // A text stored as it is (a migration's).
  Result<std::int64_t> InternText(const std::string& json) {
    PreparedSnapshot prepared;
    prepared.hash = SnapshotHash(json);
    return InternText(json, prepared, nullptr);
  }

 private:
  // `prepared`: the hash of `json` and, when it has an encoding, the bytes to keep. A
  // compressed snapshot comes without its text (`json` empty): it is made again from `paper`
  // only when a stored snapshot has the same hash and the two are compared.
  Result<std::int64_t> InternText(const std::string& json, const PreparedSnapshot& prepared,
                                  const Paper* paper) {
    find_.Reset();
    find_.Bind(prepared.hash);
    std::string remade;
    const std::string* text = &json;
    StepResult rc;
    while ((rc = find_.Step()) == kRow) {
      if (text->empty() && paper != nullptr) {
        remade = SnapshotText(*paper);
        text = &remade;
      }
      if (find_.TextView(1) == *text) return find_.Int(0);
    }
    if (rc != kDone) return Unexpected(find_.Fail("read snapshots"));
    insert_.Reset();
    insert_.Bind(prepared.hash);
    if (prepared.encoding != 0) {
      insert_.BindBlobBorrowed(prepared.stored);
    } else {
      insert_.BindBorrowed(json);
    }
    if (with_encoding_) insert_.Bind(prepared.encoding);
    if (*db_.dialect().returning_id == '\0') {
      if (auto st = Run(insert_, "store snapshot"); !st) return Unexpected(st.error());
      return db_.LastInsertId();
    }
    if (!insert_.ok() || insert_.Step() != kRow) return Unexpected(insert_.Fail("store snapshot"));
    const std::int64_t id = insert_.Int(0);
    insert_.Reset();  // a RETURNING statement is done only once reset (or stepped to the end)
    return id;
  }

  // Interns `prepared`, the snapshot of `paper`, which is not known by its address yet.
  Result<std::int64_t> Store(const Paper& paper, const PreparedSnapshot& prepared) {
    auto id = InternText(prepared.text, prepared, &paper);
    if (id) by_address_.emplace(&paper, Stored{.id = *id, .exact = prepared.exact});
    return id;
  }

  Stmt find_;
  Stmt insert_;
  sql::Db& db_;
  const sql::SnapshotCodec* codec_;
  bool with_encoding_;
  struct Stored {
    std::int64_t id;
    bool exact;  // the snapshot reads back as the paper is (all its text valid UTF-8)
  };
  std::unordered_map<const Paper*, Stored> by_address_;
};

// What every paper of a message of several shares (a digest's, grouped: one source, one
// date), said once in its message rather than with each paper: 40 of a paper's 85 bytes, in a
// long day's message of most of a megabyte that the commit holds twice (the text and SQLite's
// record of it). Empty where the papers differ, or say nothing.
std::string SharedField(const Notification& n, std::string SourcedPaper::*field) {
  if (n.papers.size() < 2) return {};
  const std::string& first = n.papers.front().*field;
  for (const SourcedPaper& p : n.papers) {
    if (p.*field != first) return {};
  }
  return first;
}

// The outbox `message` of `n`: what the row's columns don't hold, each paper as the id of
// its snapshot (`snapshots`, in paper order) with where and when the source said it
// ("papers_source" and "papers_date" for all at once, where they share them).
// `exact`, when given, learns whether its text reads back byte for byte.
std::string OutboxMessage(const Notification& n, const std::vector<std::int64_t>& snapshots,
                          bool* exact = nullptr) {
  const std::string shared_source = SharedField(n, &SourcedPaper::source);
  const std::string shared_date = SharedField(n, &SourcedPaper::date);
  // Sized once (text to escape aside): a long day's message is most of a megabyte, which
  // grown by doubling would be held twice over at its last step.
  const auto names = [](const std::vector<std::string>& list) {
    std::size_t size = 16;
    for (const std::string& s : list) size += s.size() + 3;
    return size;
  };
  std::size_t size = 64 + names(n.watches) + n.source.size() + n.message.size() +
                     n.digest_url.size();
  for (const SourcedPaper& p : n.papers) {
    size += 48 + p.event.size() + names(p.watches);
    if (shared_source.empty()) size += 12 + p.source.size();
    if (shared_date.empty()) size += 10 + p.date.size();
    if (p.prior) size += 64 + p.prior->version.size() + p.prior->title.size();
  }
  std::string text;
  text.reserve(size);
  JsonWriter json(std::move(text));
  json.BeginObject();
  json.Key("watches").StringArray(n.watches);
  if (!shared_source.empty()) json.Key("papers_source").String(shared_source);
  if (!shared_date.empty()) json.Key("papers_date").String(shared_date);
  json.Key("papers").BeginArray();
  for (std::size_t i = 0; i < n.papers.size(); ++i) {
    const SourcedPaper& p = n.papers[i];
    json.BeginObject();
    json.Key("snapshot").Int(snapshots[i]);
    if (shared_source.empty() && !p.source.empty()) json.Key("source").String(p.source);
    if (shared_date.empty() && !p.date.empty()) json.Key("date").String(p.date);
    if (!p.event.empty()) json.Key("event").String(p.event);
    if (!p.watches.empty()) json.Key("watches").StringArray(p.watches);
    if (p.prior) WritePriorMembers(json, *p.prior);
    json.EndObject();
  }
  json.EndArray();
  if (!n.source.empty()) json.Key("source").String(n.source);
  if (!n.message.empty()) json.Key("message").String(n.message);
  if (!n.digest_url.empty()) json.Key("digest_url").String(n.digest_url);
  json.EndObject();
  if (exact) *exact = json.exact();
  return json.Take();
}

// Reads a stored message into `n`, whose id, notifier, kind, event and dedupe key the row's
// columns gave. A paper is a snapshot id (schema 5) looked up in `snapshots`, or the paper
// itself (the messages of schema 4 and before, which the migration reads). Fails naming
// what is missing.
Status DecodeMessage(const boost::json::value& v,
                     const std::map<std::int64_t, SharedPaper>& snapshots,
                     Notification& n) {
  if (!v.is_object()) return Unexpected("its stored message is not a JSON object");
  const auto& o = v.get_object();
  n.watches = Strings(o, "watches");
  n.source = Str(o, "source");
  n.message = Str(o, "message");
  n.digest_url = Str(o, "digest_url");
  // What every paper says unless it says its own (OutboxMessage).
  const std::string papers_source = Str(o, "papers_source");
  const std::string papers_date = Str(o, "papers_date");
  n.papers.clear();
  if (const auto* papers = o.if_contains("papers"); papers && papers->is_array()) {
    for (const auto& e : papers->get_array()) {
      if (!e.is_object()) return Unexpected("its stored message has a paper that is not an object");
      const auto& p = e.get_object();
      SourcedPaper sp;
      if (const auto* id = p.if_contains("snapshot")) {
        const auto it = id->is_int64() ? snapshots.find(id->get_int64()) : snapshots.end();
        if (it == snapshots.end()) {
          return Unexpected("its paper snapshot " + boost::json::serialize(*id) + " is missing");
        }
        sp.paper = it->second;
      } else {
        sp.paper = ReadPaper(p);
      }
      sp.source = p.contains("source") ? Str(p, "source") : papers_source;
      sp.date = p.contains("date") ? Str(p, "date") : papers_date;
      sp.event = Str(p, "event");
      sp.watches = Strings(p, "watches");
      PriorState prior{.version = Str(p, "prior_version"), .title = Str(p, "prior_title")};
      if (const auto* votes = p.if_contains("prior_votes"); votes && votes->is_int64()) {
        prior.votes = int(votes->get_int64());
      }
      sp.SetPrior(std::move(prior));
      n.papers.push_back(std::move(sp));
    }
  }
  return Ok();
}

// Completes each row's notification from its stored message (`messages`, one per row),
// reading every snapshot the rows refer to once. Rows `resolved` marks are complete
// already. A row whose message cannot be read gets `unreadable` instead; only a failing
// query fails the whole.
Status ResolveMessages(sql::Db& db, std::vector<OutboxRow>& rows,
                       const std::vector<std::string>& messages,
                       const std::vector<bool>* resolved = nullptr) {
  const auto skip = [&](std::size_t i) { return resolved && (*resolved)[i]; };
  std::vector<boost::json::value> parsed(rows.size());
  std::set<std::int64_t> wanted;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (skip(i)) continue;
    boost::system::error_code ec;
    parsed[i] = boost::json::parse(messages[i], ec);
    if (ec || !parsed[i].is_object()) continue;
    const auto* papers = parsed[i].get_object().if_contains("papers");
    if (!papers || !papers->is_array()) continue;
    for (const auto& p : papers->get_array()) {
      const auto* id = p.is_object() ? p.get_object().if_contains("snapshot") : nullptr;
      if (id && id->is_int64()) wanted.insert(id->get_int64());
    }
  }
  std::map<std::int64_t, SharedPaper> snapshots;  // shared by every row that has the paper
  if (!wanted.empty()) {
    JsonWriter ids;
    ids.BeginArray();
    for (std::int64_t id : wanted) ids.Int(id);
    ids.EndArray();
    Stmt s(db, db.dialect().snapshots_by_ids);
    if (!s.ok()) return Unexpected(s.Fail("read snapshots"));
    s.Bind(ids.str());
    StepResult rc;
    while ((rc = s.Step()) == kRow) {
      // A snapshot that does not parse stays out of the map: its rows say it is missing.
      if (auto paper = ParseSnapshot(s.TextView(1))) snapshots.emplace(s.Int(0), std::move(*paper));
    }
    if (rc != kDone) return Unexpected(s.Fail("read snapshots"));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (skip(i)) continue;
    if (auto st = DecodeMessage(parsed[i], snapshots, rows[i].notification); !st) {
      rows[i].unreadable = "outbox row " + rows[i].id + ": " + st.error().message;
    }
  }
  return Ok();
}

// Reads every row `s` gives (kOutboxColumns) and completes their notifications.
Result<std::vector<OutboxRow>> ReadOutboxRows(sql::Db& db, Stmt& s, std::string_view what) {
  std::vector<OutboxRow> rows;
  std::vector<std::string> messages;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    messages.emplace_back();
    rows.push_back(ReadOutboxRow(s, messages.back()));
  }
  if (rc != kDone) return Unexpected(s.Fail(what));
  if (auto st = ResolveMessages(db, rows, messages); !st) return Unexpected(st.error());
  return rows;
}

// Ok when the outbox has a row `id`: an insert that left out a row with that id left it
// out as a duplicate, and for nothing else.
Status ExpectQueued(sql::Db& db, const std::string& id) {
  Stmt s(db, "SELECT 1 FROM outbox WHERE id = ?");
  s.Bind(id);
  const StepResult rc = s.Step();
  if (rc == kRow) return Ok();
  if (rc != kDone) return Unexpected(s.Fail("queue notification " + id));
  return Unexpected("queue notification " + id + ": the outbox refused its row");
}

// Rows written a batch at a time, new ones first. A statement of several rows that may fail
// part way (an upsert: its NOT NULL columns) keeps, in a temporary file, each page it changes
// as it was, to undo its own rows alone: 31 MB for a 10,000-paper first run's sightings. One
// that only adds rows, leaving out those whose key exists (Dialect::add_rows), cannot, and
// keeps nothing. So a batch goes first through `add`, as a first run's and most of a daily
// digest's rows are new; a batch of which `add` added fewer rows than it was given goes
// again through `upsert`, which must leave the rows `add` just wrote as they are, and so
// does every batch after it: a digest fetched again is mostly rows the state has.
class NewRowsFirst {
 public:
  // `add()` gives the number of rows it added, `upsert()` a Status.
  template <typename Add, typename Upsert>
  Status Write(std::size_t rows, const Add& add, const Upsert& upsert) {
    if (all_new_) {
      const Result<std::int64_t> added = add();
      if (!added) return Unexpected(added.error());
      all_new_ = *added == std::int64_t(rows);
      if (all_new_) return Ok();
    }
    return upsert();
  }

 private:
  bool all_new_ = true;  // no batch yet has had a row the state had
};

// The statements of a table's batches: `sql_of(rows)` prepared once for a whole batch of
// `batch` rows, and again for a shorter last one.
class BatchStatements {
 public:
  BatchStatements(sql::Db& db, std::size_t batch, std::function<std::string(std::size_t)> sql_of)
      : db_(db), batch_(batch), sql_of_(std::move(sql_of)) {}

  // The statement for `rows` rows (at most a batch), reset.
  Stmt& For(std::size_t rows) {
    std::optional<Stmt>& stmt = rows == batch_ ? full_ : last_;
    if (!stmt || (rows != batch_ && last_rows_ != rows)) {
      stmt.emplace(db_, sql_of_(rows));
      if (rows != batch_) last_rows_ = rows;
    }
    stmt->Reset();
    return *stmt;
  }

 private:
  sql::Db& db_;
  const std::size_t batch_;
  const std::function<std::string(std::size_t)> sql_of_;
  std::optional<Stmt> full_;
  std::optional<Stmt> last_;
  std::size_t last_rows_ = 0;
};

// " VALUES" and `rows` rows of `columns` parameters each: a statement of several rows.
std::string ValuesOfRows(std::size_t rows, int columns) {
  std::string row = "(?";
  for (int i = 1; i < columns; ++i) row += ",?";
  row += ')';
  std::string sql = " VALUES";
  sql.reserve(sql.size() + rows * (row.size() + 1));
  for (std::size_t i = 0; i < rows; ++i) {
    if (i > 0) sql += ',';
    sql += row;
  }
  return sql;
}

// Queues `notifications` in the caller's transaction, each paper as its snapshot; a row
// whose dedupe key exists already is left as it is. Returns how many rows are new, and
// adds to `keep`, when given, the index of each new one whose text reads back byte for
// byte (every string valid UTF-8): those a claim may take as they are (KeepQueued).
// With `hand_over`, a row whose message is kept (`keep`) and whose notifier it names is
// queued claimed by its owner, and its index goes to `handed` too.
//
// kOutboxBatch rows to a statement (a long day's 10,000 rows, one statement each, took a
// third of its commit: 88 -> 77 ms for BM_CommitPlannedDay/10000), each added only where
// its id is new (Dialect::add_rows). Which were added: where the dialect returns ids
// (Dialect::returning_id), the ids it returns; in SQLite, where RETURNING would cost the
// statement a sixth of its time, all of them when it changed as many rows as it was given,
// else the rows it changed, the last rowids (each row added takes the largest one yet, plus
// one). A row left out must be one the outbox has: anything else it was refused for is an
// error.
Result<int> InsertOutbox(sql::Db& db, const std::vector<Notification>& notifications,
                         std::int64_t now, SnapshotWriter& snapshots,
                         std::vector<std::size_t>* keep = nullptr,
                         const DigestCommit::HandOver* hand_over = nullptr,
                         std::vector<std::size_t>* handed = nullptr) {
  constexpr std::size_t kOutboxBatch = 32;
  constexpr int kColumns = 11;
  struct Pending {
    std::size_t index;          // in `notifications`
    std::string message;        // OutboxMessage
    bool kept;                  // for `keep`
    const std::int64_t* lease;  // queued claimed until then, or pending (null)
  };
  std::vector<Pending> pending;
  pending.reserve(std::min(kOutboxBatch, notifications.size()));
  const sql::Dialect& dialect = db.dialect();
  const bool returning = *dialect.returning_id != '\0';
  const auto insert_of = [&](std::size_t rows) {
    return std::string(dialect.add_rows) +
           " INTO outbox(id, dedupe_key, notifier, kind, event, message, created_at, "
           "next_attempt_at, state, lease_owner, lease_until)" +
           ValuesOfRows(rows, kColumns) + dialect.add_rows_end + dialect.returning_id;
  };
  BatchStatements statements(db, kOutboxBatch, insert_of);
  std::vector<std::string> added_ids;
  int added = 0;
  const auto write = [&]() -> Status {
    Stmt& insert = statements.For(pending.size());
    const std::string& first_id = notifications[pending.front().index].id;
    if (!insert.ok()) return Unexpected(insert.Fail("queue notification " + first_id));
    for (const Pending& row : pending) {
      // The notification, the message and the owner outlive the step: nothing is copied.
      const Notification& n = notifications[row.index];
      insert.BindBorrowed(n.id).BindBorrowed(n.dedupe_key).BindBorrowed(n.notifier);
      insert.BindBorrowed(n.kind).BindBorrowed(n.event).BindBorrowed(row.message);
      insert.Bind(now).Bind(now).BindBorrowed(row.lease ? "sending" : "pending");
      if (row.lease) {
        insert.BindBorrowed(hand_over->owner).Bind(*row.lease);
      } else {
        insert.BindNull().BindOptional(std::nullopt);
      }
    }
    added_ids.clear();
    bool all_added = false;
    if (returning) {
      StepResult rc;
      while ((rc = insert.Step()) == kRow) added_ids.push_back(insert.Text(0));
      if (rc != kDone) return Unexpected(insert.Fail("queue notification " + first_id));
    } else {
      if (auto st = Run(insert, "queue notification", first_id); !st) return st;
      const std::int64_t changed = insert.Changes();
      all_added = changed == std::int64_t(pending.size());
      if (!all_added && changed > 0) {
        Stmt rows(db, "SELECT id FROM outbox WHERE rowid > ?");
        rows.Bind(db.LastInsertId() - changed);
        StepResult rc;
        while ((rc = rows.Step()) == kRow) added_ids.push_back(rows.Text(0));
        if (rc != kDone) return Unexpected(rows.Fail("queue notification " + first_id));
      }
    }
    // The ids come back in no promised order. Each row takes one equal to its own: of two
    // rows with one id, the first was added.
    std::multiset<std::string_view> unclaimed(added_ids.begin(), added_ids.end());
    for (const Pending& row : pending) {
      if (!all_added) {
        const std::string& id = notifications[row.index].id;
        const auto it = unclaimed.find(id);
        if (it == unclaimed.end()) {
          if (auto st = ExpectQueued(db, id); !st) return st;
          continue;
        }
        unclaimed.erase(it);
      }
      ++added;
      if (row.kept) keep->push_back(row.index);
      if (row.lease) handed->push_back(row.index);
    }
    pending.clear();
    return Ok();
  };
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < notifications.size(); ++i) {
    const Notification& n = notifications[i];
    ids.clear();
    for (const SourcedPaper& p : n.papers) {
      auto id = snapshots.Intern(p.paper);
      if (!id) return Unexpected(id.error());
      ids.push_back(*id);
    }
    bool exact = false;
    std::string message = OutboxMessage(n, ids, &exact);
    exact = exact && std::all_of(n.papers.begin(), n.papers.end(),
                                 [&](const SourcedPaper& p) { return snapshots.Exact(p.paper); });
    const bool kept = keep && exact;
    const std::int64_t* lease = nullptr;
    if (hand_over && kept) {
      if (const auto it = hand_over->lease_until.find(n.notifier);
          it != hand_over->lease_until.end()) {
        lease = &it->second;
      }
    }
    pending.push_back({.index = i, .message = std::move(message), .kept = kept, .lease = lease});
    if (pending.size() == kOutboxBatch) {
      if (auto st = write(); !st) return Unexpected(st.error());
    }
  }
  if (!pending.empty()) {
    if (auto st = write(); !st) return Unexpected(st.error());
  }
  // Instances that listen hear of the new rows when this transaction commits.
  if (added > 0 && dialect.notify_outbox) {
    if (auto st = db.Exec(dialect.notify_outbox); !st) return Unexpected(st.error());
  }
  return added;
}

// Makes the rows `ids` that `owner` still holds pending again, no attempt counted, in the
// caller's transaction.
Status ReleaseRowsOf(sql::Db& db, const std::string& owner,
                     const std::vector<std::string_view>& ids) {
  Stmt release(db,
               "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL "
               "WHERE id = ? AND state = 'sending' AND lease_owner = ?");
  for (std::string_view id : ids) {
    release.Reset();
    release.Bind(id).Bind(owner);
    if (auto st = Run(release, "release claimed row", std::string(id)); !st) return st;
  }
  return Ok();
}

// Holds `held` for their digests in the caller's transaction; a match held already (its
// dedupe key and watch) is left as it is.
Status InsertHeld(sql::Db& db, const std::vector<HeldMatch>& held, std::int64_t now,
                  SnapshotWriter& snapshots) {
  if (held.empty()) return Ok();
  Stmt insert(db,
              "INSERT INTO digest_held(watch, notifier, dedupe_key, event, message, created_at) "
              "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
  std::vector<std::int64_t> ids;
  for (const HeldMatch& h : held) {
    const Notification& n = h.notification;
    ids.clear();
    for (const SourcedPaper& p : n.papers) {
      auto id = snapshots.Intern(p.paper);
      if (!id) return Unexpected(id.error());
      ids.push_back(*id);
    }
    insert.Reset();
    insert.Bind(h.watch).Bind(n.notifier).Bind(n.dedupe_key + '\x1f' + h.watch).Bind(n.event);
    insert.Bind(OutboxMessage(n, ids)).Bind(now);
    if (auto st = Run(insert, "hold a match for watch", h.watch); !st) return st;
  }
  return Ok();
}

}  // namespace

namespace sql {

// Schema 4 -> 5: every sighting's paper and every outbox message's papers become snapshots.
// A paper is stored in the form PaperJson writes today, so a later commit of the same paper
// finds it. A message that cannot be read is kept as it was (it was unreadable before too).
Status ConvertToSnapshots(sql::Db& db) {
  SnapshotWriter snapshots(db, SnapshotWriter::Schema::kBeforeEncoding);
  Stmt read(db,
            "SELECT paper_key, source, date, url, votes, version, paper, content_hash, "
            "first_seen, seen_at FROM sightings");
  Stmt write(db,
             "INSERT INTO sightings_v5(paper_key, source, date, url, votes, version, snapshot, "
             "content_hash, first_seen, seen_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!read.ok()) return Unexpected(read.Fail("read sightings"));
  StepResult rc;
  while ((rc = read.Step()) == kRow) {
    const auto paper = ParseSnapshot(read.TextView(6));
    auto id = snapshots.InternText(paper ? SnapshotText(*paper) : read.Text(6));
    if (!id) return Unexpected(id.error());
    write.Reset();
    write.Bind(read.Text(0)).Bind(read.Text(1)).Bind(read.Text(2)).Bind(read.Text(3));
    write.BindOptional(read.OptInt(4)).Bind(read.Text(5)).Bind(*id).Bind(read.Text(7));
    write.Bind(read.Int(8)).Bind(read.Int(9));
    if (auto st = Run(write, "copy sighting"); !st) return st;
  }
  if (rc != kDone) return Unexpected(read.Fail("read sightings"));

  std::vector<std::pair<std::int64_t, std::string>> messages;
  Stmt outbox(db, "SELECT rowid, message FROM outbox");
  if (!outbox.ok()) return Unexpected(outbox.Fail("read outbox"));
  while ((rc = outbox.Step()) == kRow) messages.emplace_back(outbox.Int(0), outbox.Text(1));
  if (rc != kDone) return Unexpected(outbox.Fail("read outbox"));
  Stmt update(db, "UPDATE outbox SET message = ? WHERE rowid = ?");
  for (const auto& [rowid, message] : messages) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(message, ec);
    Notification n;
    if (ec || !DecodeMessage(v, {}, n)) continue;
    std::vector<std::int64_t> ids;
    for (const SourcedPaper& p : n.papers) {
      auto id = snapshots.InternText(SnapshotText(p.paper));
      if (!id) return Unexpected(id.error());
      ids.push_back(*id);
    }
    update.Reset();
    update.Bind(OutboxMessage(n, ids)).Bind(rowid);
    if (auto st = Run(update, "rewrite outbox message"); !st) return st;
  }
  return Ok();
}

// Schema 5 -> 6: each fetch_state row keyed by its URL's UrlId instead of the URL.
Status ConvertFetchStateUrls(sql::Db& db) {
  Stmt read(db,
            "SELECT source, url, etag, last_modified, body_hash, last_success FROM fetch_state");
  Stmt write(db,
             "INSERT OR REPLACE INTO fetch_state_v6(source, url_id, etag, last_modified, "
             "body_hash, last_success) VALUES(?, ?, ?, ?, ?, ?)");
  if (!read.ok()) return Unexpected(read.Fail("read fetch state"));
  StepResult rc;
  while ((rc = read.Step()) == kRow) {
    write.Reset();
    write.Bind(read.Text(0)).Bind(UrlId(read.TextView(1))).Bind(read.Text(2)).Bind(read.Text(3));
    write.Bind(read.Text(4)).BindOptional(read.OptInt(5));
    if (auto st = Run(write, "copy fetch state"); !st) return st;
  }
  if (rc != kDone) return Unexpected(read.Fail("read fetch state"));
  return Ok();
}

namespace {

// Rewrites the rows `read` gives a batch at a time, in key order: `read` takes the last key
// of the batch before (BindAfter) and gives up to kHashBatch rows; `row` reads one, moving
// that key on, and gives what `rewrite` writes once the read is done, so no statement changes
// a table another is reading.
constexpr int kHashBatch = 1000;

void BindAfter(Stmt& read, std::int64_t id) { read.Bind(id); }
void BindAfter(Stmt& read, const std::pair<std::string, std::string>& key) {
  read.Bind(key.first).Bind(key.second);
}

template <typename Key, typename ReadRow, typename Rewrite>
Status RewriteInBatches(Stmt& read, Key after, ReadRow row, Rewrite rewrite, const char* what) {
  if (!read.ok()) return Unexpected(read.Fail(what));
  std::vector<typename std::invoke_result_t<ReadRow, Stmt&, Key&>::value_type> rows;
  while (true) {
    read.Reset();
    BindAfter(read, after);
    rows.clear();
    int seen = 0;
    StepResult rc;
    while ((rc = read.Step()) == kRow) {
      ++seen;
      if (auto r = row(read, after)) rows.push_back(std::move(*r));
    }
    if (rc != kDone) return Unexpected(read.Fail(what));
    for (const auto& r : rows) {
      if (auto st = rewrite(r); !st) return st;
    }
    if (seen < kHashBatch) return Ok();
  }
}

}  // namespace

// Schema 11 -> 12: every snapshot's hash, and every sighting's content hash, made again with
// XXH3 (core/hash.h) from what the row keeps: a snapshot's text, read through
// snapshot_text; a sighting's content, from its snapshot's paper, which was stored with it.
// A row that cannot be read back keeps its old hash, which then matches nothing: a damaged
// snapshot is stored again when its paper comes again, and such a sighting's paper is told
// as updated once, as it would have been had its text been lost.
Status ConvertToXxh3Hashes(sql::Db& db) {
  Stmt snapshots(db,
                 "SELECT id, snapshot_text(paper, encoding) FROM snapshots WHERE id > ? "
                 "ORDER BY id LIMIT " + std::to_string(kHashBatch));
  Stmt set_hash(db, "UPDATE snapshots SET hash = ? WHERE id = ?");
  using IdHash = std::pair<std::int64_t, std::int64_t>;
  auto st = RewriteInBatches(
      snapshots, std::numeric_limits<std::int64_t>::min(),
      [](Stmt& read, std::int64_t& after) -> std::optional<IdHash> {
        after = read.Int(0);
        if (read.IsNull(1)) return std::nullopt;
        return IdHash(after, SnapshotHash(read.TextView(1)));
      },
      [&](const IdHash& r) {
        set_hash.Reset();
        set_hash.Bind(r.second).Bind(r.first);
        return Run(set_hash, "rehash snapshot");
      },
      "read snapshots");
  if (!st) return st;

  // A sighting's key is (paper_key, source); the batches go on after the last one's.
  Stmt sightings(db,
                 "SELECT s.paper_key, s.source, snapshot_text(p.paper, p.encoding) "
                 "FROM sightings s JOIN snapshots p ON p.id = s.snapshot "
                 "WHERE (s.paper_key, s.source) > (?, ?) ORDER BY s.paper_key, s.source LIMIT " +
                     std::to_string(kHashBatch));
  Stmt set_content(db, "UPDATE sightings SET content_hash = ? WHERE paper_key = ? AND source = ?");
  using Key = std::pair<std::string, std::string>;
  struct Content {
    Key key;
    HashDigits hash;
  };
  return RewriteInBatches(
      sightings, Key(),
      [](Stmt& read, Key& after) -> std::optional<Content> {
        after = Key(read.Text(0), read.Text(1));
        if (read.IsNull(2)) return std::nullopt;
        const std::optional<Paper> paper = ParseSnapshot(read.TextView(2));
        if (!paper) return std::nullopt;
        return Content{.key = after, .hash = SightingContentDigits(*paper)};
      },
      [&](const Content& r) {
        set_content.Reset();
        set_content.Bind(r.hash.view()).Bind(r.key.first).Bind(r.key.second);
        return Run(set_content, "rehash sighting");
      },
      "read sightings");
}

}  // namespace sql

// An empty id would only make a refetch.
std::string UrlId(std::string_view url) { return Sha256Hex(PiecesOf(url, url.size())); }

// XXH3's 128 bits: a body's hash only says whether it is the one last parsed, and a source
// that wanted to hide a change could as well not make it, so what a hash resists is not the
// question; its time is, before every parse of a changed body. A 10,000-paper digest (13 MB,
// read back from its spool file) takes 1.3 ms, where SHA-256 on the CPU's SHA instructions
// took 7.5 (BM_BodyHash; issue 12). A hash stored by an older digestd (SHA-256, 64 digits)
// matches nothing: that body is parsed once more, and finds nothing new.
std::string BodyHash(std::string_view body) { return std::string(Xxh3Digits(body).view()); }

std::string BodyHash(const Spool& body) {
  if (const auto digits = body.Digits()) return std::string(digits->view());
  std::string error;
  // Pieces that stay in the CPU's cache: the hash is as fast, and far less memory is touched.
  const ByteSource next = body.Reader(128 * 1024, &error);
  Xxh3Stream hash;
  for (std::string_view piece = next(); !piece.empty(); piece = next()) hash.Update(piece);
  return error.empty() ? std::string(hash.Digits().view()) : "";
}

std::string SnapshotText(const Paper& paper, bool* exact) {
  return WriteSnapshotText(paper, exact, std::string());
}

std::string DisplayedStateLocation(const std::string& state) {
  return IsPostgresLocation(state) ? sql::RedactedPostgresUrl(state) : state;
}

StateStore::StateStore(std::unique_ptr<sql::Db> db) : db_(std::move(db)) {}
StateStore::~StateStore() = default;

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& location,
                                                     bool read_only) {
  const bool postgres = IsPostgresLocation(location);
  auto db = postgres ? sql::OpenPostgres(location, read_only) : sql::OpenSqlite(location, read_only);
  if (!db) return Unexpected(db.error());
  std::unique_ptr<StateStore> store(new StateStore(std::move(*db)));
  const std::string where = postgres ? sql::RedactedPostgresUrl(location) : location;
  if (!read_only) {
    if (auto st = store->Migrate(); !st) return Unexpected(where + ": " + st.error().message);
  } else if (const int version = store->SchemaVersion(); version == 0) {
    // An empty database: a PostgreSQL one the admin made, or an empty file. Nothing has
    // written a state there yet, as when a SQLite file does not exist.
    return Unexpected(where + ": no state yet; `digestd once` or `digestd run` makes it");
  } else if (version != kSchemaVersion) {
    // A read-only open never migrates: a reader must not change what a writer owns.
    return Unexpected(where + ": state database has schema version " + std::to_string(version) +
                      (version > kSchemaVersion
                           ? ", newer than this digestd (" + std::to_string(kSchemaVersion) + ")"
                           : ", older than this digestd (" + std::to_string(kSchemaVersion) +
                                 "); `digestd once` or `digestd run` upgrades it"));
  }
  return store;
}

bool StateStore::shared() const { return db_->dialect().shared; }

const char* StateStore::backend() const { return db_->dialect().name; }

void StateStore::SetBusyTimeout(int milliseconds) { db_->SetBusyTimeout(milliseconds); }

void StateStore::ReleaseMemory() {
  // Rows handed over point into the kept messages: they go back to the outbox first.
  if (auto st = ReleaseHandedOver(handed_over_owner_); !st) {
    spdlog::error("outbox: {}", st.error().message);
  }
  handed_over_.clear();
  std::unordered_map<std::string_view, Notification*>().swap(queued_);
  std::vector<std::vector<Notification>>().swap(queued_lists_);
  db_->ReleaseMemory();
}

namespace {

// More kept messages than this (rows nobody claims, a notifier paused) and no more are kept.
constexpr std::size_t kMaxQueuedKept = 100'000;
// A commit of more papers than this gives back its page cache when done (ReleaseMemory).
constexpr std::size_t kReleaseCacheAfter = 1'000;

}  // namespace

std::vector<Notification>* StateStore::KeepQueued(std::vector<Notification> notifications,
                                                  const std::vector<std::size_t>& kept) {
  // On PostgreSQL another instance may claim the rows, and text is not kept byte for byte.
  if (db_->dialect().shared || kept.empty()) return nullptr;
  if (queued_.size() + kept.size() > kMaxQueuedKept) return nullptr;
  // Moving the list keeps its elements where they are: `queued_` may point into it.
  std::vector<Notification>& list = queued_lists_.emplace_back(std::move(notifications));
  for (std::size_t i : kept) queued_.insert_or_assign(list[i].id, &list[i]);
  return &list;
}

bool StateStore::CanHandOver(std::size_t count) const {
  return !db_->dialect().shared && queued_.size() + count <= kMaxQueuedKept;
}

bool StateStore::ClaimsFromMemory(const std::vector<ClaimRequest>& requests,
                                  const std::string& owner) const {
  if (owner != handed_over_owner_) return false;
  return std::all_of(requests.begin(), requests.end(), [&](const ClaimRequest& r) {
    const auto it = handed_over_.find(r.notifier);
    return it != handed_over_.end() && it->second.size() >= std::size_t(std::max(r.limit, 0));
  });
}

std::vector<OutboxRow> StateStore::TakeHandedOver(const std::string& notifier, int limit) {
  std::vector<OutboxRow> rows;
  const auto it = handed_over_.find(notifier);
  if (it == handed_over_.end()) return rows;
  std::deque<HandedOver>& waiting = it->second;
  rows.reserve(std::min(waiting.size(), std::size_t(std::max(limit, 0))));
  while (!waiting.empty() && int(rows.size()) < limit) {
    const HandedOver h = waiting.front();
    waiting.pop_front();
    Notification& n = *h.notification;
    queued_.erase(n.id);  // before the id its key views is moved from
    rows.push_back(OutboxRow{.id = n.id,
                             .notifier = n.notifier,
                             .kind = n.kind,
                             .event = n.event,
                             .state = "sending",
                             .created_at = h.created_at,
                             .next_attempt_at = h.created_at,
                             .lease_owner = handed_over_owner_,
                             .lease_until = h.lease_until});
    rows.back().notification = std::move(n);
  }
  if (waiting.empty()) handed_over_.erase(it);
  return rows;
}

std::size_t StateStore::HandedOverCount() const {
  std::size_t count = 0;
  for (const auto& [notifier, waiting] : handed_over_) count += waiting.size();
  return count;
}

std::vector<std::string_view> StateStore::HandedOverIds() const {
  std::vector<std::string_view> ids;
  for (const auto& [notifier, waiting] : handed_over_) {
    for (const HandedOver& h : waiting) ids.push_back(h.notification->id);
  }
  return ids;
}

Status StateStore::ReleaseHandedOver(const std::string& owner) {
  if (owner != handed_over_owner_ || handed_over_.empty()) return Ok();
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("release handed-over rows: " + txn.error());
  if (auto st = ReleaseRowsOf(*db_, owner, HandedOverIds()); !st) return st;
  if (auto st = txn.Commit(); !st) {
    return Unexpected("release handed-over rows: " + st.error().message);
  }
  // Their messages stay in `queued_`, for the claim that takes them as pending rows.
  handed_over_.clear();
  return Ok();
}

Status StateStore::LimitPages(std::int64_t pages) { return db_->LimitPages(pages); }

Status StateStore::BackupTo(const std::string& path) { return db_->BackupTo(path); }

int StateStore::SchemaVersion() const { return db_->SchemaVersion(); }

Status StateStore::Migrate() {
  const auto migrations = db_->Migrations();
  static_assert(kSchemaVersion == 16);
  if (migrations.empty() || migrations.back().to != kSchemaVersion) {
    return Unexpected(std::string("no migration to schema ") + std::to_string(kSchemaVersion));
  }
  // The version is read inside the exclusive transaction that migrates: two processes
  // opening one new database at once migrate it once, the second waiting for the first.
  if (SchemaVersion() == kSchemaVersion) return Ok();  // the common case, without a lock
  Transaction txn(*db_, db_->dialect().begin_migration);
  if (!txn.ok()) return Unexpected("migration: " + txn.error());
  const int have = SchemaVersion();
  version_at_open_ = have;
  if (have < 0) return Unexpected("cannot read the schema version");
  if (have > kSchemaVersion) {
    return Unexpected("state database has schema version " + std::to_string(have) +
                      ", newer than this digestd (" + std::to_string(kSchemaVersion) +
                      "); use a newer digestd or another state");
  }
  if (have == kSchemaVersion) return Ok();
  // A new database gets today's schema at once where the backend has it in one script.
  const char* new_schema = db_->dialect().new_schema;
  if (have == 0 && new_schema) {
    if (auto st = db_->Exec(new_schema); !st) {
      return Unexpected("creating schema " + std::to_string(kSchemaVersion) + ": " +
                        st.error().message);
    }
  } else {
    for (const sql::Migration& m : migrations) {
      if (m.to <= have) continue;
      Status st = m.sql ? db_->Exec(m.sql) : Ok();
      if (st && m.convert) st = m.convert(*db_);
      if (st && m.after) st = db_->Exec(m.after);
      if (!st) {
        return Unexpected("migration to schema " + std::to_string(m.to) + ": " +
                          st.error().message);
      }
    }
  }
  if (auto st = db_->SetSchemaVersion(kSchemaVersion); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  return db_->AfterMigration(have);
}

Result<SourceState> StateStore::GetSourceState(const std::string& source) {
  Stmt s(*db_,
         "SELECT first_run_at, last_success_at, last_success_date, failures, last_error, "
         "failing_since, alerted, retry_at FROM sources WHERE name = ?");
  if (!s.ok()) return Unexpected(s.Fail("read source state"));
  s.Bind(source);
  SourceState state;
  const StepResult rc = s.Step();
  if (rc == kRow) {
    state.first_run_at = s.OptInt(0);
    state.last_success_at = s.OptInt(1);
    state.last_success_date = s.Text(2);
    state.failures = int(s.Int(3));
    state.last_error = s.Text(4);
    state.failing_since = s.OptInt(5);
    state.alerted = s.Int(6) != 0;
    state.retry_at = s.OptInt(7);
  } else if (rc != kDone) {
    return Unexpected(s.Fail("read source state"));
  }
  return state;
}

Result<std::map<std::string, int>> StateStore::OutboxCounts() {
  // The index of due rows holds the unfinished rows, and counts them by state; the sent ones
  // are the rest (a year's 180,000 are not read one by one), counted in the same snapshot.
  Transaction snapshot(*db_, db_->dialect().begin_snapshot);
  if (!snapshot.ok()) return Unexpected("read outbox: " + snapshot.error());
  Stmt s(*db_, "SELECT state, count(*) FROM outbox WHERE state <> 'sent' GROUP BY state");
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  std::map<std::string, int> counts;
  std::int64_t unfinished = 0;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    counts[s.Text(0)] = int(s.Int(1));
    unfinished += s.Int(1);
  }
  if (rc != kDone) return Unexpected(s.Fail("read outbox"));
  Stmt all(*db_, "SELECT count(*) FROM outbox");
  const auto total = OneInt(all, "read outbox");
  if (!total) return Unexpected(total.error());
  if (*total > unfinished) counts["sent"] = int(*total - unfinished);
  if (auto st = snapshot.Commit(); !st) return Unexpected("read outbox: " + st.error().message);
  return counts;
}

Result<std::map<std::string, int>> StateStore::WaitingByNotifier() {
  Stmt s(*db_,
         "SELECT notifier, count(*) FROM outbox "
         "WHERE state <> 'sent' AND state IN ('pending', 'sending') "
         "GROUP BY notifier");
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  std::map<std::string, int> counts;
  StepResult rc;
  while ((rc = s.Step()) == kRow) counts[s.Text(0)] = int(s.Int(1));
  if (rc != kDone) return Unexpected(s.Fail("read outbox"));
  return counts;
}

Result<std::optional<FetchValidators>> StateStore::GetValidators(const std::string& source,
                                                                 const std::string& url) {
  Stmt s(*db_,
         "SELECT etag, last_modified, body_hash FROM fetch_state WHERE source = ? AND url_id = ?");
  if (!s.ok()) return Unexpected(s.Fail("read fetch state"));
  s.Bind(source).Bind(UrlId(url));
  const StepResult rc = s.Step();
  if (rc == kDone) return std::optional<FetchValidators>();
  if (rc != kRow) return Unexpected(s.Fail("read fetch state"));
  return std::optional<FetchValidators>(
      FetchValidators{.etag = s.Text(0), .last_modified = s.Text(1), .body_hash = s.Text(2)});
}

Result<std::map<std::string, PriorSighting>> StateStore::LoadPriorSightings(
    const std::string& source, const std::vector<std::string>& keys) {
  // A source's first day (a new source, a new state) has nothing to look up: a probe of one
  // index entry, where the lookup of a 10,000-paper day's keys costs 5 ms even then.
  Stmt exists(*db_, "SELECT EXISTS(SELECT 1 FROM sightings WHERE source = ?)");
  exists.Bind(source);
  const auto any = OneInt(exists, "read sightings");
  if (!any) return Unexpected(any.error());
  if (*any == 0) return std::map<std::string, PriorSighting>{};
  Stmt s(*db_, db_->dialect().prior_sightings);
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(source).Bind(KeysJson(keys));
  std::map<std::string, PriorSighting> out;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    PriorSighting p{.content_hash = s.Text(1), .version = s.Text(3), .title = s.Text(4)};
    if (auto v = s.OptInt(2)) p.votes = int(*v);
    out.emplace(s.Text(0), std::move(p));
  }
  if (rc != kDone) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::vector<StoredSighting>> StateStore::LoadSightings(const std::string& date,
                                                              const std::string& paper_key) {
  Stmt s(*db_,
         "SELECT s.source, s.date, snapshot_text(p.paper, p.encoding), s.first_seen "
         "FROM sightings s "
         "JOIN snapshots p ON p.id = s.snapshot "
         "WHERE (?1 = '' OR s.date = ?1) AND (?2 = '' OR s.paper_key = ?2) "
         "ORDER BY s.source, s.paper_key");
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(date).Bind(paper_key);
  std::vector<StoredSighting> out;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    auto paper = ParseSnapshot(s.TextView(2));
    if (!paper) continue;  // written by us; skip rather than fail a read
    out.push_back(StoredSighting{
        .source = s.Text(0), .date = s.Text(1), .paper = std::move(*paper), .first_seen = s.Int(3)});
  }
  if (rc != kDone) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::vector<Paper>> StateStore::RecentPapers(const std::string& source, int limit) {
  Stmt s(*db_,
         "SELECT snapshot_text(p.paper, p.encoding) FROM sightings s "
         "JOIN snapshots p ON p.id = s.snapshot WHERE s.source = ? ORDER BY s.seen_at DESC "
         "LIMIT ?");
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(source).Bind(std::int64_t(limit));
  std::vector<Paper> out;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    if (auto paper = ParseSnapshot(s.TextView(0))) out.push_back(std::move(*paper));
  }
  if (rc != kDone) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::map<std::string, std::string>> StateStore::KeysByUrl(
    const std::string& source, const std::vector<std::string>& urls) {
  const std::string sql = "SELECT url, paper_key FROM sightings WHERE source = ?1 AND url IN "
                          "(SELECT value FROM " + db_->dialect().json_values(2) + ")";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read sightings"));
  s.Bind(source).Bind(KeysJson(urls));
  std::map<std::string, std::string> out;
  StepResult rc;
  while ((rc = s.Step()) == kRow) out.emplace(s.Text(0), s.Text(1));
  if (rc != kDone) return Unexpected(s.Fail("read sightings"));
  return out;
}

Result<std::set<std::string>> StateStore::LoadNotified(const std::vector<std::string>& keys) {
  // A new state's first day: nothing notified yet (LoadPriorSightings says why to ask).
  Stmt exists(*db_, "SELECT EXISTS(SELECT 1 FROM notified_sets)");
  const auto any = OneInt(exists, "read notified");
  if (!any) return Unexpected(any.error());
  if (*any == 0) return std::set<std::string>{};
  Stmt s(*db_, db_->dialect().notified_watches);
  if (!s.ok()) return Unexpected(s.Fail("read notified"));
  s.Bind(KeysJson(keys));
  std::set<std::string> out;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    std::optional<DedupeKey> key = DedupeKey::Decode(s.Text(0));
    if (!key) continue;  // not a key digestd wrote
    key->watches = {s.Text(1)};
    out.insert(key->Encode());
  }
  if (rc != kDone) return Unexpected(s.Fail("read notified"));
  return out;
}

namespace {

// A sighting that says what it said before is left alone, but for `seen_at`, which is
// brought forward at most once a day (Prune reads it; a daily write is enough for that).
constexpr const char* kSightingConflict =
    " ON CONFLICT(paper_key, source) DO UPDATE SET date = excluded.date, "
    "url = excluded.url, votes = excluded.votes, version = excluded.version, "
    "snapshot = excluded.snapshot, content_hash = excluded.content_hash, "
    "seen_at = excluded.seen_at WHERE sightings.snapshot != excluded.snapshot OR "
    "sightings.date != excluded.date OR sightings.seen_at < excluded.seen_at - 86400";

// Where each notified set's marks start in a commit's marks: the planner makes a set's marks
// one after the other, so a set's run goes on while SameSet says so.
using SetStarts = std::vector<std::uint32_t>;

SetStarts StartsOfSets(const std::vector<NotifiedMark>& marks) {
  SetStarts starts;
  for (std::size_t i = 0; i < marks.size(); ++i) {
    if (i == 0 || !marks[i].SameSet(marks[i - 1])) starts.push_back(std::uint32_t(i));
  }
  return starts;
}

// The order a commit's papers go into the b-trees in (key order), and its notified sets'
// (RecordNotified writes them in it). A digest lists its papers by votes or by the time they
// came, so their keys (and URLs) land all over the pages of `sightings`, `notified_sets` and
// their indexes (and of `papers`, before schema 16): a 10,000-paper day dirtied more pages
// than a 1 MiB page cache holds, which SQLite spilled to the WAL and read back. In key order
// each tree is written along its right edge. A 10,000-paper commit in random key order
// (BM_CommitDigest/10000) took 186-277 ms before, 107-110 ms after (issue 12). Equal keys,
// and equal sets, keep their order. The sets are ordered, not their marks: a day's 35,000
// marks of 1,000 watches took 19 ms to sort one by one; by paper first, the order of their
// table's key (schema 15). Reads the commit only: it is sorted while a first commit's
// snapshot dictionary is made from the same papers (SnapshotDictionary), then put in order
// (PutInTreeOrder).
struct TreeOrder {
  std::vector<std::size_t> papers;  // places in c.papers, in key order
  SetStarts sets;
};

TreeOrder TreeOrderOf(const DigestCommit& c) {
  // Each key beside its paper's place: the sort reads no paper.
  std::vector<std::pair<std::string_view, std::size_t>> keyed;
  keyed.reserve(c.papers.size());
  for (std::size_t i = 0; i < c.papers.size(); ++i) keyed.emplace_back(c.papers[i]->key, i);
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  TreeOrder order;
  order.papers.reserve(keyed.size());
  for (const auto& [key, i] : keyed) order.papers.push_back(i);
  order.sets = StartsOfSets(c.notified);
  std::stable_sort(order.sets.begin(), order.sets.end(), [&](std::uint32_t a, std::uint32_t b) {
    const NotifiedMark& x = c.notified[a];
    const NotifiedMark& y = c.notified[b];
    return std::tie(x.paper_key, x.notifier, x.event_class) <
           std::tie(y.paper_key, y.notifier, y.event_class);
  });
  return order;
}

// Puts c.papers (with their hashes) in `order` (TreeOrder::papers).
void PutInTreeOrder(DigestCommit& c, const std::vector<std::size_t>& order) {
  const bool hashed = c.content_hashes.size() == order.size();
  std::vector<SharedPaper> papers;
  std::vector<HashDigits> hashes;
  papers.reserve(order.size());
  if (hashed) hashes.reserve(order.size());
  for (std::size_t i : order) {
    papers.push_back(std::move(c.papers[i]));
    if (hashed) hashes.push_back(std::move(c.content_hashes[i]));
  }
  c.papers = std::move(papers);
  c.content_hashes = std::move(hashes);
}

// INSERT of `rows` sightings in one statement (their rows in order, ten values each): with
// kSightingConflict (`upsert`), or else of new rows only, a row whose key exists left out.
std::string SightingsInsert(const sql::Dialect& dialect, std::size_t rows, bool upsert) {
  return std::string(upsert ? "INSERT" : dialect.add_rows) +
         " INTO sightings(paper_key, source, date, url, votes, version, snapshot, "
         "content_hash, first_seen, seen_at)" +
         ValuesOfRows(rows, 10) + (upsert ? kSightingConflict : dialect.add_rows_end);
}

// CommitDigest's snapshots a row at a time and its sightings a few rows to a statement
// (SQLite, where a row costs less than its JSON would). Each snapshot's id is needed before
// its sighting is written; kSightingBatch sightings to a statement, which SQLite resets and
// opens its cursors for once, made a 10,000-paper commit 2 ms shorter (49.6 -> 47.5 ms, eight
// rounds in turns).
// They go new ones first (NewRowsFirst): the upsert leaves a row just added as it is, the
// same values.
Status RecordPapersInBatches(sql::Db& db, const DigestCommit& c, SnapshotWriter& snapshots) {
  if (c.papers.empty()) return Ok();
  constexpr std::size_t kSightingBatch = 32;
  struct Pending {
    const Paper* paper;
    std::int64_t snapshot;
    HashDigits hash;
  };
  std::vector<Pending> pending;
  pending.reserve(kSightingBatch);
  BatchStatements add(db, kSightingBatch, [&db](std::size_t rows) {
    return SightingsInsert(db.dialect(), rows, false);
  });
  BatchStatements upsert(db, kSightingBatch, [&db](std::size_t rows) {
    return SightingsInsert(db.dialect(), rows, true);
  });
  NewRowsFirst batches;
  const auto run = [&](BatchStatements& statements) -> Result<std::int64_t> {
    Stmt& stmt = statements.For(pending.size());
    for (const Pending& row : pending) {
      const Paper& p = *row.paper;
      // The paper, the commit and the hash outlive the step: their texts are not copied.
      stmt.BindBorrowed(p.key).BindBorrowed(c.source).BindBorrowed(c.date).BindBorrowed(p.url);
      stmt.BindOptional(p.votes ? std::optional<std::int64_t>(*p.votes) : std::nullopt);
      stmt.BindBorrowed(p.version).Bind(row.snapshot).BindBorrowed(row.hash.view());
      stmt.Bind(c.now).Bind(c.now);
    }
    if (auto st = Run(stmt, "record sighting", pending.front().paper->key); !st) {
      return Unexpected(st.error());
    }
    return stmt.Changes();
  };
  const auto write = [&]() -> Status {
    auto st = batches.Write(
        pending.size(), [&] { return run(add); },
        [&]() -> Status {
          if (auto upserted = run(upsert); !upserted) return Unexpected(upserted.error());
          return Ok();
        });
    pending.clear();
    return st;
  };
  SnapshotPipeline prepared(c, snapshots.codec());
  for (std::size_t i = 0; i < c.papers.size(); ++i) {
    const Paper& p = c.papers[i];
    const PreparedSnapshot& ready = prepared.Take(i);
    auto snapshot = snapshots.Intern(p, ready);
    if (!snapshot) return Unexpected(snapshot.error());
    pending.push_back({.paper = &p, .snapshot = *snapshot, .hash = ready.content});
    if (pending.size() == kSightingBatch) {
      if (auto st = write(); !st) return st;
    }
  }
  if (!pending.empty()) return write();
  return Ok();
}

// Steps `s`, whose rows are (id, paper text), to its end: each row whose text is one of
// `texts` gives that text its id in `ids`.
Status ReadSnapshotIds(Stmt& s, const std::set<std::string_view>& texts,
                       std::unordered_map<std::string_view, std::int64_t>& ids,
                       std::string_view what) {
  if (!s.ok()) return Unexpected(s.Fail(what));
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    if (const auto it = texts.find(s.TextView(1)); it != texts.end()) ids.emplace(*it, s.Int(0));
  }
  if (rc != kDone) return Unexpected(s.Fail(what));
  return Ok();
}

// CommitDigest's snapshots and sightings a table at a time (Dialect::bulk_commit): three
// statements whatever the number of papers. `snapshots` learns every paper's id.
Status RecordPapersInBulk(sql::Db& db, const DigestCommit& c, SnapshotWriter& snapshots) {
  if (c.papers.empty()) return Ok();
  const sql::Dialect& dialect = db.dialect();
  // Each distinct text once: those stored already, found by hash and compared in full, then
  // the others in one insert.
  std::vector<std::string> texts;
  texts.reserve(c.papers.size());
  for (const Paper& p : c.papers) texts.push_back(SnapshotText(p));
  std::unordered_map<std::string_view, std::int64_t> ids;
  {
    JsonWriter hashes;
    hashes.BeginArray();
    for (const std::string& t : texts) hashes.Int(SnapshotHash(t));
    hashes.EndArray();
    Stmt find(db, "SELECT id, paper FROM snapshots WHERE hash IN (SELECT CAST(value AS BIGINT) "
                  "FROM " + dialect.json_values(1) + " AS value)");
    find.Bind(hashes.str());
    const std::set<std::string_view> wanted(texts.begin(), texts.end());
    if (auto st = ReadSnapshotIds(find, wanted, ids, "read snapshots"); !st) return st;
  }
  JsonWriter missing;
  missing.BeginArray();
  std::set<std::string_view> queued;
  for (const std::string& t : texts) {
    if (ids.contains(t) || !queued.insert(t).second) continue;
    missing.BeginObject().Key("h").Int(SnapshotHash(t)).Key("p").String(t).EndObject();
  }
  missing.EndArray();
  if (!queued.empty()) {
    Stmt insert(db, "INSERT INTO snapshots(hash, paper) SELECT r.h, r.p FROM " +
                        dialect.json_records(1, "h bigint, p text") + " RETURNING id, paper");
    insert.Bind(missing.str());
    if (auto st = ReadSnapshotIds(insert, queued, ids, "store snapshots"); !st) return st;
  }

  JsonWriter rows;
  rows.BeginArray();
  for (std::size_t i = 0; i < c.papers.size(); ++i) {
    const Paper& p = c.papers[i];
    const auto id = ids.find(texts[i]);
    if (id == ids.end()) return Unexpected("store snapshots: no id for paper " + p.key);
    snapshots.Remember(p, id->second);
    rows.BeginObject().Key("k").String(p.key).Key("u").String(p.url);
    rows.Key("v");
    if (p.votes) {
      rows.Int(*p.votes);
    } else {
      rows.Null();
    }
    rows.Key("ver").String(p.version).Key("s").Int(id->second);
    rows.Key("h").String(ContentHashOf(c, i).view()).EndObject();
  }
  rows.EndArray();
  Stmt sightings(db, std::string("INSERT INTO sightings(paper_key, source, date, url, votes, "
                                 "version, snapshot, content_hash, first_seen, seen_at) "
                                 "SELECT r.k, ?2, ?3, r.u, r.v, r.ver, r.s, r.h, ?4, ?4 FROM ") +
                         dialect.json_records(1, "k text, u text, v bigint, ver text, "
                                                 "s bigint, h text") +
                         kSightingConflict);
  sightings.Bind(rows.str()).Bind(c.source).Bind(c.date).Bind(c.now);
  return Run(sightings, "record sightings");
}

// Gives the state its snapshot dictionary (snapshot_codec.h) before a commit stores
// `papers`: the one the state holds, or, when it has none and the newest stored texts and
// then these papers' come to kMinDictionaryBytes, one made of them. In the commit's
// transaction: a dictionary that is rolled back with it is written again by the next commit
// (its id is its hash, so it is the same row).
//
// A new dictionary (a first day's) is made on another thread, beside the commit's first
// statements, which need no snapshot: SnapshotDictionary::Start reads what the state has and
// starts it, Finish waits for it and stores it. On a 10,000-paper first day
// it is 8 ms of the texts' serialising, zstd's counting and its tables, while the marks are
// written. The thread makes the dictionary the codec's at once; a commit that fails before
// storing it leaves the codec with a dictionary the state lacks, which the next commit
// stores, as after a rollback.
class SnapshotDictionary {
 public:
  // Text read to make a dictionary of: its bytes, and the texts its tables are counted from.
  static constexpr std::size_t kDictionaryTextBytes =
      sql::SnapshotCodec::kDictionaryBytes + sql::SnapshotCodec::kSampleBytes;
  // Papers in a commit above which the dictionary is made on a thread of its own.
  static constexpr std::size_t kDictionaryThreadPapers = 256;

  static Result<SnapshotDictionary> Start(sql::Db& db, const std::vector<SharedPaper>& papers,
                                          std::int64_t now);
  Status Finish(sql::Db& db, std::int64_t now);

 private:
  struct Made {
    std::int64_t id = 0;
    std::string bytes;
  };
  std::future<Made> making_;  // valid while a new dictionary is being made
};

Status StoreSnapshotDictionary(sql::Db& db, std::int64_t id, std::string_view dictionary,
                               std::int64_t now) {
  Stmt insert(db, "INSERT INTO snapshot_dicts(id, dict, created_at) VALUES(?, ?, ?)");
  insert.Bind(id).BindBlob(dictionary).Bind(now);
  return Run(insert, "store the snapshot dictionary");
}

Result<SnapshotDictionary> SnapshotDictionary::Start(sql::Db& db,
                                                     const std::vector<SharedPaper>& papers,
                                                     std::int64_t now) {
  using sql::SnapshotCodec;
  SnapshotDictionary out;
  SnapshotCodec* codec = db.snapshot_codec();
  if (codec == nullptr) return out;
  if (const auto current = codec->Current()) {
    Stmt known(db, "SELECT 1 FROM snapshot_dicts WHERE id = ?");
    known.Bind(*current);
    const StepResult rc = known.Step();
    if (rc == kRow) return out;
    if (rc != kDone) return Unexpected(known.Fail("read snapshot dictionaries"));
    if (auto st = StoreSnapshotDictionary(db, *current, codec->Bytes(*current), now); !st) {
      return Unexpected(st.error());
    }
    return out;
  }
  Stmt stored(db, "SELECT id, dict FROM snapshot_dicts ORDER BY created_at, id LIMIT 1");
  StepResult rc = stored.Step();
  if (rc == kRow) {
    codec->Add(stored.Int(0), stored.TextView(1));
    return out;
  }
  if (rc != kDone) return Unexpected(stored.Fail("read snapshot dictionaries"));
  // The texts, newest first, laid end to end in one block: past malloc's mmap threshold, it
  // goes back to the system when freed, where a string per text would stay in the arena of
  // the thread that made it.
  std::string joined;
  joined.reserve(kDictionaryTextBytes + kDictionaryTextBytes / 4);
  std::vector<std::size_t> sizes;
  Stmt texts(db, "SELECT paper FROM snapshots WHERE encoding = 0 ORDER BY id DESC");
  while (joined.size() < kDictionaryTextBytes && (rc = texts.Step()) == kRow) {
    joined += texts.TextView(0);
    sizes.push_back(texts.TextView(0).size());
  }
  if (rc == kError) return Unexpected(texts.Fail("read snapshots"));
  // A short day's (the usual one's) is made when Finish asks for it, on the caller's thread.
  const auto policy = papers.size() > kDictionaryThreadPapers ? std::launch::async
                                                              : std::launch::deferred;
  out.making_ = std::async(policy, [&papers, codec, joined = std::move(joined),
                                    sizes = std::move(sizes)]() mutable {
    for (std::size_t i = 0; i < papers.size() && joined.size() < kDictionaryTextBytes; ++i) {
      const std::string text = SnapshotText(papers[i]);
      joined += text;
      sizes.push_back(text.size());
    }
    if (joined.size() < SnapshotCodec::kMinDictionaryBytes) return Made{};
    Made made{.bytes = SnapshotCodec::MakeDictionary(joined, sizes)};
    made.id = SnapshotCodec::DictionaryId(made.bytes);
    codec->Add(made.id, made.bytes);
    return made;
  });
  return out;
}

Status SnapshotDictionary::Finish(sql::Db& db, std::int64_t now) {
  if (!making_.valid()) return Ok();
  const Made made = making_.get();  // rethrows what the thread threw (std::bad_alloc)
  if (made.id == 0) return Ok();  // too little text yet
  return StoreSnapshotDictionary(db, made.id, made.bytes, now);
}

// Merges CommitDigest's notified marks into their stored sets (a set: the mark but its
// watch), a run of marks of one set at a time, in the order of `sets` (StartsOfSets). A set
// met in two runs is merged twice, which stores the same. New sets first, kSetBatch to a
// statement (NewRowsFirst); merged one statement each (Dialect::merge_notified) once a
// batch had a set the state had.
Status RecordNotified(sql::Db& db, const std::vector<NotifiedMark>& marks, const SetStarts& sets,
                      std::int64_t now) {
  constexpr std::size_t kSetBatch = 32;
  struct Set {
    std::string key;
    std::string_view paper_key;
    std::string names;
  };
  std::vector<Set> pending;
  pending.reserve(std::min(kSetBatch, sets.size()));
  BatchStatements statements(db, kSetBatch, [&db](std::size_t rows) {
    return std::string(db.dialect().add_rows) +
           " INTO notified_sets(key, paper_key, watches, created_at)" + ValuesOfRows(rows, 4) +
           db.dialect().add_rows_end;
  });
  std::optional<Stmt> merge;
  NewRowsFirst batches;
  const auto write = [&]() -> Status {
    const auto add = [&]() -> Result<std::int64_t> {
      Stmt& insert = statements.For(pending.size());
      for (const Set& set : pending) {
        insert.BindBorrowed(set.key).BindBorrowed(set.paper_key).BindBorrowed(set.names);
        insert.Bind(now);
      }
      if (auto st = Run(insert, "record notified"); !st) return Unexpected(st.error());
      return insert.Changes();
    };
    const auto merge_each = [&]() -> Status {
      if (!merge) merge.emplace(db, db.dialect().merge_notified);
      for (const Set& set : pending) {
        merge->Reset();
        merge->BindBorrowed(set.key).BindBorrowed(set.paper_key).BindBorrowed(set.names);
        merge->Bind(now);
        if (auto st = Run(*merge, "record notified"); !st) return st;
      }
      return Ok();
    };
    auto st = batches.Write(pending.size(), add, merge_each);
    pending.clear();
    return st;
  };
  std::vector<std::string> watches;
  for (const std::uint32_t start : sets) {
    const NotifiedMark& set = marks[start];
    watches.clear();
    for (std::size_t i = start; i < marks.size() && marks[i].SameSet(set); ++i) {
      watches.emplace_back(marks[i].watch);
    }
    // In order, each once, as a merge leaves them: a set merged with itself is unchanged.
    std::sort(watches.begin(), watches.end());
    watches.erase(std::unique(watches.begin(), watches.end()), watches.end());
    pending.push_back(
        {.key = set.EncodeSet(), .paper_key = set.paper_key, .names = KeysJson(watches)});
    if (pending.size() == kSetBatch) {
      if (auto st = write(); !st) return st;
    }
  }
  if (!pending.empty()) return write();
  return Ok();
}

}  // namespace

Status StateStore::CommitDigest(DigestCommit c) {
  sql::Db& db = *db_;
  Transaction txn(db);
  if (!txn.ok()) return Unexpected("begin: " + txn.error());
  if (auto st = CheckLease(); !st) return Unexpected(st.error());

  // What is written goes at once: a long day's marks, hashes and messages are megabytes
  // each. The marks (no row refers to papers) go first, before the papers fill the page
  // cache; the papers the notifications share stay. A first long commit's snapshot
  // dictionary is made on a thread meanwhile (it reads c.papers until Finish).
  auto dictionary = SnapshotDictionary::Start(db, c.papers, c.now);
  if (!dictionary) return Unexpected(dictionary.error());
  // Written a row at a time, a day goes in the trees' order (TreeOrder).
  TreeOrder order;
  if (db.dialect().bulk_commit) {
    order.sets = StartsOfSets(c.notified);
  } else {
    order = TreeOrderOf(c);
  }
  if (auto st = RecordNotified(db, c.notified, order.sets, c.now); !st) return st;
  std::vector<NotifiedMark>().swap(c.notified);
  SetStarts().swap(order.sets);
  if (auto st = dictionary->Finish(db, c.now); !st) return st;
  if (!order.papers.empty()) PutInTreeOrder(c, order.papers);
  std::vector<std::size_t>().swap(order.papers);
  SnapshotWriter snapshots(db);
  const Status papers = db.dialect().bulk_commit ? RecordPapersInBulk(db, c, snapshots)
                                                 : RecordPapersInBatches(db, c, snapshots);
  if (!papers) return papers;
  std::vector<HashDigits>().swap(c.content_hashes);
  std::vector<std::size_t> kept;
  std::vector<std::size_t> handed;
  const bool owner_free = handed_over_.empty() || (c.hand_over && c.hand_over->owner ==
                                                                      handed_over_owner_);
  const DigestCommit::HandOver* hand_over =
      c.hand_over && owner_free && CanHandOver(c.notifications.size()) ? &*c.hand_over : nullptr;
  if (auto st = InsertOutbox(db, c.notifications, c.now, snapshots, &kept, hand_over, &handed);
      !st) {
    return Unexpected(st.error());
  }
  if (auto st = InsertHeld(db, c.held, c.now, snapshots); !st) return st;
  Stmt fetch(db,
             "INSERT INTO fetch_state(source, url_id, etag, last_modified, body_hash, "
             "last_success) VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(source, url_id) DO UPDATE SET "
             "etag = excluded.etag, last_modified = excluded.last_modified, "
             "body_hash = excluded.body_hash, last_success = excluded.last_success");
  fetch.Bind(c.source).Bind(UrlId(c.url)).Bind(c.validators.etag).Bind(c.validators.last_modified);
  fetch.Bind(c.validators.body_hash).Bind(c.now);
  if (auto st = Run(fetch, "record fetch state"); !st) return st;
  if (auto st = RecordSourceSuccess(c.source, c.date, c.now, true); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  // A long commit filled the page cache with pages the delivery that follows does not read.
  if (c.papers.size() > kReleaseCacheAfter) db_->ReleaseMemory();
  std::vector<Notification>* list = KeepQueued(std::move(c.notifications), kept);
  if (list != nullptr && !handed.empty()) {
    handed_over_owner_ = hand_over->owner;
    for (std::size_t i : handed) {
      Notification& n = (*list)[i];
      handed_over_[n.notifier].push_back(
          {.notification = &n,
           .created_at = c.now,
           .lease_until = hand_over->lease_until.find(n.notifier)->second});
    }
  }
  return Ok();
}

Status StateStore::RecordSourceSuccess(const std::string& source, const std::string& date,
                                       std::int64_t now, bool published) {
  Stmt s(*db_,
         "INSERT INTO sources(name, last_success_at, last_success_date, failures, last_error) "
         "VALUES(?1, ?2, CASE WHEN ?4 != 0 THEN ?3 ELSE '' END, 0, '') "
         "ON CONFLICT(name) DO UPDATE SET last_success_at = ?2, failures = 0, last_error = '', "
         "failing_since = NULL, alerted = 0, retry_at = NULL, "
         "last_success_date = CASE WHEN ?4 != 0 AND ?3 > sources.last_success_date THEN ?3 "
         "ELSE sources.last_success_date END");
  if (!s.ok()) return Unexpected(s.Fail("record source success"));
  s.Bind(source).Bind(now).Bind(date).Bind(std::int64_t(published ? 1 : 0));
  return Run(s, "record source success");
}

Status StateStore::RecordFetchFailure(const std::string& source, const std::string& error,
                                      const SourceHealth& health, std::int64_t retry_at,
                                      const std::vector<Notification>& alerts, std::int64_t now) {
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("begin: " + txn.error());
  if (auto st = CheckLease(); !st) return Unexpected(st.error());
  Stmt s(*db_,
         "INSERT INTO sources(name, failures, last_error, failing_since, alerted, retry_at) "
         "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO UPDATE SET failures = ?2, "
         "last_error = ?3, failing_since = ?4, alerted = ?5, retry_at = ?6");
  s.Bind(source).Bind(std::int64_t(health.failures)).Bind(error);
  s.BindOptional(health.failing_since).Bind(std::int64_t(health.alerted ? 1 : 0)).Bind(retry_at);
  if (auto st = Run(s, "record source failure"); !st) return st;
  SnapshotWriter snapshots(*db_);
  if (auto st = InsertOutbox(*db_, alerts, now, snapshots); !st) return Unexpected(st.error());
  return txn.Commit();
}

Status StateStore::QueueNotifications(const std::vector<Notification>& notifications,
                                      std::int64_t now) {
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("begin: " + txn.error());
  if (auto st = CheckLease(); !st) return Unexpected(st.error());
  SnapshotWriter snapshots(*db_);
  std::vector<std::size_t> keep;
  if (auto st = InsertOutbox(*db_, notifications, now, snapshots, &keep); !st) {
    return Unexpected(st.error());
  }
  if (auto st = txn.Commit(); !st) return st;
  KeepQueued(notifications, keep);  // a few messages (highlights, digests): copied
  return Ok();
}

Status StateStore::MarkFirstRunDone(const std::string& source, std::int64_t now) {
  Stmt s(*db_,
         "INSERT INTO sources(name, first_run_at) VALUES(?1, ?2) "
         "ON CONFLICT(name) DO UPDATE SET first_run_at = COALESCE(sources.first_run_at, ?2)");
  s.Bind(source).Bind(now);
  return Run(s, "record first run");
}

Result<std::vector<OutboxRow>> StateStore::DueOutbox(std::int64_t now, int limit) {
  const std::string sql = std::string("SELECT ") + kOutboxColumns +
                          " FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
                          "ORDER BY created_at, rowid LIMIT ?";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  s.Bind(now).Bind(std::int64_t(limit));
  return ReadOutboxRows(*db_, s, "read outbox");
}

Result<std::optional<std::int64_t>> StateStore::NextAttemptAt(
    std::int64_t now, const std::function<bool(const std::string&)>& owner_alive,
    const std::vector<std::string>* notifiers) {
  const std::string only = notifiers ? KeysJson(*notifiers) : std::string();
  // ?1: the notifiers as a JSON array, or NULL for every notifier.
  const std::string of_them =
      " AND (?1 IS NULL OR notifier IN (SELECT value FROM " + db_->dialect().json_values(1) + "))";
  const auto bind_notifiers = [&](Stmt& stmt) {
    if (notifiers) {
      stmt.Bind(only);
    } else {
      stmt.BindNull();
    }
  };
  if (owner_alive) {
    const std::string sql = std::string(
                                "SELECT DISTINCT lease_owner FROM outbox WHERE "
                                "state <> 'sent' AND state = 'sending' AND lease_until > ?2") +
                            of_them;
    Stmt owners(*db_, sql);
    if (!owners.ok()) return Unexpected(owners.Fail("read outbox"));
    bind_notifiers(owners);
    owners.Bind(now);
    StepResult rc;
    while ((rc = owners.Step()) == kRow) {
      if (!owner_alive(owners.Text(0))) return std::optional<std::int64_t>(now);
    }
    if (rc != kDone) return Unexpected(owners.Fail("read outbox"));
  }
  const std::string sql =
      std::string(
          "SELECT min(CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until "
          "END) FROM outbox WHERE state <> 'sent' AND state IN ('pending', 'sending')") +
      of_them;
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  bind_notifiers(s);
  if (s.Step() != kRow) return Unexpected(s.Fail("read outbox"));
  return s.OptInt(0);
}

Result<std::vector<OutboxRow>> StateStore::ClaimDue(
    const std::string& notifier, std::int64_t now, int limit, const std::string& owner,
    std::int64_t lease_until, const std::function<bool(const std::string&)>& owner_alive) {
  return ClaimDue({ClaimRequest{.notifier = notifier, .limit = limit, .lease_until = lease_until}},
                  now, owner, owner_alive);
}

Result<std::vector<OutboxRow>> StateStore::ClaimDue(
    const std::vector<ClaimRequest>& requests, std::int64_t now, const std::string& owner,
    const std::function<bool(const std::string&)>& owner_alive) {
  std::vector<OutboxRow> rows;
  if (requests.empty()) return rows;
  // Rows a commit handed over to `owner` are claimed already: they come from memory, ahead
  // of the state's due rows, and only what they leave of each limit is claimed below. Most
  // claims after a large commit touch the state not at all.
  std::vector<std::vector<OutboxRow>> handed;
  std::vector<ClaimRequest> rest;
  if (owner == handed_over_owner_ && !handed_over_.empty()) {
    handed.resize(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const ClaimRequest& r = requests[i];
      handed[i] = TakeHandedOver(r.notifier, r.limit);
      const int left = r.limit - int(handed[i].size());
      if (left > 0) {
        rest.push_back({.notifier = r.notifier, .limit = left, .lease_until = r.lease_until});
      }
    }
  }
  if (handed.empty()) return ClaimDueInState(requests, now, owner, owner_alive);
  Result<std::vector<OutboxRow>> claimed = std::vector<OutboxRow>{};
  if (!rest.empty()) claimed = ClaimDueInState(rest, now, owner, owner_alive);
  if (!claimed) return claimed;
  // One notifier's rows, all from memory (a first run's flood to one target): as they are.
  if (requests.size() == 1 && claimed->empty()) return std::move(handed.front());
  // Each request's handed-over rows, then its rows from the state (grouped by request).
  std::size_t total = claimed->size();
  for (const std::vector<OutboxRow>& h : handed) total += h.size();
  rows.reserve(total);
  std::size_t next = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    for (OutboxRow& row : handed[i]) rows.push_back(std::move(row));
    while (next < claimed->size() && (*claimed)[next].notifier == requests[i].notifier) {
      rows.push_back(std::move((*claimed)[next++]));
    }
  }
  return rows;
}

Result<std::vector<OutboxRow>> StateStore::ClaimDueInState(
    const std::vector<ClaimRequest>& requests, std::int64_t now, const std::string& owner,
    const std::function<bool(const std::string&)>& owner_alive) {
  std::vector<OutboxRow> rows;
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("claim outbox rows: " + txn.error());
  // Rows held by a process that is gone are due at once, not when their lease runs out.
  {
    Stmt owners(*db_,
                "SELECT DISTINCT lease_owner FROM outbox WHERE state <> 'sent' AND "
                "state = 'sending' AND lease_owner != ? AND lease_until > ?");
    if (!owners.ok()) return Unexpected(owners.Fail("claim outbox rows"));
    owners.Bind(owner).Bind(now);
    std::vector<std::string> gone;
    StepResult rc;
    while ((rc = owners.Step()) == kRow) {
      std::string who = owners.Text(0);
      if (owner_alive && !owner_alive(who)) gone.push_back(std::move(who));
    }
    if (rc != kDone) return Unexpected(owners.Fail("claim outbox rows"));
    Stmt expire(*db_,
                "UPDATE outbox SET lease_until = ? "
                "WHERE state <> 'sent' AND state = 'sending' AND lease_owner = ?");
    for (const std::string& who : gone) {
      expire.Reset();
      expire.Bind(now).Bind(who);
      if (auto st = Run(expire, "claim outbox rows"); !st) return Unexpected(st.error());
    }
  }
  std::vector<OutboxRow> raw;
  std::vector<std::string> messages;
  std::vector<std::int64_t> rowids;  // of each claimed row, in the order of `raw`
  std::vector<bool> kept;            // whether its notification came from `queued_`
  const auto read = [&](Stmt& s) -> Status {
    StepResult rc;
    while ((rc = s.Step()) == kRow) {
      messages.emplace_back();
      raw.push_back(ReadOutboxRow(s, messages.back()));
      rowids.push_back(s.Int(kOutboxColumnCount));
      const auto it = queued_.find(raw.back().id);
      kept.push_back(it != queued_.end());
      if (kept.back()) {
        Notification* queued = it->second;
        queued_.erase(it);  // before the id its key views is moved from
        raw.back().notification = std::move(*queued);
        messages.back().clear();
      }
    }
    if (rc != kDone) return Unexpected(s.Fail("claim outbox rows"));
    return Ok();
  };
  const sql::Dialect& dialect = db_->dialect();
  // Whether another owner's lease ran out, so that its rows are claimed too; most of the
  // time none has, and the simpler statements serve.
  const auto expired = [&]() -> Result<bool> {
    Stmt any(*db_,
             "SELECT EXISTS(SELECT 1 FROM outbox WHERE state <> 'sent' AND state = 'sending' AND "
             "lease_owner != ?1 AND lease_until <= ?2)");
    any.Bind(owner).Bind(now);
    auto found = OneInt(any, "claim outbox rows");
    if (!found) return Unexpected(found.error());
    return *found != 0;
  };
  if (requests.size() > kClaimByRanking || dialect.claim_per_request == nullptr) {
    // Many notifiers (a fan-out): one statement for all, each notifier's due rows ranked
    // oldest first and the first `limit` of each claimed with its lease.
    const char* ranked = dialect.claim_ranked;
    if (dialect.claim_ranked_pending != nullptr) {
      auto any = expired();
      if (!any) return Unexpected(any.error());
      if (!*any) ranked = dialect.claim_ranked_pending;
    }
    const std::string sql = std::string(ranked) + " RETURNING " + kOutboxColumns + ", rowid";
    Stmt s(*db_, sql);
    if (!s.ok()) return Unexpected(s.Fail("claim outbox rows"));
    JsonWriter wanted;
    wanted.BeginArray();
    for (const ClaimRequest& r : requests) {
      wanted.BeginObject();
      wanted.Key("notifier").String(r.notifier);
      wanted.Key("lim").Int(r.limit);
      wanted.Key("lease").Int(r.lease_until);
      wanted.EndObject();
    }
    wanted.EndArray();
    s.Bind(owner).Bind(now).Bind(wanted.str());
    if (auto st = read(s); !st) return Unexpected(st.error());
  } else {
    // Few notifiers, perhaps with long queues: one indexed statement per request. Rows
    // another process held until its lease ran out are claimed too.
    auto any = expired();
    if (!any) return Unexpected(any.error());
    // Parameters: ?1 owner, ?2 notifier, ?3 now, ?4 lease_until, ?5 limit.
    const std::string sql =
        std::string(*any ? dialect.claim_per_request_with_expired : dialect.claim_per_request) +
        " RETURNING " + kOutboxColumns + ", rowid";
    Stmt s(*db_, sql);
    if (!s.ok()) return Unexpected(s.Fail("claim outbox rows"));
    for (const ClaimRequest& r : requests) {
      s.Reset();
      s.Bind(owner).Bind(r.notifier).Bind(now).Bind(r.lease_until).Bind(std::int64_t(r.limit));
      if (auto st = read(s); !st) return Unexpected(st.error());
    }
  }
  if (auto st = ResolveMessages(*db_, raw, messages, &kept); !st) {
    return Unexpected(st.error());
  }
  // RETURNING gives rows in no particular order: group them by request, and within each
  // deliver the oldest first, rows queued in the same second in the order they were queued.
  std::map<std::string, std::size_t> order;
  for (const ClaimRequest& r : requests) order.emplace(r.notifier, order.size());
  std::vector<std::size_t> rank;  // request order of each claimed row
  for (const OutboxRow& row : raw) rank.push_back(order[row.notifier]);
  std::vector<std::size_t> sorted(raw.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) sorted[i] = i;
  const std::vector<OutboxRow>& c = raw;
  std::sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(rank[a], c[a].next_attempt_at, c[a].created_at, rowids[a]) <
           std::tie(rank[b], c[b].next_attempt_at, c[b].created_at, rowids[b]);
  });
  rows.reserve(sorted.size());
  for (std::size_t i : sorted) rows.push_back(std::move(raw[i]));
  if (auto st = txn.Commit(); !st) return Unexpected("claim outbox rows: " + st.error().message);
  return rows;
}

Status StateStore::RecordDeliveries(const std::vector<DeliveryResult>& results,
                                    const std::string& owner, std::int64_t now) {
  if (results.empty()) return Ok();
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("record deliveries: " + txn.error());
  if (const char* batch = db_->dialect().record_deliveries_batch) {
    JsonWriter rows;
    rows.BeginArray();
    for (const DeliveryResult& r : results) {
      rows.BeginObject();
      rows.Key("id").String(r.id).Key("kind").Int(int(r.kind)).Key("parts").Int(r.parts_sent);
      rows.Key("remote").String(r.remote_id).Key("error").String(r.error);
      rows.Key("next").Int(r.next_attempt_at);
      rows.EndObject();
    }
    rows.EndArray();
    Stmt s(*db_, batch);
    s.Bind(rows.str()).Bind(now).Bind(owner);
    if (auto st = Run(s, "record deliveries"); !st) return st;
    if (auto st = txn.Commit(); !st) return Unexpected("record deliveries: " + st.error().message);
    return Ok();
  }
  // SQLite, a row at a time, in the order of the rows in the table: a pass's ids are hashes,
  // so their rows lie all over a first run's 10,000, more pages than the cache holds, and
  // finding each by its id read pages back again and again (two thirds of recording a day).
  // The rowids are found first, in the order of the ids' index (which alone answers), then
  // the rows changed in rowid order, along the table and the index of due rows. Equal ids
  // keep their order; an id no row has changes nothing, as before.
  std::vector<const DeliveryResult*> by_id;
  by_id.reserve(results.size());
  for (const DeliveryResult& r : results) by_id.push_back(&r);
  std::stable_sort(by_id.begin(), by_id.end(),
                   [](const DeliveryResult* a, const DeliveryResult* b) { return a->id < b->id; });
  std::vector<std::pair<std::int64_t, const DeliveryResult*>> in_place;
  in_place.reserve(results.size());
  Stmt find(*db_, "SELECT rowid FROM outbox WHERE id = ?");
  if (!find.ok()) return Unexpected(find.Fail("record deliveries"));
  for (const DeliveryResult* r : by_id) {
    find.Reset();
    find.BindBorrowed(r->id);
    const StepResult rc = find.Step();
    if (rc == kRow) in_place.emplace_back(find.Int(0), r);
    else if (rc != kDone) return Unexpected(find.Fail("record delivery of " + r->id));
  }
  find.Reset();  // no read left open while the rows change
  std::stable_sort(in_place.begin(), in_place.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  // Any result; prepared at the first that is not a sent row (most batches have none).
  std::optional<Stmt> other;
  constexpr const char* kAnyResult =
      "UPDATE outbox SET "
      "state = CASE ?1 WHEN 0 THEN 'sent' WHEN 2 THEN 'dead' ELSE 'pending' END, "
      "attempts = attempts + CASE WHEN ?1 = 3 THEN 0 ELSE 1 END, "
      // Parts the target accepted stay accepted, whatever the row's fate: a released or
      // retried row resumes after them.
      "parts_sent = CASE WHEN parts_sent > ?2 THEN parts_sent ELSE ?2 END, "
      "remote_id = CASE WHEN ?3 = '' THEN remote_id ELSE ?3 END, "
      "last_error = CASE WHEN ?1 = 0 THEN '' WHEN ?1 = 3 AND ?4 = '' THEN last_error "
      "ELSE ?4 END, "
      "sent_at = CASE ?1 WHEN 0 THEN ?5 ELSE sent_at END, "
      "next_attempt_at = CASE WHEN ?1 IN (1, 3) THEN ?6 ELSE next_attempt_at END, "
      "lease_owner = NULL, lease_until = NULL "
      "WHERE rowid = ?7 AND state = 'sending' AND lease_owner = ?8";
  // A sent row, the usual result, has a statement of its own: the one above works out each
  // column's value for every kind (a tenth of the time of recording 10,000 sent rows). It
  // changes a run of rows at once: rows next to each other in the table (a commit's rows
  // for one notifier are, and a claim takes them in that order), all sent alike. Every
  // rowid of the run was found above for one of these results, so the range holds no
  // other row; one statement for 512 rows steps along the table, where one for each row
  // sought it from the root. OR FAIL: a statement of many rows that may fail part way
  // keeps, to undo its own rows alone, each page it changes in a temporary file (350 KB for
  // 512 rows); one that stops where it fails keeps nothing, and the transaction goes back as
  // a whole when any statement of it fails.
  Stmt sent(*db_,
            "UPDATE OR FAIL outbox SET state = 'sent', attempts = attempts + 1, "
            "parts_sent = CASE WHEN parts_sent > ?1 THEN parts_sent ELSE ?1 END, "
            "remote_id = CASE WHEN ?2 = '' THEN remote_id ELSE ?2 END, last_error = '', "
            "sent_at = ?3, lease_owner = NULL, lease_until = NULL "
            "WHERE rowid BETWEEN ?4 AND ?5 AND state = 'sending' AND lease_owner = ?6");
  const auto sent_alike = [](const DeliveryResult& a, const DeliveryResult& b) {
    return b.kind == DeliveryResult::Kind::kSent && a.parts_sent == b.parts_sent &&
           a.remote_id == b.remote_id;
  };
  for (std::size_t i = 0; i < in_place.size();) {
    const auto& [rowid, result] = in_place[i];
    const DeliveryResult& r = *result;
    if (r.kind == DeliveryResult::Kind::kSent) {
      std::size_t end = i + 1;
      while (end < in_place.size() && in_place[end].first == in_place[end - 1].first + 1 &&
             sent_alike(r, *in_place[end].second)) {
        ++end;
      }
      sent.Reset();
      sent.Bind(std::int64_t(r.parts_sent)).Bind(r.remote_id).Bind(now);
      sent.Bind(rowid).Bind(in_place[end - 1].first).Bind(owner);
      if (auto st = Run(sent, "record delivery of", r.id); !st) return st;
      i = end;
      continue;
    }
    ++i;
    if (!other) other.emplace(*db_, kAnyResult);
    Stmt& s = *other;
    s.Reset();
    s.Bind(std::int64_t(r.kind)).Bind(std::int64_t(r.parts_sent)).Bind(r.remote_id);
    s.Bind(r.error).Bind(now).Bind(r.next_attempt_at).Bind(rowid).Bind(owner);
    if (auto st = Run(s, "record delivery of", r.id); !st) return st;
  }
  if (auto st = txn.Commit(); !st) return Unexpected("record deliveries: " + st.error().message);
  return Ok();
}

Status StateStore::ReleaseClaims(const std::string& owner) {
  if (owner == handed_over_owner_ && !handed_over_.empty()) {
    // Rows handed over and not taken yet stay held: each other row of `owner` goes back.
    Transaction txn(*db_);
    if (!txn.ok()) return Unexpected("release claimed rows: " + txn.error());
    // The rows handed over are queued held by `owner` and stay so until taken: when `owner`
    // holds as many rows as that, they are all it holds. So it is after the commit that
    // handed them over, where reading and looking up a first run's 10,000 ids took 3% of the
    // run. (Were one dropped by `outbox drop` meanwhile and another left held, that one
    // would go back at the next pass without rows handed over, or once this process ends.)
    Stmt count(*db_,
               "SELECT count(*) FROM outbox "
               "WHERE state <> 'sent' AND state = 'sending' AND lease_owner = ?");
    count.Bind(owner);
    const auto held_count = OneInt(count, "release claimed rows");
    if (!held_count) return Unexpected(held_count.error());
    if (std::size_t(*held_count) == HandedOverCount()) return txn.Commit();
    const std::vector<std::string_view> ids = HandedOverIds();
    const std::unordered_set<std::string_view> handed(ids.begin(), ids.end());
    Stmt held(*db_,
              "SELECT id FROM outbox "
              "WHERE state <> 'sent' AND state = 'sending' AND lease_owner = ?");
    held.Bind(owner);
    std::vector<std::string> others;
    StepResult rc;
    while ((rc = held.Step()) == kRow) {
      if (!handed.count(held.TextView(0))) others.push_back(held.Text(0));
    }
    if (rc != kDone) return Unexpected(held.Fail("release claimed rows"));
    if (auto st = ReleaseRowsOf(*db_, owner, {others.begin(), others.end()}); !st) return st;
    return txn.Commit();
  }
  Stmt s(*db_,
         "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL "
         "WHERE state <> 'sent' AND state = 'sending' AND lease_owner = ?");
  s.Bind(owner);
  if (auto st = Run(s, "release claimed rows"); !st) return st;
  // Another instance may send them now.
  return s.Changes() > 0 ? Announce() : Ok();
}

Status StateStore::Announce() {
  const char* notify = db_->dialect().notify_outbox;
  return notify ? db_->Exec(notify) : Ok();
}

Status StateStore::ListenForOutbox() { return db_->Listen(sql::kOutboxChannel); }

WakeSource StateStore::WakeSocket() const {
  WakeSource source;
  source.fd = db_->Socket(&source.session);
  return source;
}

bool StateStore::TakeWakeUps() { return db_->TakeNotifications(); }

Result<std::vector<OutboxRow>> StateStore::ListOutbox(const std::string& state,
                                                      const std::string& notifier, int limit) {
  const std::string sql = std::string("SELECT ") + kOutboxColumns +
                          " FROM outbox WHERE (?1 = '' OR state = ?1) AND "
                          "(?2 = '' OR notifier = ?2) "
                          "ORDER BY created_at DESC, rowid DESC LIMIT ?3";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  s.Bind(state).Bind(notifier).Bind(std::int64_t(limit));
  return ReadOutboxRows(*db_, s, "read outbox");
}

Result<std::vector<OutboxRow>> StateStore::FindOutbox(const std::string& prefix) {
  // A range on the id index (U+10FFFF sorts after every character an id can hold), not a
  // scan of the whole outbox: highlights look a post up by id at every job.
  const std::string sql = std::string("SELECT ") + kOutboxColumns + " FROM outbox WHERE " +
                          db_->dialect().id_prefix_range + " ORDER BY id LIMIT 2";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read outbox"));
  s.Bind(prefix);
  return ReadOutboxRows(*db_, s, "read outbox");
}

Result<bool> StateStore::RetryNow(const std::string& id, std::int64_t now) {
  Stmt s(*db_,
         "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, attempts = 0, "
         "created_at = CASE state WHEN 'dead' THEN ?1 ELSE created_at END "
         "WHERE id = ?2 AND state IN ('pending', 'dead')");
  s.Bind(now).Bind(id);
  if (auto st = Run(s, "retry " + id); !st) return Unexpected(st.error());
  if (s.Changes() == 0) return false;
  if (auto st = Announce(); !st) return Unexpected(st.error());
  return true;
}

Result<int> StateStore::RetryDead(const std::string& notifier, std::int64_t now) {
  Stmt s(*db_,
         "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, attempts = 0, "
         "created_at = ?1 WHERE state <> 'sent' AND state = 'dead' AND (?2 = '' OR notifier = ?2)");
  s.Bind(now).Bind(notifier);
  if (auto st = Run(s, "retry dead rows"); !st) return Unexpected(st.error());
  if (s.Changes() > 0) {
    if (auto st = Announce(); !st) return Unexpected(st.error());
  }
  return int(s.Changes());
}

Result<int> StateStore::DropDead(const std::string& notifier) {
  Stmt s(*db_,
         "DELETE FROM outbox WHERE state <> 'sent' AND state = 'dead' AND "
         "(?1 = '' OR notifier = ?1)");
  s.Bind(notifier);
  if (auto st = Run(s, "drop dead rows"); !st) return Unexpected(st.error());
  return int(s.Changes());
}

namespace {

constexpr const char* kHealthColumns =
    "notifier, disabled_fingerprint, disabled_reason, disabled_at, failing_since, alerted";

NotifierHealth ReadHealth(const Stmt& s) {
  return NotifierHealth{.disabled_fingerprint = s.Text(1),
                        .disabled_reason = s.Text(2),
                        .disabled_at = s.OptInt(3),
                        .failing_since = s.OptInt(4),
                        .alerted = s.Int(5) != 0};
}

}  // namespace

Result<NotifierHealth> StateStore::GetNotifierHealth(const std::string& notifier) {
  const std::string sql =
      std::string("SELECT ") + kHealthColumns + " FROM notifier_health WHERE notifier = ?";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read notifier health"));
  s.Bind(notifier);
  const StepResult rc = s.Step();
  if (rc == kRow) return ReadHealth(s);
  if (rc != kDone) return Unexpected(s.Fail("read notifier health"));
  return NotifierHealth{};
}

Result<std::map<std::string, NotifierHealth>> StateStore::LoadNotifierHealth() {
  const std::string sql = std::string("SELECT ") + kHealthColumns + " FROM notifier_health";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read notifier health"));
  std::map<std::string, NotifierHealth> all;
  StepResult rc;
  while ((rc = s.Step()) == kRow) all.emplace(s.Text(0), ReadHealth(s));
  if (rc != kDone) return Unexpected(s.Fail("read notifier health"));
  return all;
}

Status StateStore::PutNotifierHealth(const std::string& notifier, const NotifierHealth& h) {
  Stmt s(*db_,
         "INSERT INTO notifier_health(notifier, disabled_fingerprint, disabled_reason, "
         "disabled_at, failing_since, alerted) VALUES(?, ?, ?, ?, ?, ?) "
         "ON CONFLICT(notifier) DO UPDATE SET disabled_fingerprint = excluded.disabled_fingerprint, "
         "disabled_reason = excluded.disabled_reason, disabled_at = excluded.disabled_at, "
         "failing_since = excluded.failing_since, alerted = excluded.alerted");
  s.Bind(notifier).Bind(h.disabled_fingerprint).Bind(h.disabled_reason);
  s.BindOptional(h.disabled_at).BindOptional(h.failing_since).Bind(std::int64_t(h.alerted));
  return Run(s, "record notifier health");
}

Result<bool> StateStore::Drop(const std::string& id) {
  Stmt s(*db_, "DELETE FROM outbox WHERE id = ?");
  s.Bind(id);
  if (auto st = Run(s, "drop " + id); !st) return Unexpected(st.error());
  return s.Changes() > 0;
}

namespace {

constexpr const char* kLeaderColumns = "holder, since, expires_at";

Leadership ReadLeadership(const Stmt& s) {
  return Leadership{
      .holder = s.Text(0), .since_ms = s.Int(1), .expires_ms = s.Int(2), .now_ms = s.Int(3)};
}

}  // namespace

Result<Leadership> StateStore::Lead(const std::string& holder, std::int64_t lease_ms) {
  const sql::Dialect& dialect = db_->dialect();
  const std::string now = dialect.now_ms;
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("leader lease: " + txn.error());
  // Renewal first: it updates no key, so it never waits for the leader's own writers (they
  // hold the row shared).
  const std::string renew = "UPDATE leader SET expires_at = " + now +
                            " + ?2 WHERE name = 'fetch' AND holder = ?1 AND expires_at > " + now +
                            " RETURNING " + kLeaderColumns + ", " + now;
  Stmt s(*db_, renew);
  s.Bind(holder).Bind(lease_ms);
  if (!s.ok()) return Unexpected(s.Fail("leader lease"));
  StepResult rc = s.Step();
  if (rc == kError) return Unexpected(s.Fail("leader lease"));
  if (rc == kRow) {
    Leadership held = ReadLeadership(s);
    s.Reset();
    if (auto st = txn.Commit(); !st) return Unexpected("leader lease: " + st.error().message);
    return held;
  }
  s.Reset();
  // A takeover waits for the writers of the leader it replaces (they hold the row shared):
  // a deposed leader's last transaction commits before, or fails.
  if (dialect.lock_wait_limit) {
    if (auto st = db_->Exec(dialect.lock_wait_limit); !st) {
      return Unexpected("leader lease: " + st.error().message);
    }
  }
  const std::string read = std::string("SELECT ") + kLeaderColumns + ", " + now +
                           " FROM leader WHERE name = 'fetch'" + dialect.lock_exclusive;
  Stmt current(*db_, read);
  if (!current.ok()) return Unexpected(current.Fail("leader lease"));
  rc = current.Step();
  if (rc == kError) {
    // Most often the lock wait ran out: the leader is writing, so it is alive.
    return Unexpected(current.Fail("leader lease"));
  }
  if (rc == kRow) {
    Leadership other = ReadLeadership(current);
    if (other.expires_ms > other.now_ms) return other;  // someone else leads
  }
  current.Reset();
  const std::string take =
      "INSERT INTO leader(name, holder, since, expires_at) VALUES('fetch', ?1, " + now + ", " +
      now + " + ?2) ON CONFLICT(name) DO UPDATE SET holder = ?1, since = CASE WHEN " +
      "leader.holder = ?1 THEN leader.since ELSE " + now + " END, expires_at = " + now +
      " + ?2 WHERE leader.expires_at <= " + now + " OR leader.holder = ?1 RETURNING " +
      kLeaderColumns + ", " + now;
  Stmt t(*db_, take);
  if (!t.ok()) return Unexpected(t.Fail("leader lease"));
  t.Bind(holder).Bind(lease_ms);
  rc = t.Step();
  if (rc == kError) return Unexpected(t.Fail("leader lease"));
  if (rc == kDone) {
    // Another instance took it between the read and the write.
    auto who = Leader();
    if (!who) return Unexpected(who.error());
    if (!*who) return Unexpected("leader lease: no leader row after a takeover");
    return **who;
  }
  Leadership taken = ReadLeadership(t);
  t.Reset();
  if (auto st = txn.Commit(); !st) return Unexpected("leader lease: " + st.error().message);
  return taken;
}

Result<std::optional<Leadership>> StateStore::Leader() {
  const std::string sql = std::string("SELECT ") + kLeaderColumns + ", " +
                          db_->dialect().now_ms + " FROM leader WHERE name = 'fetch'";
  Stmt s(*db_, sql);
  if (!s.ok()) return Unexpected(s.Fail("read the leader lease"));
  const StepResult rc = s.Step();
  if (rc == kError) return Unexpected(s.Fail("read the leader lease"));
  if (rc == kDone) return std::optional<Leadership>();
  return std::optional<Leadership>(ReadLeadership(s));
}

Status StateStore::Resign(const std::string& holder) {
  const std::string sql = std::string("UPDATE leader SET expires_at = ") + db_->dialect().now_ms +
                          " WHERE name = 'fetch' AND holder = ?1";
  Stmt s(*db_, sql);
  s.Bind(holder);
  return Run(s, "resign the leader lease");
}

Status StateStore::FenceWith(const std::string& holder, std::int64_t lease_ms) {
  fence_holder_ = holder;
  if (holder.empty()) return Ok();  // the session's deadline stays: it harms no one
  if (auto st = db_->LimitIdleInTransaction(lease_ms); !st) {
    return Unexpected("leader lease: " + st.error().message);
  }
  return Ok();
}

Status StateStore::CheckLease() {
  if (fence_holder_.empty()) return Ok();
  // The holder may write even after its lease ran out, as long as no other instance took
  // it over: nobody else wrote meanwhile. The row stays shared until the commit, so a
  // takeover waits for this transaction (or the session's end) before it begins.
  const std::string sql =
      std::string("SELECT 1 FROM leader WHERE name = 'fetch' AND holder = ?1") +
      db_->dialect().lock_shared;
  Stmt s(*db_, sql);
  s.Bind(fence_holder_);
  if (!s.ok()) return Unexpected(s.Fail("check the leader lease"));
  const StepResult rc = s.Step();
  if (rc == kError) return Unexpected(s.Fail("check the leader lease"));
  if (rc == kDone) {
    return Unexpected(std::string(kNotLeader) + "another instance took the lease over");
  }
  return Ok();
}

Status StateStore::InTransaction(const std::function<Status()>& body) {
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("begin: " + txn.error());
  if (auto st = CheckLease(); !st) return Unexpected(st.error());
  if (auto st = body(); !st) return st;
  return txn.Commit();
}

Result<std::vector<HeldMatch>> StateStore::HeldFor(const std::string& watch,
                                                   const std::string& notifier,
                                                   std::int64_t before) {
  Stmt s(*db_,
         "SELECT id, dedupe_key, event, message, created_at FROM digest_held WHERE watch = ? "
         "AND notifier = ? AND created_at < ? ORDER BY created_at, id");
  if (!s.ok()) return Unexpected(s.Fail("read held matches"));
  s.Bind(watch).Bind(notifier).Bind(before);
  std::vector<OutboxRow> rows;
  std::vector<std::string> messages;
  std::vector<HeldMatch> held;
  StepResult rc;
  while ((rc = s.Step()) == kRow) {
    HeldMatch h{.row = s.Int(0), .watch = watch, .created_at = s.Int(4)};
    h.notification.notifier = notifier;
    h.notification.dedupe_key = s.Text(1);
    h.notification.event = s.Text(2);
    messages.push_back(s.Text(3));
    held.push_back(std::move(h));
    rows.push_back(OutboxRow{.id = "held " + std::to_string(held.back().row)});
  }
  if (rc != kDone) return Unexpected(s.Fail("read held matches"));
  if (auto st = ResolveMessages(*db_, rows, messages); !st) return Unexpected(st.error());
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (!rows[i].unreadable.empty()) return Unexpected(rows[i].unreadable);
    Notification& n = held[i].notification;
    n.watches = std::move(rows[i].notification.watches);
    n.papers = std::move(rows[i].notification.papers);
    n.source = std::move(rows[i].notification.source);
    n.digest_url = std::move(rows[i].notification.digest_url);
  }
  return held;
}

Result<bool> StateStore::TakeHeld(const std::vector<std::int64_t>& rows, const Notification& digest,
                                  std::int64_t now) {
  sql::Db& db = *db_;
  Transaction txn(db);
  if (!txn.ok()) return Unexpected("begin: " + txn.error());
  if (auto st = CheckLease(); !st) return Unexpected(st.error());
  Stmt take(db, "DELETE FROM digest_held WHERE id = ?");
  for (std::int64_t row : rows) {
    take.Reset();
    take.Bind(row);
    if (auto st = Run(take, "take held matches"); !st) return Unexpected(st.error());
    if (take.Changes() != 1) return false;  // taken by another process: roll back
  }
  SnapshotWriter snapshots(db);
  std::vector<Notification> digests = {digest};
  std::vector<std::size_t> keep;
  auto added = InsertOutbox(db, digests, now, snapshots, &keep);
  if (!added) return Unexpected(added.error());
  // This run's digest went out already (a match committed late): the rows wait for the next.
  if (*added != 1) return false;
  if (auto st = txn.Commit(); !st) return Unexpected(st.error());
  KeepQueued(std::move(digests), keep);
  return true;
}

Result<int> StateStore::HeldCount() {
  Stmt s(*db_, "SELECT count(*) FROM digest_held");
  const auto count = OneInt(s, "count held matches");
  if (!count) return Unexpected(count.error());
  return int(*count);
}

Status StateStore::Prune(std::int64_t before) {
  Transaction txn(*db_);
  if (!txn.ok()) return Unexpected("begin: " + txn.error());
  if (auto st = CheckLease(); !st) return Unexpected(st.error());
  // The two tables' deletes read them whole, once a day: an index for them (sightings by
  // `seen_at`, sent rows in the outbox's due index) cost every commit an entry a row.
  Stmt a(*db_, "DELETE FROM sightings WHERE seen_at < ?");
  a.Bind(before);
  if (auto st = Run(a, "prune sightings"); !st) return st;
  Stmt b(*db_, "DELETE FROM outbox WHERE state IN ('sent', 'dead') AND created_at < ?");
  b.Bind(before);
  if (auto st = Run(b, "prune outbox"); !st) return st;
  // Matches held for a digest that never came (its watch went, or left digest delivery).
  Stmt held(*db_, "DELETE FROM digest_held WHERE created_at < ?");
  held.Bind(before);
  if (auto st = Run(held, "prune held matches"); !st) return st;
  // Snapshots no sighting, no outbox message and no held match refers to any more.
  Stmt c(*db_, db_->dialect().prune_snapshots);
  if (auto st = Run(c, "prune snapshots"); !st) return st;
  return txn.Commit();
}

}  // namespace digestd
