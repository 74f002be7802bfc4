#!/usr/bin/env bash
# Builds the web app (web/ -> web/dist) when its sources are newer than the
# last build, so it is cheap to run every time. The C server serves
# web/dist at / (WEB_ROOT). Assumes scripts/deps.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node.sh
stamp=web/dist/.built  # touched after each build (a dotfile: never served)
if [ -f "$stamp" ] && [ -z "$(find web/src web/index.html web/public web/vite.config.js web/package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
echo "web: building the app (vite build)"
(cd web && npx --no-install vite build --logLevel warn)
touch "$stamp"
