// Default options of the sanitizer runtimes, compiled into chroma-ha and the test binaries of a
// sanitizer build only (CMakeLists.txt, CHROMA_HA_SANITIZE). They make every finding fail the
// process, with its stack, however it was started: the end-to-end harness starts chroma-ha with a
// clean environment, so ASAN_OPTIONS and friends set by scripts/test.sh do not reach it. Options
// in the environment still win over these.

extern "C" {

// AddressSanitizer (and LeakSanitizer at exit): stop at the first error, exit status 1.
const char* __asan_default_options() { return "halt_on_error=1:exitcode=1:detect_leaks=1"; }

// UndefinedBehaviorSanitizer: built with -fno-sanitize-recover=undefined (it aborts); print the
// stack of each report.
const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

// ThreadSanitizer: stop at the first report, exit status 66.
const char* __tsan_default_options() {
  return "halt_on_error=1:exitcode=66:second_deadlock_stack=1";
}

// Suppressions: each names the one frame it matches and why it is not a bug of chroma-ha.
// Keep them narrow; a new report is a bug to fix, not a line to add.

// LeakSanitizer. libpqxx 6.4 loses the PGresult of a statement that fails on a broken
// connection (pqxx::transaction_base::direct_exec from pqxx::dbtransaction::do_begin, seen in
// PostgresReconnect.DeadConnectionIsUnavailableThenReconnects: 216 + 2048 bytes per broken BEGIN).
// chroma-ha never calls libpq itself, so every PGresult belongs to libpqxx.
const char* __lsan_default_suppressions() { return "leak:PQmakeEmptyPGresult\n"; }

// ThreadSanitizer. Boost.Asio's ref_count_down (asio/detail/atomic_count.hpp) pairs a release
// fetch_sub with std::atomic_thread_fence(acquire) before deleting a shared executor; GCC's TSan
// does not model fences (-Wtsan: "atomic_thread_fence is not supported"), so the delete in
// ~shared_target_executor is reported as racing with the other thread's decrement
// (SequencerStressTest.OrderPerKeyOnManyThreads). Not a race: a limitation of GCC's TSan, not of
// the optimisation level.
const char* __tsan_default_suppressions() {
  return "race:boost::asio::execution::detail::shared_target_executor::~shared_target_executor\n";
}

}  // extern "C"
