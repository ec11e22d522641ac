#!/usr/bin/env bash
# Configures (Ninja, RelWithDebInfo, tests on) and builds chroma-ha into build/.
#
#   bash scripts/build.sh              # everything: build/chroma-ha and the test binaries
#   bash scripts/build.sh chroma-ha    # only the given targets
#
# BUILD_DIR (build), BUILD_TYPE (RelWithDebInfo) and CHROMA_HA_BUILD_TESTS (ON) override the
# defaults; CHROMA_HA_SANITIZE (empty, address or thread: see CMakeLists.txt) builds with
# sanitizers, into a BUILD_DIR of its own; extra CMake arguments can be passed in CMAKE_ARGS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
TESTS="${CHROMA_HA_BUILD_TESTS:-ON}"
SANITIZE="${CHROMA_HA_SANITIZE:-}"

# Reconfigure only when needed: a missing cache, or a cache made with another generator.
configure=0
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" || ! -f "$BUILD_DIR/build.ninja" ]]; then
  configure=1
elif ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build: $BUILD_DIR was configured with another generator; starting it afresh" >&2
  rm -rf "$BUILD_DIR"
  configure=1
elif ! grep -q "^CMAKE_BUILD_TYPE:[A-Z]*=$BUILD_TYPE\$" "$BUILD_DIR/CMakeCache.txt" ||
  ! grep -q "^CHROMA_HA_BUILD_TESTS:BOOL=$TESTS\$" "$BUILD_DIR/CMakeCache.txt" ||
  ! grep -q "^CHROMA_HA_SANITIZE:STRING=$SANITIZE\$" "$BUILD_DIR/CMakeCache.txt"; then
  configure=1
fi

if ((configure)); then
  # shellcheck disable=SC2086  # CMAKE_ARGS is a list of words on purpose
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
    -DCHROMA_HA_BUILD_TESTS="$TESTS" -DCHROMA_HA_SANITIZE="$SANITIZE" ${CMAKE_ARGS:-}
fi

targets=()
for t in "$@"; do
  targets+=(--target "$t")
done
cmake --build "$BUILD_DIR" "${targets[@]}"
