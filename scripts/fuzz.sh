#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang++-14 (-fsanitize=fuzzer,address,undefined)
# into build-fuzz/ and runs each for a bounded time on a copy of its seed corpus.
#
#   bash scripts/fuzz.sh [SECONDS]          # default 60 s per target
#   FUZZ_TARGETS="classifier_fuzz" bash scripts/fuzz.sh 10
#
# Needs clang-14 and libclang-rt-14-dev (Debian), nlohmann-json3-dev and libsqlite3-dev.
# Seeds live in fuzz/corpus/<target>/ (committed); new inputs go to build-fuzz/corpus/<target>/.
# A crash leaves build-fuzz/<target>-crash-* (reproduce: build-fuzz/<target> FILE) and makes
# this script exit 1. Not part of scripts/test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-60}"
OUT="$ROOT/build-fuzz"
CXX="${FUZZ_CXX:-clang++-14}"
TARGETS="${FUZZ_TARGETS:-classifier_fuzz id_rewrite_fuzz wal_entry_fuzz}"

command -v "$CXX" >/dev/null || {
  echo "fuzz: $CXX not found (apt-get install -y clang-14 libclang-rt-14-dev)" >&2
  exit 2
}

# Only the sources each target needs (pure logic; no Boost).
declare -A SOURCES=(
  [classifier_fuzz]="src/proxy/classifier.cc src/proxy/path_rewrite.cc"
  [id_rewrite_fuzz]="src/proxy/id_rewrite.cc"
  [wal_entry_fuzz]="src/wal/sqlite_store.cc src/wal/text_check.cc src/wal/wal_store.cc src/sync/deletion_conversion.cc"
)
declare -A LIBS=([wal_entry_fuzz]="-lsqlite3")

# shellcheck disable=SC2054  # the commas belong to -fsanitize=
FLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$ROOT/include" -I"$ROOT/src"
       -DCHROMA_HA_VERSION=\"fuzz\")

mkdir -p "$OUT"
failed=0
for t in $TARGETS; do
  srcs=()
  for s in ${SOURCES[$t]}; do srcs+=("$ROOT/$s"); done
  # Rebuild only when a source or header is newer than the binary.
  if [[ -x "$OUT/$t" ]] && [[ -z "$(find "$ROOT/fuzz/$t.cc" "${srcs[@]}" "$ROOT/src" "$ROOT/include" \
        -newer "$OUT/$t" \( -name '*.cc' -o -name '*.h' \) -print -quit)" ]]; then
    continue
  fi
  echo "fuzz: building $t" >&2
  # shellcheck disable=SC2086  # LIBS is a word list
  "$CXX" "${FLAGS[@]}" "$ROOT/fuzz/$t.cc" "${srcs[@]}" -o "$OUT/$t" ${LIBS[$t]:-}
done
for t in $TARGETS; do
  corpus="$OUT/corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz: running $t for ${SECONDS_PER_TARGET}s" >&2
  if ! (cd "$OUT" && "./$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 \
          -print_final_stats=1 -artifact_prefix="$OUT/$t-" "$corpus" "$ROOT/fuzz/corpus/$t" \
          2>"$OUT/$t.log"); then
    echo "fuzz: $t FAILED (see $OUT/$t.log and $OUT/$t-*)" >&2
    failed=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^Done" "$OUT/$t.log" |
    sed "s/^/fuzz: $t: /" >&2 || true
done
exit "$failed"
