#include "config/config.h"

namespace digestd {

const SourceConfig* Config::FindSource(const std::string& name) const {
  for (const SourceConfig& s : sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const NotifierConfig* Config::FindNotifier(const std::string& name) const {
  for (const NotifierConfig& n : notifiers) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

}  // namespace digestd
