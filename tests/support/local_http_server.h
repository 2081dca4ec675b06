// LocalHttpServer: runs tests/support/http_server.py (a scripted HTTP server on 127.0.0.1)
// as a child process for the lifetime of the object; see that script for its paths. The
// child also exits on its own when our end of its stdin closes, so it dies with the test.
// Not thread-safe to construct or destroy; Url() may be called from any thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace digestd::test {

class LocalHttpServer {
 public:
  // Starts the server and waits (at most a few seconds) for the port it prints. On failure
  // ok() is false and error() says why; the object is still safe to destroy.
  explicit LocalHttpServer(std::vector<std::string> extra_args = {});
  ~LocalHttpServer();
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  bool ok() const { return port_ != 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  // "http://127.0.0.1:PORT" + path; path should start with '/'.
  std::string Url(const std::string& path) const;

 private:
  void Stop();

  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // our end of the child's stdin; closing it tells the child to exit
  int port_ = 0;
  std::string error_;
};

// Unsets the proxy variables (http_proxy, HTTPS_PROXY, no_proxy, ...) for the object's
// lifetime and restores them after, so libcurl talks to the local server directly whatever
// the environment names. Not thread-safe: the environment is process-wide.
class NoProxyEnvironment {
 public:
  NoProxyEnvironment();
  ~NoProxyEnvironment();
  NoProxyEnvironment(const NoProxyEnvironment&) = delete;
  NoProxyEnvironment& operator=(const NoProxyEnvironment&) = delete;

 private:
  std::vector<std::pair<std::string, std::string>> saved_;  // name, value
};

}  // namespace digestd::test
