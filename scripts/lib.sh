# Helpers the bench scripts share; source it: . "$(dirname "$0")/lib.sh"

# Waits up to 10 s for a server to answer PING on port $1.
wait_port() {
    for _ in $(seq 200); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# utime + stime of process $1, in clock ticks (the fields after the
# parenthesised command name, which may itself hold spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
