#!/usr/bin/env bash
# The browser benchmark (bench/browser.mjs): installs what is missing,
# builds the server and the app, then measures commit -> on-screen latency
# and first loads in Debian's Chromium. Usage: bench/browser.sh [changes] [loads]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/node.sh
scripts/build.sh
scripts/web.sh
TC_SERVER_BIN="${TC_SERVER_BIN:-$PWD/build/techcare-realtime}" node bench/browser.mjs "$@"
