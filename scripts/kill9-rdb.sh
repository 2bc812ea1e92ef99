#!/usr/bin/env bash
# kill -9 under load with `save 1 1`: the dump file left behind is always a whole one.
#
#   scripts/kill9-rdb.sh            # ROUNDS=5 THREADS=4
#
# Each round: tessera-server --threads THREADS with `save 1 1` in a fresh temp dir;
# `redis-benchmark -t set -r 100000 -d 100 -n 1000000000 -c 20` in the background; after a
# random 2.0-6.0 s, kill -9 the server (then the benchmark). Checks: no temp-*.rdb is
# taken for the dump (it may be left beside it, as Redis leaves its child's); dump.rdb
# passes `redis-check-rdb`; the server restarts from it (exec to first PONG) with exactly
# the keys redis-check-rdb counted; redis-server 7.0 starts from it too with the same
# DBSIZE. Exits 1 if a round fails.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-4}
TESSERA_BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-server}
[ -x "$TESSERA_BIN" ] || { echo "no $TESSERA_BIN: cargo build --release -p server" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$((20000 + RANDOM % 20000))
free_port() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
}
wait_pong() { # PID: 0 once PONG, 1 if the process exits or 30 s pass
  for _ in $(seq 1500); do
    [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

fails=0
for round in $(seq "$ROUNDS"); do
  dir=$work/r$round
  mkdir -p "$dir"
  printf 'save "1 1"\ndir %s\n' "$dir" >"$dir/tessera.conf"
  free_port
  "$TESSERA_BIN" --config "$dir/tessera.conf" --port "$port" --bind 127.0.0.1 --threads "$THREADS" >"$dir/log1" 2>&1 &
  srv=$!; pids+=("$srv")
  wait_pong "$srv" || { echo "round $round: the server did not start"; fails=$((fails + 1)); continue; }
  redis-benchmark -h 127.0.0.1 -p "$port" -t set -r 100000 -d 100 -n 1000000000 -c 20 -q >/dev/null 2>&1 &
  bench=$!; pids+=("$bench")
  delay=$(awk -v r="$RANDOM" 'BEGIN {printf "%.2f", 2 + 4 * r / 32767}')
  sleep "$delay"
  saves=$(redis-cli -p "$port" INFO persistence | tr -d '\r' | sed -n 's/^rdb_saves://p')
  kill -9 "$srv"; wait "$srv" 2>/dev/null
  kill "$bench" 2>/dev/null; wait "$bench" 2>/dev/null
  temps=$(cd "$dir" && ls temp-*.rdb 2>/dev/null | wc -l)
  if [ ! -f "$dir/dump.rdb" ]; then
    echo "round $round: killed at ${delay}s after $saves saves: no dump.rdb (temp files: $temps)"
    [ "${saves:-0}" -eq 0 ] || fails=$((fails + 1))
    continue
  fi
  check=$(redis-check-rdb "$dir/dump.rdb" 2>&1)
  ok=no; grep -q 'RDB looks OK' <<<"$check" && ok=yes
  want=$(sed -n 's/^\[info\] \([0-9]*\) keys read/\1/p' <<<"$check")
  cp "$dir/dump.rdb" "$dir/copy.rdb"
  free_port
  "$TESSERA_BIN" --config "$dir/tessera.conf" --port "$port" --bind 127.0.0.1 --threads "$THREADS" >"$dir/log2" 2>&1 &
  srv=$!; pids+=("$srv")
  got=none
  wait_pong "$srv" && got=$(redis-cli -p "$port" DBSIZE)
  kill -9 "$srv"; wait "$srv" 2>/dev/null
  mkdir -p "$dir/redis"; cp "$dir/copy.rdb" "$dir/redis/dump.rdb"
  free_port
  redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$dir/redis" --logfile "$dir/redis/log" &
  srv=$!; pids+=("$srv")
  rgot=none
  wait_pong "$srv" && rgot=$(redis-cli -p "$port" DBSIZE)
  kill -9 "$srv"; wait "$srv" 2>/dev/null
  verdict=ok
  [ "$ok" = yes ] && [ "$got" = "$want" ] && [ "$rgot" = "$want" ] || { verdict=FAIL; fails=$((fails + 1)); }
  echo "round $round: killed at ${delay}s after $saves saves; temp files left: $temps; redis-check-rdb: $ok ($want keys); tessera restarted with $got keys, redis-server with $rgot: $verdict"
  [ "$verdict" = ok ] || { echo "$check" | tail -5; tail -3 "$dir/log2"; }
done
echo "kill9-rdb: $((ROUNDS - fails)) of $ROUNDS rounds ok"
[ "$fails" -eq 0 ]
