#!/usr/bin/env bash
# The benchmark suite: chroma-ha against nginx, HAProxy and direct Chroma. Not part of the tests.
#
#   bash bench/run.sh            # full run: 3 interleaved rounds of 8 s per contender (~20 min)
#   bash bench/run.sh --quick    # smoke run: 1 round of 3 s, smaller data (~4 min)
#
# Installs what is missing (Debian: wrk nginx-light haproxy gnuplot-nox libbenchmark-dev, plus
# the project's own dependencies through scripts/install-deps.sh), builds build/chroma-ha if it is
# missing and bench/wal_append_bench.cc into build-bench/, starts a throw-away PostgreSQL
# (scripts/postgres.sh), runs bench/suite.mjs (which starts and stops every server it uses, on
# free loopback ports, by PID), stops PostgreSQL, and writes docs/benchmarks.md and
# docs/bench/*.png (bench/report.mjs). The raw results stay in build-bench/results.json.
#
# Environment: BENCH_PARTS=lag,micro (re-run only those parts; "proxy" and "proxy2" are the proxy
# overhead with one nginx for both instances and with one per instance; e.g. BENCH_PARTS=tls for the TLS
# part alone, ~20 s quick / ~1 min full; the others are kept from the previous
# build-bench/results.json; "fleet" runs bench/fleet.mjs, 1-3 proxies on one PostgreSQL, whose
# table is appended to docs/benchmarks.md; "write_cpu" runs bench/write_cpu.mjs, chroma-ha's CPU
# per add of 100 × 384 against a Chroma server's, also appended; "resync" runs bench/resync.mjs,
# the resync rate of 100,000 records of 384 dimensions, appended too; "throughput": writes through
# chroma-ha with the PostgreSQL WAL against a client writing each add to both instances itself;
# "drain": replication lag at 100 writes/s and the drain rate of a 10,000-entry backlog, one
# collection and eight), BENCH_KEEP_PG=1 (leave PostgreSQL up).
# Every run adds a row to docs/bench/key_ratios.md ("Key ratios per commit", bench/key_ratios.mjs),
# appended to docs/benchmarks.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=()
for a in "$@"; do
  case $a in
    --quick) QUICK=(--quick) ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

log() { echo "[bench $(date +%H:%M:%S)] $*"; }

# --- tools -----------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
[[ -f /usr/lib/x86_64-linux-gnu/cmake/benchmark/benchmarkConfig.cmake || -n $(find /usr/lib /usr/local/lib -name benchmarkConfig.cmake 2>/dev/null | head -1) ]] ||
  need+=(libbenchmark-dev)
command -v perf >/dev/null || need+=(linux-perf)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; then
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
if [[ ! -x node_modules/.bin/chroma || ! -x /usr/lib/postgresql/15/bin/initdb ]] || ! command -v cmake >/dev/null; then
  bash scripts/install-deps.sh
fi

# --- builds ----------------------------------------------------------------------------------
if [[ ! -x build/chroma-ha ]]; then
  log "building build/chroma-ha"
  bash scripts/build.sh chroma-ha
fi
log "building build-bench/wal_append_bench"
if [[ ! -f build-bench/build.ninja ]]; then
  cmake -S bench -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build-bench --target wal_append_bench >/dev/null || log "wal_append_bench did not build: part 5 is left out"

WORK=$(mktemp -d /tmp/chroma-ha-bench-run-XXXXXX)
chmod 755 "$WORK"
# A private copy of the binary: other builds may replace build/chroma-ha during the run.
cp build/chroma-ha "$WORK/chroma-ha"
export CHROMA_HA_BIN="$WORK/chroma-ha"
export CHROMA_HA_E2E_DIR="$WORK/stacks"

# --- PostgreSQL ------------------------------------------------------------------------------
PG_DIR="$WORK/pg"
pg_started=0
cleanup() {
  if ((pg_started)) && [[ ${BENCH_KEEP_PG:-0} != 1 ]]; then
    bash scripts/postgres.sh stop "$PG_DIR" || true
  fi
  rm -rf "$WORK/chroma-ha" "$WORK/stacks"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if PG_URL=$(bash scripts/postgres.sh start "$PG_DIR" | tail -1); then
  pg_started=1
  export CHROMA_HA_TEST_DATABASE_URL="$PG_URL"
  log "PostgreSQL at $PG_URL (fsync on)"
else
  log "PostgreSQL did not start: the PostgreSQL WAL contenders are left out"
fi

# --- run -------------------------------------------------------------------------------------
RESULTS=build-bench/results.json
log "load before: $(cat /proc/loadavg)"
node bench/suite.mjs "${QUICK[@]}" --out "$RESULTS" --wal-bench build-bench/wal_append_bench \
  --parts "${BENCH_PARTS:-proxy,proxy2,reads,writes,lag,throughput,drain,micro,tls}" ${BENCH_PARTS:+--merge} \
  --commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include CMakeLists.txt || echo '+dirty')" \
  --binary-date "$(date -r build/chroma-ha '+%Y-%m-%d %H:%M')"
log "load after: $(cat /proc/loadavg)"
node bench/report.mjs "$RESULTS" docs/benchmarks.md docs/bench
# A fleet (several chroma-ha processes on one PostgreSQL WAL): its own script, appended to the report.
if ((pg_started)) && [[ ${BENCH_PARTS:-fleet} == *fleet* ]]; then
  log "fleet: 1, 2 and 3 proxies on one PostgreSQL"
  FLEET_ARGS=()
  ((${#QUICK[@]})) && FLEET_ARGS=(--rounds 1 --seconds 3)
  node bench/fleet.mjs "${FLEET_ARGS[@]}" --out build-bench/fleet.md
fi
# chroma-ha's own CPU per add of 100 × 384 (issue 14 item 2): its own script and a micro-benchmark
# of the body's validation, appended to the report.
if [[ ${BENCH_PARTS:-write_cpu} == *write_cpu* ]]; then
  log "write_cpu: chroma-ha's CPU per add against one Chroma server's"
  WCPU_ARGS=()
  ((${#QUICK[@]})) && WCPU_ARGS=(--rounds 2 --adds 10)
  node bench/write_cpu.mjs "${WCPU_ARGS[@]}" --out build-bench/write_cpu.md --json build-bench/write_cpu.json
  if cmake --build build-bench --target json_scan_bench >/dev/null; then
    build-bench/json_scan_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
      2>/dev/null | grep -E '_median' >build-bench/json_scan.txt || true
  fi
fi
if [[ -f build-bench/write_cpu.md ]]; then
  {
    echo
    echo "## chroma-ha's CPU per add of 100 × 384 (bench/write_cpu.mjs)"
    echo
    echo "utime + stime from /proc of chroma-ha (SQLite WAL, the replay to the replica included) and"
    echo "of the primary Chroma server, from the first add until the WAL is drained, per add; medians."
    echo
    cat build-bench/write_cpu.md
    if [[ -s build-bench/json_scan.txt ]]; then
      echo
      echo "Validating one such body (bench/json_scan_bench.cc, medians of 5):"
      echo
      sed 's/^/    /' build-bench/json_scan.txt
    fi
  } >>docs/benchmarks.md
fi
if [[ -f build-bench/fleet.md ]]; then
  {
    echo
    echo "## A fleet: 1, 2 and 3 proxies on one PostgreSQL WAL (bench/fleet.mjs)"
    echo
    echo "Commit $(git rev-parse --short HEAD), $(date -r build-bench/fleet.md '+%Y-%m-%d %H:%M'). On one machine every"
    echo "proxy shares the cores with the Chroma servers and PostgreSQL, so more proxies add no CPU here;"
    echo "the rows show what a fleet costs, not how it scales. Writes of one collection through"
    echo "different proxies wait for each other's earlier entries (src/server/fleet_order.h)."
    echo
    cat build-bench/fleet.md
  } >>docs/benchmarks.md
fi
# Resync rate (src/resync/) against Chroma's own page-read + add: its own script, appended too.
if [[ ${BENCH_PARTS:-resync} == *resync* ]]; then
  log "resync: copy rate against Chroma's page-read + add"
  RESYNC_ARGS=(--records 100000)
  ((${#QUICK[@]})) && RESYNC_ARGS=(--records 10000)
  node bench/resync.mjs "${RESYNC_ARGS[@]}" --out build-bench/resync.md
fi
if [[ -f build-bench/resync.md ]]; then
  {
    echo
    echo "## Resync rate (bench/resync.mjs)"
    echo
    echo "Commit $(git rev-parse --short HEAD), $(date -r build-bench/resync.md '+%Y-%m-%d %H:%M'). An empty replica"
    echo "filled from the primary by POST /admin/instances/replica/resync (pages upserted, progress"
    echo "persisted after each page) against a client copying the same collection between the same"
    echo "two servers with get by pages and add. Target: at least 0.8 of it."
    echo
    cat build-bench/resync.md
  } >>docs/benchmarks.md
fi
# The ceiling of a backlog drain: one Chroma server's own ingest rate of the drain's records in
# requests of 200 and 1,000 records (the drain's pages), into one collection and over eight.
if [[ ${BENCH_PARTS:-drain} == *drain* ]]; then
  log "drain: one Chroma server's ingest rate (bench/ingest_ceiling.mjs)"
  ING_ARGS=()
  ((${#QUICK[@]})) && ING_ARGS=(--records 2000)
  {
    echo
    echo "## The ceiling of a backlog drain (bench/ingest_ceiling.mjs)"
    echo
    echo "One Chroma server ingesting the drain's 10,000 records of 384 dimensions, in requests of N records"
    echo "over S streams (collections), commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M') UTC:"
    echo
    node bench/ingest_ceiling.mjs "${ING_ARGS[@]}" --per 200,1000 --streams 1,8 | sed 's/^/    /'
  } >build-bench/ingest.md || true
  cat build-bench/ingest.md >>docs/benchmarks.md
fi
# Key ratios per commit (issue 14 item 5): one row per run, the table kept in docs/bench/.
mkdir -p docs/bench
{
  echo
  echo "## Key ratios per commit (bench/key_ratios.mjs)"
  echo
  echo "One row per run of bench/run.sh (docs/bench/key_ratios.md); \"–\" = part not run then. Targets"
  echo "(issue 14): proxy ÷ HAProxy ≥ 1.1, write CPU ≤ 5 % of Chroma's, throughput ÷ dual client ≥ 0.9"
  echo "(sustained: chroma-ha's requests over the load time plus the time its replay then needed to drain),"
  echo "lag p99 < 50 ms at 100 writes/s, drain ≥ 5,000 entries/s. Load: 1-minute average on 2 cores."
  echo
  node bench/key_ratios.mjs --results "$RESULTS" --write-cpu build-bench/write_cpu.json --table docs/bench/key_ratios.md \
    --commit "$(git rev-parse --short HEAD)"
} >>docs/benchmarks.md
log "wrote docs/benchmarks.md and docs/bench/*.png (raw: $RESULTS)"
