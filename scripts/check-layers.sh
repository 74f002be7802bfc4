#!/usr/bin/env bash
# Checks that src/'s module directories include each other one way only:
# a file may include a header of its own directory or of a LOWER layer,
# never of its own layer's neighbours or of a higher one (so no loop is
# possible). The layers, bottom up, are the rule docs/ARCHITECTURE.md
# ("Layers") explains:
#
#   0 util
#   1 metrics ws proto presence db      leaf services
#   2 net                               sockets, workers, inboxes
#   3 hub                               topics and fan-out
#   4 auth                              token verification
#   5 http                              requests, answers, routing, static files
#   6 cdc                               Postgres Changes
#   7 channel rest                      what clients talk to
#   8 api                               the HTTP endpoints (handshake, broadcast, auth)
#   9 . (main.c)
#
# Includes that break the rule today are listed in scripts/layers-debt.txt
# ("from -> to", one per line). The check fails on a break that is not
# listed, and on a listed one that is gone (delete its line): the list only
# shrinks. Usage: scripts/check-layers.sh   (prints the graph with -v)
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A rank=([util]=0 [metrics]=1 [ws]=1 [proto]=1 [presence]=1 [db]=1 [net]=2 [hub]=3 [auth]=4
                 [http]=5 [cdc]=6 [channel]=7 [rest]=7 [api]=8 [.]=9)
debt_file=scripts/layers-debt.txt
declare -A debt=()
if [ -f "$debt_file" ]; then
  while read -r from arrow to _; do
    [ -z "${from:-}" ] || [ "${from:0:1}" = "#" ] && continue
    debt["$from -> $to"]=1
  done < "$debt_file"
fi

declare -A seen=() where=()
fail=0
while IFS= read -r f; do
  d=$(dirname "${f#src/}")
  if [ -z "${rank[$d]+x}" ]; then
    echo "check-layers: src/$d has no layer: add it to scripts/check-layers.sh and docs/ARCHITECTURE.md" >&2
    fail=1; continue
  fi
  while IFS= read -r to; do
    [ "$to" = "$d" ] && continue
    if [ -z "${rank[$to]+x}" ]; then
      echo "check-layers: $f includes $to/, which has no layer" >&2; fail=1; continue
    fi
    edge="$d -> $to"
    seen["$edge"]=1
    if [ "${rank[$to]}" -ge "${rank[$d]}" ]; then
      where["$edge"]+="$f "
    fi
  done < <(grep -ohE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z_]+/' "$f" | sed -E 's/.*"([a-z_]+)\//\1/' | sort -u)
done < <(find src -name '*.[ch]' | sort)

for edge in "${!where[@]}"; do
  if [ -z "${debt[$edge]+x}" ]; then
    echo "check-layers: $edge points up or sideways (layer ${rank[${edge%% *}]} -> ${rank[${edge##* }]}), in: ${where[$edge]}" >&2
    fail=1
  fi
done
for edge in "${!debt[@]}"; do
  if [ -z "${where[$edge]+x}" ]; then
    echo "check-layers: '$edge' is fixed: delete it from $debt_file" >&2
    fail=1
  fi
done
if [ "${1:-}" = "-v" ]; then
  for edge in "${!seen[@]}"; do echo "$edge"; done | sort
fi
n=${#debt[@]}
if [ "$fail" -eq 0 ]; then
  echo "check-layers: ok (${#seen[@]} directory edges; $n known breaks left in $debt_file)"
fi
exit "$fail"
