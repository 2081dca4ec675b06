// The channel registry: notifier kind name -> factory. The delivery engine and `test-notify`
// make every channel here, so adding a kind is one entry in registry.cc and its own file.
// Thread-safe (the table is immutable).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/notifier_config.h"
#include "core/result.h"
#include "notifiers/channel.h"

namespace digestd {

// The channel for `notifier` (its kind's factory over its typed settings); fails when the
// kind has no channel or the settings are not that kind's.
Result<std::unique_ptr<Channel>> MakeChannel(const NotifierConfig& notifier);

// Why a notifier's channel cannot be made: a template's own "TEMPLATE:LINE:COL: what
// (template_file of notifier "x")", or "notifier "x": what". `check`, `run` and a reload
// refuse a config with any.
struct ChannelProblem {
  std::string message;
  bool in_template = false;  // the message leads with the template's file:line:col
};

// The problems of the channels of `notifiers` (each made and dropped); empty when every one
// can be made.
std::vector<ChannelProblem> ChannelProblems(const std::vector<NotifierConfig>& notifiers);

// Every kind the registry can make, in a stable order.
std::vector<std::string_view> ChannelKinds();

}  // namespace digestd
