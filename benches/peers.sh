#!/usr/bin/env bash
# clickledger side by side with sled, redb, Redis and PostgreSQL on one workload.
#
#   bash benches/peers.sh --quick    # 100,000 clicks, 1 s per peer: checks the pipeline
#   bash benches/peers.sh            # 2 million clicks, 10 s per peer
#   bash benches/peers.sh --long     # 20 million clicks, 30 s per peer
#
# Other arguments go to the bench binary (benches/peers/src/main.rs): --clicks N,
# --seconds S, --peers a,b,c, --out FILE. Rows are written as JSON to
# bench-results/peers.json unless --out says otherwise; benches/plot.py draws them.
#
# Installs Debian's redis-server and postgresql when missing (run as root), starts two
# Redis servers (AOF always, AOF everysec) and a throwaway PostgreSQL cluster on
# loopback ports under a temporary directory, and stops them and removes the directory
# on exit, whatever the exit. Every peer's run is bounded: its seconds of claims, plus a
# preload allowance past which the binary kills it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

redis_always_port=${PEERS_REDIS_ALWAYS_PORT:-16391}
redis_everysec_port=${PEERS_REDIS_EVERYSEC_PORT:-16392}
postgres_port=${PEERS_POSTGRES_PORT:-15439}

work=$(mktemp -d /tmp/clickledger-peers.XXXXXX)
chmod 755 "$work"
redis_pids=()
postgres_bin=""

cleanup() {
    set +e
    for pid in "${redis_pids[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [ -n "$postgres_bin" ] && [ -f "$work/postgres/postmaster.pid" ]; then
        su postgres -s /bin/sh -c "'$postgres_bin/pg_ctl' -D '$work/postgres' -m fast -w stop" >/dev/null
    fi
    rm -rf "$work"
    echo "servers stopped, $work removed" >&2
}
trap cleanup EXIT INT TERM

install_missing() {
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# start_redis NAME PORT APPENDFSYNC: a server in the background, its pid recorded.
start_redis() {
    local name=$1 port=$2 appendfsync=$3
    mkdir -p "$work/$name"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$work/$name" \
        --appendonly yes --appendfsync "$appendfsync" --save '' \
        --auto-aof-rewrite-percentage 0 --daemonize no --loglevel warning \
        >"$work/$name.log" 2>&1 &
    redis_pids+=("$!")
    for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null
    local prefix
    prefix=$(echo "$name" | tr 'a-z-' 'A-Z_')
    export "${prefix}_ADDRESS=127.0.0.1:$port" "${prefix}_PID=$!" "${prefix}_DIR=$work/$name"
}

# The server refuses to run as root: the cluster belongs to the postgres user.
start_postgres() {
    postgres_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    mkdir -p "$work/postgres"
    chown postgres "$work/postgres"
    su postgres -s /bin/sh -c "'$postgres_bin/initdb' -D '$work/postgres' --auth=trust -U postgres" \
        >"$work/initdb.log"
    su postgres -s /bin/sh -c "'$postgres_bin/pg_ctl' -D '$work/postgres' -w -l '$work/postgres/server.log' \
        -o \"-p $postgres_port -k '$work/postgres' -c listen_addresses=127.0.0.1\" start" >/dev/null
    export POSTGRES_ADDRESS="host=127.0.0.1 port=$postgres_port user=postgres dbname=postgres"
    POSTGRES_PID=$(head -1 "$work/postgres/postmaster.pid")
    export POSTGRES_PID POSTGRES_DIR="$work/postgres"
}

install_missing
echo "== building the peers benchmark" >&2
cargo build --release -p clickledger-peers >&2
binary="${CARGO_TARGET_DIR:-$root/target}/release/clickledger-peers"

echo "== starting Redis (AOF always on $redis_always_port, everysec on $redis_everysec_port)" >&2
start_redis redis-always "$redis_always_port" always
start_redis redis-everysec "$redis_everysec_port" everysec
echo "== starting PostgreSQL on $postgres_port" >&2
start_postgres

mkdir -p bench-results
out_given=false
for argument in "$@"; do [ "$argument" = --out ] && out_given=true; done
if $out_given; then
    "$binary" "$@"
else
    "$binary" --out bench-results/peers.json "$@"
fi
