// How PostgreSQL errors become Statuses: the SQLSTATE table and the libpqxx exceptions.
#include "wal/postgres_errors.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>

namespace chroma_ha {
namespace {

TEST(PostgresErrors, SqlStateTable) {
  struct Case {
    const char* sqlstate;
    StatusCode want;
    bool drop;
  };
  constexpr Case kCases[] = {
      {"08000", StatusCode::kUnavailable, true},       // connection_exception
      {"08006", StatusCode::kUnavailable, true},       // connection_failure
      {"08P01", StatusCode::kUnavailable, true},       // protocol_violation
      {"40001", StatusCode::kUnavailable, false},      // serialization_failure
      {"40P01", StatusCode::kUnavailable, false},      // deadlock_detected
      {"53000", StatusCode::kUnavailable, false},      // insufficient_resources
      {"53100", StatusCode::kUnavailable, false},      // disk_full
      {"53300", StatusCode::kUnavailable, false},      // too_many_connections
      {"55P03", StatusCode::kUnavailable, false},      // lock_not_available
      {"57014", StatusCode::kUnavailable, false},      // query_canceled (statement_timeout)
      {"57P01", StatusCode::kUnavailable, true},       // admin_shutdown
      {"57P02", StatusCode::kUnavailable, true},       // crash_shutdown
      {"57P03", StatusCode::kUnavailable, true},       // cannot_connect_now
      {"40003", StatusCode::kTimeout, false},          // statement_completion_unknown
      {"22021", StatusCode::kInvalidArgument, false},  // character_not_in_repertoire
      {"22P02", StatusCode::kInvalidArgument, false},  // invalid_text_representation
      {"23505", StatusCode::kInvalidArgument, false},  // unique_violation
      {"23503", StatusCode::kInvalidArgument, false},  // foreign_key_violation
      {"40002", StatusCode::kInternal, false},         // integrity_constraint_violation (in 40)
      {"42P01", StatusCode::kInternal, false},         // undefined_table
      {"42601", StatusCode::kInternal, false},         // syntax_error
      {"57000", StatusCode::kInternal, false},         // operator_intervention, not one of ours
      {"57P04", StatusCode::kInternal, false},         // database_dropped
      {"55000", StatusCode::kInternal, false},         // object_not_in_prerequisite_state
      {"XX000", StatusCode::kInternal, false},         // internal_error
      {"", StatusCode::kInternal, false},
  };
  for (const Case& c : kCases) {
    const PgErrorClass got = ClassifySqlState(c.sqlstate);
    EXPECT_EQ(got.code, c.want) << c.sqlstate;
    EXPECT_EQ(got.drop_connection, c.drop) << c.sqlstate;
  }
}

PgTranslated Translate(const std::exception_ptr& e, bool committing = false,
                       bool deadline_expired = false, bool open = true) {
  PgCallContext context;
  context.committing = committing;
  context.deadline_expired = deadline_expired;
  context.connection_open = open;
  context.timeout_ms = 1234;
  return TranslatePgException(e, "append", context);
}

template <typename E, typename... Args>
std::exception_ptr Make(Args&&... args) {
  return std::make_exception_ptr(E(std::forward<Args>(args)...));
}

TEST(PostgresErrors, LostCommitAcknowledgementIsInDoubt) {
  PgTranslated t = Translate(Make<pqxx::in_doubt_error>("lost during commit"));
  EXPECT_EQ(t.status.code(), StatusCode::kTimeout);
  EXPECT_TRUE(t.drop_connection);
  EXPECT_EQ(t.status.message().rfind("postgres append: commit outcome unknown", 0), 0u)
      << t.status.message();
  // A connection that breaks during COMMIT: the same.
  t = Translate(Make<pqxx::broken_connection>("server closed"), /*committing=*/true,
                /*deadline_expired=*/false, /*open=*/false);
  EXPECT_EQ(t.status.code(), StatusCode::kTimeout);
  t = Translate(Make<pqxx::statement_completion_unknown>("?"), /*committing=*/true);
  EXPECT_EQ(t.status.code(), StatusCode::kTimeout);
}

TEST(PostgresErrors, BrokenConnectionBeforeCommitIsRetryable) {
  PgTranslated t = Translate(Make<pqxx::broken_connection>("server closed"), false, false, false);
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(t.drop_connection);
  // Cut by the store's deadline: the message says so.
  t = Translate(Make<pqxx::broken_connection>("server closed"), false, true, false);
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  EXPECT_NE(t.status.message().find("no answer within 1234 ms"), std::string::npos)
      << t.status.message();
  EXPECT_TRUE(t.drop_connection);
  // Any other exception on a connection that is no longer open.
  t = Translate(Make<std::runtime_error>("eof"), false, false, /*open=*/false);
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(t.drop_connection);
}

TEST(PostgresErrors, ServerErrorsByClass) {
  PgTranslated t = Translate(
      Make<pqxx::sql_error>("canceling statement due to statement timeout", "SELECT", "57014"));
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(t.drop_connection);  // the session is fine: keep it
  t = Translate(Make<pqxx::sql_error>("terminating connection", "SELECT", "57P01"));
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(t.drop_connection);
  t = Translate(Make<pqxx::serialization_failure>("could not serialize"));
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  t = Translate(Make<pqxx::deadlock_detected>("deadlock"));
  EXPECT_EQ(t.status.code(), StatusCode::kUnavailable);
  t = Translate(Make<pqxx::data_exception>("invalid byte sequence", "INSERT", "22021"));
  EXPECT_EQ(t.status.code(), StatusCode::kInvalidArgument);
  t = Translate(Make<pqxx::unique_violation>("duplicate key", "INSERT", "23505"));
  EXPECT_EQ(t.status.code(), StatusCode::kInvalidArgument);
  t = Translate(Make<pqxx::undefined_table>("no such table", "SELECT", "42P01"));
  EXPECT_EQ(t.status.code(), StatusCode::kInternal);
  t = Translate(Make<std::runtime_error>("schema too new"));
  EXPECT_EQ(t.status.code(), StatusCode::kInternal);
  EXPECT_FALSE(t.drop_connection);
}

}  // namespace
}  // namespace chroma_ha
