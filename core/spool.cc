#include "core/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

namespace digestd {
namespace {

// A spool in a file writes what it is given once this much has gathered.
constexpr std::size_t kWriteAbove = 256 * 1024;

std::string SpoolFolder(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

// An unnamed file for reading and writing in `folder`: O_TMPFILE where the file system has
// it, else a file made and unlinked at once. -1 with errno set when neither works.
int OpenUnnamed(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  std::string name = folder + "/digestd-spool-XXXXXX";
  const int made = ::mkostemp(name.data(), O_CLOEXEC);
  if (made >= 0) ::unlink(name.c_str());
  return made;
}

Status WriteAll(int fd, std::string_view bytes, const std::string& folder) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Unexpected("cannot write a spool file in " + folder + ": " +
                        std::strerror(n < 0 ? errno : EIO));
    }
    bytes.remove_prefix(std::size_t(n));
  }
  return Ok();
}

// The bytes of `bytes` from `offset` on (none past its end).
std::string_view From(std::string_view bytes, std::uint64_t offset) {
  return bytes.substr(std::size_t(std::min<std::uint64_t>(offset, bytes.size())));
}

}  // namespace

ByteSource PiecesOf(std::string_view bytes, std::size_t piece) {
  return [bytes, piece = std::max<std::size_t>(piece, 1)]() mutable {
    const std::string_view next = bytes.substr(0, piece);
    bytes.remove_prefix(next.size());
    return next;
  };
}

RereadableBody RereadableOf(std::string_view bytes, std::size_t piece) {
  return {.size = bytes.size(), .from = [bytes, piece](std::uint64_t offset, std::string*) {
            return PiecesOf(From(bytes, offset), piece);
          }};
}

ByteSource WithoutUtf8Bom(ByteSource next) {
  struct State {
    ByteSource next;
    std::string first;  // the first pieces, when they are shorter than the mark
    bool begun = false;
  };
  auto state = std::make_shared<State>(State{.next = std::move(next)});
  return [state]() -> std::string_view {
    State& s = *state;
    if (s.begun) return s.next();
    s.begun = true;
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    std::string_view piece = s.next();
    if (!piece.empty() && piece.size() < kBom.size()) {
      s.first.assign(piece);
      while (s.first.size() < kBom.size() && !(piece = s.next()).empty()) s.first.append(piece);
      piece = s.first;
    }
    if (!piece.starts_with(kBom)) return piece;
    piece.remove_prefix(kBom.size());
    return piece.empty() ? s.next() : piece;  // (an empty piece would end the bytes)
  };
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

Spool::Spool(Spool&& other) noexcept
    : dir_(std::move(other.dir_)),
      memory_limit_(other.memory_limit_),
      memory_(std::move(other.memory_)),
      fd_(std::exchange(other.fd_, -1)),
      file_size_(std::exchange(other.file_size_, 0)),
      read_only_(std::exchange(other.read_only_, false)),
      hash_(std::move(other.hash_)) {}

Spool& Spool::operator=(Spool&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    dir_ = std::move(other.dir_);
    memory_limit_ = other.memory_limit_;
    // Not `memory_ = std::move(...)`: a string assigned a short one keeps its own buffer,
    // and a spent body's megabytes would stay allocated.
    std::string(std::move(other.memory_)).swap(memory_);
    fd_ = std::exchange(other.fd_, -1);
    file_size_ = std::exchange(other.file_size_, 0);
    read_only_ = std::exchange(other.read_only_, false);
    hash_ = std::move(other.hash_);
  }
  return *this;
}

Spool Spool::OfFile(int fd, std::uint64_t size) {
  Spool spool;
  spool.fd_ = fd;
  spool.file_size_ = size;
  spool.read_only_ = true;
  spool.hash_.reset();
  return spool;
}

Status Spool::Append(std::string_view bytes) {
  Status stored = Store(bytes);
  if (hash_) {
    if (stored) {
      hash_->Update(bytes);
    } else {
      hash_.reset();  // what the spool holds of these bytes is not known
    }
  }
  return stored;
}

std::optional<HashDigits> Spool::Digits() const {
  if (!hash_) return std::nullopt;
  return hash_->Digits();
}

Status Spool::Store(std::string_view bytes) {
  if (read_only_) return Unexpected(std::string("a file read in place takes no more bytes"));
  if (in_file()) {
    // Written a quarter megabyte at a time: a transfer hands over 16 KB pieces, and a
    // write each would cost a system call each.
    memory_.append(bytes);
    if (memory_.size() < kWriteAbove) return Ok();
    if (auto st = WriteAll(fd_, memory_, SpoolFolder(dir_)); !st) return st;
    file_size_ += memory_.size();
    memory_.clear();
    return Ok();
  }
  if (bytes.size() <= memory_limit_ - std::min(memory_limit_, memory_.size())) {
    memory_.append(bytes);
    return Ok();
  }
  return MoveToFile(bytes);
}

Status Spool::MoveToFile(std::string_view more) {
  const std::string folder = SpoolFolder(dir_);
  const int fd = OpenUnnamed(folder);
  if (fd < 0) {
    return Unexpected("cannot make a spool file in " + folder + ": " + std::strerror(errno));
  }
  if (auto st = WriteAll(fd, memory_, folder); !st) {
    ::close(fd);
    return st;
  }
  if (auto st = WriteAll(fd, more, folder); !st) {
    ::close(fd);
    return st;
  }
  fd_ = fd;
  file_size_ = memory_.size() + more.size();
  std::string().swap(memory_);
  memory_.reserve(kWriteAbove);
  return Ok();
}

RereadableBody Spool::Rereadable(std::size_t piece) const {
  return {.size = size(), .from = [this, piece](std::uint64_t offset, std::string* error) {
            return ReaderFrom(offset, piece, error);
          }};
}

ByteSource Spool::ReaderFrom(std::uint64_t offset, std::size_t piece, std::string* error) const {
  piece = std::max<std::size_t>(piece, 1);
  if (!in_file()) return PiecesOf(From(memory_, offset), piece);
  // The buffer is shared by the copies of the reader (std::function copies its callable).
  // The file's bytes come first, then those not yet written.
  // Not zero-filled first: every byte read out is one pread wrote.
  std::shared_ptr<char[]> buffer = std::make_shared_for_overwrite<char[]>(piece);
  const char* what = read_only_ ? "the file" : "a spool file";
  std::string_view tail = From(memory_, offset > file_size_ ? offset - file_size_ : 0);
  return [fd = fd_, size = file_size_, at = offset, buffer, error, tail, piece, what]() mutable {
    if (at >= size) {
      const std::string_view next = tail.substr(0, piece);
      tail.remove_prefix(next.size());
      return next;
    }
    while (at < size) {
      const std::size_t want = std::size_t(std::min<std::uint64_t>(piece, size - at));
      const ssize_t n = ::pread(fd, buffer.get(), want, off_t(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (error != nullptr) {
          *error = std::string("cannot read ") + what + ": " +
                   (n < 0 ? std::strerror(errno) : "it is shorter than when it was opened");
        }
        at = size;
        tail = {};
        break;
      }
      at += std::uint64_t(n);
      return std::string_view(buffer.get(), std::size_t(n));
    }
    return std::string_view();
  };
}

Result<std::string> Spool::ReadAll() const {
  if (!in_file()) return memory_;
  std::string all;
  all.reserve(std::size_t(size()));  // the file and the tail not yet written
  std::string error;
  ByteSource next = Reader(1 << 20, &error);
  for (std::string_view piece = next(); !piece.empty(); piece = next()) all.append(piece);
  if (!error.empty()) return Unexpected(error);
  return all;
}

}  // namespace digestd
