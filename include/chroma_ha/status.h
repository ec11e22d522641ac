// Status and Result<T>: errors as values at module boundaries.
//
// A Status says whether an operation succeeded and, when it did not, whether retrying the same
// call later may succeed (`retryable()`: a connection refused, a timeout, a database that is
// down) or not (a bad argument, a corrupt record). Exceptions are used only at start-up
// (configuration); everything on the request path and in the WAL returns these.
#ifndef CHROMA_HA_STATUS_H_
#define CHROMA_HA_STATUS_H_

#include <string>
#include <utility>
#include <variant>

namespace chroma_ha {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong; permanent
  kNotFound,         // the thing asked for does not exist; permanent
  kUnavailable,      // a dependency (database, instance) cannot be reached now; retryable
  kTimeout,          // a deadline passed with no answer; retryable, outcome unknown
  kCorruption,       // stored data cannot be decoded; permanent
  kInternal,         // a bug or an unexpected state; permanent
  kFailedPrecondition,  // refused: the state it needs does not hold (a lease lost, a file
                        // locked by another process); permanent for this call
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status Unavailable(std::string msg) {
    return Status(StatusCode::kUnavailable, std::move(msg));
  }
  static Status Timeout(std::string msg) { return Status(StatusCode::kTimeout, std::move(msg)); }
  static Status Corruption(std::string msg) {
    return Status(StatusCode::kCorruption, std::move(msg));
  }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) {
    return Status(StatusCode::kFailedPrecondition, std::move(msg));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  // True when the same call may succeed later without anything else changing.
  bool retryable() const { return code_ == StatusCode::kUnavailable || code_ == StatusCode::kTimeout; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* StatusCodeName(StatusCode code);

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kTimeout: return "Timeout";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kInternal: return "Internal";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
  }
  return "Unknown";
}

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}             // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}      // NOLINT: must not be OK
  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace chroma_ha

#endif  // CHROMA_HA_STATUS_H_
