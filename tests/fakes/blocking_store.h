// A WalStore wrapper whose calls can be made to hang: what a PostgreSQL frozen with its
// connections open (SIGSTOP, a network partition) looks like to chroma-ha. While frozen, every
// call waits until Thaw() (or the wrapper's destruction) and then goes through to the wrapped
// store. Tests use it to check that nothing that must answer waits on the store.
//
// Thread-safe. The wrapped store must outlive this wrapper. Thaw before destroying anything
// that a blocked call refers to; the destructor thaws (and waits for no one).
#ifndef CHROMA_HA_TESTS_FAKES_BLOCKING_STORE_H_
#define CHROMA_HA_TESTS_FAKES_BLOCKING_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "forwarding_store.h"

namespace chroma_ha {

class BlockingStore final : public ForwardingStore {
 public:
  explicit BlockingStore(WalStore* base) : ForwardingStore(base) {}
  ~BlockingStore() override { Thaw(); }
  BlockingStore(const BlockingStore&) = delete;
  BlockingStore& operator=(const BlockingStore&) = delete;

  void Freeze();
  void Thaw();
  // Calls waiting in a frozen store now.
  int waiting() const;
  // Waits (real time, up to `deadline`) until at least `n` calls wait; false on the deadline.
  bool WaitForWaiting(int n, std::chrono::milliseconds deadline = std::chrono::seconds(10));
  int64_t calls() const;

 private:
  Status Enter(WalOp /*op*/) override;  // counts the call; waits while frozen

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool frozen_ = false;
  int waiting_ = 0;
  int64_t calls_ = 0;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_TESTS_FAKES_BLOCKING_STORE_H_
