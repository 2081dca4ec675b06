#include "config/time_zone.h"

#include <date/tz.h>

#include <exception>
#include <stdexcept>

namespace digestd {

const date::time_zone* LocateZone(const std::string& name) {
  if (name == "UTC") return nullptr;
  const date::time_zone* zone = date::locate_zone(name);  // throws for an unknown name
  if (zone == nullptr) throw std::runtime_error(name + " is not a known time zone");
  return zone;
}

bool IsKnownZone(const std::string& name) {
  if (name.empty()) return false;
  try {
    LocateZone(name);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::chrono::local_seconds LocalTimeIn(const std::string& name,
                                       std::chrono::sys_seconds instant) {
  const std::chrono::local_seconds utc{instant.time_since_epoch()};
  try {
    const date::time_zone* zone = LocateZone(name);
    if (zone == nullptr) return utc;
    return std::chrono::local_seconds{zone->to_local(instant).time_since_epoch()};
  } catch (const std::exception&) {
    return utc;
  }
}

}  // namespace digestd
