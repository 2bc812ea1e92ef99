#!/usr/bin/env bash
# A/B benchmark of two tessera-server binaries (say, before and after a change), in
# alternating rounds on one machine, so that the noise of a shared machine falls on both.
#
#   scripts/bench-ab.sh OLD_BIN NEW_BIN
#   ROUNDS=7 THREADS=2 scripts/bench-ab.sh old/tessera-server target/release/tessera-server
#
# Each round starts A, then B (fresh servers, --threads THREADS), and runs on each
# `redis-benchmark -q -c CLIENTS -n N -t get,set -P P --csv` for every P in PIPELINES
# (N16 requests at -P 16), reading the server's CPU time before and after. It prints, per
# test and pipeline depth, the median over rounds of ops/s and of ops per server
# CPU-second for A and B, and B's ratio to A on the latter (the load generator shares the
# CPUs, so ops per server CPU-second is the fair comparison).
#
# Environment (defaults): ROUNDS=5 N=200000 N16=1000000 CLIENTS=50 PIPELINES="1 16"
#                         THREADS=1 BASE_PORT=7480
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ $# -eq 2 ] || { echo "usage: $0 OLD_BIN NEW_BIN" >&2; exit 2; }
A=$1
B=$2
ROUNDS=${ROUNDS:-5}
N=${N:-200000}
N16=${N16:-1000000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
THREADS=${THREADS:-1}
BASE_PORT=${BASE_PORT:-7480}
HZ=$(getconf CLK_TCK)
results=$(mktemp)
trap 'rm -f "$results"; kill $(jobs -p) 2>/dev/null || true' EXIT

run_one() { # label bin port
  local label=$1 bin=$2 port=$3
  "$bin" --port "$port" --bind 127.0.0.1 --threads "$THREADS" >/dev/null 2>&1 &
  local pid=$!
  wait_port "$port"
  for p in $PIPELINES; do
    local n=$N
    [ "$p" -gt 1 ] && n=$N16
    for t in get set; do
      local c0 c1 ops
      c0=$(cpu_ticks "$pid")
      ops=$(redis-benchmark -p "$port" -q -c "$CLIENTS" -n "$n" -t "$t" -P "$p" --csv |
        awk -F'","' 'NR>1 {print $2; exit}' | tr -d '"')
      c1=$(cpu_ticks "$pid")
      local secs
      secs=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.3f", (b - a) / hz}')
      echo "$label $t $p $ops $n $secs" >>"$results"
    done
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run_one A "$A" $((BASE_PORT + 2 * r))
  run_one B "$B" $((BASE_PORT + 2 * r + 1))
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
out = {}
for label, test, p, ops, n, secs in rows:
    per_cpu = float(n) / float(secs) if float(secs) > 0 else float("nan")
    out.setdefault((test, int(p)), {}).setdefault(label, []).append((float(ops), per_cpu))
print(f"{'test':5} {'P':>3} {'A ops/s':>10} {'B ops/s':>10} {'A ops/cpu-s':>12} {'B ops/cpu-s':>12} {'B/A':>6}")
for (test, p), d in sorted(out.items()):
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in d.items()}
    a, b = med.get("A", (0, 0)), med.get("B", (0, 0))
    ratio = b[1] / a[1] if a[1] else float("nan")
    print(f"{test:5} {p:>3} {a[0]:>10.0f} {b[0]:>10.0f} {a[1]:>12.0f} {b[1]:>12.0f} {ratio:>6.3f}")
EOF
