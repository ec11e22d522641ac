#include "wal/postgres_errors.h"

#include <pqxx/pqxx>
#include <utility>

namespace chroma_ha {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The connection was lost or cut: retryable, or in doubt when it happened during COMMIT.
PgTranslated Lost(const std::string& prefix, const std::string& detail,
                  const PgCallContext& context) {
  std::string why = context.deadline_expired
                        ? "no answer within " + std::to_string(context.timeout_ms) +
                              " ms (WAL_STORE_TIMEOUT_MS); connection dropped"
                        : detail;
  if (context.committing) {
    return {Status::Timeout(prefix + "commit outcome unknown: " + why), true};
  }
  return {Status::Unavailable(prefix + why), true};
}

}  // namespace

Status StatusWithCode(StatusCode code, std::string message) {
  switch (code) {
    case StatusCode::kOk:
      return Status::Ok();
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(message));
    case StatusCode::kUnavailable:
      return Status::Unavailable(std::move(message));
    case StatusCode::kTimeout:
      return Status::Timeout(std::move(message));
    case StatusCode::kCorruption:
      return Status::Corruption(std::move(message));
    case StatusCode::kFailedPrecondition:
      return Status::FailedPrecondition(std::move(message));
    case StatusCode::kInternal:
      break;
  }
  return Status::Internal(std::move(message));
}

PgErrorClass ClassifySqlState(std::string_view state) {
  if (StartsWith(state, "08")) return {StatusCode::kUnavailable, true};
  if (state == "57P01" || state == "57P02" || state == "57P03") {
    return {StatusCode::kUnavailable, true};
  }
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014" ||
      StartsWith(state, "53")) {
    return {StatusCode::kUnavailable, false};
  }
  if (state == "40003") return {StatusCode::kTimeout, false};  // statement completion unknown
  if (StartsWith(state, "22") || StartsWith(state, "23")) {
    return {StatusCode::kInvalidArgument, false};
  }
  return {StatusCode::kInternal, false};
}

PgTranslated TranslatePgException(const std::exception_ptr& error, std::string_view what,
                                  const PgCallContext& context) {
  const std::string prefix = "postgres " + std::string(what) + ": ";
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::in_doubt_error& e) {
    return {Status::Timeout(prefix + "commit outcome unknown: " + e.what()), true};
  } catch (const pqxx::broken_connection& e) {
    return Lost(prefix, e.what(), context);
  } catch (const pqxx::statement_completion_unknown& e) {  // 40003
    if (context.committing) return Lost(prefix, e.what(), context);
    return {Status::Unavailable(prefix + e.what()), !context.connection_open};
  } catch (const pqxx::transaction_rollback& e) {  // 40001, 40P01 and the rest of class 40
    if (!context.connection_open) return Lost(prefix, e.what(), context);
    return {Status::Unavailable(prefix + e.what()), false};
  } catch (const pqxx::sql_error& e) {
    if (!context.connection_open || context.deadline_expired) {
      return Lost(prefix, e.what(), context);
    }
    const PgErrorClass c = ClassifySqlState(e.sqlstate());
    std::string message = prefix + e.what();
    if (c.code == StatusCode::kTimeout && !context.committing) {
      return {Status::Unavailable(std::move(message)), c.drop_connection};
    }
    return {StatusWithCode(c.code, std::move(message)), c.drop_connection};
  } catch (const std::exception& e) {
    if (!context.connection_open || context.deadline_expired) {
      return Lost(prefix, e.what(), context);
    }
    return {Status::Internal(prefix + e.what()), false};
  } catch (...) {
    if (!context.connection_open || context.deadline_expired) {
      return Lost(prefix, "unknown exception", context);
    }
    return {Status::Internal(prefix + "unknown exception"), false};
  }
}

}  // namespace chroma_ha
