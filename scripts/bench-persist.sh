#!/usr/bin/env bash
# RDB persistence side by side with redis-server on this machine, in one run (issue 15's
# "How it will be judged"):
#
#   scripts/bench-persist.sh                    # defaults below
#   KEYS=200000 scripts/bench-persist.sh        # a smaller dataset
#
# 1. BGSAVE under a write load, for redis-server, then tessera-server at each of
#    TESSERA_THREADS, each fresh, in a directory of its own, with `save ""`:
#      DEBUG POPULATE $KEYS key $SIZE
#      redis-benchmark -c $CLIENTS -n 1000000000 -t set -r $KEYS -d $SIZE   (in the background)
#      after $WARMUP s: BGSAVE, then INFO persistence every $POLL s until rdb_saves has gone
#      up, rdb_bgsave_in_progress is 0 and rdb_last_bgsave_status is ok
#    Reported: seconds from sending BGSAVE to that point; the peak memory growth during the
#    save over the memory at BGSAVE, as a % of the dataset (the server's VmRSS after
#    POPULATE less its VmRSS when empty). Memory is sampled at each poll: the server's
#    VmRSS, plus for redis-server its fork child's private pages (Private_Clean +
#    Private_Dirty of /proc/CHILD/smaps_rollup): the pages the child no longer shares with
#    the parent, which is where Redis's copy-on-write shows. (Adding the child's VmRSS
#    instead would count every page the two still share twice.) The SET load's keys
#    (key:000000xxxxxx) are not POPULATE's (key:N), so it adds keys while the save runs;
#    "net" subtracts those keys at the dataset's bytes per key (DBSIZE at BGSAVE and at
#    the end), the same way for every server. Also reported: SET calls per second during the
#    save (INFO commandstats before BGSAVE and after), and the slowest INFO round trip of
#    the polls (a server that stops serving while it saves shows it there).
# 2. Load at start: each server (redis-server and tessera at each of TESSERA_THREADS) is
#    started on a copy of redis-server's dump.rdb and of Tessera's (written by the first of
#    TESSERA_THREADS in step 1), REPS times each; reported: the median time from exec to
#    the first PONG (a -LOADING answer is not ready; PING every $POLL s), DBSIZE then, and
#    the load time the server itself logged.
#
# Needs redis-server, redis-cli and redis-benchmark (apt-get install redis-server redis-tools).
#
# Environment (defaults):
#   KEYS=1000000  SIZE=100  CLIENTS=50  WARMUP=1  POLL=0.02  REPS=3
#   TESSERA_THREADS="1 2"  REDIS_BIN=redis-server
#   SKIP_BUILD=1 to use an existing binary; TESSERA_BIN to point at one.
#   KEEP=DIR keeps the dump files and logs in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
SIZE=${SIZE:-100}
CLIENTS=${CLIENTS:-50}
WARMUP=${WARMUP:-1}
POLL=${POLL:-0.02}
REPS=${REPS:-3}
TESSERA_THREADS=${TESSERA_THREADS:-"1 2"}
REDIS_BIN=${REDIS_BIN:-redis-server}
TESSERA_BIN=${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-server}

for tool in "$REDIS_BIN" redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install redis-server redis-tools" >&2; exit 2; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "==> cargo build --release -p server"
  cargo build --release -p server --bin tessera-server
fi
[ -x "$TESSERA_BIN" ] || { echo "no $TESSERA_BIN" >&2; exit 2; }

if [ -n "${KEEP:-}" ]; then work=$KEEP; mkdir -p "$work"; else work=$(mktemp -d); fi
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port on 127.0.0.1 (nothing accepts a connection on it), from a random start.
next_port=$((20000 + RANDOM % 20000))
free_port() {
  while (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; do next_port=$((next_port + 1)); done
  port=$next_port
  next_port=$((next_port + 1))
}

now_ns() { local t=${EPOCHREALTIME/./}; echo $((t * 1000)); }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# VmRSS of $1 in kB, with builtins only (the sampler runs during the measurement).
rss_kb() {
  local k v _
  while read -r k v _; do
    [ "$k" = VmRSS: ] && { echo "$v"; return; }
  done <"/proc/$1/status" 2>/dev/null
  echo 0
}
# Private_Clean + Private_Dirty of $1's children (Redis's fork child), in kB.
child_private_kb() {
  local c k v _ sum=0 kids=""
  read -r kids _ <"/proc/$1/task/$1/children" 2>/dev/null || true
  for c in $kids; do
    while read -r k v _; do
      case $k in Private_Clean: | Private_Dirty:) sum=$((sum + v)) ;; esac
    done <"/proc/$c/smaps_rollup" 2>/dev/null || true
  done
  echo "$sum"
}

# start NAME THREADS DIR: starts a server with `dir DIR`, sets pid and port, and log.
start() {
  local name=$1 threads=$2 dir=$3
  free_port
  log=$dir/server.log
  if [ "$name" = redis ]; then
    "$REDIS_BIN" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --enable-debug-command yes --dir "$dir" --dbfilename dump.rdb --logfile "$log" &
  else
    printf 'save ""\nappendonly no\nenable-debug-command yes\ndir %s\ndbfilename dump.rdb\n' "$dir" >"$dir/tessera.conf"
    "$TESSERA_BIN" --config "$dir/tessera.conf" --port "$port" --bind 127.0.0.1 \
      --threads "$threads" >"$log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
}
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# Waits for PONG; returns 1 if the server exited first.
wait_pong() {
  while :; do
    [ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep "$POLL"
  done
}
label() { if [ "$1" = redis ]; then echo "redis-server"; else echo "tessera --threads $2"; fi; }
info_field() { printf '%s\n' "$1" | tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2}'; }

servers=("redis 1")
for t in $TESSERA_THREADS; do servers+=("tessera $t"); done
first_tessera=$(set -- $TESSERA_THREADS; echo "$1")

echo "==> $(basename "$REDIS_BIN"): $("$REDIS_BIN" --version | cut -d' ' -f3); tessera: $TESSERA_BIN ($(git rev-parse --short HEAD))"
echo "==> BGSAVE of $KEYS keys (DEBUG POPULATE $KEYS key $SIZE) under redis-benchmark -c $CLIENTS -t set -r $KEYS -d $SIZE"
bg_rows=()
for s in "${servers[@]}"; do
  set -- $s
  name=$1 threads=$2 dir=$work/$1-$2
  mkdir -p "$dir"
  start "$name" "$threads" "$dir"
  wait_pong || { echo "!! $(label "$name" "$threads") did not start:"; tail -5 "$log"; continue; }
  empty=$(rss_kb "$pid")
  reply=$(redis-cli -p "$port" DEBUG POPULATE "$KEYS" key "$SIZE")
  [ "$reply" = OK ] || { echo "!! DEBUG POPULATE said: $reply"; stop; continue; }
  sleep 1
  full=$(rss_kb "$pid")
  dataset=$((full - empty))
  redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n 1000000000 -t set -r "$KEYS" -d "$SIZE" -q \
    >"$dir/bench.out" 2>&1 &
  bench=$!
  pids+=("$bench")
  sleep "$WARMUP"
  keys0=$(redis-cli -p "$port" DBSIZE)
  saves0=$(info_field "$(redis-cli -p "$port" INFO persistence)" rdb_saves)
  base=$(rss_kb "$pid")
  peak=$base peak_parent=$base peak_child=0 stall=0
  sets0=$(redis-cli -p "$port" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_set:calls=\([0-9]*\).*/\1/p')
  t0=$(now_ns)
  reply=$(redis-cli -p "$port" BGSAVE)
  status=""
  while :; do
    r=$(rss_kb "$pid")
    c=0
    [ "$name" = redis ] && c=$(child_private_kb "$pid")
    [ "$r" -gt "$peak_parent" ] && peak_parent=$r
    [ "$c" -gt "$peak_child" ] && peak_child=$c
    [ $((r + c)) -gt "$peak" ] && peak=$((r + c))
    q0=$(now_ns)
    info=$(redis-cli -p "$port" INFO persistence 2>/dev/null || true)
    q=$(ms_since "$q0")
    [ "$q" -gt "$stall" ] && stall=$q
    if [ "$(info_field "$info" rdb_bgsave_in_progress)" = 0 ] &&
      [ "$(info_field "$info" rdb_saves)" != "$saves0" ]; then
      status=$(info_field "$info" rdb_last_bgsave_status)
      break
    fi
    kill -0 "$pid" 2>/dev/null || { status="server died"; break; }
    sleep "$POLL"
  done
  ms=$(ms_since "$t0")
  keys1=$(redis-cli -p "$port" DBSIZE)
  sets1=$(redis-cli -p "$port" INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_set:calls=\([0-9]*\).*/\1/p')
  setrate=$(awk -v a="${sets0:-0}" -v b="${sets1:-0}" -v m="$ms" 'BEGIN {printf "%d", (b - a) * 1000 / m}')
  kill "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  growth=$((peak - base))
  added=$((keys1 - keys0))
  net=$(awk -v g="$growth" -v a="$added" -v d="$dataset" -v k="$KEYS" 'BEGIN {printf "%d", g - a * d / k}')
  pct() { awk -v x="$1" -v d="$dataset" 'BEGIN {printf "%.1f%%", 100 * x / d}'; }
  row=$(printf '| %s | %s | %.2f s | %s | %d MB | %d MB (%s) | %d MB + %d MB | %d | %d MB (%s) | %s | %d ms |' \
    "$(label "$name" "$threads")" "$reply / $status" "$(awk -v m="$ms" 'BEGIN {print m / 1000}')" \
    "$(stat -c %s "$dir/dump.rdb" 2>/dev/null | awk '{printf "%.0f MB", $1 / 1e6}')" \
    $((dataset / 1024)) $((growth / 1024)) "$(pct "$growth")" \
    $(((peak_parent - base) / 1024)) $((peak_child / 1024)) "$added" $((net / 1024)) "$(pct "$net")" "$setrate" "$stall")
  echo "$row"
  bg_rows+=("$row")
  stop
done

echo
echo "==> load at start: exec to first PONG (median of $REPS), on each server's dump.rdb"
load_rows=()
files=("redis-server's=$work/redis-1/dump.rdb" "Tessera's=$work/tessera-$first_tessera/dump.rdb")
for f in "${files[@]}"; do
  what=${f%%=*} file=${f#*=}
  [ -f "$file" ] || { echo "!! no $file"; continue; }
  for s in "${servers[@]}"; do
    set -- $s
    name=$1 threads=$2
    times=() keys="" logged=""
    for rep in $(seq "$REPS"); do
      dir=$work/load-$name-$threads-$rep
      rm -rf "$dir"; mkdir -p "$dir"
      cp "$file" "$dir/dump.rdb"
      t0=$(now_ns)
      start "$name" "$threads" "$dir"
      if ! wait_pong; then echo "!! $(label "$name" "$threads") did not start on $what file:"; tail -5 "$log"; break; fi
      times+=("$(ms_since "$t0")")
      keys=$(redis-cli -p "$port" DBSIZE)
      logged=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$log" | grep -o '[0-9.]* seconds' || true)
      stop
      rm -rf "$dir"
    done
    [ ${#times[@]} -gt 0 ] || continue
    med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    row=$(printf '| %s | %s | %.2f s (%s ms) | %s | %s |' "$what" "$(label "$name" "$threads")" \
      "$(awk -v m="$med" 'BEGIN {print m / 1000}')" "$(IFS=/; echo "${times[*]}")" "$keys" "${logged:-?}")
    echo "$row"
    load_rows+=("$row")
  done
done

echo
echo "BGSAVE of DEBUG POPULATE $KEYS key $SIZE under redis-benchmark -c $CLIENTS -t set -r $KEYS -d $SIZE:"
echo
echo "| server | BGSAVE / status | BGSAVE to done | dump.rdb | dataset RSS | peak growth | of which server + fork child | keys added meanwhile | net of added keys | SETs/s during the save | slowest INFO reply during the save |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${bg_rows[@]}"
echo
echo "Load at start (exec to first PONG, median of $REPS):"
echo
echo "| file | server | exec to PONG (runs) | DBSIZE | server's own log |"
echo "|---|---|---|---|---|"
printf '%s\n' "${load_rows[@]}"
