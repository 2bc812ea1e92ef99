#!/usr/bin/env bash
# Cluster mode's costs, side by side on one machine, in one run.
#
#   scripts/bench-cluster.sh                     # both parts, defaults below
#   PART=throughput scripts/bench-cluster.sh     # only part 1 (or PART=reshard)
#
# 1. Throughput: a one-node cluster (cluster-enabled yes, all 16384 slots on the node)
#    against the same server outside cluster mode, in ROUNDS alternating rounds of fresh
#    servers, `redis-benchmark -q -c CLIENTS -n N -t get,set -P P` for P in PIPELINES.
#    Prints medians of ops/s and ops per server CPU-second, and cluster/plain on the
#    latter, for tessera-server (--threads THREADS) and for redis-server.
# 2. Resharding: two nodes of one kind; the first holds every slot and KEYS keys
#    (DEBUG POPULATE); `redis-cli --cluster reshard` moves SLOTS slots (the lowest ones)
#    to the second, timed. Meanwhile a redis-benchmark GET of one key in a slot that does
#    not move, on the first node, gives p50/p99 latency; the same GET runs before the
#    reshard too, for the baseline. Then the same for redis-server.
#
# Environment (defaults): ROUNDS=5 N=200000 N16=1000000 CLIENTS=50 PIPELINES="1 16"
#   THREADS=2 KEYS=1000000 SLOTS=8192 PIPELINE_KEYS=10 (keys per MIGRATE) BASE_PORT=7700
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ROUNDS=${ROUNDS:-5}
N=${N:-200000}
N16=${N16:-1000000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
THREADS=${THREADS:-2}
KEYS=${KEYS:-1000000}
SLOTS=${SLOTS:-8192}
PIPELINE_KEYS=${PIPELINE_KEYS:-10}
BASE_PORT=${BASE_PORT:-7700}
PART=${PART:-all}
TESSERA=${TESSERA:-target/release/tessera-server}
HZ=$(getconf CLK_TCK)
work=$(mktemp -d)
results=$work/results
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# start KIND PORT CLUSTER(yes|no): starts a fresh server in its own directory; prints its pid.
start() {
  local kind=$1 port=$2 cluster=$3 dir=$work/$1-$2
  rm -rf "$dir"; mkdir -p "$dir"
  if [ "$kind" = redis ]; then
    (cd "$dir" && exec redis-server --port "$port" --bind 127.0.0.1 --save "" \
      --cluster-enabled "$cluster" --enable-debug-command yes --logfile log >/dev/null 2>&1) &
  else
    printf 'cluster-enabled %s\nlogfile log\nsave ""\n' "$cluster" >"$dir/t.conf"
    (cd "$dir" && exec "$OLDPWD/$TESSERA" --port "$port" --bind 127.0.0.1 \
      --threads "$THREADS" --config t.conf >/dev/null 2>&1) &
  fi
  local pid=$!
  wait_port "$port"
  echo "$pid"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Waits until CLUSTER INFO on port $1 says ok.
wait_ok() {
  for _ in $(seq 200); do
    redis-cli -p "$1" cluster info 2>/dev/null | grep -q cluster_state:ok && return 0
    sleep 0.05
  done
  echo "cluster on $1 not ok" >&2; return 1
}

throughput_one() { # label kind cluster port
  local label=$1 kind=$2 cluster=$3 port=$4 pid
  pid=$(start "$kind" "$port" "$cluster")
  if [ "$cluster" = yes ]; then
    redis-cli -p "$port" cluster addslotsrange 0 16383 >/dev/null
    wait_ok "$port"
  fi
  for p in $PIPELINES; do
    local n=$N
    [ "$p" -gt 1 ] && n=$N16
    for t in get set; do
      local c0 c1 ops secs
      c0=$(cpu_ticks "$pid")
      ops=$(redis-benchmark -p "$port" -q -c "$CLIENTS" -n "$n" -t "$t" -P "$p" --csv |
        awk -F'","' 'NR>1 {print $2; exit}' | tr -d '"')
      c1=$(cpu_ticks "$pid")
      secs=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.3f", (b - a) / hz}')
      echo "$label $t $p $ops $n $secs" >>"$results"
    done
  done
  stop "$pid"
}

if [ "$PART" = all ] || [ "$PART" = throughput ]; then
  : >"$results"
  for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS" >&2
    port=$((BASE_PORT + 10 * r))
    throughput_one tessera-plain tessera no "$port"
    throughput_one tessera-cluster tessera yes $((port + 1))
    throughput_one redis-plain redis no $((port + 2))
    throughput_one redis-cluster redis yes $((port + 3))
  done
  echo "== one-node cluster vs plain (medians of $ROUNDS rounds; tessera --threads $THREADS)"
  python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
out = {}
for label, test, p, ops, n, secs in rows:
    kind, mode = label.split("-")
    per_cpu = float(n) / float(secs) if float(secs) > 0 else float("nan")
    out.setdefault((kind, test, int(p)), {}).setdefault(mode, []).append((float(ops), per_cpu))
print(f"{'server':8} {'test':4} {'P':>3} {'plain ops/s':>12} {'cluster ops/s':>13} {'plain/cpu-s':>12} {'cluster/cpu-s':>13} {'ratio':>6}")
for (kind, test, p), d in sorted(out.items()):
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in d.items()}
    a, b = med.get("plain", (0, 0)), med.get("cluster", (0, 0))
    ratio = b[1] / a[1] if a[1] else float("nan")
    print(f"{kind:8} {test:4} {p:>3} {a[0]:>12.0f} {b[0]:>13.0f} {a[1]:>12.0f} {b[1]:>13.0f} {ratio:>6.3f}")
PY
fi

# p50 and p99 (ms) of GETs of one key on port $1, N requests, 10 clients.
latency() {
  redis-benchmark -p "$1" -c 10 -n "$2" --csv GET "$3" |
    awk -F',' 'NR>1 {gsub(/"/, ""); print "p50=" $5 "ms p99=" $7 "ms ops/s=" $2; exit}'
}

reshard_one() { # kind port
  local kind=$1 port=$2 a b pa pb
  pa=$(start "$kind" "$port" yes)
  pb=$(start "$kind" $((port + 1)) yes)
  redis-cli -p "$port" cluster addslotsrange 0 16383 >/dev/null
  redis-cli -p "$port" cluster meet 127.0.0.1 $((port + 1)) >/dev/null
  wait_ok "$port"
  sleep 2
  redis-cli -p "$port" debug populate "$KEYS" key 16 >/dev/null
  a=$(redis-cli -p "$port" cluster myid)
  b=$(redis-cli -p $((port + 1)) cluster myid)
  # A key of slot 16383 (never moves: reshard takes the lowest slots first).
  local key
  for i in $(seq 1 100000); do
    if [ "$(redis-cli -p "$port" cluster keyslot "probe$i")" -ge $((SLOTS + 100)) ]; then key=probe$i; break; fi
  done
  redis-cli -p "$port" set "$key" v >/dev/null
  echo "$kind before:  $(latency "$port" 100000 "$key")"
  local t0 t1
  t0=$(date +%s.%N)
  redis-cli --cluster reshard 127.0.0.1:"$port" --cluster-from "$a" --cluster-to "$b" \
    --cluster-slots "$SLOTS" --cluster-yes --cluster-pipeline "$PIPELINE_KEYS" >"$work/reshard-$kind.log" 2>&1 &
  local rp=$!
  sleep 1
  echo "$kind during: $(latency "$port" 100000 "$key")"
  wait "$rp" || echo "$kind reshard FAILED: $(grep -v '^Moving' "$work/reshard-$kind.log" | tail -3)"
  t1=$(date +%s.%N)
  echo "$kind reshard of $SLOTS slots ($(redis-cli -p $((port + 1)) dbsize) keys moved): $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
  echo "$kind reshard errors: $(grep -c "ERR" "$work/reshard-$kind.log" || true)"
  stop "$pa"; stop "$pb"
}

if [ "$PART" = all ] || [ "$PART" = reshard ]; then
  echo "== resharding $SLOTS slots of $KEYS keys between two nodes"
  reshard_one tessera $((BASE_PORT + 100))
  reshard_one redis $((BASE_PORT + 110))
fi
