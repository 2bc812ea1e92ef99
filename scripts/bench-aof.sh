#!/usr/bin/env bash
# The AOF's cost side by side with redis-server on this machine, in one run (issue 15's
# "How it will be judged"):
#
#   scripts/bench-aof.sh
#   ROUNDS=5 N=2000000 scripts/bench-aof.sh
#
# For each round, and in each round for redis-server, then tessera-server at each of
# TESSERA_THREADS (alternating, so that the machine's drift hits every server alike), a
# fresh server in a directory of its own with `appendonly yes`, `save ""`:
#   everysec: redis-benchmark -c $CLIENTS -P 16 -n $N -t set,get -r 1000000 -d $SIZE
#   always:   redis-benchmark -c $CLIENTS -P 1  -n $NA -t set -r 1000000 -d $SIZE
# Reported per server and test: the median ops/s over the rounds, and ops per second of
# server CPU (utime+stime from /proc/PID/stat, before and after the run: every thread of
# the server, its AOF writer included).
#
# Environment (defaults): ROUNDS=3 N=1000000 NA=100000 CLIENTS=50 SIZE=16
#   TESSERA_THREADS="1 2" REDIS_BIN=redis-server SKIP_BUILD=1 TESSERA_BIN=...
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
N=${N:-1000000}
NA=${NA:-100000}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-16}
TESSERA_THREADS=${TESSERA_THREADS:-"1 2"}
REDIS_BIN=${REDIS_BIN:-redis-server}
TESSERA_BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-server}
PORT=${PORT:-7411}
TICKS=$(getconf CLK_TCK)

for tool in "$REDIS_BIN" redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install redis-server redis-tools" >&2; exit 2; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p server --bin tessera-server
fi
WORK=$(mktemp -d)
trap 'pkill -9 -f "port $PORT" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() { # name fsync; sets PID
  local name=$1 fsync=$2 dir="$WORK/$1-$2"
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "$name" = redis ]; then
    "$REDIS_BIN" --port "$PORT" --dir "$dir" --save "" --appendonly yes --appendfsync "$fsync" \
      --daemonize no >"$dir/log" 2>&1 &
  else
    printf 'dir %s\nsave ""\nappendonly yes\nappendfsync %s\n' "$dir" "$fsync" >"$dir/t.conf"
    "$TESSERA_BIN" --port "$PORT" --threads "${name#tessera-}" --config "$dir/t.conf" >"$dir/log" 2>&1 &
  fi
  PID=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break
    sleep 0.05
  done
}

stop() { kill -9 "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# run NAME FSYNC TEST ARGS...; sets RESULT="ops cpu_ticks"
run() {
  local name=$1 fsync=$2 test=$3; shift 3
  start "$name" "$fsync"
  local pid=$PID
  local before; before=$(cpu_ticks "$pid")
  local out; out=$(redis-benchmark -p "$PORT" -q -t "$test" "$@" 2>/dev/null | tr '\r' '\n' | grep -i "requests per second" | tail -1)
  local after; after=$(cpu_ticks "$pid")
  stop "$pid"
  local ops; ops=$(echo "$out" | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
  RESULT="$ops $(( after - before ))"
}

SERVERS="redis"
for t in $TESSERA_THREADS; do SERVERS="$SERVERS tessera-$t"; done
declare -A OPS CPU
for round in $(seq "$ROUNDS"); do
  for s in $SERVERS; do
    for t in set get; do
      run "$s" everysec "$t" -c "$CLIENTS" -P 16 -n "$N" -r 1000000 -d "$SIZE"
      read -r ops ticks <<<"$RESULT"
      OPS[$s,everysec,$t]="${OPS[$s,everysec,$t]:-} $ops"
      CPU[$s,everysec,$t]="${CPU[$s,everysec,$t]:-} $(awk -v o="$ops" -v n="$N" -v k="$ticks" -v hz="$TICKS" 'BEGIN{ if (k>0) printf "%.0f", n/(k/hz); else print 0 }')"
    done
    run "$s" always set -c "$CLIENTS" -P 1 -n "$NA" -r 1000000 -d "$SIZE"
    read -r ops ticks <<<"$RESULT"
    OPS[$s,always,set]="${OPS[$s,always,set]:-} $ops"
    CPU[$s,always,set]="${CPU[$s,always,set]:-} $(awk -v n="$NA" -v k="$ticks" -v hz="$TICKS" 'BEGIN{ if (k>0) printf "%.0f", n/(k/hz); else print 0 }')"
    echo "round $round: $s done" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{ if (NR==0) print 0; else print a[int((NR+1)/2)] }'; }

printf '%-12s %-9s %-4s %14s %18s\n' server fsync test "ops/s (median)" "ops per CPU-second"
for key in "everysec set" "everysec get" "always set"; do
  set -- $key
  for s in $SERVERS; do
    printf '%-12s %-9s %-4s %14s %18s\n' "$s" "$1" "$2" \
      "$(echo "${OPS[$s,$1,$2]}" | median)" "$(echo "${CPU[$s,$1,$2]}" | median)"
  done
done
