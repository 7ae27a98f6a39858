#!/usr/bin/env bash
# Issue 4 figures: time_series() and query() over raw samples against the
# hand-written SQL a user would type over metrics_ex.points, same rows, same
# run.  10M samples over 1,000 series spanning the last 7 days.
set -euo pipefail
ROWS=${BENCH_QUERY_ROWS:-10000000}
SERIES=${BENCH_QUERY_SERIES:-1000}
ROUNDS=${BENCH_QUERY_ROUNDS:-3}
dir=$PGHOST

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }

q <<SQL
CREATE EXTENSION IF NOT EXISTS metrics_ex;
-- measured by hand here: the scheduler's jobs would only add noise
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT setseed(0.7);
COPY (SELECT 'bench_query_ms', round((random() * 100)::numeric, 2),
             '{"host": "host-' || i % $SERIES || '", "region": "r' || i % 7 || '"}',
             now() - (i::float8 / $ROWS) * interval '7 days' + interval '1 minute'
        FROM generate_series(1, $ROWS) i) TO '$dir/query.copy';
COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/query.copy';
-- what the scheduler would have done by now; and keep the week raw, so that
-- p95 is the exact percentile over raw samples that issue 4 measures
SELECT metrics_ex.materialize();
SELECT metrics_ex.set_retention(NULL, '30 days');
VACUUM ANALYZE metrics_ex.samples;
SQL
rm -f "$dir/query.copy"

declare -A SQL=(
  [ts_ours]="SELECT * FROM metrics_ex.time_series('bench_query_ms', 'hour', 'mean', 'last_7d')"
  [ts_hand]="SELECT date_trunc('hour', ts) AS time, avg(value) FROM metrics_ex.points
             WHERE name = 'bench_query_ms' AND ts >= now() - interval '7 days' GROUP BY 1 ORDER BY 1"
  [p95_ours]="SELECT * FROM metrics_ex.query('bench_query_ms', 'p95', '{region}', span => 'last_7d')"
  [p95_hand]="SELECT tags ->> 'region', percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM metrics_ex.points
              WHERE name = 'bench_query_ms' AND ts >= now() - interval '7 days' GROUP BY 1 ORDER BY 1"
)
declare -A BEST
for k in ts_ours ts_hand p95_ours p95_hand; do BEST[$k]=999999; done
for r in $(seq "$ROUNDS"); do
    for k in ts_hand ts_ours p95_hand p95_ours; do
        t0=$(now); q -c "${SQL[$k]}" >/dev/null; t1=$(now)
        BEST[$k]=$(awk -v a="$t0" -v b="$t1" -v best="${BEST[$k]}" 'BEGIN { d = b - a; print (d < best ? d : best) }')
    done
done
rows=$(q -c "SELECT count(*) FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id
             JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = 'bench_query_ms'")

printf "\n%-62s %12s %12s %8s\n" "figure ($rows samples, best of $ROUNDS)" "metrics_ex" "hand SQL" "ratio"
awk -v o="${BEST[ts_ours]}" -v h="${BEST[ts_hand]}" 'BEGIN {
    printf "%-62s %11.2fs %11.2fs %7.2fx\n", "time_series(hour, mean, last_7d) (target <= 1.5x)", o, h, o/h }'
awk -v o="${BEST[p95_ours]}" -v h="${BEST[p95_hand]}" 'BEGIN {
    printf "%-62s %11.2fs %11.2fs %7.2fx\n", "query(p95, group_by region, last_7d) (target <= 1.5x)", o, h, o/h }'
q -c "DELETE FROM metrics_ex.metrics WHERE name = 'bench_query_ms'" -c "SELECT metrics_ex.set_retention(NULL, NULL)" \
  -c "TRUNCATE metrics_ex.samples, metrics_ex.rollup_pending, metrics_ex.rollup_minute, metrics_ex.rollup_hour,
      metrics_ex.rollup_day, metrics_ex.series_totals"
