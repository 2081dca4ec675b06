#include "core/cron.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace digestd {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::local_days;
using std::chrono::local_seconds;
using std::chrono::minutes;

struct FieldSpec {
  const char* name;
  int min;
  int max;
  // Names accepted in place of numbers, indexed from `min` (empty for numeric fields).
  std::array<const char*, 12> names;
};

constexpr FieldSpec kMinute{"minute", 0, 59, {}};
constexpr FieldSpec kHour{"hour", 0, 23, {}};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, {}};
constexpr FieldSpec kMonth{
    "month",
    1,
    12,
    {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}};
// 7 is accepted as a second Sunday and folded onto 0 by the caller.
constexpr FieldSpec kDayOfWeek{
    "day-of-week", 0, 7, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}};

// Longest gap between two dates a valid schedule can match: 29 February can be 8 years apart
// (2096 -> 2104), so 8 years of days plus slack bounds every search.
constexpr int kMaxSearchDays = 8 * 366 + 2;

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Unexpected FieldError(const FieldSpec& spec, std::string_view value, const std::string& why) {
  return Unexpected("cron " + std::string(spec.name) + ": \"" + std::string(value) + "\" " + why);
}

// One number or name of `spec`; fails on anything else or out of range.
Result<int> ParseValue(const FieldSpec& spec, std::string_view text, std::string_view item) {
  if (text.empty()) return FieldError(spec, item, "is missing a value");
  bool digits = true;
  for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) {
    if (text.size() > 4) {
      return FieldError(
          spec, item,
          "is out of range " + std::to_string(spec.min) + "-" + std::to_string(spec.max));
    }
    int v = std::stoi(std::string(text));
    if (v < spec.min || v > spec.max) {
      return FieldError(
          spec, item,
          "is out of range " + std::to_string(spec.min) + "-" + std::to_string(spec.max));
    }
    return v;
  }
  const std::string upper = Upper(text);
  for (int i = 0; i < 12 && spec.names[i] != nullptr; ++i) {
    if (upper == spec.names[i]) return spec.min + i;
  }
  return FieldError(spec, item, "is not a valid value");
}

// Parses one field into `bits` (indexed by value). `star` tells whether it starts with '*'.
template <std::size_t N>
Status ParseField(const FieldSpec& spec, std::string_view field, std::bitset<N>& bits, bool& star) {
  star = !field.empty() && field.front() == '*';
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = field.find(',', start);
    const std::string_view item = field.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return FieldError(spec, field, "has an empty list item");
    std::string_view range = item;
    int step = 1;
    bool has_step = false;
    if (const std::size_t slash = item.find('/'); slash != std::string_view::npos) {
      const std::string_view step_text = item.substr(slash + 1);
      bool digits = !step_text.empty() && step_text.size() <= 4;
      for (char c : step_text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
      if (!digits) return FieldError(spec, item, "has an invalid step");
      step = std::stoi(std::string(step_text));
      if (step < 1) return FieldError(spec, item, "has a step of 0");
      has_step = true;
      range = item.substr(0, slash);
    }
    int lo = 0;
    int hi = 0;
    if (range == "*") {
      lo = spec.min;
      hi = spec.max;
    } else if (const std::size_t dash = range.find('-'); dash != std::string_view::npos) {
      Result<int> a = ParseValue(spec, range.substr(0, dash), item);
      if (!a) return Unexpected(a.error());
      Result<int> b = ParseValue(spec, range.substr(dash + 1), item);
      if (!b) return Unexpected(b.error());
      lo = *a;
      hi = *b;
      if (lo > hi) return FieldError(spec, item, "is a range that runs backwards");
    } else {
      Result<int> a = ParseValue(spec, range, item);
      if (!a) return Unexpected(a.error());
      lo = *a;
      // "5/15" means "from 5 to the end, every 15", as in Vixie cron.
      hi = has_step ? spec.max : lo;
    }
    for (int v = lo; v <= hi; v += step) {
      bits.set(static_cast<std::size_t>(v == 7 && spec.max == 7 ? 0 : v));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return Ok();
}

std::string_view Macro(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMacros = {{
      {"@hourly", "0 * * * *"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@weekly", "0 0 * * 0"},
      {"@monthly", "0 0 1 * *"},
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
  }};
  for (const auto& [name, expansion] : kMacros) {
    if (text == name) return expansion;
  }
  return {};
}

// The most days `month` (1..12) can have in any year.
int MaxDays(int month) {
  static constexpr std::array<int, 13> kDays = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[static_cast<std::size_t>(month)];
}

}  // namespace

Result<CronSchedule> ParseCron(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (!text.empty() && text.front() == '@') {
    const std::string lower = [&] {
      std::string s(text);
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    }();
    const std::string_view expansion = Macro(lower);
    if (expansion.empty()) {
      return Unexpected("cron: unknown macro \"" + std::string(text) +
                        "\" (expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly "
                        "or @annually)");
    }
    text = expansion;
  }
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const std::size_t begin = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > begin) fields.push_back(text.substr(begin, i - begin));
  }
  if (fields.size() != 5) {
    return Unexpected("cron: expected 5 fields (minute hour day-of-month month day-of-week), got " +
                      std::to_string(fields.size()));
  }
  CronSchedule s;
  bool star = false;
  bool dom_star = false;
  bool dow_star = false;
  if (Status st = ParseField(kMinute, fields[0], s.minutes_, star); !st) {
    return Unexpected(st.error());
  }
  if (Status st = ParseField(kHour, fields[1], s.hours_, star); !st) {
    return Unexpected(st.error());
  }
  if (Status st = ParseField(kDayOfMonth, fields[2], s.days_, dom_star); !st) {
    return Unexpected(st.error());
  }
  if (Status st = ParseField(kMonth, fields[3], s.months_, star); !st) {
    return Unexpected(st.error());
  }
  if (Status st = ParseField(kDayOfWeek, fields[4], s.weekdays_, dow_star); !st) {
    return Unexpected(st.error());
  }
  s.either_day_ = !dom_star && !dow_star;
  s.hour_by_elapsed_ = fields[1].find_first_of("*/") != std::string_view::npos;
  // Only a day-of-month list that decides alone can be impossible (30 FEB); with OR semantics
  // or a restricted day-of-week some weekday always comes.
  if (dow_star) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      if (!s.months_.test(static_cast<std::size_t>(m))) continue;
      for (int d = 1; d <= MaxDays(m) && !possible; ++d) {
        possible = s.days_.test(static_cast<std::size_t>(d));
      }
    }
    if (!possible) {
      return Unexpected("cron day-of-month: \"" + std::string(fields[2]) +
                        "\" never occurs in month \"" + std::string(fields[3]) + "\"");
    }
  }
  return s;
}

bool CronSchedule::DayMatches(local_days day) const {
  const std::chrono::year_month_day ymd{day};
  if (!months_.test(static_cast<unsigned>(ymd.month()))) return false;
  const bool dom = days_.test(static_cast<unsigned>(ymd.day()));
  const bool dow = weekdays_.test(std::chrono::weekday{day}.c_encoding());
  return either_day_ ? (dom || dow) : (dom && dow);
}

local_seconds CronSchedule::Next(local_seconds after) const {
  const auto first = std::chrono::floor<minutes>(after) + minutes(1);
  local_days day = std::chrono::floor<days>(first);
  auto from = std::chrono::duration_cast<minutes>(first - day).count();  // minute of the day
  for (int n = 0; n < kMaxSearchDays; ++n, day += days(1), from = 0) {
    if (!DayMatches(day)) continue;
    for (auto m = from; m < 24 * 60; ++m) {
      if (hours_.test(static_cast<std::size_t>(m / 60)) &&
          minutes_.test(static_cast<std::size_t>(m % 60))) {
        return local_seconds(day) + minutes(m);
      }
    }
  }
  return local_seconds::max();
}

}  // namespace digestd
