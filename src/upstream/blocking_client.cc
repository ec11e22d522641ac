#include "upstream/blocking_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

#include "upstream/upstream_pool.h"

namespace chroma_ha {

namespace asio = boost::asio;

struct BlockingInstanceClient::Impl {
  Impl(const InstanceConfig& instance, std::chrono::milliseconds connect_timeout,
       std::chrono::milliseconds request_timeout, std::size_t max_idle)
      : name(instance.name),
        request_timeout(request_timeout),
        work(asio::make_work_guard(ioc)),
        pool(ioc.get_executor(), instance, connect_timeout, max_idle) {}

  // Destruction order matters: the thread stops first, then the pool (its sockets belong to
  // `ioc`), then `ioc`.
  const std::string name;
  const std::chrono::milliseconds request_timeout;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  ConnectionPool pool;
  std::thread thread;
};

BlockingInstanceClient::BlockingInstanceClient(const InstanceConfig& instance,
                                               std::chrono::milliseconds connect_timeout,
                                               std::chrono::milliseconds request_timeout,
                                               std::size_t max_idle) {
  impl_ = std::make_unique<Impl>(instance, connect_timeout, request_timeout, max_idle);
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

BlockingInstanceClient::~BlockingInstanceClient() {
  impl_->work.reset();
  impl_->ioc.stop();
  impl_->thread.join();
  impl_->pool.CloseIdle();
}

const std::string& BlockingInstanceClient::name() const { return impl_->name; }

Result<HttpResponse> BlockingInstanceClient::Send(const HttpRequest& request) {
  return SendWithTimeout(request, impl_->request_timeout);
}

Result<HttpResponse> BlockingInstanceClient::SendWithBody(const HttpRequest& request,
                                                          const std::string& body) {
  return SendWithTimeout(request, impl_->request_timeout, &body);
}

Result<HttpResponse> BlockingInstanceClient::SendWithTimeout(const HttpRequest& request,
                                                             std::chrono::milliseconds timeout,
                                                             const std::string* body) {
  try {
    // co_spawn needs a default-constructible value: wrap the Result in an optional.
    using Answer = std::optional<Result<HttpResponse>>;
    auto future = asio::co_spawn(
        impl_->ioc,
        [&]() -> asio::awaitable<Answer> {
          co_return co_await impl_->pool.Exchange(request, timeout, {}, body);
        },
        asio::use_future);
    return *future.get();
  } catch (const std::exception& e) {  // allocation failure or a bug: never silently dropped
    return Status::Internal(impl_->name + ": request failed: " + e.what());
  }
}

std::size_t BlockingInstanceClient::idle_connections() const { return impl_->pool.idle(); }

int64_t BlockingInstanceClient::connections_opened() const {
  return impl_->pool.connections_opened();
}

}  // namespace chroma_ha
