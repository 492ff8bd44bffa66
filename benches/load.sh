#!/usr/bin/env bash
# Load run of the reference server on loopback, bounded in time: clicks/s and
# postbacks/s with p50/p99 latency, next to a bare static axum handler measured in the
# same run as the ceiling. Uses wrk, installed from Debian's package when missing.
#
#   benches/load.sh            full run: 3 x 20 s at 64 connections, 2,000,000 postbacks
#                              (enough that every postback of the run is a first one)
#   benches/load.sh --short    a check that it works: 3 x 2 s at 16 connections
#
# Run it on a quiet machine for figures worth writing down (docs/PERFORMANCE.md).
# Everything goes to 127.0.0.1 on ports the OS picks; the servers are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=20s
connections=64
threads=2
postbacks=2000000
if [ "${1:-}" = "--short" ]; then
    duration=2s
    connections=16
    postbacks=20000
fi

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "wrk is missing; run as root to install it, or: apt-get install -y wrk" >&2
        exit 1
    fi
    echo "== installing wrk" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

cargo build --release --bin clickledger
binary="${CARGO_TARGET_DIR:-target}/release/clickledger"
work=$(mktemp -d)
server_pid=""

stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# Starts "$@" in the background, waits for its "serving on URL" line, sets $base.
start_server() {
    local banner
    banner=$(mktemp -p "$work")
    "$@" >"$banner" 2>"$work/server.log" &
    server_pid=$!
    for _ in $(seq 100); do
        base=$(sed -n 's/^clickledger serving on \([^ ]*\).*/\1/p' "$banner")
        [ -n "$base" ] && return 0
        sleep 0.1
    done
    echo "the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
}

# Runs wrk, keeps its output, prints one summary line: what, requests/s, p50, p99.
measure() {
    local name=$1
    shift
    wrk --threads "$threads" --connections "$connections" --duration "$duration" \
        --latency "$@" >"$work/$name.txt"
    awk -v name="$name" '
        /Requests\/sec/ { rate = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        /Non-2xx or 3xx/ { errors = $NF }
        END { printf "%-12s %12s req/s   p50 %8s   p99 %8s   non-2xx/3xx %s\n",
              name, rate, p50, p99, (errors == "" ? 0 : errors) }
    ' "$work/$name.txt"
}

echo "== minting $postbacks clicks for the postback run"
"$binary" bench-fixture --data "$work/data" --clicks "$postbacks" --out "$work/postback-paths.txt"

echo "== load: $threads threads, $connections connections, $duration each"
start_server "$binary" bench-static
measure static "$base/"
stop_server

start_server "$binary" serve --listen 127.0.0.1:0 --no-demo --data "$work/data"
measure clicks "$base/c/load/partner-1"
export POSTBACK_FILE="$work/postback-paths.txt" WRK_THREADS="$threads"
measure postbacks --script benches/load.lua "$base"
stop_server

accepted=$("$binary" stats --data "$work/data" --json | sed -n 's/^  "conversions": \([0-9]*\),/\1/p')
sent=$(awk '/requests in/ { print $1 }' "$work/postbacks.txt")
echo "postbacks sent: $sent; conversions accepted: $accepted (of $postbacks distinct postbacks)"
if [ "$sent" -gt "$postbacks" ]; then
    echo "the run outlasted the postback file: the postbacks after the first $postbacks were replays" >&2
fi
