// MetricsServer: GET /metrics over HTTP/1.1 on the service's own io_context (Boost.Beast),
// rendering a Metrics snapshot per request. It serves from the event loop's thread only;
// each connection answers one request and closes, reads at most 8 KiB of request head within
// 5 s, and at most 16 connections are open at once (more are closed unanswered).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"
#include "daemon/metrics.h"

namespace digestd {

class MetricsServer {
 public:
  // Binds and listens on host:port; fails with the address and the system's reason.
  static Result<std::unique_ptr<MetricsServer>> Listen(boost::asio::io_context& io,
                                                       const std::string& host,
                                                       std::uint16_t port, const Metrics& metrics);
  // Closes the listener; connections in progress end with the io_context.
  void Close();

 private:
  MetricsServer(boost::asio::io_context& io, const Metrics& metrics);
  void Accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  const Metrics& metrics_;
  std::shared_ptr<int> open_;  // connections open now, shared with each session
};

}  // namespace digestd
