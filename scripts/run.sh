#!/usr/bin/env bash
# Runs TechCare Realtime: installs what is missing, builds, and starts the
# server on PORT (default 4000) in the foreground. Ctrl-C (SIGINT) or
# SIGTERM drains clients and stops it.
#
# Without API_JWT_SECRET a development secret is generated once and kept in
# .dev-secret, and the anon / service_role keys to connect with are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh

if [ -z "${API_JWT_SECRET:-}" ]; then
  [ -f .dev-secret ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .dev-secret
  API_JWT_SECRET=$(cat .dev-secret)
fi
export API_JWT_SECRET
export PORT="${PORT:-4000}"
keys=$(node scripts/keys.mjs "$API_JWT_SECRET")
cat <<TXT

TechCare Realtime on ws://localhost:$PORT/realtime/v1  (health: http://localhost:$PORT/health)
$keys

  import { createClient } from '@supabase/supabase-js'
  const supabase = createClient('http://localhost:$PORT', ANON_KEY)

TXT
exec ./build/techcare-realtime "$@"
