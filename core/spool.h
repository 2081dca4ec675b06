// Spool: bytes written once, in order, and then read in order: kept in memory up to a limit
// and in an unnamed temporary file past it, so that a long fetched body (a 14 MB feed) costs
// the process no memory while it waits to be parsed, however many sources a cycle fetches.
// The file has no name (O_TMPFILE, or one unlinked at once): it goes when the Spool does,
// even after a crash. Move-only; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/result.h"

namespace digestd {

// The next piece of a body read in order (valid until the next call); empty at the end.
using ByteSource = std::function<std::string_view()>;

// A ByteSource over `bytes` in pieces of at most `piece` bytes. `bytes` must outlive it.
ByteSource PiecesOf(std::string_view bytes, std::size_t piece = 64 * 1024);

// A body that can be read again from any point, as well as in order: what a parser that
// reads two parts of a long body at once takes. `from(offset, error)` gives the bytes from
// `offset` on (a read error ends them early, with the error in `error` when given).
struct RereadableBody {
  std::uint64_t size = 0;
  std::function<ByteSource(std::uint64_t offset, std::string* error)> from;
};

// `bytes`, which must outlive it, read from any point in pieces of at most `piece` bytes.
RereadableBody RereadableOf(std::string_view bytes, std::size_t piece = 64 * 1024);

// `next` without the UTF-8 byte order mark it may start with (its pieces otherwise as given;
// first pieces shorter than the mark are gathered until it can be told).
ByteSource WithoutUtf8Bom(ByteSource next);

class Spool {
 public:
  // All in memory.
  Spool() = default;
  explicit Spool(std::string bytes) : memory_(std::move(bytes)), hash_(nullptr) {}
  // In memory up to `memory_limit` bytes; past it, all of it in a file in `dir` ("": the
  // TMPDIR, else /tmp).
  Spool(std::string dir, std::size_t memory_limit)
      : dir_(std::move(dir)), memory_limit_(memory_limit) {}
  ~Spool();
  Spool(Spool&& other) noexcept;
  Spool& operator=(Spool&& other) noexcept;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  // The first `size` bytes of the regular file open as `fd` (the spool owns it from here),
  // read where they are, never copied. Read-only: Append fails.
  static Spool OfFile(int fd, std::uint64_t size);

  // Adds `bytes` at the end. Fails, naming the folder and the system's reason, when the file
  // cannot be made or written; the bytes before stay readable.
  Status Append(std::string_view bytes);

  std::uint64_t size() const { return file_size_ + memory_.size(); }  // file_size_ 0 in memory
  bool in_file() const { return fd_ >= 0; }
  bool read_only() const { return read_only_; }  // OfFile
  // The bytes, when they are in memory; empty when they are in the file.
  std::string_view memory() const { return in_file() ? std::string_view() : memory_; }

  // The bytes in order, in pieces of at most `piece` bytes, from memory or the file. A read
  // error of the file ends it early, with the error in `error` (when given).
  ByteSource Reader(std::size_t piece = 64 * 1024, std::string* error = nullptr) const {
    return ReaderFrom(0, piece, error);
  }
  // The same from byte `offset` on.
  ByteSource ReaderFrom(std::uint64_t offset, std::size_t piece = 64 * 1024,
                        std::string* error = nullptr) const;
  // The bytes readable from any point; the spool must outlive it.
  RereadableBody Rereadable(std::size_t piece = 64 * 1024) const;
  // All the bytes in one string.
  Result<std::string> ReadAll() const;
  // Xxh3Digits of the bytes, made as they were appended (a long fetched body is not read
  // again for its hash); none for a spool made of bytes or of a file given whole, or once an
  // Append failed.
  std::optional<HashDigits> Digits() const;

 private:
  Status Store(std::string_view bytes);
  Status MoveToFile(std::string_view more);

  std::string dir_;
  std::size_t memory_limit_ = static_cast<std::size_t>(-1);
  std::string memory_;  // all the bytes; once in a file, those not yet written (kWriteAbove)
  int fd_ = -1;
  std::uint64_t file_size_ = 0;  // bytes written to the file
  bool read_only_ = false;       // OfFile: someone else's file
  std::unique_ptr<Xxh3Stream> hash_ = std::make_unique<Xxh3Stream>();  // of what was appended
};

}  // namespace digestd
