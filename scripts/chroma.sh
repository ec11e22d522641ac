#!/usr/bin/env bash
# Local Chroma servers for the run and test commands.
#
# Use as a library (source it) or as a command:
#   bash scripts/chroma.sh start DATA_DIR PORT PID_FILE [LOG_FILE]   # prints the server's PID
#   (sourced: chroma_start DATA_DIR PORT PID_FILE [LOG_FILE]; the PID is in $CHROMA_STARTED_PID)
#   bash scripts/chroma.sh stop PID_FILE
#   bash scripts/chroma.sh free-port                                 # prints a free loopback port
#
# A server listens on 127.0.0.1 only. `start` returns once the server's own process (not another
# one that happens to hold the port: a port clash makes chroma exit with status 0) listens on the
# port and answers GET /api/v2/heartbeat, or fails after CHROMA_START_TIMEOUT seconds (30).
# `stop` signals only the PID in the PID file, and only if that process is still a chroma server.

# Repository root (this file lives in scripts/).
CHROMA_SH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROMA_BIN="${CHROMA_BIN:-$CHROMA_SH_ROOT/node_modules/.bin/chroma}"

# Prints a TCP port that is free on 127.0.0.1 right now (the kernel picks it).
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

# Monotonic-enough deadline helpers (seconds since the epoch).
_now() { date +%s; }

# True if process PID holds a listening TCP socket on PORT (via /proc; no ss/lsof needed).
pid_listens_on() {
  local pid="$1" port="$2" hex inode fd
  hex="$(printf '%04X' "$port")"
  local inodes=()
  # /proc/net/tcp{,6}: "sl local_address rem_address st ... inode"; st 0A = LISTEN.
  while read -r _ local _ st _ _ _ _ _ inode _; do
    if [[ "$st" == "0A" && "${local##*:}" == "$hex" ]]; then
      inodes+=("$inode")
    fi
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  ((${#inodes[@]} > 0)) || return 1
  for fd in /proc/"$pid"/fd/*; do
    local target
    target="$(readlink "$fd" 2>/dev/null)" || continue
    for inode in "${inodes[@]}"; do
      [[ "$target" == "socket:[$inode]" ]] && return 0
    done
  done
  return 1
}

# True if PID is alive and not a zombie.
pid_alive() {
  local pid="$1" state
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
  [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# True if PID's command line contains WORD (guards against signalling a reused PID).
pid_cmdline_has() {
  local pid="$1" word="$2"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$word"
}

# Signals PID with TERM, waits up to TIMEOUT seconds for it to exit, then KILLs it.
stop_pid() {
  local pid="$1" timeout="${2:-10}" deadline
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$(($(_now) + timeout))
  while pid_alive "$pid" && (($(_now) < deadline)); do
    sleep 0.1
  done
  if pid_alive "$pid"; then
    echo "chroma.sh: PID $pid ignored SIGTERM for ${timeout}s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$(($(_now) + 5))
    while pid_alive "$pid" && (($(_now) < deadline)); do
      sleep 0.1
    done
  fi
  # Reap it if it is our child; harmless otherwise.
  wait "$pid" 2>/dev/null || true
}

# Polls until PID listens on PORT and URL answers with 2xx, PID dies, or TIMEOUT seconds pass.
wait_ready() {
  local pid="$1" port="$2" url="$3" timeout="$4" deadline
  deadline=$(($(_now) + timeout))
  while (($(_now) < deadline)); do
    if ! pid_alive "$pid"; then
      return 2
    fi
    if pid_listens_on "$pid" "$port" &&
      curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# chroma_start DATA_DIR PORT PID_FILE [LOG_FILE]: starts a server as a child of the calling shell
# and sets CHROMA_STARTED_PID (call it directly, not in $(...), so that the shell can `wait` on it).
CHROMA_STARTED_PID=""
chroma_start() {
  local dir="$1" port="$2" pid_file="$3" log="${4:-}" pid rc=0
  [[ -n "$dir" && -n "$port" && -n "$pid_file" ]] || {
    echo "usage: chroma_start DATA_DIR PORT PID_FILE [LOG_FILE]" >&2
    return 2
  }
  [[ -x "$CHROMA_BIN" ]] || {
    echo "chroma.sh: $CHROMA_BIN is missing; run scripts/install-deps.sh" >&2
    return 1
  }
  [[ -n "$log" ]] || log="$dir.log"
  mkdir -p "$dir" "$(dirname "$pid_file")" "$(dirname "$log")"
  (exec "$CHROMA_BIN" run --path "$dir" --host 127.0.0.1 --port "$port" >>"$log" 2>&1) &
  pid=$!
  echo "$pid" >"$pid_file"
  wait_ready "$pid" "$port" "http://127.0.0.1:$port/api/v2/heartbeat" \
    "${CHROMA_START_TIMEOUT:-30}" || rc=$?
  if ((rc != 0)); then
    if ((rc == 2)); then
      echo "chroma.sh: chroma on port $port exited during start (port in use?); see $log" >&2
    else
      echo "chroma.sh: chroma on port $port not ready after ${CHROMA_START_TIMEOUT:-30}s; see $log" >&2
      stop_pid "$pid" 5
    fi
    rm -f "$pid_file"
    return 1
  fi
  CHROMA_STARTED_PID="$pid"
}

# chroma_stop PID_FILE: stops the server whose PID is in PID_FILE (if it is still a chroma server).
chroma_stop() {
  local pid_file="$1" pid
  [[ -f "$pid_file" ]] || return 0
  pid="$(cat "$pid_file")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && pid_alive "$pid" && pid_cmdline_has "$pid" "chroma"; then
    stop_pid "$pid" 10
  fi
  rm -f "$pid_file"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      shift
      chroma_start "$@"
      echo "$CHROMA_STARTED_PID"
      ;;
    stop)
      shift
      chroma_stop "$@"
      ;;
    free-port) free_port ;;
    *)
      echo "usage: $0 start DATA_DIR PORT PID_FILE [LOG_FILE] | stop PID_FILE | free-port" >&2
      exit 2
      ;;
  esac
fi
