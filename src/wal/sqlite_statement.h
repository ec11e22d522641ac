// Internal to the SQLite store (src/wal/sqlite_*.cc): the cached-statement helper and the
// transaction macros shared by its connection/schema part and its queries. Not for other users.
#ifndef CHROMA_HA_WAL_SQLITE_STATEMENT_H_
#define CHROMA_HA_WAL_SQLITE_STATEMENT_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "wal/sqlite_store.h"

namespace chroma_ha {
namespace sqlite_sql {

inline constexpr const char* kBegin = "BEGIN IMMEDIATE";
inline constexpr const char* kBeginRead = "BEGIN";
inline constexpr const char* kCommit = "COMMIT";
inline constexpr const char* kRollback = "ROLLBACK";

}  // namespace sqlite_sql

// A cached statement in use: binds parameters in order, steps, reads columns, and resets the
// statement when it goes out of scope so the cache can hand it out again.
class SqliteWalStore::Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Int(int64_t v) { return Check(sqlite3_bind_int64(s_, ++index_, v)); }
  Stmt& Text(const std::string& v) {
    return Check(sqlite3_bind_text64(s_, ++index_, v.data(), v.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8));
  }
  // Bound without a copy (SQLITE_STATIC: a body is up to megabytes): `v` must outlive this
  // Stmt, whose destructor clears the bindings.
  Stmt& Blob(const std::string& v) {
    return Check(sqlite3_bind_blob64(s_, ++index_, v.data(), v.size(), SQLITE_STATIC));
  }
  // SQLITE_ROW, SQLITE_DONE or an error code (including a failed bind).
  int Step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

  int64_t ColumnInt(int i) const { return sqlite3_column_int64(s_, i); }
  bool ColumnIsNull(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::string ColumnBytes(int i) const {
    const void* p = sqlite3_column_blob(s_, i);
    const int n = sqlite3_column_bytes(s_, i);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }

 private:
  Stmt& Check(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int index_ = 0;
  int bind_rc_ = SQLITE_OK;
};

// Runs a cached statement that returns no rows: STMT(sql) binds, then DONE(stmt, what).
#define CHROMA_HA_PREPARE(var, sql)                          \
  Result<sqlite3_stmt*> var##_raw = PrepareLocked(sql);      \
  if (!var##_raw.ok()) return var##_raw.status();            \
  Stmt var(*var##_raw)

// Commits the open transaction, or rolls it back and returns the error.
#define CHROMA_HA_COMMIT()                                            \
  do {                                                                \
    Result<sqlite3_stmt*> commit_raw = PrepareLocked(sqlite_sql::kCommit);        \
    int commit_rc = SQLITE_ERROR;                                     \
    if (commit_raw.ok()) {                                            \
      Stmt commit_stmt(*commit_raw);                                  \
      commit_rc = commit_stmt.Step();                                 \
    }                                                                 \
    if (commit_rc != SQLITE_DONE) {                                   \
      Status commit_error = ErrorLocked(commit_rc, "commit");         \
      RollbackLocked();                                               \
      return commit_error;                                            \
    }                                                                 \
  } while (0)

// Inside a transaction: on error, roll back and return it.
#define CHROMA_HA_OR_ROLLBACK(expr) \
  do {                              \
    Status or_rollback = (expr);    \
    if (!or_rollback.ok()) {        \
      RollbackLocked();             \
      return or_rollback;           \
    }                               \
  } while (0)

}  // namespace chroma_ha

#endif  // CHROMA_HA_WAL_SQLITE_STATEMENT_H_
