#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster on loopback, for tests.
#
#   scripts/postgres.sh start DIR   initdb DIR/data (if needed), start on a free 127.0.0.1 port with
#                                   the socket in DIR, create database chroma_ha, print the URL
#                                   (postgresql://postgres@127.0.0.1:PORT/chroma_ha) on stdout and
#                                   write it to DIR/url.
#   scripts/postgres.sh stop DIR    stop that cluster only (fast shutdown).
#   scripts/postgres.sh url DIR     print the URL of a started cluster.
#
# Works as root on a fresh Debian 12 with postgresql-15 installed but not running: initdb refuses
# root, so the cluster runs as the `postgres` system user (created if missing); DIR's parents
# must be traversable by that user (e.g. under /tmp). Trust auth on
# loopback only; fsync stays on. Diagnostics go to stderr and DIR/postgres.log.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=${DB_NAME:-chroma_ha}

die() { echo "postgres.sh: $*" >&2; exit 1; }

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  elif [[ $(id -un) == postgres ]]; then
    "$@"
  else
    die "run as root (or as the postgres user)"
  fi
}

ensure_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash --user-group postgres
  fi
}

port_is_free() {
  local port=$1
  if command -v /usr/bin/python3 >/dev/null 2>&1; then
    /usr/bin/python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
    return 0
  fi
}

free_port() {
  local port _
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if port_is_free "$port"; then echo "$port"; return 0; fi
  done
  die "no free port found"
}

cmd_start() {
  local dir=$1
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found (install postgresql-15)"
  ensure_user
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/data/postmaster.pid ]] && as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    cat "$dir/url"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  cd "$dir"  # the postgres user must be able to stat its working directory
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  local port attempt
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null; then
      break
    fi
    port=""
    echo "postgres.sh: start on port failed (attempt $attempt), retrying" >&2
  done
  [[ -n $port ]] || { tail -20 "$dir/postgres.log" >&2; die "could not start PostgreSQL"; }
  if ! as_postgres "$PG_BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    as_postgres "$PG_BIN/createdb" -h "$dir" -p "$port" -U postgres "$DB_NAME"
  fi
  local url="postgresql://postgres@127.0.0.1:$port/$DB_NAME"
  echo "$url" >"$dir/url"
  echo "$url"
}

cmd_stop() {
  local dir=$1
  [[ -d $dir/data ]] || die "$dir/data does not exist"
  dir=$(cd "$dir" && pwd)
  cd "$dir"
  if as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  fi
}

[[ $# -eq 2 ]] || die "usage: $0 start|stop|url DIR"
case $1 in
  start) cmd_start "$2" ;;
  stop) cmd_stop "$2" ;;
  url) cat "$2/url" ;;
  *) die "usage: $0 start|stop|url DIR" ;;
esac
