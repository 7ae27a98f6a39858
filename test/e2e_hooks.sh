#!/usr/bin/env bash
# Hooks chain: with pg_stat_statements and pgaudit loaded before or after
# metrics_ex, COPY and INSERT into metrics_ex.ingest are seen by both (the
# COPY fast path must not be an audit bypass), and store the same samples.
# Each order gets a cluster of its own (shared_preload_libraries needs a
# start), on the port after the test cluster's.
# Usage: test/e2e_hooks.sh (PGPORT set: the test cluster's port)
set -uo pipefail
cd "$(dirname "$0")/.."
port=$((${PGPORT:-55432} + 11))
. test/tap.sh
ok() { tap_ok "$1"; }
fail() { tap_not_ok "$1"; }
dir=
cleanup() { [[ -n $dir ]] && bash test/cluster.sh stop "$dir" 2>/dev/null; [[ -n $dir ]] && rm -rf "$dir"; }
trap cleanup EXIT

for order in "pg_stat_statements,pgaudit,metrics_ex" "metrics_ex,pg_stat_statements,pgaudit"; do
    dir=$(mktemp -d /tmp/metrics_ex_hooks.XXXXXX)
    chmod 755 "$dir"
    bash test/cluster.sh start "$dir" "$port" "shared_preload_libraries = '$order'" \
        "pgaudit.log = 'write'" "pg_stat_statements.track = 'all'" "log_min_messages = info"
    q() { psql -qXAt -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
    q -c "CREATE EXTENSION pg_stat_statements" -c "CREATE EXTENSION pgaudit" -c "CREATE EXTENSION metrics_ex" \
      -c "SELECT pg_stat_statements_reset()" >/dev/null
    printf 'hooks_total\t1\t{"i": "%s"}\t2026-11-20 10:00:0%s+00\n' 1 1 2 2 3 3 4 4 5 5 |
        q -c "COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN"
    q -c "INSERT INTO metrics_ex.ingest (name, value, tags) VALUES ('hooks_total', 2, '{\"i\": \"6\"}')"

    calls=$(q -c "SELECT calls || '/' || rows FROM pg_stat_statements WHERE query LIKE 'COPY metrics_ex.ingest%'")
    [[ $calls == 1/5 ]] && ok "$order: pg_stat_statements sees the COPY (1 call, 5 rows)" \
        || fail "$order: pg_stat_statements sees the COPY (got '$calls')"
    calls=$(q -c "SELECT calls FROM pg_stat_statements WHERE query LIKE 'INSERT INTO metrics_ex.ingest%'")
    [[ $calls == 1 ]] && ok "$order: and the INSERT" || fail "$order: and the INSERT (got '$calls')"
    sleep 0.5
    if grep -q 'AUDIT: SESSION,[0-9]*,[0-9]*,WRITE,COPY,,,"\?COPY metrics_ex.ingest' "$dir/server.log"; then
        ok "$order: pgaudit logs the COPY"
    else
        fail "$order: pgaudit logs the COPY"; grep AUDIT "$dir/server.log" | tail -3
    fi
    got=$(q -c "SELECT count(*) || ' ' || sum(value) FROM metrics_ex.points WHERE name = 'hooks_total'")
    [[ $got == "6 7" ]] && ok "$order: every sample is stored" || fail "$order: every sample is stored (got '$got')"
    bash test/cluster.sh stop "$dir"
    rm -rf "$dir"
    dir=
done

tap_done
