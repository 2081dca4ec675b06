#include "core/mailbox.h"

#include <algorithm>

#include "core/utf8.h"

namespace digestd {
namespace {

// Characters an envelope address may hold: printable ASCII except those that delimit or
// quote in RFC 5321/5322 syntax (a quoted local part is not supported).
bool IsAddressChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return std::string_view("\"(),:;<>[\\]").find(c) == std::string_view::npos;
}

}  // namespace

std::string HeaderText(std::string_view text) {
  const std::string valid = ToValidUtf8(text);
  std::string out;
  out.reserve(valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const auto u = static_cast<unsigned char>(valid[i]);
    if (u < 0x20 || u == 0x7f) {
      out += ' ';
    } else if (u == 0xC2 && i + 1 < valid.size() &&
               static_cast<unsigned char>(valid[i + 1]) < 0xA0) {
      out += ' ';  // a C1 control, U+0080..U+009F
      ++i;
    } else {
      out += valid[i];
    }
  }
  return CollapseWhitespace(out);
}

Result<Mailbox> ParseMailbox(std::string_view text) {
  text = Trim(text);
  Mailbox box;
  std::string_view address = text;
  const std::size_t open = text.rfind('<');
  if (open != std::string_view::npos) {
    const std::size_t close = text.find('>', open);
    if (close == std::string_view::npos) {
      return Unexpected(std::string("the address has '<' but no closing '>'"));
    }
    if (!Trim(text.substr(close + 1)).empty()) {
      return Unexpected(std::string("text follows the address's closing '>'"));
    }
    address = text.substr(open + 1, close - open - 1);
    std::string_view name = Trim(text.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      std::string unquoted;
      for (std::size_t i = 1; i + 1 < name.size(); ++i) {
        if (name[i] == '\\' && i + 2 < name.size()) ++i;
        unquoted += name[i];
      }
      box.display_name = HeaderText(unquoted);
    } else {
      box.display_name = HeaderText(name);
    }
  }
  if (address.empty()) return Unexpected(std::string("the address is empty"));
  if (!std::all_of(address.begin(), address.end(), IsAddressChar)) {
    return Unexpected(std::string(
        "the address may hold only printable ASCII without spaces, quotes, brackets or commas"));
  }
  const std::size_t at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != std::string_view::npos) {
    return Unexpected(std::string("the address must be local@domain"));
  }
  box.address = std::string(address);
  return box;
}

std::string_view MailDomain(std::string_view address) {
  const std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace digestd
