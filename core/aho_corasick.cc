#include "core/aho_corasick.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace digestd {

Result<AhoCorasick> AhoCorasick::Build(const std::vector<std::string>& patterns) {
  AhoCorasick ac;
  // Bytes that occur in no pattern all behave alike (back towards the root), so they share
  // class 0; that keeps rows as narrow as the patterns' alphabet.
  std::array<bool, 256> used = {};
  for (const std::string& p : patterns) {
    for (char c : p) used[static_cast<unsigned char>(c)] = true;
  }
  // Class numbers must fit a byte: when every byte value occurs, none needs class 0.
  const bool all_used = std::all_of(used.begin(), used.end(), [](bool u) { return u; });
  std::int32_t classes = all_used ? 0 : 1;
  for (int b = 0; b < 256; ++b) {
    if (used[b]) ac.byte_class_[b] = static_cast<std::uint8_t>(classes++);
  }
  ac.num_classes_ = classes;
  const auto width = static_cast<std::size_t>(classes);
  constexpr auto kMaxEntries = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

  // The trie first, as child/sibling lists, so that the dense table is allocated once at
  // its final size (growing it row by row spent most of the build copying).
  std::vector<std::int32_t> first_child(1, -1), next_sibling(1, -1);
  std::vector<std::uint8_t> label(1, 0);  // the byte class leading into each state
  std::vector<std::pair<std::int32_t, std::int32_t>> ends;  // (state, pattern)
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (patterns[i].empty()) continue;
    std::int32_t s = 0;
    for (char c : patterns[i]) {
      const std::uint8_t cls = ac.byte_class_[static_cast<unsigned char>(c)];
      std::int32_t child = first_child[static_cast<std::size_t>(s)];
      while (child >= 0 && label[static_cast<std::size_t>(child)] != cls) {
        child = next_sibling[static_cast<std::size_t>(child)];
      }
      if (child < 0) {
        child = static_cast<std::int32_t>(label.size());
        if ((label.size() + 1) * width > kMaxEntries) {
          return Unexpected("watch terms too large for the matcher: more than 2^31 table entries");
        }
        label.push_back(cls);
        first_child.push_back(-1);
        next_sibling.push_back(first_child[static_cast<std::size_t>(s)]);
        first_child[static_cast<std::size_t>(s)] = child;
      }
      s = child;
    }
    ends.emplace_back(s, static_cast<std::int32_t>(i));
  }
  const auto states = static_cast<std::int32_t>(label.size());

  // delta_ first holds child state numbers, 0 meaning "no child" (the root is nobody's
  // child); the breadth-first pass below completes it.
  std::vector<std::int32_t>& delta = ac.delta_;
  delta.assign(static_cast<std::size_t>(states) * width, 0);
  for (std::size_t s = 0; s < label.size(); ++s) {
    for (std::int32_t c = first_child[s]; c >= 0; c = next_sibling[static_cast<std::size_t>(c)]) {
      delta[s * width + label[static_cast<std::size_t>(c)]] = c;
    }
  }

  // Own outputs per state, in pattern order (counting sort by state).
  ac.own_begin_.assign(static_cast<std::size_t>(states) + 1, 0);
  for (const auto& [state, pattern] : ends) ++ac.own_begin_[static_cast<std::size_t>(state) + 1];
  for (std::size_t s = 0; s < static_cast<std::size_t>(states); ++s) {
    ac.own_begin_[s + 1] += ac.own_begin_[s];
  }
  ac.own_.resize(ends.size());
  {
    std::vector<std::int32_t> fill(ac.own_begin_.begin(), ac.own_begin_.end() - 1);
    for (const auto& [state, pattern] : ends)
      ac.own_[fill[static_cast<std::size_t>(state)]++] = pattern;
  }
  auto has_own = [&ac](std::int32_t s) {
    return ac.own_begin_[static_cast<std::size_t>(s) + 1] >
           ac.own_begin_[static_cast<std::size_t>(s)];
  };

  // Breadth-first: a state's failure state is shallower, so its row is already complete
  // when the state's own missing transitions are filled from it.
  std::vector<std::int32_t> fail(static_cast<std::size_t>(states), 0);
  ac.dict_.assign(static_cast<std::size_t>(states), -1);
  std::vector<std::int32_t> queue;
  queue.reserve(static_cast<std::size_t>(states));
  queue.push_back(0);
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const std::int32_t s = queue[head];
    const std::size_t row = static_cast<std::size_t>(s) * width;
    const std::size_t fail_row =
        static_cast<std::size_t>(fail[static_cast<std::size_t>(s)]) * width;
    for (std::size_t c = 0; c < width; ++c) {
      const std::int32_t child = delta[row + c];
      if (child != 0) {
        const std::int32_t f = s == 0 ? 0 : delta[fail_row + c];
        fail[static_cast<std::size_t>(child)] = f;
        ac.dict_[static_cast<std::size_t>(child)] =
            has_own(f) ? f : ac.dict_[static_cast<std::size_t>(f)];
        queue.push_back(child);
      } else if (s != 0) {
        delta[row + c] = delta[fail_row + c];
      }
    }
  }

  // Pre-multiply and mark states with output by sign; the root has none, so 0 stays 0.
  for (std::int32_t& next : delta) {
    const bool output = has_own(next) || ac.dict_[static_cast<std::size_t>(next)] >= 0;
    next *= classes;
    if (output) next = -next;
  }
  return ac;
}

}  // namespace digestd
