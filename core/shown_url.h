// How logs, errors and `status` show a URL whose path or query is itself a secret: a chat
// webhook, a bot token in the path, an ntfy topic, a source URL given as `url_file` or
// "${NAME}". Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace digestd {

// "scheme://host[:port]/…": `url` with userinfo, path, query and fragment elided;
// "(target)" when it has no scheme.
std::string ShownByHost(std::string_view url);

}  // namespace digestd
