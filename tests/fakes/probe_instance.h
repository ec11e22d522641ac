// An InstanceClient in front of another one that watches the writes (requests other than GETs)
// go by: how many are in flight at once, whether two with the same target overlap, and the
// order they arrive in. With Gate(n, total), a write is held until n writes are in flight
// together (or `total` have arrived, or a deadline passed), so a test can show that requests
// CAN overlap, not just that they happened to. GETs (id lookups) pass straight through.
//
// Thread-safe: one mutex; the inner client is called outside it.
#ifndef CHROMA_HA_TESTS_FAKES_PROBE_INSTANCE_H_
#define CHROMA_HA_TESTS_FAKES_PROBE_INSTANCE_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "chroma_ha/instance_client.h"

namespace chroma_ha {

class ProbeInstance final : public InstanceClient {
 public:
  struct Arrival {
    std::string method, target, body;
    int others_in_flight = 0;  // writes already in flight when this one arrived
  };

  explicit ProbeInstance(InstanceClient& inner) : inner_(inner) {}

  const std::string& name() const override { return inner_.name(); }
  Result<HttpResponse> Send(const HttpRequest& request) override;

  // Holds each write until `in_flight` writes are in flight at once, or `total` writes have
  // arrived since, or `deadline` has passed (a backstop: a test passes without reaching it).
  void Gate(int in_flight, int total,
            std::chrono::milliseconds deadline = std::chrono::milliseconds(2000));

  int max_in_flight() const;
  int same_target_overlaps() const;  // writes that arrived while one to their target was out
  int gate_timeouts() const;         // writes released by the deadline
  std::vector<Arrival> arrivals() const;

 private:
  InstanceClient& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int gate_in_flight_ = 0;  // 0: no gate
  int gate_total_ = 0;
  std::chrono::milliseconds gate_deadline_{0};
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  int same_target_overlaps_ = 0;
  int gate_timeouts_ = 0;
  std::map<std::string, int> targets_in_flight_;
  std::vector<Arrival> arrivals_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_PROBE_INSTANCE_H_
