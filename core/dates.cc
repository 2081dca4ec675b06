#include "core/dates.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

namespace digestd {

std::optional<Date> ParseIsoDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const int starts[3] = {0, 5, 8};
  const int lengths[3] = {4, 2, 2};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < lengths[i]; ++j) {
      const char c = text[starts[i] + j];
      if (c < '0' || c > '9') return std::nullopt;
      parts[i] = parts[i] * 10 + (c - '0');
    }
  }
  const Date date{std::chrono::year{parts[0]}, std::chrono::month{unsigned(parts[1])},
                  std::chrono::day{unsigned(parts[2])}};
  if (!date.ok()) return std::nullopt;
  return date;
}

void AppendDigits(std::string& out, unsigned value, int width) {
  char digits[4];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = char('0' + value % 10);
    value /= 10;
  }
  out.append(digits, std::size_t(width));
}

std::string FormatIsoDate(Date date) {
  const int year = int(date.year());
  if (!date.ok() || year < 0 || year > 9999) {  // never from ParseIsoDate; printed as it is
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", year, unsigned(date.month()),
                  unsigned(date.day()));
    return buf;
  }
  std::string out;
  out.reserve(20);  // room for UtcTimestamp's time after the date
  AppendDigits(out, unsigned(year), 4);
  out += '-';
  AppendDigits(out, unsigned(date.month()), 2);
  out += '-';
  AppendDigits(out, unsigned(date.day()), 2);
  return out;
}

bool HasDatePlaceholder(std::string_view url_template) {
  return url_template.find("{date}") != std::string_view::npos ||
         url_template.find("{date:") != std::string_view::npos;
}

Result<std::string> ExpandUrlTemplate(std::string_view tmpl, Date date) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    const char c = tmpl[i];
    if (c == '}') {
      return Unexpected("unbalanced '}' at offset " + std::to_string(i) + " in URL template");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    const std::size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) {
      return Unexpected("unbalanced '{' at offset " + std::to_string(i) + " in URL template");
    }
    const std::string_view inner = tmpl.substr(i + 1, close - i - 1);
    if (inner == "date") {
      out += FormatIsoDate(date);
    } else if (inner.substr(0, 5) == "date:" && inner.size() > 5) {
      std::tm tm{};
      tm.tm_year = int(date.year()) - 1900;
      tm.tm_mon = int(unsigned(date.month())) - 1;
      tm.tm_mday = int(unsigned(date.day()));
      tm.tm_wday = int(std::chrono::weekday{std::chrono::sys_days{date}}.c_encoding());
      tm.tm_yday = int((std::chrono::sys_days{date} -
                        std::chrono::sys_days{date.year() / std::chrono::January / 1})
                           .count());
      const std::string format(inner.substr(5));
      char buf[256];
      const std::size_t n = std::strftime(buf, sizeof buf, format.c_str(), &tm);
      if (n == 0) return Unexpected("date format '" + format + "' gives an empty string");
      out.append(buf, n);
    } else {
      return Unexpected("unknown placeholder '{" + std::string(inner) + "}' in URL template");
    }
    i = close + 1;
  }
  return out;
}

std::vector<Date> DatesToCheck(Date today, int lookback_days, int backfill_days,
                               std::optional<Date> last_success) {
  using std::chrono::days;
  using std::chrono::sys_days;
  std::vector<Date> dates;
  const int lookback = std::max(0, lookback_days);
  int reach = lookback;
  if (last_success) {
    const int missed = int((sys_days{today} - sys_days{*last_success}).count());
    reach = std::max(reach, std::min(missed - 1, std::max(0, backfill_days)));
  }
  for (int back = 0; back <= reach; ++back) dates.push_back(Date{sys_days{today} - days{back}});
  return dates;
}

std::string UtcTimestamp(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_seconds t{seconds{unix_seconds}};
  const sys_days day = floor<days>(t);
  const hh_mm_ss time{t - day};
  std::string out = FormatIsoDate(year_month_day{day});
  out += 'T';
  AppendDigits(out, unsigned(time.hours().count()), 2);
  out += ':';
  AppendDigits(out, unsigned(time.minutes().count()), 2);
  out += ':';
  AppendDigits(out, unsigned(time.seconds().count()), 2);
  out += 'Z';
  return out;
}

std::string ImfDate(std::int64_t unix_seconds, std::string_view zone) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const sys_seconds t{seconds{unix_seconds}};
  const sys_days day = floor<days>(t);
  const year_month_day date{day};
  const weekday wd{day};
  const hh_mm_ss time{t - day};
  char out[40];
  std::snprintf(out, sizeof out, "%s, %02u %s %04d %02d:%02d:%02d ", kDays[wd.c_encoding()],
                unsigned(date.day()), kMonths[unsigned(date.month()) - 1], int(date.year()),
                int(time.hours().count()), int(time.minutes().count()),
                int(time.seconds().count()));
  return std::string(out).append(zone);
}

}  // namespace digestd
