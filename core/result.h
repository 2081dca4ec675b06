// Result<T>: a value or an Error, with std::expected's member names (g++ 12 has no
// std::expected under C++20). Status is Result<void>. Errors are values across every
// digestd header; no exception crosses them. Plain value types: thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace digestd {

// What went wrong, in words meant for the user: it names the file, line and column, or
// the URL, and the offending value.
struct Error {
  std::string message;
};

// Wraps an Error so that `return Unexpected(...)` converts to any Result<T>.
struct Unexpected {
  explicit Unexpected(Error e) : error(std::move(e)) {}
  explicit Unexpected(std::string message) : error{std::move(message)} {}
  Error error;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(Unexpected u) : state_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(state_); }
  Error& error() { return std::get<1>(state_); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : error_(std::move(u.error)), ok_(false) {}  // NOLINT: implicit

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() { return {}; }

}  // namespace digestd
