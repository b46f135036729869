#!/usr/bin/env bash
# Prepare a (fresh) Debian 12 machine to build map-delete-tracer, idempotently:
#   1. Debian packages, installed only when missing (apt-get update at most once);
#   2. node_modules via `npm ci` (or `npm install` without a lockfile), only when
#      node_modules is missing or older than package.json / package-lock.json;
#   3. `npm run build` (bpf/, addon/, TypeScript).
# No interaction. Set SETUP_SKIP_BUILD=1 to stop after step 2.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(clang-16 llvm-16 libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ gcc linux-libc-dev python3 binutils util-linux)
# What only the tests need (scripts/test.sh sets SETUP_TEST_TOOLS=1): a real Prometheus (and
# promtool) and Alertmanager, run as plain processes on loopback by the metrics and alert tests.
if [[ "${SETUP_TEST_TOOLS:-}" == 1 ]]; then
  APT_PACKAGES+=(prometheus prometheus-alertmanager)
fi
# What only the benchmark needs (`npm run bench` sets SETUP_BENCH_TOOLS=1): bpftrace, the ad-hoc
# one-liner the suite measures the tracer against (bench/suite.ts; python3 above runs its wait4
# wrapper).
if [[ "${SETUP_BENCH_TOOLS:-}" == 1 ]]; then
  APT_PACKAGES+=(bpftrace)
fi

step() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# ---- 1. Debian packages ---------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != "installed" ]]; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
    SUDO="sudo -n"
  fi
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
else
  step "Debian packages present"
fi

# ---- 1b. a Go toolchain (the demo and the test fixtures are Go programs) ----------
# The machine image ships Go in /usr/local/go; without it, bootstrap from Debian's Go 1.19,
# which can fetch a current toolchain from the Go module proxy as a plain module.
GO_BOOTSTRAP_VERSION=go1.26.8
export PATH="$PATH:/usr/local/go/bin:$ROOT/.cache/go/bin"
if ! command -v go >/dev/null 2>&1; then
  step "no Go toolchain: installing Debian's golang-go to fetch $GO_BOOTSTRAP_VERSION"
  apt-get install -y -qq --no-install-recommends golang-go >/dev/null || die "apt-get install golang-go failed"
  mod="golang.org/toolchain@v0.0.1-$GO_BOOTSTRAP_VERSION.linux-amd64"
  dir="$(/usr/lib/go/bin/go mod download -json "$mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')" \
    || die "cannot download $mod from the Go module proxy"
  mkdir -p "$ROOT/.cache"
  rm -rf "$ROOT/.cache/go" && cp -r "$dir" "$ROOT/.cache/go" && chmod -R u+w,a+x "$ROOT/.cache/go/bin" "$ROOT/.cache/go/pkg/tool"
fi
step "Go: $(go version)"

# ---- 2. node_modules --------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node is not installed (Node >= 20 is required)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 20 ]] || die "Node $(node -v) is too old; Node >= 20 is required"

# npm writes node_modules/.package-lock.json on every successful install.
stamp=node_modules/.package-lock.json
need_install=""
if [[ ! -f "$stamp" ]]; then
  need_install=1
else
  for f in package.json package-lock.json; do
    [[ -f "$f" && "$f" -nt "$stamp" ]] && need_install=1
  done
fi
if [[ -n "$need_install" ]]; then
  # --ignore-scripts: the root "prepare" script would run the full build here;
  # step 3 runs it explicitly. (No dependency needs an install script.)
  if [[ -f package-lock.json ]]; then
    step "npm ci"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error || die "npm ci failed"
  else
    step "npm install (no package-lock.json)"
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error || die "npm install failed"
  fi
  touch "$stamp"
else
  step "node_modules up to date"
fi

# ---- 3. build -------------------------------------------------------------------
if [[ -n "${SETUP_SKIP_BUILD:-}" ]]; then
  step "SETUP_SKIP_BUILD set: not building"
  exit 0
fi
# node-gyp would download Node's headers from the internet, which is unreachable
# here; the installed Node ships them (Debian's nodejs: /usr/include/node).
node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [[ -z "${npm_config_nodedir:-}" && -f "$node_prefix/include/node/node_api.h" ]]; then
  export npm_config_nodedir="$node_prefix"
fi
step "npm run build"
npm run build --silent || die "npm run build failed (see the output above)"
step "done"
