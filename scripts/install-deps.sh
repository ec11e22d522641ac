#!/usr/bin/env bash
# Installs what chroma-ha's build, run and test commands need, on Debian 12. Idempotent: when
# everything is present it only checks (well under a second) and changes nothing.
#
#   bash scripts/install-deps.sh                # everything: build, run, unit and end-to-end tests
#   bash scripts/install-deps.sh --build-only   # only the C++ build and its GoogleTest suites
#
# --build-only (Dockerfile.loadbalancer's build stage): the compiler, CMake, Ninja and the
# libraries of scripts/build.sh with GoogleTest; no Node.js/npm, PostgreSQL, chromium or Python
# (those serve the local run, the PostgreSQL WAL-store tests and the end-to-end suite).
#
# - apt packages (as root; `apt-get update` only when something is missing). Node.js and npm are
#   taken as present when `node` and `npm` are on PATH, whichever package provides them (for
#   example NodeSource's nodejs, which conflicts with Debian's npm package).
# - npm packages of package.json (chromadb 3.5.0: the `chroma` server CLI and the JS client),
#   installed from package-lock.json when node_modules lacks them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

BUILD_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --build-only) BUILD_ONLY=1 ;;
    *)
      echo "install-deps: unknown argument '$arg' (only --build-only)" >&2
      exit 2
      ;;
  esac
done

# What scripts/build.sh needs to build chroma-ha and its GoogleTest suites.
BUILD_PACKAGES=(
  g++ cmake ninja-build pkg-config libboost1.81-dev libpqxx-dev libpq-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev prometheus-cpp-dev libgtest-dev libgmock-dev libsqlite3-dev libssl-dev
  libjemalloc-dev
)
# The local run, the PostgreSQL WAL-store tests, the deployment checks and the end-to-end suite
# (openssl: the CLI makes the test CA and certificates of tests/e2e/tls.test.mjs and bench/).
RUN_AND_TEST_PACKAGES=(
  postgresql-15 curl ca-certificates openssl python3 python3-yaml
  python3-prometheus-client chromium
)
APT_PACKAGES=("${BUILD_PACKAGES[@]}")
((BUILD_ONLY)) || APT_PACKAGES+=("${RUN_AND_TEST_PACKAGES[@]}")

missing=()
# One dpkg-query call; a package counts as present only with status "install ok installed".
declare -A installed=()
while IFS=$'\t' read -r pkg status; do
  [[ "$status" == "install ok installed" ]] && installed["$pkg"]=1
done < <(dpkg-query -W -f='${Package}\t${Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
for p in "${APT_PACKAGES[@]}"; do
  [[ -n "${installed[$p]:-}" ]] || missing+=("$p")
done
if ((!BUILD_ONLY)); then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  if ((EUID != 0)); then
    echo "install-deps: missing packages and not root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

((BUILD_ONLY)) && exit 0

# chromadb 3.5.0 declares engines.node ">=20". Its CLI and client use only what Node 18 has
# (global fetch/Headers/Request/btoa, N-API 4 in the native server module), so Debian 12's
# Node 18 works, with an EBADENGINE warning from npm. Older Node lacks global fetch.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 18)); then
  echo "install-deps: Node.js $(node --version) is too old; chromadb 3.5.0 needs >= 18 (declares >= 20)" >&2
  exit 1
elif ((node_major < 20)); then
  echo "install-deps: note: Node.js $(node --version); chromadb 3.5.0 declares >= 20 (18 works here)" >&2
fi

need_npm=0
[[ -x "$ROOT/node_modules/.bin/chroma" && -f "$ROOT/node_modules/chromadb/package.json" ]] || need_npm=1
# The server itself is in the platform's optional bindings package (pinned to 1.0.5 for glibc 2.36).
if [[ "$(uname -m)" == x86_64 && ! -d "$ROOT/node_modules/chromadb-js-bindings-linux-x64-gnu" ]]; then
  need_npm=1
fi
if ((need_npm)); then
  echo "install-deps: installing npm packages (chromadb 3.5.0, ~420 MB)"
  cd "$ROOT"
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
fi
