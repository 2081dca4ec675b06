#include "core/shown_url.h"

namespace digestd {

std::string ShownByHost(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(target)";
  const std::size_t authority = scheme_end + 3;
  std::size_t end = url.find_first_of("/?#", authority);
  if (end == std::string_view::npos) end = url.size();
  std::string_view host = url.substr(authority, end - authority);
  if (const std::size_t at = host.rfind('@'); at != std::string_view::npos) {
    host.remove_prefix(at + 1);
  }
  return std::string(url.substr(0, authority)) + std::string(host) + "/…";
}

}  // namespace digestd
