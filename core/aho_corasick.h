// AhoCorasick: many byte-string patterns found in one pass over a text (exact bytes; fold
// both sides first). A dense DFA over byte classes, built once by Build and then immutable:
// Scan is const and safe to call from many threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace digestd {

class AhoCorasick {
 public:
  // An automaton that finds nothing.
  AhoCorasick() = default;

  // Pattern i of `patterns` is reported as i; empty patterns are never reported, duplicates
  // are reported once per copy. Fails only when the table would exceed 2^31 entries.
  static Result<AhoCorasick> Build(const std::vector<std::string>& patterns);

  // Calls on_match(pattern_index, end) for every occurrence, overlapping ones included, in
  // order of `end` (the offset just past the occurrence).
  template <typename OnMatch>
  void Scan(std::string_view text, OnMatch&& on_match) const {
    if (delta_.empty()) return;
    const std::int32_t* delta = delta_.data();
    std::int32_t at = 0;  // the current state times num_classes_
    for (std::size_t i = 0; i < text.size(); ++i) {
      at = delta[at + byte_class_[static_cast<unsigned char>(text[i])]];
      if (at < 0) {  // negative: the state ends at least one pattern
        at = -at;
        for (std::int32_t s = at / num_classes_; s >= 0; s = dict_[s]) {
          for (std::int32_t k = own_begin_[s]; k < own_begin_[s + 1]; ++k) {
            on_match(static_cast<std::size_t>(own_[k]), i + 1);
          }
        }
      }
    }
  }

  std::size_t state_count() const { return own_begin_.empty() ? 0 : own_begin_.size() - 1; }
  std::size_t class_count() const { return static_cast<std::size_t>(num_classes_); }

 private:
  std::array<std::uint8_t, 256> byte_class_ = {};
  std::int32_t num_classes_ = 1;
  // Transition table, [state * num_classes_ + class] → next state * num_classes_, negated
  // when the next state has output, so the hot loop needs no multiply and one sign test.
  std::vector<std::int32_t> delta_;
  // Patterns ending exactly at state s: own_[own_begin_[s] .. own_begin_[s + 1]).
  std::vector<std::int32_t> own_begin_;
  std::vector<std::int32_t> own_;
  std::vector<std::int32_t> dict_;  // nearest proper suffix state with own patterns, or -1
};

}  // namespace digestd
