#!/usr/bin/env bash
# Runs TechCare: installs what is missing, builds, creates (once) and starts
# the embedded PostgreSQL cluster under .pgdata with the schema and demo
# data, then runs the server on PORT (default 4000) in the foreground.
# Ctrl-C (SIGINT) or SIGTERM drains the clients, stops the server, then
# stops the database cleanly.
#
# Without API_JWT_SECRET a development secret is generated once and kept in
# .dev-secret; the anon / service_role keys and the demo sign-ins are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/node.sh
scripts/build.sh
scripts/web.sh

if [ -z "${API_JWT_SECRET:-}" ]; then
  [ -f .dev-secret ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .dev-secret
  API_JWT_SECRET=$(cat .dev-secret)
fi
export API_JWT_SECRET
export PORT="${PORT:-4000}"

# The database: its connection facts come back as KEY=value lines.
# TC_DB_DIR: another cluster directory than .pgdata (the tests use one).
db_dir=(); [ -n "${TC_DB_DIR:-}" ] && db_dir=(--dir "$TC_DB_DIR")
db_env=$(scripts/db.sh start "${db_dir[@]}" --port "${DB_PORT:-15432}" | grep -E '^DB_[A-Z_]+=')
while IFS='=' read -r k v; do export "$k=$v"; done <<< "$db_env"
stop_db() { scripts/db.sh stop "${db_dir[@]}" >/dev/null 2>&1 || true; }
trap stop_db EXIT

keys=$(node scripts/keys.mjs "$API_JWT_SECRET")
# The app reads its anon key at start-up (an anon key is public by design:
# it only says "a client of this project"; row-level security guards the data).
anon=$(printf '%s\n' "$keys" | sed -n 's/^ *ANON_KEY=//p')
printf '{"anonKey":"%s"}\n' "$anon" > web/dist/config.json
export WEB_ROOT="$PWD/web/dist"
# Not exec: the trap must stop the database after the server exits.
./build/techcare-realtime "$@" &
server=$!
# A terminal's Ctrl-C reaches the server too; it drains once and ignores
# the repeat, so passing it on is harmless and covers a signal sent to
# this script alone.
trap 'kill -TERM $server 2>/dev/null || true' INT TERM
# The banner only once the server answers. If it exits instead (the port is
# taken, a bad option), say so and exit with its status.
started=0
for _ in $(seq 1 150); do
  kill -0 "$server" 2>/dev/null || break
  if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then started=1; break; fi
  sleep 0.1
done
kill -0 "$server" 2>/dev/null && started=1 # slow to answer, but running
if [ "$started" -eq 0 ]; then
  rc=0; wait "$server" || rc=$?
  [ "$rc" -eq 0 ] && rc=1
  echo "run: the server did not start (exit status $rc); its reason is above" >&2
  exit "$rc"
fi
cat <<TXT

TechCare on http://localhost:$PORT/  (open it in a browser and sign in as a demo user below)
  realtime: ws://localhost:$PORT/realtime/v1, health: /health, metrics: /metrics
PostgreSQL on $DB_HOST:$DB_PORT (superuser: scripts/db.sh psql)
$keys

Demo sign-ins (password: techcare-demo)
  customers:   alice@customer.demo  bob@customer.demo  carol@customer.demo
  technicians: tom@tech.demo  tina@tech.demo  victor@tech.demo (not verified)
  admin:       admin@techcare.demo

From Node (in this folder, after '. scripts/node.sh'), Alice's bookings, then live changes:
  node --input-type=module -e "
    import { createClient } from '@supabase/supabase-js'
    const supabase = createClient('http://localhost:$PORT', '$anon')
    const { data } = await supabase.auth.signInWithPassword({ email: 'alice@customer.demo', password: 'techcare-demo' })
    console.log((await supabase.from('bookings').select('service,status')).data)
    supabase.channel('my-bookings')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'bookings', filter: 'customer_id=eq.' + data.user.id },
          (c) => console.log(c.eventType, c.new.service, c.new.status))
      .subscribe((status) => console.log(status))"

TXT
rc=0
wait "$server" || rc=$?
# A trapped signal ends the wait early: wait again for the drain to finish.
while kill -0 "$server" 2>/dev/null; do rc=0; wait "$server" || rc=$?; done
exit "$rc"
