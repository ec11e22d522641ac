#include "upstream/upstream_pool.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "upstream/response_parser.h"
#include "upstream/tls_client.h"
#include "upstream/watchdog.h"

namespace chroma_ha {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxUpstreamHeaderBytes = 64u << 10;

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string HostHeader(const InstanceConfig& instance) {
  const bool v6 = instance.host.find(':') != std::string::npos;
  return (v6 ? "[" + instance.host + "]" : instance.host) + ":" + std::to_string(instance.port);
}

// The request head (request line, end-to-end headers, Host, Content-Length), serialised the way
// Beast would: headers in their order, Host and then Content-Length last. Content-Length is sent
// when there is a body, and for POST, PUT and OPTIONS even when it is empty.
std::string RequestHead(const HttpRequest& in, std::string_view target, const std::string& host,
                        const std::string& body) {
  const std::string_view connection = FindHeader(in.headers, "connection").value_or("");
  std::size_t size = in.method.size() + target.size() + host.size() + 64;
  for (const Header& h : in.headers) size += h.name.size() + h.value.size() + 4;
  std::string head;
  head.reserve(size);
  head.append(in.method).append(" ").append(target).append(" HTTP/1.1\r\n");
  for (const Header& h : in.headers) {
    if (IsHopByHopHeader(h.name) ||
        (!connection.empty() && ListedInConnection(connection, h.name))) {
      continue;
    }
    head.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  head.append("Host: ").append(host).append("\r\n");
  if (!body.empty() || in.method == "POST" || in.method == "PUT" || in.method == "OPTIONS") {
    head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

// Concrete executor types: no type-erased executor copies inside Beast's composed operations.
using Executor = asio::io_context::executor_type;
using Stream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using TlsStream = beast::ssl_stream<Stream>;

// Reserved per connection: Beast reads at most max(512, free capacity) bytes per call.
constexpr std::size_t kReadBufferBytes = 16384;

// One connection: plain TCP (http://) or TLS over it (https://). The stream type is chosen once,
// when the connection is made; the exchange is a template over it (no per-byte dispatch).
struct Connection {
  explicit Connection(const Executor& ex)
      : stream(std::in_place_type<Stream>, ex), watchdog(ex, [this] { CancelIo(); }) {
    buffer.reserve(kReadBufferBytes);
  }
  Connection(const Executor& ex, ssl::context& tls)
      : stream(std::in_place_type<TlsStream>, ex, tls), watchdog(ex, [this] { CancelIo(); }) {
    buffer.reserve(kReadBufferBytes);
  }
  void CancelIo() {
    error_code ignored;
    tcp().socket().cancel(ignored);
  }
  // The TCP stream (its deadline and socket), whichever the connection is.
  Stream& tcp() {
    if (auto* plain = std::get_if<Stream>(&stream)) return *plain;
    return std::get<TlsStream>(stream).next_layer();
  }
  std::variant<Stream, TlsStream> stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;  // set when it goes back to the pool
  // The exchange deadline (the connect deadline is the stream's own): one lazily re-armed timer
  // instead of Beast's arm and cancel around each read and write. Declared after the stream:
  // destroyed first, so its expiry never touches a destroyed socket.
  Watchdog watchdog;
};

// An idle connection is usable if the server has neither closed it nor sent anything unasked
// (for TLS: nothing left undelivered inside OpenSSL either). The kernel is asked (a recv with
// MSG_PEEK, one system call) only for a connection idle for kPeekAfterIdle or longer: a server
// closes a keep-alive connection after an idle timeout of seconds, and one idle for less is
// reused as it is (a close racing the request is still retried once, see Exchange). Saves one
// system call per request under load (bench/analysis.md, "Proxy path").
bool LooksAlive(Connection& c, std::chrono::steady_clock::time_point now) {
  auto& socket = c.tcp().socket();
  if (!socket.is_open() || c.buffer.size() != 0) return false;
  if (auto* tls = std::get_if<TlsStream>(&c.stream); tls && SSL_pending(tls->native_handle()) > 0) {
    return false;
  }
  if (now - c.idle_since < kPeekAfterIdle) return true;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// What one request/response round trip on one connection produced.
struct RoundTripResult {
  Status status;  // OK when `response` is set
  std::optional<HttpResponse> response;
  bool keep_alive = false;            // the connection may be reused
  bool failed_before_answer = false;  // closed/reset before any byte of the answer
};

// `stream` is c.stream's alternative (plain or TLS); the deadline is on c.tcp().
template <typename AnyStream>
asio::awaitable<RoundTripResult> RoundTripOn(AnyStream& stream, Connection& c,
                                             const std::string& head, const std::string& body,
                                             bool head_request, milliseconds timeout,
                                             const std::string& who) {
  RoundTripResult out;
  c.watchdog.Set(timeout);  // its expiry cancels the socket's operations
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
  auto [wec, written] = co_await asio::async_write(stream, buffers, kUseTuple);
  if (wec) {
    if (wec == asio::error::operation_aborted && c.watchdog.expired()) {
      out.status = Status::Timeout(who + ": sending the request timed out");
    } else if (wec == asio::error::operation_aborted) {  // the caller was cancelled: no retry
      out.status = Status::Timeout(who + ": request cancelled while sending");
    } else {
      out.status = Status::Unavailable(who + ": sending the request failed: " + wec.message());
      out.failed_before_answer = true;
    }
    co_return out;
  }
  ResponseParser parser;
  parser.header_limit(kMaxUpstreamHeaderBytes);
  parser.body_limit(kMaxUpstreamBodyBytes);
  if (head_request) parser.skip(true);
  auto [rec, read] = co_await http::async_read(stream, c.buffer, parser, kUseTuple);
  if (rec) {
    if (rec == asio::error::operation_aborted && c.watchdog.expired()) {
      out.status = Status::Timeout(who + ": no complete answer within " +
                                   std::to_string(timeout.count()) + " ms");
    } else if (rec == asio::error::operation_aborted) {
      out.status = Status::Timeout(who + ": request cancelled while awaiting the answer");
    } else if (!parser.got_some()) {
      // The request was sent: the instance may have processed it before closing, so the
      // outcome is unknown (kTimeout), not "never reached" (kUnavailable).
      out.status = Status::Timeout(who + ": connection closed before the answer: " + rec.message());
      out.failed_before_answer = true;
    } else if (rec.category() == http::make_error_code(http::error::body_limit).category() &&
               rec != http::error::partial_message && rec != http::error::end_of_stream) {
      out.status = Status::Internal(who + ": bad answer: " + rec.message());
    } else {
      out.status = Status::Timeout(who + ": connection lost mid-answer: " + rec.message());
    }
    co_return out;
  }
  c.watchdog.Clear();
  out.keep_alive = parser.keep_alive() && !parser.need_eof() && c.buffer.size() == 0;
  out.response = parser.release();
  co_return out;
}

// Not a coroutine itself: it picks the instantiation and returns its awaitable (no extra frame).
asio::awaitable<RoundTripResult> RoundTrip(Connection& c, const std::string& head,
                                           const std::string& body, bool head_request,
                                           milliseconds timeout, const std::string& who) {
  if (auto* plain = std::get_if<Stream>(&c.stream)) {
    return RoundTripOn(*plain, c, head, body, head_request, timeout, who);
  }
  return RoundTripOn(std::get<TlsStream>(c.stream), c, head, body, head_request, timeout, who);
}

}  // namespace

bool IsHopByHopHeader(std::string_view name) {
  if (name.size() >= 6 && EqualsIgnoreCase(name.substr(0, 6), "proxy-")) return true;
  // Called for every header of every request and answer: only the one candidate of the name's
  // length is compared.
  switch (name.size()) {
    case 2:
      return EqualsIgnoreCase(name, "te");
    case 4:
      return EqualsIgnoreCase(name, "host");
    case 6:
      return EqualsIgnoreCase(name, "expect");
    case 7:
      return EqualsIgnoreCase(name, "trailer") || EqualsIgnoreCase(name, "upgrade");
    case 10:
      return EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive");
    case 14:
      return EqualsIgnoreCase(name, "content-length");
    case 17:
      return EqualsIgnoreCase(name, "transfer-encoding");
    default:
      return false;
  }
}

// --- ConnectionPool ------------------------------------------------------------------------

struct ConnectionPool::Impl {
  // Idle connections of one worker (or the shared slot: context == nullptr). The mutex is
  // uncontended for a worker's slot (only its thread exchanges there; CloseExpired/CloseIdle
  // and the counters are the exceptions).
  struct Slot {
    Slot(asio::io_context* context, Executor executor) : context(context), executor(executor) {}
    asio::io_context* context = nullptr;
    Executor executor;  // where this slot's connections are opened
    mutable std::mutex mu;
    std::deque<std::unique_ptr<Connection>> idle;  // guarded by mu; most recently used last
  };

  explicit Impl(Executor executor) : executor(executor) {}

  Executor executor;
  InstanceConfig instance;
  std::string host_header;
  std::string who;                           // "primary (http://...)" for messages
  std::optional<asio::ip::address> literal;  // set when host is an IP literal: no DNS
  milliseconds connect_timeout;
  std::size_t max_idle;
  milliseconds surplus_idle_timeout;
  const Clock* clock = nullptr;
  std::atomic<int64_t> opened{0};
  std::atomic<int64_t> stale_retries{0};
  std::vector<std::unique_ptr<Slot>> slots;  // one per worker, then the shared slot (last)

  std::chrono::steady_clock::time_point Now() const {
    return clock != nullptr ? clock->Now() : std::chrono::steady_clock::now();
  }

  // The slot of the worker running the calling coroutine, else the shared one.
  Slot& SlotFor(const asio::any_io_executor& ex) {
    const asio::execution_context* ctx = &asio::query(ex, asio::execution::context);
    for (std::size_t i = 0; i + 1 < slots.size(); ++i) {
      if (slots[i]->context == ctx) return *slots[i];
    }
    return *slots.back();
  }

  std::unique_ptr<Connection> TakeIdle(Slot& slot) {
    const auto now = Now();
    std::lock_guard lock(slot.mu);
    while (!slot.idle.empty()) {
      std::unique_ptr<Connection> c = std::move(slot.idle.back());
      slot.idle.pop_back();
      if (LooksAlive(*c, now)) return c;
    }
    return nullptr;
  }

  // Back to the pool; never closed here for being one too many (see CloseExpired).
  void Release(Slot& slot, std::unique_ptr<Connection> c) {
    const auto now = Now();
    c->idle_since = now;
    std::lock_guard lock(slot.mu);
    slot.idle.push_back(std::move(c));
    CloseExpiredLocked(slot, now);
  }

  // The oldest idle connections beyond max_idle go once idle for surplus_idle_timeout.
  void CloseExpiredLocked(Slot& slot, std::chrono::steady_clock::time_point now) {
    while (slot.idle.size() > max_idle &&
           now - slot.idle.front()->idle_since >= surplus_idle_timeout) {
      slot.idle.pop_front();
    }
  }

  asio::awaitable<Result<std::vector<tcp::endpoint>>> Resolve(milliseconds timeout);
  asio::awaitable<Result<std::unique_ptr<Connection>>> Connect(const Executor& on,
                                                               milliseconds timeout);
  asio::awaitable<Status> Handshake(TlsStream& stream, milliseconds timeout);

  std::shared_ptr<ssl::context> tls;  // set for https:// instances
  std::mutex tls_error_mu;
  std::string last_tls_error;  // guarded by tls_error_mu: the last certificate failure logged
};

// getaddrinfo cannot be interrupted: the lookup reports into a channel and the caller stops
// waiting at the deadline, leaving a late answer to be dropped.
asio::awaitable<Result<std::vector<tcp::endpoint>>> ConnectionPool::Impl::Resolve(
    milliseconds timeout) {
  using Channel =
      asio::experimental::concurrent_channel<void(error_code, tcp::resolver::results_type)>;
  auto channel = std::make_shared<Channel>(executor, 1);
  auto resolver = std::make_shared<tcp::resolver>(executor);
  resolver->async_resolve(instance.host, std::to_string(instance.port),
                          [resolver, channel](error_code ec, tcp::resolver::results_type r) {
                            channel->try_send(ec, std::move(r));
                          });
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  using namespace asio::experimental::awaitable_operators;
  auto done = co_await (channel->async_receive(kUseTuple) || timer.async_wait(kUseTuple));
  if (done.index() == 1) {
    co_return Status::Unavailable(who + ": resolving " + instance.host + " timed out");
  }
  auto [ec, results] = std::get<0>(std::move(done));
  if (ec) co_return Status::Unavailable(who + ": resolving " + instance.host + ": " + ec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  co_return endpoints;
}

asio::awaitable<Result<std::unique_ptr<Connection>>> ConnectionPool::Impl::Connect(
    const Executor& on, milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<tcp::endpoint> endpoints;
  if (literal) {
    endpoints.emplace_back(*literal, instance.port);
  } else {
    auto resolved = co_await Resolve(timeout);
    if (!resolved.ok()) co_return resolved.status();
    endpoints = std::move(resolved).value();
  }
  const auto left = std::max(
      milliseconds(1),
      timeout - std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start));
  auto conn = tls ? std::make_unique<Connection>(on, *tls) : std::make_unique<Connection>(on);
  // One deadline for connect and TLS handshake together: the connect timeout.
  conn->tcp().expires_after(left);
  auto [ec, endpoint] = co_await conn->tcp().async_connect(endpoints, kUseTuple);
  if (ec == beast::error::timeout) {
    co_return Status::Unavailable(who + ": connect timed out after " +
                                  std::to_string(timeout.count()) + " ms");
  }
  if (ec) co_return Status::Unavailable(who + ": connect failed: " + ec.message());
  error_code ignored;
  conn->tcp().socket().set_option(tcp::no_delay(true), ignored);
  if (tls) {
    Status handshake = co_await Handshake(std::get<TlsStream>(conn->stream), timeout);
    if (!handshake.ok()) co_return handshake;
  }
  conn->tcp().expires_never();  // exchanges keep their deadline on the connection's Watchdog
  ++opened;
  co_return std::move(conn);
}

// The TLS handshake, within what is left of the connect deadline (already set on the stream).
// A failure is kUnavailable: nothing was sent. Certificate failures are logged at error level
// once per distinct message (they need an operator), the rest at debug.
asio::awaitable<Status> ConnectionPool::Impl::Handshake(TlsStream& stream, milliseconds timeout) {
  if (Status s = PrepareClientTls(stream.native_handle(), instance.host); !s.ok()) {
    co_return Status::Unavailable(who + ": " + s.message());
  }
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, kUseTuple);
  if (!ec) {
    std::lock_guard lock(tls_error_mu);
    last_tls_error.clear();  // a later failure is logged again, even for the same reason
    co_return Status::Ok();
  }
  if (ec == beast::error::timeout) {
    co_return Status::Unavailable(who + ": TLS handshake timed out (connect deadline " +
                                  std::to_string(timeout.count()) + " ms)");
  }
  const std::string why = DescribeHandshakeFailure(stream.native_handle(), ec.message());
  {
    std::lock_guard lock(tls_error_mu);
    if (why != last_tls_error) {
      last_tls_error = why;
      spdlog::error("{}: TLS handshake failed: {}; nothing is sent to it", who, why);
    }
  }
  co_return Status::Unavailable(who + ": TLS handshake failed: " + why);
}

ConnectionPool::ConnectionPool(Executor executor, const InstanceConfig& instance,
                               milliseconds connect_timeout, std::size_t max_idle,
                               std::vector<asio::io_context*> workers, const Clock* clock,
                               milliseconds surplus_idle_timeout)
    : impl_(std::make_unique<Impl>(executor)) {
  impl_->instance = instance;
  impl_->host_header = HostHeader(instance);
  impl_->who = instance.name + " (" + instance.url + ")";
  impl_->connect_timeout = connect_timeout;
  impl_->max_idle = max_idle;
  impl_->surplus_idle_timeout = surplus_idle_timeout;
  impl_->clock = clock;
  for (asio::io_context* worker : workers) {
    impl_->slots.push_back(std::make_unique<Impl::Slot>(worker, worker->get_executor()));
  }
  impl_->slots.push_back(std::make_unique<Impl::Slot>(nullptr, executor));  // the shared slot
  error_code ec;
  asio::ip::address address = asio::ip::make_address(instance.host, ec);
  if (!ec) impl_->literal = address;
  if (instance.tls) {
    auto tls = MakeClientTlsContext(TrustPaths::FromEnvironment());
    if (!tls.ok()) {
      throw ConfigError(instance.name + " (" + instance.url + "): " + tls.status().message());
    }
    impl_->tls = std::move(tls).value();
  }
}

ConnectionPool::~ConnectionPool() = default;

asio::awaitable<Result<HttpResponse>> ConnectionPool::Exchange(const HttpRequest& request,
                                                               milliseconds timeout,
                                                               std::string_view target,
                                                               const std::string* body) {
  Impl& im = *impl_;
  Impl::Slot& slot = im.SlotFor(co_await asio::this_coro::executor);
  const std::string& payload = body != nullptr ? *body : request.body;
  const std::string head = RequestHead(
      request, target.empty() ? std::string_view(request.target) : target, im.host_header, payload);
  const bool head_request = request.method == "HEAD";
  for (int attempt = 0;; ++attempt) {
    // The retry after a stale pooled connection always uses a fresh one.
    std::unique_ptr<Connection> conn = attempt == 0 ? im.TakeIdle(slot) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      auto connected = co_await im.Connect(slot.executor, std::min(im.connect_timeout, timeout));
      if (!connected.ok()) {
        // After a stale connection closed on our request, that request's fate is unknown.
        if (attempt > 0) {
          co_return Status::Timeout(im.who +
                                    ": connection closed before the answer, and "
                                    "reconnecting failed: " +
                                    connected.status().message());
        }
        co_return connected.status();
      }
      conn = std::move(connected).value();
    }
    RoundTripResult out = co_await RoundTrip(*conn, head, payload, head_request, timeout, im.who);
    if (out.response) {
      if (out.keep_alive) im.Release(slot, std::move(conn));
      co_return std::move(*out.response);
    }
    if (reused && out.failed_before_answer && attempt == 0) {
      ++im.stale_retries;
      spdlog::debug("{}: pooled connection was stale ({}); retrying on a fresh one", im.who,
                    out.status.message());
      continue;
    }
    co_return out.status;
  }
}

std::size_t ConnectionPool::idle() const {
  std::size_t n = 0;
  for (const auto& slot : impl_->slots) {
    std::lock_guard lock(slot->mu);
    n += slot->idle.size();
  }
  return n;
}

std::size_t ConnectionPool::idle_on(const asio::io_context* worker) const {
  const Impl::Slot* found = impl_->slots.back().get();
  for (const auto& slot : impl_->slots) {
    if (slot->context != nullptr && slot->context == worker) found = slot.get();
  }
  std::lock_guard lock(found->mu);
  return found->idle.size();
}

int64_t ConnectionPool::connections_opened() const { return impl_->opened.load(); }

int64_t ConnectionPool::stale_retries() const { return impl_->stale_retries.load(); }

void ConnectionPool::CloseIdle() {
  for (auto& slot : impl_->slots) {
    std::lock_guard lock(slot->mu);
    slot->idle.clear();
  }
}

void ConnectionPool::CloseExpired() {
  const auto now = impl_->Now();
  for (auto& slot : impl_->slots) {
    std::lock_guard lock(slot->mu);
    impl_->CloseExpiredLocked(*slot, now);
  }
}

}  // namespace chroma_ha
