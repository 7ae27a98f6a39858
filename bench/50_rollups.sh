#!/usr/bin/env bash
# Issue 5 figures: materializing and pruning cost, and time_series() served
# from rollups against the same query over raw samples, same data, same run.
# 10M samples over 1,000 series spanning the last 7 days.
set -euo pipefail
ROWS=${BENCH_ROLLUP_ROWS:-10000000}
SERIES=${BENCH_ROLLUP_SERIES:-1000}
ROUNDS=${BENCH_ROLLUP_ROUNDS:-3}
dir=$PGHOST

db=bench_rollups
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$db" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# A database of its own.  The load is seven days of the present played at
# once: the rollup watermark is put before it (rollup_delay), so that its
# samples arrive on time and maintenance rolls them up from raw samples, as
# it would have minute by minute; a watermark of now would make the whole
# load late (a backfill: see the late figure below).
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q <<SQL
BEGIN;
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
COMMIT;
SET metrics_ex.rollup_delay = '30 days';
SELECT metrics_ex.prune();
-- the week's day partitions, as the scheduler would have made them day by day
SELECT metrics_ex._create_day_partition(now() - d * interval '1 day') FROM generate_series(1, 8) d;
SELECT setseed(0.5);
COPY (SELECT 'bench_rollup_ms', round((random() * 100)::numeric, 2),
             '{"host": "host-' || i % $SERIES || '"}',
             now() - (i::float8 / $ROWS) * interval '7 days'
        FROM generate_series(1, $ROWS) i) TO '$dir/rollup.copy';
SQL
t0=$(now); q -c "COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/rollup.copy'"; t1=$(now)
load_s=$(elapsed "$t0" "$t1")
rm -f "$dir/rollup.copy"
deltas=$(q -c "SELECT count(*) FROM metrics_ex.rollup_pending")
t0=$(now); q -c "SELECT metrics_ex.materialize()" >/dev/null; t1=$(now)
materialize_all_s=$(elapsed "$t0" "$t1")
# a late load: 1M samples of the same series three days ago, after the rollups
q -c "COPY (SELECT 'bench_rollup_ms', round((random() * 100)::numeric, 2), '{\"host\": \"host-' || i % $SERIES || '\"}',
              now() - interval '3 days' + (i % 3600000) * interval '1 millisecond'
         FROM generate_series(1, 1000000) i) TO '$dir/late.copy'"
t0=$(now); q -c "COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/late.copy'"; t1=$(now)
late_load_s=$(elapsed "$t0" "$t1")
rm -f "$dir/late.copy"
late_deltas=$(q -c "SELECT count(*) FROM metrics_ex.rollup_pending")
t0=$(now); q -c "SELECT metrics_ex.materialize()" >/dev/null; t1=$(now)
materialize_late_s=$(elapsed "$t0" "$t1")
# what autovacuum does next (rollup_pending has aggressive settings)
q -c "VACUUM ANALYZE metrics_ex.rollup_pending, metrics_ex.rollup_minute, metrics_ex.rollup_hour, metrics_ex.rollup_day" \
  -c "VACUUM ANALYZE metrics_ex.samples"

# time_series from rollups (hour level) against hand-written SQL over raw samples
ours="SELECT * FROM metrics_ex.time_series('bench_rollup_ms', 'hour', 'mean', 'last_7d')"
raw="SELECT date_trunc('hour', ts), avg(value) FROM metrics_ex.points
     WHERE name = 'bench_rollup_ms' AND ts >= now() - interval '7 days' GROUP BY 1 ORDER BY 1"
best_ours=999999 best_raw=999999
for r in $(seq "$ROUNDS"); do
    t0=$(now); q -c "$raw" >/dev/null; t1=$(now)
    best_raw=$(awk -v d="$(elapsed "$t0" "$t1")" -v b="$best_raw" 'BEGIN { print (d < b ? d : b) }')
    t0=$(now); q -c "$ours" >/dev/null; t1=$(now)
    best_ours=$(awk -v d="$(elapsed "$t0" "$t1")" -v b="$best_ours" 'BEGIN { print (d < b ? d : b) }')
done
same=$(q -c "SELECT count(*) = 0 FROM (($ours) EXCEPT ALL (SELECT \"time\", metric, value FROM ($ours) x)) y")

# one minute of 100K new samples (100 per series)
q -c "COPY (SELECT 'bench_rollup_ms', round((random() * 100)::numeric, 2), '{\"host\": \"host-' || i % $SERIES || '\"}',
              date_trunc('minute', now()) + (i % 60000) * interval '1 millisecond'
         FROM generate_series(1, 100000) i) TO '$dir/minute.copy'"
q -c "COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/minute.copy'"
rm -f "$dir/minute.copy"
t0=$(now); q -c "SELECT metrics_ex.materialize()" >/dev/null; t1=$(now)
materialize_minute_s=$(elapsed "$t0" "$t1")

# retention: everything older than 24 hours goes, whole partitions at a time
old=$(q -c "SELECT count(*) FROM metrics_ex.samples WHERE ts < date_trunc('day', now() - interval '1 day')")
t0=$(now); pruned=$(q -c "SELECT metrics_ex.prune() ->> 'samples_dropped'"); t1=$(now)
prune_s=$(elapsed "$t0" "$t1")

printf "\n%-66s %14s\n" "figure ($ROWS samples, $SERIES series, 7 days)" "value"
printf "%-66s %13ss\n" "COPY into metrics_ex.ingest" "$load_s"
printf "%-66s %13ss\n" "materialize() of the load (late deltas: $deltas)" "$materialize_all_s"
printf "%-66s %13ss\n" "COPY of 1M late samples (three days ago)" "$late_load_s"
printf "%-66s %13ss\n" "materialize() of them: $late_deltas late deltas" "$materialize_late_s"
printf "%-66s %13ss\n" "materialize() of one minute of 100K new samples" "$materialize_minute_s"
printf "%-66s %13ss\n" "prune(): $pruned samples in whole-day partitions ($old older)" "$prune_s"
awk -v o="$best_ours" -v r="$best_raw" -v s="$same" 'BEGIN {
    printf "%-66s %13.3fs\n", "time_series(hour, mean, last_7d) from rollups", o
    printf "%-66s %13.3fs\n", "the same over raw samples (date_trunc/avg over points)", r
    printf "%-66s %13.1fx\n", "speed-up from rollups (target >= 20x)", r / o }'
psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
