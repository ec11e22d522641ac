#!/usr/bin/env bash
# The run command: two local Chroma servers and chroma-ha in front of them, on loopback.
#
#   bash scripts/run.sh
#
# Installs what is missing (scripts/install-deps.sh), builds build/chroma-ha, starts
#   primary Chroma  127.0.0.1:$PRIMARY_PORT (8001), data in data/primary
#   replica Chroma  127.0.0.1:$REPLICA_PORT (8002), data in data/replica
#   chroma-ha       127.0.0.1:$PORT (8000), embedded SQLite WAL at data/wal.sqlite3
# and runs until Ctrl-C or SIGTERM, or until one of them exits; then it stops, by PID, everything
# it started. Logs and PID files are in .run/. Other chroma-ha variables in the environment
# (LOAD_BALANCE_STRATEGY, LOG_LEVEL, DATABASE_URL, ...) are passed through. CHROMA_HA_BIN runs
# another binary instead of building and running build/chroma-ha.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/chroma.sh
source "$ROOT/scripts/chroma.sh"

PORT="${PORT:-8000}"
PRIMARY_PORT="${PRIMARY_PORT:-8001}"
REPLICA_PORT="${REPLICA_PORT:-8002}"
DATA_DIR="${DATA_DIR:-$ROOT/data}"
RUN_DIR="$ROOT/.run"
HA_START_TIMEOUT="${HA_START_TIMEOUT:-30}"
WAL_PATH="${WAL_PATH:-$DATA_DIR/wal.sqlite3}"
LISTEN_ADDRESS="${LISTEN_ADDRESS:-127.0.0.1}"

bash "$ROOT/scripts/install-deps.sh"
if [[ -z "${CHROMA_HA_BIN:-}" ]]; then
  bash "$ROOT/scripts/build.sh" chroma-ha
  CHROMA_HA_BIN="${BUILD_DIR:-$ROOT/build}/chroma-ha"
fi

mkdir -p "$DATA_DIR/primary" "$DATA_DIR/replica" "$RUN_DIR"

HA_PID=""
cleaned=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  ((cleaned)) && return 0
  cleaned=1
  echo
  echo "run: stopping"
  if [[ -n "$HA_PID" ]]; then
    # chroma-ha drains for up to SHUTDOWN_GRACE_MS (10 s) on SIGTERM.
    stop_pid "$HA_PID" $((${SHUTDOWN_GRACE_MS:-10000} / 1000 + 5))
    rm -f "$RUN_DIR/chroma-ha.pid"
  fi
  chroma_stop "$RUN_DIR/replica.pid"
  chroma_stop "$RUN_DIR/primary.pid"
  echo "run: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "run: starting Chroma primary on 127.0.0.1:$PRIMARY_PORT and replica on 127.0.0.1:$REPLICA_PORT"
chroma_start "$DATA_DIR/primary" "$PRIMARY_PORT" "$RUN_DIR/primary.pid" "$RUN_DIR/primary.log"
PRIMARY_PID="$CHROMA_STARTED_PID"
chroma_start "$DATA_DIR/replica" "$REPLICA_PORT" "$RUN_DIR/replica.pid" "$RUN_DIR/replica.log"
REPLICA_PID="$CHROMA_STARTED_PID"

echo "run: starting chroma-ha on 127.0.0.1:$PORT (log: .run/chroma-ha.log)"
(
  export PORT LISTEN_ADDRESS WAL_PATH
  export PRIMARY_URL="http://127.0.0.1:$PRIMARY_PORT" REPLICA_URL="http://127.0.0.1:$REPLICA_PORT"
  exec "$CHROMA_HA_BIN" >>"$RUN_DIR/chroma-ha.log" 2>&1
) &
HA_PID=$!
echo "$HA_PID" >"$RUN_DIR/chroma-ha.pid"

rc=0
wait_ready "$HA_PID" "$PORT" "http://127.0.0.1:$PORT/health" "$HA_START_TIMEOUT" || rc=$?
if ((rc != 0)); then
  # /health answers 503 until an instance is healthy; accept any answer once it listens.
  if pid_alive "$HA_PID" && pid_listens_on "$HA_PID" "$PORT"; then
    echo "run: chroma-ha listens but /health is not 200 yet; see /status" >&2
  else
    echo "run: chroma-ha did not start (exit or timeout after ${HA_START_TIMEOUT}s); last log lines:" >&2
    tail -n 20 "$RUN_DIR/chroma-ha.log" >&2 || true
    exit 1
  fi
fi

cat <<EOF

chroma-ha is running: http://127.0.0.1:$PORT
  primary  http://127.0.0.1:$PRIMARY_PORT (PID $PRIMARY_PID, data $DATA_DIR/primary)
  replica  http://127.0.0.1:$REPLICA_PORT (PID $REPLICA_PID, data $DATA_DIR/replica)
  WAL      $WAL_PATH
  logs     $RUN_DIR/

  curl -s http://127.0.0.1:$PORT/health
  curl -s http://127.0.0.1:$PORT/status

Press Ctrl-C to stop.
EOF

# Run until a signal arrives or one of the three processes exits.
set +e
wait -n "$HA_PID" "$PRIMARY_PID" "$REPLICA_PID" 2>/dev/null
status=$?
set -e
for name in chroma-ha:"$HA_PID" primary:"$PRIMARY_PID" replica:"$REPLICA_PID"; do
  if ! pid_alive "${name#*:}"; then
    echo "run: ${name%%:*} (PID ${name#*:}) exited (status $status); see .run/" >&2
  fi
done
exit 1
