#include "daemon/metrics_server.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>

#include <spdlog/spdlog.h>

namespace digestd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr int kMaxConnections = 16;
constexpr std::chrono::seconds kRequestTimeout{5};
constexpr std::uint32_t kMaxHeadBytes = 8192;

// One connection: read one request, answer it, close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Metrics& metrics, std::shared_ptr<int> open)
      : stream_(std::move(socket)), metrics_(metrics), open_(std::move(open)) {
    ++*open_;
  }
  ~Session() { --*open_; }

  void Start() {
    // A client that sends nothing, or too much, is cut off.
    parser_.header_limit(kMaxHeadBytes);
    parser_.body_limit(0);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->Answer();
                     });
  }

 private:
  void Answer() {
    const auto& request = parser_.get();
    response_.version(request.version());
    response_.keep_alive(false);
    response_.set(http::field::server, "digestd");
    const std::string_view target = request.target();
    const bool metrics_path = target == "/metrics" || target.starts_with("/metrics?");
    if (!metrics_path) {
      response_.result(http::status::not_found);
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "not found: try /metrics\n";
    } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
      response_.body() = "GET /metrics\n";
    } else {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response_.body() = metrics_.Render();
    }
    response_.prepare_payload();
    if (request.method() == http::verb::head) response_.body().clear();
    // Writing gets the same bound as reading: a client that does not read is cut off.
    stream_.expires_after(kRequestTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  const Metrics& metrics_;
  std::shared_ptr<int> open_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, const Metrics& metrics)
    : acceptor_(io), metrics_(metrics), open_(std::make_shared<int>(0)) {}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Listen(asio::io_context& io,
                                                             const std::string& host,
                                                             std::uint16_t port,
                                                             const Metrics& metrics) {
  std::unique_ptr<MetricsServer> server(new MetricsServer(io, metrics));
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                            ":" + std::to_string(port);
  if (ec) return Unexpected("metrics_listen " + where + ": " + ec.message());
  const tcp::endpoint endpoint(address, port);
  // One step at a time, each failure named: open, reuse the address, bind, listen.
  if (server->acceptor_.open(endpoint.protocol(), ec); ec) {
    return Unexpected("metrics_listen " + where + ": " + ec.message());
  }
  server->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (server->acceptor_.bind(endpoint, ec); ec) {
    return Unexpected("metrics_listen " + where + ": cannot bind: " + ec.message());
  }
  if (server->acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Unexpected("metrics_listen " + where + ": cannot listen: " + ec.message());
  }
  server->Accept();
  return server;
}

void MetricsServer::Close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void MetricsServer::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (*open_ >= kMaxConnections) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(std::move(socket), metrics_, open_)->Start();
      }
    } else {
      spdlog::debug("metrics: accept: {}", ec.message());
    }
    Accept();
  });
}

}  // namespace digestd
