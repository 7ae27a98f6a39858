#!/usr/bin/env bash
# The overflow-tolerant aggregates the rollups, exposition and queries use
# (fsum, favg, fstddev_samp) beside PostgreSQL's own sum, avg, stddev_samp
# over the same 5M float8 rows, serially: time (best of five, alternating)
# and ratio.
# Expects PGHOST/PGPORT/PGDATABASE (bench/run sets them).
set -euo pipefail
ROWS=${BENCH_FSUM_ROWS:-5000000}

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"; }

sql <<SQL
CREATE EXTENSION IF NOT EXISTS metrics_ex;
DROP TABLE IF EXISTS bfs_data, bfs_results;
SELECT setseed(0.5) \\g /dev/null
CREATE TABLE bfs_data AS SELECT random() * 1000 AS v FROM generate_series(1, $ROWS);
VACUUM ANALYZE bfs_data;
CREATE TABLE bfs_results (builtin text, ours text, builtin_ms float8, ours_ms float8);
SQL

# ms of one run of an aggregate over the table
run() {
    sql -At <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
SET max_parallel_workers_per_gather = 0;
\\timing on
SELECT $1(v) FROM bfs_data \\g /dev/null
SQL
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }

# the two alternate, best of five each: the machine is small and noisy
for pair in "sum metrics_ex.fsum" "avg metrics_ex.favg" "stddev_samp metrics_ex.fstddev_samp"; do
    set -- $pair
    a="" b=""
    for _ in 1 2 3 4 5; do
        a=$(min "$(run "$1")" "$a")
        b=$(min "$(run "$2")" "$b")
    done
    sql -c "INSERT INTO bfs_results VALUES ('$1', '$2', $a, $b)"
done
sql -c "SELECT builtin, ours, round(builtin_ms::numeric) AS builtin_ms, round(ours_ms::numeric) AS ours_ms,
               round((ours_ms / builtin_ms)::numeric, 2) AS ratio FROM bfs_results"
sql -c "DROP TABLE bfs_data, bfs_results"
