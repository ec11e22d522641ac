// Internal to the PostgreSQL store: how a libpqxx exception or a SQLSTATE becomes a Status.
//
// Retryable (kUnavailable): class 08 (connection exception), 40001 (serialization failure),
// 40P01 (deadlock), class 53 (insufficient resources), 55P03 (lock not available), 57014
// (query canceled: statement_timeout), 57P01-57P03 (admin/crash shutdown, cannot connect now),
// a broken connection, the store's own deadline. In doubt (kTimeout): a COMMIT whose
// acknowledgement was lost (pqxx::in_doubt_error, or the connection broke during COMMIT, or
// 40003 statement completion unknown). Permanent: class 22 (data exception) and 23 (integrity
// constraint violation) are kInvalidArgument, everything else kInternal.
#ifndef CHROMA_HA_WAL_POSTGRES_ERRORS_H_
#define CHROMA_HA_WAL_POSTGRES_ERRORS_H_

#include <exception>
#include <string>
#include <string_view>

#include "chroma_ha/status.h"

namespace chroma_ha {

struct PgErrorClass {
  StatusCode code = StatusCode::kInternal;
  bool drop_connection = false;  // the session is gone or unusable: reconnect on the next call
};

// The class of a server error by its SQLSTATE (5 characters; "" when unknown).
PgErrorClass ClassifySqlState(std::string_view sqlstate);

struct PgCallContext {
  bool committing = false;        // the error came from the COMMIT of a write
  bool deadline_expired = false;  // the store's watchdog cut the connection (no answer in time)
  bool connection_open = true;    // the connection still looked usable after the error
  long long timeout_ms = 0;       // the store timeout, for the message
};

struct PgTranslated {
  Status status;
  bool drop_connection = false;
};

// A Status of any code with `message` (kOk ignores the message).
Status StatusWithCode(StatusCode code, std::string message);

// Translates `error` (a libpqxx or other exception) raised by a store call named `what`.
// Messages start with "postgres <what>: " and are not yet redacted.
PgTranslated TranslatePgException(const std::exception_ptr& error, std::string_view what,
                                  const PgCallContext& context);

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_POSTGRES_ERRORS_H_
