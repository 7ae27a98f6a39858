#!/usr/bin/env bash
# Percentiles over 10M rows (uniform and lognormal, seeded): time and
# relative error of each method beside avg() (a plain scan), percentile_cont
# (exact, serial only) and the Debian tdigest extension (compression 100),
# serial and with 2 parallel workers (leader not participating), all
# measured in this run.
# Expects PGHOST/PGPORT/PGDATABASE (bench/run sets them).
set -euo pipefail
ROWS=${BENCH_PERCENTILE_ROWS:-10000000}
Q="ARRAY[0.5,0.95,0.99,0.999]::float8[]"

sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"; }

sql <<SQL
CREATE EXTENSION IF NOT EXISTS tdigest;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
DROP TABLE IF EXISTS bsk_uniform, bsk_lognormal, bsk_results;
SELECT setseed(0.3) \\g /dev/null
CREATE TABLE bsk_uniform AS SELECT random() AS v FROM generate_series(1, $ROWS);
SELECT setseed(0.7) \\g /dev/null
CREATE TABLE bsk_lognormal AS
    SELECT exp(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS v
    FROM generate_series(1, $ROWS);
VACUUM ANALYZE bsk_uniform;
VACUUM ANALYZE bsk_lognormal;
CREATE TABLE bsk_results (dataset text, mode text, method text, ms float8, q float8[], ord int);
SQL

# run DATASET MODE ORDER METHOD QUERY: best of three runs (the machine is
# small and noisy); QUERY yields a float8[]
run() {
    local ds=$1 mode=$2 ord=$3 method=$4 query=$5 workers best="" out ms res
    # "parallel" = exactly 2 workers: on a 2-CPU machine a participating
    # leader would make 3 busy processes and measure the scheduler instead
    [[ $mode == serial ]] && workers=0 || workers=2
    for _ in 1 2 3; do
        out=$(sql -At <<SQL
SET max_parallel_workers_per_gather = $workers;
SET parallel_leader_participation = $([[ $mode == serial ]] && echo on || echo off);
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
\timing on
$query
SQL
)
        ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out")
        res=$(grep -v '^Time:' <<<"$out" | head -1)
        if [[ -z $best ]] || awk -v a="$ms" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$ms; fi
    done
    sql -c "INSERT INTO bsk_results VALUES ('$ds', '$mode', '$method', $best, NULLIF('$res', '')::float8[], $ord)"
}

for ds in uniform lognormal; do
    t=bsk_$ds
    for mode in serial parallel; do
        run $ds $mode 1 "avg() (scan baseline)" "SELECT ARRAY[avg(v)] FROM $t"
        if [[ $mode == serial ]]; then
            # ordered-set aggregates never run in parallel: measured once
            run $ds $mode 2 "percentile_cont 4 q" "SELECT percentile_cont($Q) WITHIN GROUP (ORDER BY v) FROM $t"
            run $ds $mode 3 "percentile_cont p50" "SELECT ARRAY[percentile_cont(0.5) WITHIN GROUP (ORDER BY v)] FROM $t"
        fi
        run $ds $mode 4 "metrics_ex.percentile p50" "SELECT ARRAY[metrics_ex.percentile(v, 0.5)] FROM $t"
        run $ds $mode 5 "debian tdigest(100)" "SELECT public.tdigest_percentile(v, 100, $Q) FROM $t"
        run $ds $mode 6 "metrics_ex.tdigest(100)" "SELECT metrics_ex.quantiles(metrics_ex.tdigest(v), $Q) FROM $t"
        run $ds $mode 7 "metrics_ex.ddsketch(1%)" "SELECT metrics_ex.quantiles(metrics_ex.ddsketch(v), $Q) FROM $t"
    done
done

echo "Time (best of 3) and relative error |estimate / percentile_cont - 1| in %; $ROWS rows."
echo "x avg = time / avg() time in the same mode; x debian = Debian tdigest time / time (speedup);"
echo "x cont = percentile_cont p50 time (serial) / time (speedup)."
sql -P pager=off <<'SQL'
WITH truth AS (SELECT dataset, q FROM bsk_results WHERE method = 'percentile_cont 4 q'),
base AS (
    SELECT dataset, mode,
           max(ms) FILTER (WHERE ord = 1) AS avg_ms,
           max(ms) FILTER (WHERE ord = 5) AS deb_ms
    FROM bsk_results GROUP BY dataset, mode),
cont AS (SELECT dataset, ms FROM bsk_results WHERE ord = 3)
SELECT r.dataset, r.mode, r.method, round(r.ms::numeric, 0) AS ms,
       round((r.ms / b.avg_ms)::numeric, 2) AS "x avg",
       CASE WHEN r.ord IN (5, 6, 7) THEN round((b.deb_ms / r.ms)::numeric, 2) END AS "x debian",
       CASE WHEN r.ord IN (3, 4) THEN round((c.ms / r.ms)::numeric, 2) END AS "x cont",
       round((100 * abs(r.q[1] / t.q[1] - 1))::numeric, 4) AS "err p50",
       round((100 * abs(r.q[2] / t.q[2] - 1))::numeric, 4) AS "err p95",
       round((100 * abs(r.q[3] / t.q[3] - 1))::numeric, 4) AS "err p99",
       round((100 * abs(r.q[4] / t.q[4] - 1))::numeric, 4) AS "err p99.9"
FROM (SELECT dataset, mode, method, ms, ord, CASE WHEN ord > 1 THEN q END AS q FROM bsk_results) r
     JOIN base b USING (dataset, mode) JOIN truth t USING (dataset) JOIN cont c USING (dataset)
ORDER BY r.dataset DESC, r.mode DESC, r.ord;
SQL

echo "State size in bytes after all rows (pg_column_size; percentile's state holds every value):"
sql -P pager=off <<'SQL'
SET max_parallel_workers_per_gather = 0;
SELECT 'lognormal' AS dataset,
       (SELECT pg_column_size(public.tdigest(v, 100)) FROM bsk_lognormal) AS "debian tdigest",
       (SELECT pg_column_size(metrics_ex.tdigest(v)) FROM bsk_lognormal) AS "metrics_ex.tdigest",
       (SELECT pg_column_size(metrics_ex.ddsketch(v)) FROM bsk_lognormal) AS "metrics_ex.ddsketch",
       (SELECT pg_column_size(metrics_ex.stats_agg(v)) FROM bsk_lognormal) AS "metrics_ex.stats"
UNION ALL
SELECT 'uniform',
       (SELECT pg_column_size(public.tdigest(v, 100)) FROM bsk_uniform),
       (SELECT pg_column_size(metrics_ex.tdigest(v)) FROM bsk_uniform),
       (SELECT pg_column_size(metrics_ex.ddsketch(v)) FROM bsk_uniform),
       (SELECT pg_column_size(metrics_ex.stats_agg(v)) FROM bsk_uniform);
SQL

echo "ddsketch serial vs 2 parallel workers (whole sketch compared as text, and the answers):"
sql -P pager=off <<'SQL'
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE s AS SELECT 'uniform' AS dataset, metrics_ex.ddsketch(v) AS d FROM bsk_uniform
    UNION ALL SELECT 'lognormal', metrics_ex.ddsketch(v) FROM bsk_lognormal;
SET max_parallel_workers_per_gather = 2;
CREATE TEMP TABLE p AS SELECT 'uniform' AS dataset, metrics_ex.ddsketch(v) AS d FROM bsk_uniform
    UNION ALL SELECT 'lognormal', metrics_ex.ddsketch(v) FROM bsk_lognormal;
SELECT dataset, s.d::text = p.d::text AS "sketch bit-identical",
       metrics_ex.quantiles(s.d, '{0.5,0.95,0.99,0.999}') = metrics_ex.quantiles(p.d, '{0.5,0.95,0.99,0.999}')
           AS "quantiles identical"
FROM s JOIN p USING (dataset);
SQL
echo "Parallel plan check (ddsketch, lognormal, 2 workers):"
sql -At <<'SQL' | grep -E "Workers (Planned|Launched)|Partial Aggregate"
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT metrics_ex.ddsketch(v) FROM bsk_lognormal;
SQL
sql -c "DROP TABLE bsk_uniform, bsk_lognormal, bsk_results"
