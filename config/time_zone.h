// IANA time zones by name, with "UTC" (the config's default) known without the tz database:
// the first lookup of any other zone reads the name of every file under the zoneinfo folder
// (2 ms and 350 KB of every process that asks, `once` and `check` included). Thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace date {
class time_zone;
}

namespace digestd {

// The zone named `name`; nullptr for "UTC", which needs no database. Throws (date's
// std::runtime_error) for a name the database does not know.
const date::time_zone* LocateZone(const std::string& name);

// Whether `name` is a zone LocateZone finds (an empty name is not).
bool IsKnownZone(const std::string& name);

// `instant` as civil time in zone `name`: in UTC when the zone is unknown (the config's checks
// refuse those).
std::chrono::local_seconds LocalTimeIn(const std::string& name, std::chrono::sys_seconds instant);

}  // namespace digestd
