#include "probe_instance.h"

#include <algorithm>

namespace chroma_ha {

void ProbeInstance::Gate(int in_flight, int total, std::chrono::milliseconds deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  gate_in_flight_ = in_flight;
  gate_total_ = total;
  gate_deadline_ = deadline;
  arrivals_.clear();
}

Result<HttpResponse> ProbeInstance::Send(const HttpRequest& request) {
  if (request.method == "GET") return inner_.Send(request);
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (targets_in_flight_[request.target]++ > 0) ++same_target_overlaps_;
    arrivals_.push_back({request.method, request.target, request.body, in_flight_});
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    cv_.notify_all();
    if (gate_in_flight_ > 0) {
      const bool released = cv_.wait_for(lock, gate_deadline_, [this] {
        return in_flight_ >= gate_in_flight_ || static_cast<int>(arrivals_.size()) >= gate_total_;
      });
      if (!released) ++gate_timeouts_;
    }
  }
  Result<HttpResponse> answer = inner_.Send(request);
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    --targets_in_flight_[request.target];
  }
  return answer;
}

int ProbeInstance::max_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_in_flight_;
}

int ProbeInstance::same_target_overlaps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return same_target_overlaps_;
}

int ProbeInstance::gate_timeouts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return gate_timeouts_;
}

std::vector<ProbeInstance::Arrival> ProbeInstance::arrivals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return arrivals_;
}

}  // namespace chroma_ha
