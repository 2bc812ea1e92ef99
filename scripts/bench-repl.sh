#!/usr/bin/env bash
# Full sync side by side with redis-server on this machine (issue 16's "How it will be
# judged"):
#
#   scripts/bench-repl.sh                     KEYS=1000000 by default
#
# For each master (redis-server, then tessera-server at each of TESSERA_THREADS), in a
# directory of its own with `save ""`: DEBUG POPULATE $KEYS key $SIZE; then a fresh
# redis-server replica is pointed at it (REPLICAOF) while redis-benchmark runs
# -P 16 SET from $LOAD_CLIENTS clients on the master (keys of its own, key:000000xxxxxx). Reported:
#   sync s        from REPLICAOF to the replica's master_link_status:up
#   ops/s before  the master's SET rate for $LOAD_S s before the sync (INFO commandstats)
#   ops/s during  its SET rate from REPLICAOF to link up
#   lag after     master_repl_offset - slave_repl_offset 1 s after link up (bytes)
#
# Environment (defaults): KEYS=1000000 SIZE=100 LOAD_S=3 LOAD_CLIENTS=10 TESSERA_THREADS="1 2"
#   SKIP_BUILD=1 TESSERA_BIN=...
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-100}
LOAD_S=${LOAD_S:-3}
LOAD_CLIENTS=${LOAD_CLIENTS:-10}
TESSERA_THREADS=${TESSERA_THREADS:-"1 2"}
TESSERA_BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-server}
MP=${MP:-7711}
RP=${RP:-7712}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p server --bin tessera-server
fi
WORK=$(mktemp -d)
cleanup() {
  pkill -9 -f "port $MP" 2>/dev/null || true
  pkill -9 -f "port $RP" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

field() { redis-cli -p "$1" info "$2" | tr -d '\r' | sed -n "s/^$3://p"; }
set_calls() { redis-cli -p "$1" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_set:calls=\([0-9]*\),.*/\1/p'; }
now() { date +%s.%N; }

printf '%-12s %8s %14s %14s %12s\n' master "sync s" "ops/s before" "ops/s during" "lag bytes"
for m in redis $(for t in $TESSERA_THREADS; do echo "tessera-$t"; done); do
  d="$WORK/$m"; mkdir -p "$d/m" "$d/r"
  if [ "$m" = redis ]; then
    redis-server --port "$MP" --dir "$d/m" --save "" --enable-debug-command yes \
      --repl-diskless-sync no --daemonize no >"$d/m.log" 2>&1 &
  else
    printf 'dir %s\nsave ""\n' "$d/m" >"$d/m.conf"
    "$TESSERA_BIN" --port "$MP" --threads "${m#tessera-}" --config "$d/m.conf" >"$d/m.log" 2>&1 &
  fi
  for _ in $(seq 100); do [ "$(redis-cli -p "$MP" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
  redis-cli -p "$MP" debug populate "$KEYS" key "$SIZE" >/dev/null
  redis-server --port "$RP" --dir "$d/r" --save "" --daemonize no >"$d/r.log" 2>&1 &
  for _ in $(seq 100); do [ "$(redis-cli -p "$RP" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
  redis-benchmark -p "$MP" -q -t set -P 16 -c "$LOAD_CLIENTS" -n 1000000000 -r 100000000 -d "$SIZE" >/dev/null 2>&1 &
  bench=$!
  sleep 1
  c0=$(set_calls "$MP"); t0=$(now)
  sleep "$LOAD_S"
  c1=$(set_calls "$MP"); t1=$(now)
  redis-cli -p "$RP" replicaof 127.0.0.1 "$MP" >/dev/null
  s0=$(now)
  until [ "$(field "$RP" replication master_link_status)" = up ]; do sleep 0.05; done
  s1=$(now); c2=$(set_calls "$MP")
  sleep 1
  lag=$(( $(field "$MP" replication master_repl_offset) - $(field "$RP" replication slave_repl_offset) ))
  kill "$bench" 2>/dev/null || true; wait "$bench" 2>/dev/null || true
  printf '%-12s %8.2f %14.0f %14.0f %12s\n' "$m" "$(echo "$s1 - $s0" | bc)" \
    "$(echo "($c1 - $c0) / ($t1 - $t0)" | bc -l)" "$(echo "($c2 - $c1) / ($s1 - $s0)" | bc -l)" "$lag"
  redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$MP" shutdown nosave >/dev/null 2>&1 || true
  sleep 0.5
  pkill -9 -f "port $MP" 2>/dev/null || true
  pkill -9 -f "port $RP" 2>/dev/null || true
  sleep 0.3
done
