#!/usr/bin/env bash
# Installs what building, running and testing need, only if missing, so it
# is cheap and safe to run every time. Debian 12; run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config clang libuv1-dev libjansson-dev libssl-dev libhttp-parser-dev
      libcmocka-dev libpq-dev postgresql-15 postgresql-contrib iproute2 nodejs npm curl procps
      libclang-rt-14-dev  # libFuzzer, for the fuzz smoke runs
      clang-format clang-tidy cppcheck  # scripts/check-format.sh, scripts/check-static.sh
      chromium)  # Debian's browser for the web app's tests (never a downloaded one)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node may come from elsewhere than Debian's package (it does on the CI image).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A Node that fits the pinned packages (>= 22), from the npm registry if the
# machine's is older.
. scripts/node.sh

# JS dependencies, pinned by their lockfiles: the tests' (repository root)
# and the web app's (web/).
for dir in . web; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
