// LeaderLease: this process's turn at the fetch jobs on a shared (PostgreSQL) state, for a
// command that fetches once (`digestd once`); `digestd run` renews its lease from its event
// loop (daemon/service.cc). Issue 14. Not thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "core/result.h"
#include "store/state_store.h"

namespace digestd {

class LeaderLease {
 public:
  // Takes the lease on `store` for this process (ProcessLeaseOwner) for `lease`, and fences
  // the store's planning writes with it. Fails naming the instance that leads, and since
  // when, when another one does.
  static Result<LeaderLease> Take(StateStore& store, std::chrono::milliseconds lease);
  // Gives the lease back (another instance may take it at once) and lifts the fence.
  ~LeaderLease();
  LeaderLease(LeaderLease&& other) noexcept;
  LeaderLease& operator=(LeaderLease&&) = delete;
  LeaderLease(const LeaderLease&) = delete;
  LeaderLease& operator=(const LeaderLease&) = delete;

 private:
  LeaderLease(StateStore* store, std::string holder)
      : store_(store), holder_(std::move(holder)) {}
  StateStore* store_;
  std::string holder_;
};

// "HOLDER since TIME" for messages and logs.
std::string DescribeLeader(const Leadership& leader);

}  // namespace digestd
