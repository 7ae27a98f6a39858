#!/usr/bin/env bash
# Issue 6 figures: one Prometheus scrape (prometheus_text()) of 10,000
# series (counters, gauges, histograms with 11 buckets) with 10M samples
# behind them.  A scrape reads series_totals plus the pending deltas, never
# raw samples; beside it, the same counter totals summed from raw samples.
set -euo pipefail
ROWS=${BENCH_PROM_ROWS:-10000000}
ROUNDS=${BENCH_PROM_ROUNDS:-5}
dir=$PGHOST

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
best_ms() {  # best of ROUNDS runs of a statement, in ms
    local best=999999999 t0 t1 d
    for _ in $(seq "$ROUNDS"); do
        t0=$(now); q -c "$1" >/dev/null; t1=$(now)
        d=$(ms "$t0" "$t1")
        best=$(awk -v d="$d" -v b="$best" 'BEGIN { print (d < b ? d : b) }')
    done
    echo "$best"
}

# 4,000 counter, 3,000 gauge and 3,000 histogram series over the last 30 minutes
q >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT setseed(0.6);
SELECT metrics_ex.define('bench_prom_requests_total', 'counter', help => 'Requests');
SELECT metrics_ex.define('bench_prom_queue_depth', 'gauge', help => 'Queue depth');
SELECT metrics_ex.define('bench_prom_latency_seconds', 'histogram', help => 'Latency, default buckets');
COPY (SELECT CASE WHEN s < 4000 THEN 'bench_prom_requests_total'
                  WHEN s < 7000 THEN 'bench_prom_queue_depth'
                  ELSE 'bench_prom_latency_seconds' END,
             CASE WHEN s < 4000 THEN 1 ELSE round((random() * random() * 12)::numeric, 4) END,
             '{"instance": "host-' || s % 100 || '", "shard": "' || s / 100 || '"}',
             now() - (i::float8 / $ROWS) * interval '30 minutes'
        FROM generate_series(1, $ROWS) i, LATERAL (SELECT i % 10000 AS s) x) TO '$dir/prom.copy';
SQL
t0=$(now); q -c "COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/prom.copy'"; t1=$(now)
load_ms=$(ms "$t0" "$t1")
rm -f "$dir/prom.copy"
t0=$(now); q -c "SELECT metrics_ex.materialize()" >/dev/null; t1=$(now)
materialize_ms=$(ms "$t0" "$t1")
q -c "VACUUM ANALYZE metrics_ex.series, metrics_ex.series_totals, metrics_ex.rollup_pending"

series=$(q -c "SELECT count(*) FROM metrics_ex.series se JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name LIKE 'bench_prom_%'")
samples=$(q -c "SELECT count(*) FROM metrics_ex.points WHERE name LIKE 'bench_prom_%'")
lines=$(q -c "SELECT count(*) FROM metrics_ex.prometheus() l WHERE l NOT LIKE '#%'")
bytes=$(q -c "SELECT octet_length(metrics_ex.prometheus_text())")
scrape_ms=$(best_ms "SELECT metrics_ex.prometheus_text()")
om_ms=$(best_ms "SELECT metrics_ex.openmetrics_text()")
one_ms=$(best_ms "SELECT metrics_ex.prometheus_text('bench_prom_queue_depth')")

# one new sample per series, not merged yet: the scrape adds 10,000 deltas
q -c "INSERT INTO metrics_ex.ingest (name, value, tags)
      SELECT CASE WHEN s < 4000 THEN 'bench_prom_requests_total' WHEN s < 7000 THEN 'bench_prom_queue_depth'
                  ELSE 'bench_prom_latency_seconds' END, 1,
             '{\"instance\": \"host-' || s % 100 || '\", \"shard\": \"' || s / 100 || '\"}'
        FROM generate_series(0, 9999) s"
pending=$(q -c "SELECT count(*) FROM metrics_ex.rollup_pending")
pending_ms=$(best_ms "SELECT metrics_ex.prometheus_text()")
# what a scrape over raw samples would cost: counter totals alone, one run
raw_ms=$(ROUNDS=1 best_ms "SELECT se.id, sum(s.value) FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id
                           JOIN metrics_ex.metrics m ON m.id = se.metric_id
                          WHERE m.name = 'bench_prom_requests_total' GROUP BY se.id")

printf "\n%-64s %14s\n" "figure ($series series, $samples samples)" "value"
printf "%-64s %12sms\n" "COPY into metrics_ex.ingest (setup)" "$load_ms"
printf "%-64s %12sms\n" "materialize() (setup)" "$materialize_ms"
printf "%-64s %14s\n" "exposition: sample lines / bytes" "$lines / $bytes"
printf "%-64s %12sms\n" "prometheus_text(), all 10,000 series (best of $ROUNDS)" "$scrape_ms"
printf "%-64s %12sms\n" "openmetrics_text(), all series (best of $ROUNDS)" "$om_ms"
printf "%-64s %12sms\n" "prometheus_text('bench_prom_queue_depth'), 3,000 series" "$one_ms"
printf "%-64s %12sms\n" "prometheus_text() with $pending pending deltas" "$pending_ms"
printf "%-64s %12sms\n" "baseline: counter totals summed from raw samples (1 run)" "$raw_ms"
echo "A scrape reads metrics_ex.series_totals and metrics_ex.rollup_pending, never the raw samples:"
echo "its cost follows the number of series, not of samples."

q >/dev/null <<SQL
DELETE FROM metrics_ex.metrics WHERE name LIKE 'bench_prom_%';
TRUNCATE metrics_ex.samples, metrics_ex.rollup_pending, metrics_ex.rollup_minute,
         metrics_ex.rollup_hour, metrics_ex.rollup_day, metrics_ex.series_totals;
SQL
