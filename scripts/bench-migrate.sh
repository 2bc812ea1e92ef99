#!/usr/bin/env bash
# MIGRATE side by side: redis-server and tessera-server as the source, a real
# redis-server as the target, in one run.
#
#   scripts/bench-migrate.sh
#
# 1. Throughput: KEYS small string keys (DEBUG POPULATE) moved with
#    `MIGRATE 127.0.0.1 PORT "" 0 5000 KEYS k1..kBATCH`, KEYS/BATCH commands
#    sent one after another by one redis-cli; wall time and keys/s per source.
# 2. Latency: a LIST_LEN-element list is migrated to a slow target (a small
#    Python server that reads RATE bytes/s and then answers +OK); meanwhile
#    `redis-benchmark -t get -c 1 -n GETS`, started just before, measures GET
#    latency on another key of the same shard. Compared with the same GETs
#    without a migration.
#
# Environment (defaults): KEYS=100000 BATCH=100 LIST_LEN=1000000
#   RATE=2000000 GETS=100000 TESSERA_THREADS="1 2" BASE_PORT=7480
#   SKIP_BUILD=1 to use an existing binary; TESSERA_BIN to point at one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

KEYS=${KEYS:-100000}
BATCH=${BATCH:-100}
LIST_LEN=${LIST_LEN:-1000000}
RATE=${RATE:-2000000}
GETS=${GETS:-100000}
TESSERA_THREADS=${TESSERA_THREADS:-"1 2"}
BASE_PORT=${BASE_PORT:-7480}
TESSERA_BIN=${TESSERA_BIN:-target/release/tessera-server}

if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release -p server >&2
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

start() { # name port -> pid in LAST_PID
    local name=$1 port=$2
    if [[ $name == redis ]]; then
        redis-server --port "$port" --save "" --appendonly no --enable-debug-command yes --dir "$WORK" >/dev/null 2>&1 &
    else
        "$TESSERA_BIN" --port "$port" --threads "${name#tessera-t}" >/dev/null 2>&1 &
    fi
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_port "$port"
}

# The target all sources migrate to.
TARGET=$BASE_PORT
start redis "$TARGET"

# The batches of MIGRATE commands, shared by every source.
awk -v n="$KEYS" -v b="$BATCH" -v p="$TARGET" 'BEGIN {
    for (i = 0; i < n; i += b) {
        line = "MIGRATE 127.0.0.1 " p " \"\" 0 5000 KEYS";
        for (j = i; j < i + b && j < n; j++) line = line " key:" j;
        print line;
    }
}' >"$WORK/migrate.txt"

# The slow target for the latency part.
cat >"$WORK/slow.py" <<'EOF'
import socket, sys, time
port, rate = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(16)
def commands(buf):
    # Counts whole RESP multibulk commands at the start of buf; returns (n, used).
    n = pos = 0
    while True:
        if pos >= len(buf) or buf[pos:pos+1] != b"*": return n, pos
        e = buf.find(b"\r\n", pos)
        if e < 0: return n, pos
        argc, p = int(buf[pos+1:e]), e + 2
        for _ in range(argc):
            e = buf.find(b"\r\n", p)
            if e < 0: return n, pos
            ln = int(buf[p+1:e]); p = e + 2 + ln + 2
            if p > len(buf): return n, pos
        n, pos = n + 1, p
while True:
    c, _ = srv.accept(); buf = b""
    while True:
        t0 = time.time(); d = c.recv(65536)
        if not d: break
        buf += d
        time.sleep(max(0.0, len(d) / rate - (time.time() - t0)))
        n, used = commands(buf)
        if n: buf = buf[used:]; c.sendall(b"+OK\r\n" * n)
    c.close()
EOF
SLOW=$((BASE_PORT + 1))
python3 "$WORK/slow.py" "$SLOW" "$RATE" &
PIDS+=($!)
sleep 0.3

printf '%-12s %10s %12s   %s\n' source "wall s" "keys/s" "GET p50/p99/max ms: idle | during a ${LIST_LEN}-element list MIGRATE"
port=$((BASE_PORT + 2))
for name in redis $(for t in $TESSERA_THREADS; do echo "tessera-t$t"; done); do
    start "$name" "$port"
    pid=$LAST_PID
    redis-cli -p "$TARGET" flushall >/dev/null
    redis-cli -p "$port" debug populate "$KEYS" key 10 >/dev/null
    t0=$(date +%s.%N)
    redis-cli -p "$port" <"$WORK/migrate.txt" >"$WORK/out.txt"
    t1=$(date +%s.%N)
    bad=$(grep -vc '^OK$' "$WORK/out.txt" || true)
    moved=$(redis-cli -p "$TARGET" dbsize)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    rate=$(awk -v n="$moved" -v w="$wall" 'BEGIN {printf "%.0f", n / w}')
    [[ $bad -eq 0 && $moved -eq $KEYS ]] || echo "  $name: $bad non-OK replies, $moved keys on the target" >&2

    # Latency: a big list on this source, GETs on another key of the same
    # shard (the list's hash tag is the key redis-benchmark GETs).
    BIG='{key:__rand_int__}biglist'
    awk -v n="$LIST_LEN" -v big="$BIG" 'BEGIN {for (i = 0; i < n; i += 1000) { l = "RPUSH " big; for (j = i; j < i + 1000 && j < n; j++) l = l " item:" j; print l }}' | redis-cli -p "$port" >/dev/null
    lat() { redis-benchmark -p "$port" -c 1 -n "$1" -t get --csv 2>/dev/null | awk -F'"' '/GET/ {print $10 "/" $14 "/" $16}'; }
    idle=$(lat "$GETS")
    # The GETs start first (redis-benchmark's own setup commands would
    # otherwise wait out a blocking MIGRATE unmeasured), the MIGRATE joins.
    lat "$GETS" >"$WORK/during.txt" &
    bench=$!
    sleep 0.5
    m0=$(date +%s.%N)
    redis-cli -p "$port" migrate 127.0.0.1 "$SLOW" "$BIG" 0 60000 >"$WORK/mig.txt"
    m1=$(date +%s.%N)
    wait "$bench" || true
    during="$(cat "$WORK/during.txt") (migrate: $(cat "$WORK/mig.txt") in $(awk -v a="$m0" -v b="$m1" 'BEGIN {printf "%.2f", b - a}') s)"
    printf '%-12s %10s %12s   %s | %s\n' "$name" "$wall" "$rate" "$idle" "$during"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    port=$((port + 1))
done
