// The channel registry: notifier kind name -> factory. The delivery engine and `test-notify`
// make every channel here, so adding a kind is one entry in registry.cc and its own file.
// Thread-safe (the table is immutable).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"

namespace digestd {

// The channel for `notifier` (its kind's factory over its typed settings); fails when the
// kind has no channel or the settings are not that kind's.
Result<std::unique_ptr<Channel>> MakeChannel(const NotifierConfig& notifier);

// Every kind the registry can make, in a stable order.
std::vector<std::string_view> ChannelKinds();

}  // namespace digestd
