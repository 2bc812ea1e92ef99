#!/usr/bin/env bash
# Runs units of Redis 7.0.15's own test suite (../shared/redis-tests, or $REDIS_TESTS) that
# start servers of their own (tagged external:skip, so run.sh's external mode skips them),
# with tessera-server in redis-server's place.
#
#   scripts/redis-tests-server.sh [UNIT ...]      e.g. scripts/redis-tests-server.sh info other
#   scripts/redis-tests-server.sh integration/rdb shutdown    (a unit of tests/integration)
#
# It copies the suite to a temporary directory and adds what the suite expects beside it:
#   src/redis-server   a shim: `tessera-server --config FILE` (target/release, or $TESSERA_BIN);
#                      further `--name value` arguments, as some tests pass, become lines of a
#                      copy of FILE, since Tessera's own flags are few
#   src/redis-cli, src/redis-benchmark, src/redis-check-aof, src/redis-check-rdb
#                      the system's (apt's redis-tools)
# (Redis's own tests/assets/default.conf is used as it is). Prints "unit ok err" per unit
# and the failing tests'
# names, like run.sh (TESSERA_BIN=/usr/bin/redis-server runs them on real Redis);
# logs in $REDIS_TESTS_LOG (default /tmp/redis-tests-server).
# With KEEP=DIR the copy is made in DIR and kept, to run `tclsh tests/test_helper.tcl` there.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
suite=${REDIS_TESTS:-$here/../shared/redis-tests}
bin=${TESSERA_BIN:-$here/target/release/tessera-server}
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p server (or set TESSERA_BIN)"; exit 2; }
command -v tclsh >/dev/null || { echo "tclsh is missing: apt-get install -y tcl"; exit 2; }
[ -d "$suite/tests" ] || { echo "no Redis test suite at $suite (set REDIS_TESTS)"; exit 2; }
units=("$@")
[ ${#units[@]} -gt 0 ] || units=(info other)
log=${REDIS_TESTS_LOG:-/tmp/redis-tests-server}
if [ -n "${KEEP:-}" ]; then
  work=$KEEP; mkdir -p "$work"
else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi
rm -rf "$work/tests" "$work/src"
cp -r "$suite/tests" "$work/tests" && chmod -R u+w "$work/tests"
mkdir -p "$log" "$work/tests/tmp" "$work/src"
for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
  command -v "$tool" >/dev/null && ln -sf "$(command -v "$tool")" "$work/src/$tool"
done
if [ "$(basename "$bin")" = redis-server ]; then
  # TESSERA_BIN=/usr/bin/redis-server: the same run against real Redis, for its counts.
  printf '#!/bin/sh\nexec %s "$@"\n' "$bin" >"$work/src/redis-server"
else cat >"$work/src/redis-server" <<SHIM
#!/usr/bin/env bash
# redis-server [FILE] [--name value ...] -> tessera-server --config FILE
case "\${1:-}" in
  --*|"") conf=\$(mktemp /tmp/tessera-shim-XXXXXX.conf) ;;
  *) conf=\$1; shift ;;
esac
if [ \$# -gt 0 ]; then
  extra="\$conf.tessera"; cp -- "\$conf" "\$extra"
  line=""
  for a in "\$@"; do
    case "\$a" in
      --*) [ -n "\$line" ] && echo "\$line" >>"\$extra"; line=\${a#--} ;;
      *) line="\$line \"\$a\"" ;;
    esac
  done
  [ -n "\$line" ] && echo "\$line" >>"\$extra"
  conf=\$extra
fi
exec "$bin" --config "\$conf"
SHIM
fi
chmod +x "$work/src/redis-server"
total_ok=0; total_err=0
for u in "${units[@]}"; do
  # UNIT is under tests/unit, or tests/integration when it says so (integration/rdb).
  case "$u" in integration/*) t=$u ;; *) t=unit/$u ;; esac
  if [ ! -f "$work/tests/$t.tcl" ]; then printf '%-20s no such unit\n' "$u"; continue; fi
  f=$log/$(echo "$u" | tr / _).log
  (cd "$work" && timeout 900 tclsh tests/test_helper.tcl --single "$t" --clients 1 \
     --ignore-encoding --ignore-digest --timeout 300 >"$f" 2>&1)
  sed -i 's/\x1b\[[0-9;]*m//g' "$f"
  ok=$(grep -c '^\[ok\]' "$f"); err=$(grep -c '^\[err\]' "$f"); exc=$(grep -c '^\[exception\]' "$f")
  err=$((err + exc))
  total_ok=$((total_ok + ok)); total_err=$((total_err + err))
  printf '%-20s ok %4d  err %4d%s\n' "$u" "$ok" "$err" "$([ "$exc" -gt 0 ] && echo '  (stopped on an exception)')"
  grep -E '^\[(err|exception)\]' "$f" | head -${REDIS_TESTS_SHOW:-5} | sed 's/^/    /'
done
echo "redis-tests-server: $total_ok passed, $total_err failed"
