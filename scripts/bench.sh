#!/usr/bin/env bash
# Side-by-side benchmark of tessera-server and redis-server on this machine, in one run.
#
#   scripts/bench.sh                  # defaults below
#   N=1000000 scripts/bench.sh        # more requests per run
#
# For each server (redis-server, then tessera-server at each of TESSERA_THREADS) it runs
# `redis-benchmark -q -c CLIENTS -n N -t TEST -P P --csv` for every TEST in TESTS and P in
# PIPELINES (N16 requests at -P 16, so each run lasts a few seconds), and reads the server's
# CPU time (utime+stime from /proc/PID/stat) before and after each run. The table gives
# ops/s, the server's CPU seconds, ops per server CPU-second, and that figure's ratio to
# redis-server's for the same test and pipeline depth (the load generator shares the CPUs,
# so ops per server CPU-second is the fair comparison).
#
# After the -t tests, each entry of COMMANDS (`label=command words`, `;`-separated) runs
# the same way as `redis-benchmark ... -P p command words` (HGET and ZRANGE, which -t
# lacks, read the `myhash` and `myzset` keys the hset and zadd tests filled).
#
# Then the floor (FLOOR=1, at -P 1 only): `crates/server/examples/floor.rs`, a server that
# only answers +OK, through the get and set tests: the most ops per server CPU-second
# any server making one recv and one send per request reaches on this machine.
#
# Then: idle CPU of tessera-server --threads IDLE_THREADS over IDLE_SECONDS (and of
# redis-server, for reference), and RSS after `DEBUG POPULATE POPULATE key 16` on fresh
# servers, with the ratio to redis-server's; then RSS after loading MEM_KEYS keys of each
# shape in SHAPES, each key holding 10 small elements (hash: 10 fields `field:J` ->
# `value:J`; set: 10 members `member:J`; intset: 10 integers; zset: 10 members with
# scores; list: 10 items), through `redis-cli --pipe`.
#
# Then transactions: TXNS transactions of `MULTI; SET k1..k4; EXEC` (keys spread over
# shards, and all in one hash tag) sent through `redis-cli --pipe` on one connection, with
# wall time and server CPU per server; and `MSET` of 10 keys spread over shards against the
# same MSET in one hash tag (redis-benchmark, -P 1).
#
# A server that fails to start is skipped with a message. Needs redis-server,
# redis-benchmark and redis-cli (apt-get install redis-server redis-tools).
#
# Environment (defaults):
#   N=500000  N16=3000000  CLIENTS=50  PIPELINES="1 16"
#   TESTS=set,get,incr,mset,hset,lpush,lpop,sadd,zadd
#   COMMANDS="hget=hget myhash element:__rand_int__;zrange=zrange myzset 0 9"
#   SHAPES="hash set intset zset list"  MEM_KEYS=1000000  TXNS=200000
#   TESSERA_THREADS="1 2"  IDLE_THREADS=4  IDLE_SECONDS=5  POPULATE=1000000
#   BASE_PORT=7380 (each server started gets the next port)
#   BENCH_ARGS=""  (extra redis-benchmark args, e.g. -r 100000 to spread keys over shards)
#   FLOOR=1 (0 to skip the floor; FLOOR_BIN to point at its binary)
#   SKIP_BUILD=1 to use an existing binary; TESSERA_BIN to point at one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

N=${N:-500000}
N16=${N16:-$((N * 6))}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-set,get,incr,mset,hset,lpush,lpop,sadd,zadd}
# `-` not `:-`: an empty COMMANDS or SHAPES means "none".
COMMANDS=${COMMANDS-"hget=hget myhash element:__rand_int__;zrange=zrange myzset 0 9"}
SHAPES=${SHAPES-"hash set intset zset list"}
MEM_KEYS=${MEM_KEYS:-1000000}
TXNS=${TXNS:-200000}
PIPELINES=${PIPELINES:-"1 16"}
TESSERA_THREADS=${TESSERA_THREADS:-"1 2"}
IDLE_THREADS=${IDLE_THREADS:-4}
IDLE_SECONDS=${IDLE_SECONDS:-5}
POPULATE=${POPULATE:-1000000}
BASE_PORT=${BASE_PORT:-7380}
BENCH_ARGS=${BENCH_ARGS:-}
TESSERA_BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-server}
FLOOR=${FLOOR:-1}
FLOOR_BIN=${FLOOR_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/floor}
CLK_TCK=$(getconf CLK_TCK)

for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install redis-server redis-tools" >&2; exit 2; }
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "==> cargo build --release -p server"
  cargo build --release -p server --bin tessera-server --example floor
fi

work=$(mktemp -d)
results=$work/results      # server threads pipeline test ops cpu_s
memory=$work/memory        # server threads rss_before rss_after
server_pid=""
server_port=""
next_port=$BASE_PORT
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
: >"$results"
: >"$memory"

# CPU ticks (utime + stime) of a process. The command name in field 2 may contain spaces,
# so count fields after its closing parenthesis: utime and stime are then the 12th and 13th.
ticks_to_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# start_server NAME THREADS: starts it in the background on a port of its own, sets
# server_pid and server_port, waits until it answers PING. Returns 1 (with a message) if
# it does not come up.
start_server() {
  local name=$1 threads=$2 port=$next_port log=$work/$1-$2.log
  next_port=$((next_port + 1))
  server_port=$port
  if [ "$name" = redis ]; then
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --enable-debug-command yes --dir "$work" >"$log" 2>&1 &
  elif [ "$name" = floor ]; then
    if [ ! -x "$FLOOR_BIN" ]; then
      echo "!! skipping the floor: $FLOOR_BIN not found"
      return 1
    fi
    "$FLOOR_BIN" "$port" >"$log" 2>&1 &
  else
    if [ ! -x "$TESSERA_BIN" ]; then
      echo "!! skipping tessera --threads $threads: $TESSERA_BIN not found"
      return 1
    fi
    "$TESSERA_BIN" --port "$port" --bind 127.0.0.1 --threads "$threads" >"$log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 100); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    case "$(redis-cli -p "$port" PING 2>/dev/null)" in PONG | OK) return 0 ;; esac
    sleep 0.1
  done
  echo "!! skipping $name --threads $threads: it did not start; its output:"
  sed 's/^/   /' "$log" | tail -20
  stop_server
  return 1
}

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

# bench_server NAME THREADS: every test at every pipeline depth against one server.
bench_server() {
  local name=$1 threads=$2 port p t n out before after rps
  start_server "$name" "$threads" || return 0
  port=$server_port
  echo "==> $name --threads $threads (pid $server_pid, port $port)"
  for p in $PIPELINES; do
    n=$N
    [ "$p" -gt 1 ] && n=$N16
    local -a runs=()
    for t in ${TESTS//,/ }; do runs+=("$t"); done
    IFS=';' read -r -a custom <<<"$COMMANDS"
    for c in "${custom[@]}"; do [ -n "${c// /}" ] && runs+=("$c"); done
    for run in "${runs[@]}"; do
      t=${run%%=*}
      local -a what=(-t "$t")
      # shellcheck disable=SC2206 # a custom command is a list of words
      [ "$run" != "$t" ] && what=(${run#*=})
      before=$(cpu_ticks "$server_pid")
      # shellcheck disable=SC2086 # BENCH_ARGS is a list of words
      out=$(redis-benchmark -h 127.0.0.1 -p "$port" -q -c "$CLIENTS" -n "$n" -P "$p" --csv $BENCH_ARGS "${what[@]}" \
        2>"$work/bench.err") || echo "!! redis-benchmark failed for $name $t -P $p"
      after=$(cpu_ticks "$server_pid")
      if [ -s "$work/bench.err" ]; then
        echo "!! redis-benchmark said on stderr ($name $t -P $p):"
        sed 's/^/   /' "$work/bench.err" | head -5
      fi
      rps=$(printf '%s\n' "$out" | awk -F'"' 'NR == 2 {print $4}')
      printf '   %-5s -P %-3s %12s ops/s  server CPU %6ss\n' "$t" "$p" "${rps:-?}" "$(ticks_to_s $((after - before)))"
      echo "$name $threads $p $t ${rps:-0} $(ticks_to_s $((after - before)))" >>"$results"
    done
  done
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "!! $name --threads $threads died during the benchmark"; fi
  stop_server
}

# memory_server NAME THREADS: RSS of a fresh server after DEBUG POPULATE.
memory_server() {
  local name=$1 threads=$2 port before reply
  start_server "$name" "$threads" || return 0
  port=$server_port
  before=$(rss_kb "$server_pid")
  reply=$(redis-cli -p "$port" DEBUG POPULATE "$POPULATE" key 16 2>&1)
  if [ "$reply" != OK ]; then
    echo "!! $name --threads $threads: DEBUG POPULATE said: $reply"
  else
    sleep 1
    echo "$name $threads $before $(rss_kb "$server_pid") $(redis-cli -p "$port" DBSIZE)" >>"$memory"
  fi
  stop_server
}

# gen_load SHAPE KEYS: RESP commands that create KEYS keys of SHAPE, 10 elements each.
gen_load() {
  awk -v shape="$1" -v keys="$2" '
    function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
    BEGIN {
      cmd["hash"] = "HSET"; cmd["set"] = "SADD"; cmd["intset"] = "SADD"
      cmd["zset"] = "ZADD"; cmd["list"] = "RPUSH"
      per = (shape == "hash" || shape == "zset") ? 2 : 1
      for (i = 0; i < keys; i++) {
        printf "*%d\r\n", 2 + 10 * per
        bulk(cmd[shape]); bulk(shape ":" i)
        for (j = 0; j < 10; j++) {
          if (shape == "hash") { bulk("field:" j); bulk("value:" j) }
          else if (shape == "zset") { bulk(j); bulk("member:" j) }
          else if (shape == "intset") bulk(i * 10 + j)
          else if (shape == "set") bulk("member:" j)
          else bulk("item:" j)
        }
      }
    }'
}

# memory_shape NAME THREADS SHAPE: RSS of a fresh server after loading MEM_KEYS keys.
memory_shape() {
  local name=$1 threads=$2 shape=$3 port before
  start_server "$name" "$threads" || return 0
  port=$server_port
  before=$(rss_kb "$server_pid")
  if ! gen_load "$shape" "$MEM_KEYS" | redis-cli -p "$port" --pipe >"$work/pipe.out" 2>&1; then
    echo "!! $name --threads $threads: loading $shape failed: $(tail -2 "$work/pipe.out")"
  else
    sleep 1
    echo "$shape $name $threads $before $(rss_kb "$server_pid") $(redis-cli -p "$port" DBSIZE)" >>"$work/shapes"
  fi
  stop_server
}

# gen_txns N TAG: N transactions of MULTI, SET of 4 keys, EXEC; TAG wraps the keys in
# a hash tag (one shard) when non-empty.
gen_txns() {
  awk -v n="$1" -v tag="$2" '
    function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
    BEGIN {
      for (i = 0; i < n; i++) {
        printf "*1\r\n"; bulk("MULTI")
        for (j = 1; j <= 4; j++) {
          k = (tag != "") ? "{" tag "}k" j : "k" j
          printf "*3\r\n"; bulk("SET"); bulk(k); bulk(i)
        }
        printf "*1\r\n"; bulk("EXEC")
      }
    }'
}

# txn_server NAME THREADS: MULTI/EXEC throughput and MSET spread vs one hash tag.
txn_server() {
  local name=$1 threads=$2 port tag before after t0 t1 rps
  start_server "$name" "$threads" || return 0
  port=$server_port
  for tag in "" t; do
    gen_txns "$TXNS" "$tag" >"$work/txns"
    before=$(cpu_ticks "$server_pid")
    t0=$(date +%s.%N)
    redis-cli -p "$port" --pipe <"$work/txns" >/dev/null 2>&1
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$server_pid")
    echo "txn $name $threads ${tag:-spread} $TXNS $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') $(ticks_to_s $((after - before)))" >>"$work/txn"
  done
  for tag in "" "{t}"; do
    local -a cmd=(mset)
    for j in $(seq 10); do cmd+=("${tag}key$j" v); done
    before=$(cpu_ticks "$server_pid")
    rps=$(redis-benchmark -h 127.0.0.1 -p "$port" -q -c "$CLIENTS" -n "$N" --csv "${cmd[@]}" 2>/dev/null | awk -F'"' 'NR == 2 {print $4}')
    after=$(cpu_ticks "$server_pid")
    echo "mset10 $name $threads ${tag:-spread} $N ${rps:-0} $(ticks_to_s $((after - before)))" >>"$work/txn"
  done
  stop_server
}

# idle_cpu NAME THREADS: percent of one core used while nobody talks to it.
idle_cpu() {
  local name=$1 threads=$2 before after
  start_server "$name" "$threads" || return 0
  sleep 1
  before=$(cpu_ticks "$server_pid")
  sleep "$IDLE_SECONDS"
  after=$(cpu_ticks "$server_pid")
  awk -v n="$name" -v th="$threads" -v t=$((after - before)) -v hz="$CLK_TCK" -v s="$IDLE_SECONDS" \
    'BEGIN {printf "idle CPU  %-8s --threads %-2s %6.2f%% of a core over %ss\n", n, th, 100 * t / hz / s, s}' \
    >>"$work/idle"
  stop_server
}

echo "==> benchmark: redis-benchmark -q -c $CLIENTS -n $N (-P 1) / $N16 (-P >1) -t <test> -P <p> --csv $BENCH_ARGS"
echo "    $(nproc) CPUs, $(redis-server --version | awk '{print $1, $2, $3}'), CLK_TCK $CLK_TCK"
bench_server redis 1
for th in $TESSERA_THREADS; do bench_server tessera "$th"; done
if [ "$FLOOR" = 1 ] && [[ " $PIPELINES " == *" 1 "* ]]; then
  PIPELINES=1 TESTS=get,set COMMANDS="" bench_server floor 1
fi

echo "==> idle CPU over ${IDLE_SECONDS}s"
: >"$work/idle"
idle_cpu tessera "$IDLE_THREADS"
idle_cpu redis 1

echo "==> memory: DEBUG POPULATE $POPULATE key 16 on fresh servers"
memory_server redis 1
for th in $TESSERA_THREADS; do memory_server tessera "$th"; done

echo "==> memory: $MEM_KEYS keys of 10 elements, shapes: $SHAPES"
: >"$work/shapes"
for shape in $SHAPES; do
  memory_shape redis 1 "$shape"
  for th in $TESSERA_THREADS; do memory_shape tessera "$th" "$shape"; done
done

echo "==> transactions: $TXNS x (MULTI, SET x4, EXEC) through redis-cli --pipe; MSET of 10 keys"
: >"$work/txn"
txn_server redis 1
for th in $TESSERA_THREADS; do txn_server tessera "$th"; done

echo
echo "## Throughput and CPU (ops per server CPU-second; ratio = that figure / redis-server's)"
echo
awk -v n="$N" -v n16="$N16" '
  {
    reqs = ($3 > 1) ? n16 : n
    # ops/s from redis-benchmark; the run took reqs/ops seconds; the server used $6 CPU s.
    per_cpu = ($6 > 0) ? reqs / $6 : 0
    rows[NR] = $0; pc[NR] = per_cpu
    if ($1 == "redis") base[$3 " " $4] = per_cpu
  }
  END {
    printf "| %-8s | %-7s | %-8s | %-5s | %12s | %12s | %16s | %14s |\n", "server", "threads", "pipeline", "test", "ops/s", "server CPU s", "ops/server CPU-s", "ratio to redis"
    printf "|----------|---------|----------|-------|--------------|--------------|------------------|----------------|\n"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, " ")
      b = base[f[3] " " f[4]]
      ratio = (b > 0 && pc[i] > 0) ? sprintf("%.2f", pc[i] / b) : "-"
      printf "| %-8s | %7s | %8s | %-5s | %12.0f | %12.2f | %16.0f | %14s |\n", f[1], f[2], "-P " f[3], f[4], f[5], f[6], pc[i], ratio
    }
  }' "$results"

echo
echo "## Idle CPU"
echo
sed 's/^/    /' "$work/idle"

echo
echo "## Memory after DEBUG POPULATE $POPULATE key 16 (RSS; ratio = tessera / redis-server)"
echo
awk '
  { rows[NR] = $0; if ($1 == "redis") base = $4 }
  END {
    printf "| %-8s | %-7s | %10s | %12s | %14s | %8s | %14s |\n", "server", "threads", "keys", "RSS before", "RSS after", "MB", "ratio to redis"
    printf "|----------|---------|------------|--------------|----------------|----------|----------------|\n"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, " ")
      ratio = (base > 0) ? sprintf("%.2f", f[4] / base) : "-"
      printf "| %-8s | %7s | %10s | %9d kB | %11d kB | %8.1f | %14s |\n", f[1], f[2], f[5], f[3], f[4], f[4] / 1024, ratio
    }
  }' "$memory"

echo
echo "## Memory after $MEM_KEYS keys of 10 elements each (RSS; ratio = tessera / redis-server)"
echo
awk '
  { rows[NR] = $0; if ($2 == "redis") base[$1] = $5 - $4 }
  END {
    printf "| %-6s | %-8s | %-7s | %10s | %14s | %14s |\n", "shape", "server", "threads", "keys", "RSS growth MB", "ratio to redis"
    printf "|--------|----------|---------|------------|----------------|----------------|\n"
    for (i = 1; i <= NR; i++) {
      split(rows[i], f, " ")
      b = base[f[1]]
      ratio = (b > 0) ? sprintf("%.2f", (f[5] - f[4]) / b) : "-"
      printf "| %-6s | %-8s | %7s | %10s | %14.1f | %14s |\n", f[1], f[2], f[3], f[6], (f[5] - f[4]) / 1024, ratio
    }
  }' "$work/shapes"

echo
echo "## Transactions (MULTI, SET x4, EXEC through redis-cli --pipe; MSET of 10 keys at -P 1)"
echo
awk '
  $1 == "txn" { printf "txn    %-8s --threads %-2s keys %-6s %d transactions in %5.2fs (%8.0f/s), server CPU %5.2fs (%8.0f per CPU-s)\n", $2, $3, $4, $5, $6, $5 / $6, $7, ($7 > 0) ? $5 / $7 : 0 }
  $1 == "mset10" { printf "mset10 %-8s --threads %-2s keys %-6s %10.0f ops/s, server CPU %5.2fs (%8.0f per CPU-s)\n", $2, $3, $4, $6, $7, ($7 > 0) ? $5 / $7 : 0 }
' "$work/txn"
