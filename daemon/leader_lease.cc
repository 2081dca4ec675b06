#include "daemon/leader_lease.h"

#include <spdlog/spdlog.h>

#include "core/dates.h"
#include "daemon/delivery.h"

namespace digestd {

std::string DescribeLeader(const Leadership& leader) {
  return leader.holder + " since " + UtcTimestamp(leader.since_ms / 1000);
}

Result<LeaderLease> LeaderLease::Take(StateStore& store, std::chrono::milliseconds lease) {
  const std::string me = ProcessLeaseOwner();
  auto held = store.Lead(me, lease.count());
  if (!held) return Unexpected("leader lease: " + held.error().message);
  if (held->holder != me) {
    return Unexpected("another instance leads this state (" + DescribeLeader(*held) +
                      "): it runs the fetch jobs; `digestd status` shows it");
  }
  if (auto st = store.FenceWith(me, lease.count()); !st) return Unexpected(st.error());
  return LeaderLease(&store, me);
}

LeaderLease::LeaderLease(LeaderLease&& other) noexcept
    : store_(other.store_), holder_(std::move(other.holder_)) {
  other.store_ = nullptr;
}

LeaderLease::~LeaderLease() {
  if (store_ == nullptr) return;
  (void)store_->FenceWith("", 0);
  if (auto st = store_->Resign(holder_); !st) {
    spdlog::warn("leader lease: {}", st.error().message);
  }
}

}  // namespace digestd
