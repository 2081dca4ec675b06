#include "notifiers/channel.h"

#include <array>
#include <chrono>

#include "core/utf8.h"

namespace digestd {
namespace {

constexpr std::size_t kHttpReasonBytes = 200;

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Reads the fixed grammar of an HTTP-date left to right; every read fails without consuming.
class DateCursor {
 public:
  explicit DateCursor(std::string_view text) : rest_(text) {}

  bool done() const { return rest_.empty(); }

  bool Literal(std::string_view literal) {
    if (!rest_.starts_with(literal)) return false;
    rest_.remove_prefix(literal.size());
    return true;
  }

  // Exactly `count` digits.
  std::optional<int> Digits(std::size_t count) {
    if (rest_.size() < count || !AllDigits(rest_.substr(0, count))) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) value = value * 10 + (rest_[i] - '0');
    rest_.remove_prefix(count);
    return value;
  }

  // The index of the name `rest_` starts with (no name in one list is a prefix of another).
  template <std::size_t N>
  std::optional<int> OneOf(const std::array<std::string_view, N>& names) {
    for (std::size_t i = 0; i < N; ++i) {
      if (Literal(names[i])) return static_cast<int>(i);
    }
    return std::nullopt;
  }

  // "HH:MM:SS" as seconds into the day (RFC 9110 allows second 60).
  std::optional<int> TimeOfDay() {
    const auto h = Digits(2);
    if (!h || !Literal(":")) return std::nullopt;
    const auto m = Digits(2);
    if (!m || !Literal(":")) return std::nullopt;
    const auto s = Digits(2);
    if (!s || *h > 23 || *m > 59 || *s > 60) return std::nullopt;
    return *h * 3600 + *m * 60 + *s;
  }

 private:
  std::string_view rest_;
};

std::optional<std::int64_t> UnixSeconds(int year, int month, int day, int seconds_of_day) {
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                            std::chrono::day{unsigned(day)}};
  if (!date.ok()) return std::nullopt;
  return std::int64_t{sys_days{date}.time_since_epoch().count()} * 86400 + seconds_of_day;
}

int YearOf(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_seconds{seconds{unix_seconds}});
  return int(year_month_day{day}.year());
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<std::int64_t> ParseImfFixdate(std::string_view text) {
  DateCursor c(text);
  if (!c.OneOf(kDays) || !c.Literal(", ")) return std::nullopt;
  const auto day = c.Digits(2);
  if (!day || !c.Literal(" ")) return std::nullopt;
  const auto month = c.OneOf(kMonths);
  if (!month || !c.Literal(" ")) return std::nullopt;
  const auto year = c.Digits(4);
  if (!year || !c.Literal(" ")) return std::nullopt;
  const auto time = c.TimeOfDay();
  if (!time || !c.Literal(" GMT") || !c.done()) return std::nullopt;
  return UnixSeconds(*year, *month + 1, *day, *time);
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years ahead of `now` is
// the most recent past year with those digits (RFC 9110 §5.6.7).
std::optional<std::int64_t> ParseRfc850(std::string_view text, std::int64_t now) {
  DateCursor c(text);
  if (!c.OneOf(kLongDays) || !c.Literal(", ")) return std::nullopt;
  const auto day = c.Digits(2);
  if (!day || !c.Literal("-")) return std::nullopt;
  const auto month = c.OneOf(kMonths);
  if (!month || !c.Literal("-")) return std::nullopt;
  const auto two_digit_year = c.Digits(2);
  if (!two_digit_year || !c.Literal(" ")) return std::nullopt;
  const auto time = c.TimeOfDay();
  if (!time || !c.Literal(" GMT") || !c.done()) return std::nullopt;
  const int current = YearOf(now);
  int year = current / 100 * 100 + *two_digit_year;
  if (year > current + 50) year -= 100;
  if (year <= current - 50) year += 100;
  return UnixSeconds(year, *month + 1, *day, *time);
}

// "Sun Nov  6 08:49:37 1994"
std::optional<std::int64_t> ParseAsctime(std::string_view text) {
  DateCursor c(text);
  if (!c.OneOf(kDays) || !c.Literal(" ")) return std::nullopt;
  const auto month = c.OneOf(kMonths);
  if (!month || !c.Literal(" ")) return std::nullopt;
  std::optional<int> day = c.Literal(" ") ? c.Digits(1) : c.Digits(2);
  if (!day || !c.Literal(" ")) return std::nullopt;
  const auto time = c.TimeOfDay();
  if (!time || !c.Literal(" ")) return std::nullopt;
  const auto year = c.Digits(4);
  if (!year || !c.done()) return std::nullopt;
  return UnixSeconds(*year, *month + 1, *day, *time);
}

}  // namespace

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, std::int64_t now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  const std::int64_t cap = kMaxRetryAfter.count();
  if (AllDigits(value)) {
    std::int64_t seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds >= cap) return kMaxRetryAfter;  // also keeps a long digit run from overflowing
    }
    return std::chrono::seconds{seconds};
  }
  std::optional<std::int64_t> when = ParseImfFixdate(value);
  if (!when) when = ParseRfc850(value, now);
  if (!when) when = ParseAsctime(value);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::seconds{0};
  return std::chrono::seconds{std::min(*when - now, cap)};
}

std::string ReasonExcerpt(std::string_view text, std::size_t max_bytes, bool tail) {
  const bool cut = text.size() > max_bytes;
  if (cut && tail) {
    std::size_t start = text.size() - max_bytes;
    while (start < text.size() && IsContinuationByte(text[start])) ++start;
    text.remove_prefix(start);
  } else if (cut) {
    std::size_t end = max_bytes;
    while (end > 0 && IsContinuationByte(text[end])) --end;
    text = text.substr(0, end);
  }
  std::string valid = ToValidUtf8(text);
  for (char& c : valid) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  std::string out = CollapseWhitespace(valid);
  if (cut && !out.empty()) out = tail ? "…" + out : out + "…";
  return out;
}

Outcome ClassifyHttp(const Response& response) {
  using Kind = Outcome::Kind;
  if (response.failure) return {.kind = Kind::kRetry, .reason = *response.failure};
  const long status = response.status;
  if (status >= 200 && status < 300) return {.kind = Kind::kDelivered};
  std::string reason = "HTTP status " + std::to_string(status);
  if (const std::string excerpt = ReasonExcerpt(response.body, kHttpReasonBytes);
      !excerpt.empty()) {
    reason += ": " + excerpt;
  }
  if (status == 410) return {.kind = Kind::kDisable, .reason = std::move(reason)};
  if (status == 408 || status == 425 || status == 429 || (status >= 500 && status < 600)) {
    // Without the time of the answer an HTTP-date means nothing; delay-seconds still do.
    std::optional<std::chrono::seconds> after;
    if (response.received_at > 0 || AllDigits(Trim(response.retry_after))) {
      after = ParseRetryAfter(response.retry_after, response.received_at);
    }
    return {.kind = Kind::kRetry, .retry_after = after, .reason = std::move(reason)};
  }
  // 1xx as a final answer, 3xx (redirects are not followed: Standard Webhooks) and other 4xx.
  return {.kind = Kind::kPermanent, .reason = std::move(reason)};
}

}  // namespace digestd
