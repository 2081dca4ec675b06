#include "daemon/service_manager.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "core/shared_library.h"

namespace digestd {
namespace {

struct SystemdApi {
  decltype(&::sd_notify) notify = nullptr;
  decltype(&::sd_watchdog_enabled) watchdog_enabled = nullptr;
};

// libsystemd's functions, or nothing: where no service manager listens (they would do
// nothing), or where the library cannot be opened (said once).
std::optional<SystemdApi> Load() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return std::nullopt;
  auto library = SharedLibrary::Open("libsystemd.so.0");
  SystemdApi api;
  std::string why;
  if (!library) {
    why = library.error().message;
  } else {
    library->Bind(api.notify, "sd_notify");
    library->Bind(api.watchdog_enabled, "sd_watchdog_enabled");
    if (auto st = library->Bound(); !st) why = st.error().message;
  }
  if (!why.empty()) {
    spdlog::warn("NOTIFY_SOCKET is set, but {}: systemd hears nothing from digestd", why);
    return std::nullopt;
  }
  return api;
}

const std::optional<SystemdApi>& Systemd() {
  static const std::optional<SystemdApi> api = Load();
  return api;
}

}  // namespace

void NotifyServiceManager(const std::string& state) {
  if (const auto& api = Systemd()) api->notify(0, state.c_str());
}

std::chrono::microseconds WatchdogTimeout() {
  const auto& api = Systemd();
  std::uint64_t usec = 0;
  if (!api || api->watchdog_enabled(0, &usec) <= 0) return {};
  return std::chrono::microseconds(usec);
}

}  // namespace digestd
