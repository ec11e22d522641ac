#!/usr/bin/env bash
# The test command.
#
#   bash scripts/test.sh
#
# 1. installs what is missing (scripts/install-deps.sh) and builds everything with tests;
# 2. starts a throw-away PostgreSQL (scripts/postgres.sh) for the PostgreSQL WAL store tests
#    (CHROMA_HA_TEST_DATABASE_URL, CHROMA_HA_REQUIRE_POSTGRES=1);
# 3. runs the GoogleTest suites (ctest), the deployment-file checks (tests/deploy, Debian's
#    python3 + python3-yaml) and then the end-to-end suite and the short fault suite
#    (node --test tests/e2e/ tests/fault/; see docs/reliability.md), which start real Chroma
#    servers and build/chroma-ha on free loopback ports;
# 4. stops everything it started (by PID) and prints, as its last line, "N passed, N failed"
#    over ctest, the deployment checks and the end-to-end tests. Exits non-zero if anything failed.
#
# Logs: build/ctest.log, build/e2e/ (one directory per stack, results.tap). BUILD_DIR overrides
# build/ (the end-to-end suite then runs $BUILD_DIR/chroma-ha).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
# shellcheck source=scripts/chroma.sh
source "$ROOT/scripts/chroma.sh"

CTEST_TIMEOUT="${CTEST_TIMEOUT:-1200}"  # seconds for the whole ctest run
E2E_TIMEOUT="${E2E_TIMEOUT:-900}"       # seconds for the whole end-to-end run
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export BUILD_DIR
E2E_DIR="$BUILD_DIR/e2e"

passed=0
failed=0
PG_DIR=""
PID_DIR=""

note_failure() {
  echo "test: FAILED: $*" >&2
  failed=$((failed + 1))
}

# Stops leftovers of the end-to-end suite (normally stopped by its own after() hooks): only PIDs
# the harness recorded, and only if the process still has the recorded command.
stop_e2e_leftovers() {
  [[ -n "$PID_DIR" && -d "$PID_DIR" ]] || return 0
  local f pid marker
  for f in "$PID_DIR"/*; do
    [[ -f "$f" ]] || continue
    pid="$(basename "$f")"
    marker="$(cat "$f")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" && pid_cmdline_has "$pid" "$marker"; then
      echo "test: stopping leftover $marker (PID $pid)" >&2
      stop_pid "$pid" 5
    fi
    rm -f "$f"
  done
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
finish() {
  local rc=$?
  trap - EXIT INT TERM
  stop_e2e_leftovers
  if [[ -n "$PG_DIR" ]]; then
    bash "$ROOT/scripts/postgres.sh" stop "$PG_DIR" >/dev/null 2>&1 ||
      echo "test: could not stop PostgreSQL in $PG_DIR" >&2
    rm -rf "$PG_DIR"
  fi
  [[ -n "$PID_DIR" ]] && rm -rf "$PID_DIR"
  if ((failed == 0 && rc != 0)); then
    failed=1 # interrupted or an unexpected error
  fi
  echo
  echo "$passed passed, $failed failed"
  if ((failed > 0)); then
    exit 1
  fi
  exit 0
}
trap finish EXIT
trap 'echo "test: interrupted" >&2; exit 130' INT
trap 'echo "test: terminated" >&2; exit 143' TERM

echo "== install-deps"
if ! bash "$ROOT/scripts/install-deps.sh"; then
  note_failure "install-deps"
  exit 1
fi

echo "== build"
if ! CHROMA_HA_BUILD_TESTS=ON bash "$ROOT/scripts/build.sh"; then
  note_failure "build"
  exit 1
fi

echo "== PostgreSQL"
PG_DIR="$(mktemp -d /tmp/chroma-ha-pg.XXXXXX)"
if pg_url="$(timeout 120 bash "$ROOT/scripts/postgres.sh" start "$PG_DIR" | tail -n 1)" &&
  [[ "$pg_url" == postgres* ]]; then
  export CHROMA_HA_TEST_DATABASE_URL="$pg_url"
  echo "PostgreSQL at $pg_url"
else
  note_failure "could not start PostgreSQL (the PostgreSQL store tests will fail)"
fi
export CHROMA_HA_REQUIRE_POSTGRES=1

echo "== ctest"
timeout "$CTEST_TIMEOUT" ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 300 \
  2>&1 | tee "$BUILD_DIR/ctest.log"
ctest_rc=${PIPESTATUS[0]}
# "NN% tests passed, F tests failed out of T"
summary="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$BUILD_DIR/ctest.log" | tail -n 1)"
if [[ "$summary" =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
  passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[1]))
  if ((ctest_rc != 0 && BASH_REMATCH[1] == 0)); then
    note_failure "ctest exited with status $ctest_rc"
  fi
elif grep -q 'No tests were found' "$BUILD_DIR/ctest.log"; then
  echo "test: ctest found no tests"
  ((ctest_rc == 0)) || note_failure "ctest exited with status $ctest_rc"
else
  note_failure "ctest exited with status $ctest_rc and no summary (timeout ${CTEST_TIMEOUT}s?)"
fi

echo "== deploy files (tests/deploy)"
deploy_log="$BUILD_DIR/deploy-tests.log"
CHROMA_HA_BIN="$BUILD_DIR/chroma-ha" timeout 300 /usr/bin/python3 tests/deploy/test_deploy_files.py \
  2>&1 | tee "$deploy_log"
deploy_rc=${PIPESTATUS[0]}
# The script's last line: "deploy-tests: passed=P failed=F" (skips count as failures).
deploy_summary="$(grep -E '^deploy-tests: passed=[0-9]+ failed=[0-9]+$' "$deploy_log" | tail -n 1)"
if [[ "$deploy_summary" =~ passed=([0-9]+)\ failed=([0-9]+) ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
  if ((deploy_rc != 0 && BASH_REMATCH[2] == 0)); then
    note_failure "deploy tests exited with status $deploy_rc"
  fi
else
  note_failure "deploy tests exited with status $deploy_rc and no summary"
fi

echo "== end-to-end (node --test tests/e2e/ tests/fault/)"
rm -rf "$E2E_DIR"
mkdir -p "$E2E_DIR"
PID_DIR="$(mktemp -d /tmp/chroma-ha-e2e-pids.XXXXXX)"
export CHROMA_HA_E2E_DIR="$E2E_DIR" CHROMA_HA_E2E_PIDDIR="$PID_DIR"
export CHROMA_HA_BIN="$BUILD_DIR/chroma-ha"
tap="$E2E_DIR/results.tap"
timeout "$E2E_TIMEOUT" node --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  tests/e2e/ tests/fault/
e2e_rc=$?
stop_e2e_leftovers
# The TAP summary: "# pass N", "# fail N", "# cancelled N" (last occurrence: the run's totals).
e2e_pass="$(grep -E '^# pass [0-9]+$' "$tap" 2>/dev/null | tail -n 1 | awk '{print $3}')"
e2e_fail="$(grep -E '^# fail [0-9]+$' "$tap" 2>/dev/null | tail -n 1 | awk '{print $3}')"
e2e_cancelled="$(grep -E '^# cancelled [0-9]+$' "$tap" 2>/dev/null | tail -n 1 | awk '{print $3}')"
if [[ -n "$e2e_pass" && -n "$e2e_fail" ]]; then
  passed=$((passed + e2e_pass))
  failed=$((failed + e2e_fail + ${e2e_cancelled:-0}))
  if ((e2e_rc != 0 && e2e_fail + ${e2e_cancelled:-0} == 0)); then
    note_failure "node --test exited with status $e2e_rc"
  fi
else
  note_failure "node --test exited with status $e2e_rc and no summary (timeout ${E2E_TIMEOUT}s?)"
fi

if ((failed > 0)); then
  exit 1
fi
exit 0
