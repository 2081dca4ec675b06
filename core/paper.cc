#include "core/paper.h"

#include <utility>

namespace digestd {
namespace {

// Every default SharedPaper holds this one, so it is never edited in place.
const std::shared_ptr<Paper>& EmptyPaper() {
  static const auto* const empty = new std::shared_ptr<Paper>(std::make_shared<Paper>());
  return *empty;
}

}  // namespace

SharedPaper::SharedPaper() : paper_(EmptyPaper()) {}

SharedPaper::SharedPaper(Paper paper) : paper_(std::make_shared<Paper>(std::move(paper))) {}

Paper& SharedPaper::Edit() {
  if (paper_.use_count() != 1) paper_ = std::make_shared<Paper>(*paper_);
  return *paper_;
}

std::vector<SharedPaper> SharePapers(std::vector<Paper> papers) {
  const auto block = std::make_shared<std::vector<Paper>>(std::move(papers));
  std::vector<SharedPaper> shared;
  shared.reserve(block->size());
  for (Paper& p : *block) shared.push_back(SharedPaper(std::shared_ptr<Paper>(block, &p)));
  return shared;
}

}  // namespace digestd
