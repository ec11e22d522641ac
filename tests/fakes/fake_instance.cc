#include "fake_instance.h"  // same folder: tests/ is on the include path of users only

#include <utility>

namespace chroma_ha {

FakeInstance::FakeInstance(std::string name) : name_(std::move(name)) {}

HttpResponse FakeInstance::Response(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.headers.push_back({"content-type", "application/json"});
  response.body = std::move(body);
  return response;
}

Result<HttpResponse> FakeInstance::Send(const HttpRequest& request) {
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (always_status_ != 0) return Response(always_status_, always_body_);
    if (!queue_.empty()) {
      Result<HttpResponse> answer = std::move(queue_.front());
      queue_.pop_front();
      return answer;
    }
    handler = handler_;
  }
  if (handler) return handler(request);
  return Response(200);
}

void FakeInstance::SetHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
}

void FakeInstance::QueueResponse(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.emplace_back(Response(status, std::move(body)));
}

void FakeInstance::QueueFailure(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.emplace_back(std::move(status));
}

void FakeInstance::AlwaysRespond(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  always_status_ = status;
  always_body_ = std::move(body);
}

std::vector<HttpRequest> FakeInstance::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t FakeInstance::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

void FakeInstance::ClearRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
}

}  // namespace chroma_ha
