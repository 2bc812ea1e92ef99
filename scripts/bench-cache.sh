#!/usr/bin/env bash
# Tessera as a cache, side by side with redis-server in one run: the same
# maxmemory and policy on each, then one memtier_benchmark load of SETs and
# GETs over more keys than fit. Prints per server: ops/s, GET hit rate (what
# a cache is for: how well eviction keeps the keys that will be asked for),
# server CPU seconds, keys held, evicted_keys and used_memory at the end.
#
#   scripts/bench-cache.sh
#
# Needs memtier_benchmark (not in Debian: build RedisLabs/memtier_benchmark)
# and redis-server / redis-cli.
#
# Environment (defaults): MAXMEMORY=32mb POLICY=allkeys-lru RATIO=1:1 SIZE=100
#   KEY_MAX=2000000 PATTERN=G:G (Gaussian: a hot middle) REQUESTS=10000 (per
#   client; memtier's 4 threads x 50 clients) TESSERA_THREADS="1 2"
#   BASE_PORT=7930 SKIP_BUILD=1 to use an existing binary; TESSERA_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

MAXMEMORY=${MAXMEMORY:-32mb}
POLICY=${POLICY:-allkeys-lru}
RATIO=${RATIO:-1:1}
SIZE=${SIZE:-100}
KEY_MAX=${KEY_MAX:-2000000}
PATTERN=${PATTERN:-G:G}
REQUESTS=${REQUESTS:-10000}
TESSERA_THREADS=${TESSERA_THREADS:-"1 2"}
BASE_PORT=${BASE_PORT:-7930}
TESSERA_BIN=${TESSERA_BIN:-target/release/tessera-server}

for tool in memtier_benchmark redis-server redis-cli bc; do
    command -v "$tool" >/dev/null || { echo "bench-cache: $tool is missing" >&2; exit 2; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -p server
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

field() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }

run() { # name port pid
    local name=$1 port=$2 pid=$3
    wait_port "$port"
    redis-cli -p "$port" config set maxmemory "$MAXMEMORY" >/dev/null
    redis-cli -p "$port" config set maxmemory-policy "$POLICY" >/dev/null
    local hz c0 c1 out gets hits misses
    hz=$(getconf CLK_TCK)
    c0=$(cpu_ticks "$pid")
    out=$(memtier_benchmark -p "$port" --hide-histogram --ratio "$RATIO" -d "$SIZE" \
        --key-pattern "$PATTERN" --key-maximum "$KEY_MAX" --randomize --distinct-client-seed \
        -n "$REQUESTS" 2>/dev/null)
    c1=$(cpu_ticks "$pid")
    gets=$(echo "$out" | awk '$1 == "Gets"')
    hits=$(echo "$gets" | awk '{print $3}')
    misses=$(echo "$gets" | awk '{print $4}')
    printf '%-12s ops/s %10s  hit rate %s  cpu s %6s  keys %8s  evicted %8s  used_memory %s\n' \
        "$name" "$(echo "$out" | awk '$1 == "Totals" {print $2}')" \
        "$(echo "scale=3; $hits / ($hits + $misses)" | bc)" \
        "$(echo "scale=2; ($c1 - $c0) / $hz" | bc)" \
        "$(redis-cli -p "$port" dbsize)" "$(field "$port" stats evicted_keys)" \
        "$(field "$port" memory used_memory)"
}

echo "maxmemory $MAXMEMORY $POLICY; memtier --ratio $RATIO -d $SIZE --key-pattern $PATTERN --key-maximum $KEY_MAX -n $REQUESTS"
port=$BASE_PORT
redis-server --port "$port" --save "" --appendonly no >/dev/null 2>&1 &
pids+=($!)
run redis-server "$port" "$!"
for t in $TESSERA_THREADS; do
    port=$((port + 1))
    "$TESSERA_BIN" --port "$port" --threads "$t" >/dev/null 2>&1 &
    pids+=($!)
    run "tessera t$t" "$port" "$!"
done
