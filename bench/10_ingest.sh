#!/usr/bin/env bash
# Issue 2 figures: bulk COPY into metrics_ex.ingest against a bare COPY of the
# same rows into an unindexed (ts, series_id, value) table; bytes per sample;
# increment() from pgbench against SELECT 1.  Best of several alternating
# rounds, reported as ratios: the machine is noisy.
set -euo pipefail
ROWS=${BENCH_INGEST_ROWS:-5000000}
SERIES=${BENCH_INGEST_SERIES:-1000}
ROUNDS=${BENCH_INGEST_ROUNDS:-3}
PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-15}
dir=$PGHOST                         # the cluster's own directory, owned by postgres

db=bench_ingest
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now() { date +%s.%N; }

# A database of its own.  The load is the last two hours played at once: the
# rollup watermark is put before it (rollup_delay), so that its samples are
# written as on time, as they would have been when they happened (a watermark
# of now would make the whole load late: a backfill).
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q <<SQL
BEGIN;
CREATE EXTENSION metrics_ex;
-- measured by hand here: the scheduler's jobs would only add noise
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
COMMIT;
SET metrics_ex.rollup_delay = '30 days';
-- today's partitions, as the scheduler would have made them
SELECT metrics_ex.prune();
DROP TABLE IF EXISTS bench_bare;
CREATE TABLE bench_bare (ts timestamptz, series_id bigint, value float8);
SELECT setseed(0.42);
CREATE TEMP TABLE src AS
    SELECT date_trunc('hour', now()) - interval '2 hours' + i * interval '1 millisecond' AS ts,
           i % $SERIES AS sid, round((random() * 1000)::numeric, 3)::float8 AS value
    FROM generate_series(1, $ROWS) i;
COPY (SELECT ts, sid, value FROM src) TO '$dir/bare.copy';
COPY (SELECT 'bench_latency_ms', value,
             '{"host": "host-' || sid || '", "region": "eu-' || (sid % 7) || '"}', ts FROM src)
    TO '$dir/ingest.copy';
SQL

best_bare=999999 best_ingest=999999
for r in $(seq "$ROUNDS"); do
    q -c "TRUNCATE bench_bare" -c "CHECKPOINT"
    t0=$(now); q -c "COPY bench_bare FROM '$dir/bare.copy'"; t1=$(now)
    bare=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    q -c "TRUNCATE metrics_ex.samples" -c "CHECKPOINT"
    t0=$(now); q -c "COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/ingest.copy'"; t1=$(now)
    ingest=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
    echo "round $r: bare COPY ${bare}s, COPY metrics_ex.ingest ${ingest}s"
    best_bare=$(awk -v a="$bare" -v b="$best_bare" 'BEGIN { print (a < b ? a : b) }')
    best_ingest=$(awk -v a="$ingest" -v b="$best_ingest" 'BEGIN { print (a < b ? a : b) }')
done

stored=$(q -c "SELECT count(*) FROM metrics_ex.samples")
[[ $stored -eq $ROWS ]] || { echo "expected $ROWS samples, found $stored" >&2; exit 1; }
samples_bytes=$(q -c "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('metrics_ex.samples')")
catalog_bytes=$(q -c "SELECT pg_total_relation_size('metrics_ex.series') + pg_total_relation_size('metrics_ex.metrics')")
bare_bytes=$(q -c "SELECT pg_total_relation_size('bench_bare')")
late=$(q -c "SELECT count(*) FROM metrics_ex.rollup_pending")
[[ $late -eq 0 ]] || { echo "late deltas after an on-time load: the watermark was wrong" >&2; exit 1; }
t0=$(now); q -c "SELECT metrics_ex.materialize()" >/dev/null; t1=$(now)
materialize_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
rollup_bytes=$(q -c "SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['metrics_ex.rollup_minute', 'metrics_ex.rollup_hour',
                     'metrics_ex.rollup_day', 'metrics_ex.series_totals']::regclass[]) c")

# pgbench: increment() against a plain single-row INSERT into a 3-column
# table and against SELECT 1, 2 clients, same server, same length
cat > "$dir/increment.sql" <<'SQL'
SELECT metrics_ex.increment('bench_requests_total', 1, '{"endpoint": "/api"}');
SQL
echo "INSERT INTO bench_bare VALUES (now(), 1, 1);" > "$dir/insert.sql"
echo "SELECT 1;" > "$dir/select1.sql"
tps() { pgbench -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$1" "$db" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
tps_select1=$(tps "$dir/select1.sql")
tps_insert=$(tps "$dir/insert.sql")
tps_increment=$(tps "$dir/increment.sql")

awk -v rows="$ROWS" -v series="$SERIES" -v bb="$best_bare" -v bi="$best_ingest" \
    -v sb="$samples_bytes" -v cb="$catalog_bytes" -v bab="$bare_bytes" \
    -v t1="$tps_select1" -v tin="$tps_insert" -v ti="$tps_increment" -v rb="$rollup_bytes" -v ms="$materialize_s" 'BEGIN {
    printf "\n%-58s %14s %14s %8s\n", "figure (best of rounds)", "metrics_ex", "baseline", "ratio"
    printf "%-58s %14.0f %14.0f %7.0f%%\n", "COPY rows/s, " rows " rows over " series " series (target >= 50%)", rows/bi, rows/bb, 100*bb/bi
    printf "%-58s %14.1f %14.1f %8.2f\n", "bytes per sample, samples table + indexes (target < 60)", sb/rows, bab/rows, sb/bab
    printf "%-58s %14.1f %14s\n", "bytes per sample, with series and metric catalog", (sb+cb)/rows, "-"
    printf "%-58s %14.1f %14s\n", "bytes per sample of minute/hour/day rollups and totals", rb/rows, "-"
    printf "%-58s %14.1f %14.1f %8.2f\n", "bytes per sample, all of it (target <= 60)", (sb+cb+rb)/rows, bab/rows, (sb+cb+rb)/bab
    printf "%-58s %13.2fs %14.0f/s\n", "materialize() of the load, and samples/s", ms, rows/ms
    printf "%-58s %14.0f %14.0f %7.0f%%\n", "pgbench tps, increment() vs single-row INSERT, 2 clients", ti, tin, 100*ti/tin
    printf "%-58s %14.0f %14.0f %7.0f%%\n", "pgbench tps, increment() vs SELECT 1, 2 clients", ti, t1, 100*ti/t1
}'
psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
rm -f "$dir"/*.copy "$dir"/increment.sql "$dir"/insert.sql "$dir"/select1.sql
