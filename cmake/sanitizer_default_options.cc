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

}  // extern "C"
