// TempDir: a fresh directory under $TMPDIR for one test, removed with everything in it
// when the object dies. Not shared between threads.
#pragma once

#include <string>

namespace digestd::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Writes `contents` to `name` (creating parent directories) and returns the full path.
  std::string Write(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

// The whole contents of `path`, or "" when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace digestd::test
