#include "daemon/live_transport.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "core/private_file.h"
#include "core/shared_library.h"
#include "daemon/exec_runner.h"
#include "net/http_multi.h"

namespace digestd {
namespace {

constexpr std::uint64_t kMaxResponseBytes = 1 << 20;
constexpr std::size_t kMaxExecOutput = 64 * 1024;

Response FromHttp(HttpResponse r) {
  Response out;
  if (r.error != TransferError::kNone) {
    out.failure = std::move(r.error_message);
    out.timed_out = r.error == TransferError::kTimeout;
    return out;
  }
  out.status = r.status;
  out.body = std::move(r.body);
  out.retry_after = std::move(r.retry_after);
  out.received_at = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  return out;
}

HttpRequest ToHttp(Payload&& p, const std::string& user_agent) {
  HttpRequest r{.url = p.url,
                .shown_url = p.shown_url,
                .method = p.method,
                .body = std::move(p.body),
                .timeout = p.timeout,
                .connect_timeout = std::min(p.timeout, std::chrono::milliseconds(10000)),
                .max_bytes = kMaxResponseBytes,
                .tls_verify = p.tls_verify,
                .user_agent = user_agent,
                .ca_file = p.ca_file,
                .follow_redirects = false};
  for (const auto& [name, value] : p.headers) r.headers[name] = value;
  return r;
}

MailRequest ToMail(Payload&& p) {
  return MailRequest{.url = p.url,
                     .mail_from = p.mail_from,
                     .recipients = p.recipients,
                     .username = p.username,
                     .password = p.password,
                     .starttls = p.starttls,
                     .message = std::move(p.body),
                     .timeout = p.timeout,
                     .connect_timeout = std::min(p.timeout, std::chrono::milliseconds(10000)),
                     .tls_verify = p.tls_verify,
                     .ca_file = p.ca_file};
}

Response FromCommand(const CommandResult& c, const Payload& p) {
  Response out;
  const std::string what = p.argv.empty() ? std::string("command") : p.argv.front();
  out.body = c.output;
  if (!c.started) {
    out.failure = what + ": could not start: " + c.error;
    out.start_errno = c.start_errno;
  } else if (c.timed_out) {
    out.failure =
        what + ": timed out after " +
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(p.timeout).count()) + " s";
    out.timed_out = true;
  } else if (c.cancelled) {
    out.failure = what + ": stopped (digestd is shutting down)";
  } else if (c.signal != 0) {
    out.failure = what + ": killed by signal " + std::to_string(c.signal);
  } else {
    out.status = c.exit_code;
  }
  return out;
}

// Appends `pieces`, in order, to `path` all or nothing: under an exclusive lock (other
// digestd processes append to the same file), written and fsynced; on any failure the file
// is cut back to its size before, so no partial line stays to be appended again by the retry.
// The pieces go out as they are (writev), never first copied into one buffer.
std::optional<std::string> AppendAllOrNothing(const std::string& path,
                                              std::vector<std::string_view> pieces) {
  // A new file gets the private mode: it holds what the watches matched.
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, NewPrivateFileMode());
  if (fd < 0) return path + ": " + std::strerror(errno);
  std::optional<std::string> failure;
  struct stat st {};
  if (::flock(fd, LOCK_EX) != 0 || ::fstat(fd, &st) != 0) {
    failure = path + ": " + std::strerror(errno);
  } else {
    std::erase_if(pieces, [](std::string_view piece) { return piece.empty(); });
    std::size_t written = 0;  // in all
    std::size_t next = 0;     // the first piece not wholly written; its start written away
    std::vector<iovec> iov;
    while (!failure && next < pieces.size()) {
      iov.clear();
      for (std::size_t i = next; i < pieces.size() && iov.size() < IOV_MAX; ++i) {
        iov.push_back({.iov_base = const_cast<char*>(pieces[i].data()),
                       .iov_len = pieces[i].size()});
      }
      const ssize_t n = ::writev(fd, iov.data(), static_cast<int>(iov.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        failure = path + ": write failed: " + std::strerror(n < 0 ? errno : ENOSPC);
        break;
      }
      written += std::size_t(n);
      for (std::size_t left = std::size_t(n); left > 0;) {
        const std::size_t take = std::min(left, pieces[next].size());
        pieces[next].remove_prefix(take);
        left -= take;
        if (pieces[next].empty()) ++next;
      }
    }
    if (!failure && ::fsync(fd) != 0) failure = path + ": fsync failed: " + std::strerror(errno);
    if (failure && written > 0) {
      if (::ftruncate(fd, st.st_size) != 0 || ::fsync(fd) != 0) {
        *failure +=
            "; and cutting the partial write back failed: " + std::string(std::strerror(errno));
      }
    }
  }
  ::close(fd);
  return failure;
}

}  // namespace

struct LiveTransport::Impl {
  struct Append {
    std::uint64_t ticket;
    std::string path;
    std::string bytes;
  };

  std::function<void(const std::string&)> console;
  std::string user_agent;
  HttpMulti http;
  std::vector<Append> appends;      // written at the next Wait, one write per file
  std::vector<TransferDone> ready;  // ended at Start (console), reported at the next Wait

  std::atomic<bool> cancel{false};
  std::mutex mu;  // guards exec_done
  std::vector<TransferDone> exec_done;
  std::map<std::uint64_t, std::thread> exec_threads;

  void FlushAppends() {
    if (appends.empty()) return;
    // One write per file, of every payload for it in the order they came.
    std::map<std::string_view, std::pair<std::vector<std::string_view>, std::vector<std::uint64_t>>>
        by_path;
    std::vector<std::string_view> order;
    for (const Append& a : appends) {
      auto [it, fresh] = by_path.try_emplace(a.path);
      if (fresh) order.push_back(a.path);
      it->second.first.push_back(a.bytes);
      it->second.second.push_back(a.ticket);
    }
    for (std::string_view path : order) {
      auto& [pieces, tickets] = by_path[path];
      const auto failure = AppendAllOrNothing(std::string(path), std::move(pieces));
      for (std::uint64_t t : tickets)
        ready.push_back({.ticket = t, .response = {.failure = failure}});
    }
    appends.clear();
  }

  void ReapExec(std::vector<TransferDone>& out) {
    std::vector<TransferDone> done;
    {
      std::lock_guard lock(mu);
      done.swap(exec_done);
    }
    for (TransferDone& d : done) {
      if (auto it = exec_threads.find(d.ticket); it != exec_threads.end()) {
        it->second.join();
        exec_threads.erase(it);
      }
      out.push_back(std::move(d));
    }
  }
};

LiveTransport::LiveTransport(std::function<void(const std::string&)> console,
                             std::string user_agent)
    : impl_(std::make_unique<Impl>()) {
  impl_->console = std::move(console);
  impl_->user_agent = std::move(user_agent);
}

LiveTransport::~LiveTransport() { Abandon(); }

void LiveTransport::Start(std::uint64_t ticket, Payload payload) {
  switch (payload.transfer) {
    case Transfer::kHttp:
      impl_->http.Start(ticket, ToHttp(std::move(payload), impl_->user_agent));
      return;
    case Transfer::kSmtp:
      impl_->http.StartMail(ticket, ToMail(std::move(payload)));
      return;
    case Transfer::kAppend:
      impl_->appends.push_back(
          {.ticket = ticket, .path = payload.url, .bytes = std::move(payload.body)});
      return;
    case Transfer::kConsole:
      if (impl_->console) impl_->console(payload.body);
      impl_->ready.push_back({.ticket = ticket});
      return;
    case Transfer::kExec: {
      // The channel names the variables to pass through; only the daemon can read them.
      std::vector<std::pair<std::string, std::string>> env = payload.env;
      for (const std::string& name : payload.pass_env) {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr || SetByDigestd(name)) continue;
        std::erase_if(env, [&](const auto& kv) { return kv.first == name; });
        env.emplace_back(name, value);
      }
      CommandRun run{.argv = payload.argv,
                     .env = std::move(env),
                     .input = std::move(payload.body),
                     .timeout = payload.timeout,
                     .max_output = kMaxExecOutput};
      Impl* impl = impl_.get();
      impl->exec_threads.emplace(
          ticket, std::thread([impl, ticket, run = std::move(run), payload = std::move(payload)]() {
            const CommandResult result = RunCommand(run, &impl->cancel);
            {
              std::lock_guard lock(impl->mu);
              impl->exec_done.push_back(
                  {.ticket = ticket, .response = FromCommand(result, payload)});
            }
            impl->http.Wakeup();
          }));
      return;
    }
  }
}

std::vector<TransferDone> LiveTransport::Wait(std::chrono::milliseconds wait) {
  impl_->FlushAppends();
  std::vector<TransferDone> out = std::move(impl_->ready);
  impl_->ready.clear();
  impl_->ReapExec(out);
  // Something ended already: only collect what else is ready, without waiting.
  for (auto& [ticket, response] :
       impl_->http.Poll(out.empty() ? wait : std::chrono::milliseconds(0))) {
    out.push_back({.ticket = ticket, .response = FromHttp(std::move(response))});
  }
  impl_->ReapExec(out);
  return out;
}

void LiveTransport::Wake() { impl_->http.Wakeup(); }

void LiveTransport::Abandon() {
  impl_->http.AbandonAll();
  impl_->cancel.store(true);
  for (auto& [ticket, thread] : impl_->exec_threads) thread.join();
  impl_->exec_threads.clear();
  impl_->cancel.store(false);
  std::lock_guard lock(impl_->mu);
  impl_->exec_done.clear();
  impl_->appends.clear();
  impl_->ready.clear();
}

}  // namespace digestd
