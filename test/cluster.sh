#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests, the demo and benchmarks.
#   test/cluster.sh start DIR PORT [CONF]   initdb (if needed) and start, preloading metrics_ex;
#                                           CONF: lines added to a new cluster's postgresql.conf
#   test/cluster.sh stop DIR
# The cluster runs as the postgres user with its data and socket in DIR, on
# PORT, listening on no TCP address beyond the loopback.  It never touches a
# server it did not start.
set -euo pipefail
# PG_BINDIR lets a relocated copy of PostgreSQL run the cluster.
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
cmd=$1 dir=$2 port=${3:-} conf=${4:-}

as_postgres() { runuser -u postgres -- "$@"; }

case $cmd in
start)
    mkdir -p "$dir"
    chown postgres: "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        as_postgres $bindir/initdb -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
shared_preload_libraries = 'metrics_ex'
max_worker_processes = 16
fsync = off
synchronous_commit = off
shared_buffers = 512MB
max_wal_size = 4GB
timezone = 'UTC'
log_min_messages = warning
$conf
CONF
    fi
    as_postgres $bindir/pg_ctl -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_postgres $bindir/pg_ctl -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
