#!/usr/bin/env bash
# Issue 11 figures: the monitoring shape.  SERIES series (counters, gauges,
# some histograms; tags instance/job/region) scraped SCRAPES times, one
# minute apart from a fixed time of day, each scrape one COPY into
# metrics_ex.ingest of every series from one session that stays open.  Each
# figure beside its baseline from the same run:
#   - warm-session ingest and one scrape from a new session, against a bare
#     COPY of the same rows into (ts, series_id, value), same way;
#   - bytes per sample after maintenance, against the bare table and
#     Prometheus' own TSDB (promtool) holding the same samples;
#   - time_series/query/rollup over the loaded whole hours against the
#     hand-written SQL over raw samples (metrics_ex.points);
#   - prometheus_text() over SERIES and over BIG_SERIES series, against
#     string_agg() of the same lines from a plain table.
# Loads are best of ROUNDS rounds, each in a fresh database; queries best of
# QUERY_ROUNDS.  Only the documented API is used, so the script measures
# whatever the internals are.  Runs in its own database, dropped at the end.
set -euo pipefail
SERIES=${BENCH_MON_SERIES:-20000}
SCRAPES=${BENCH_MON_SCRAPES:-120}
BIG_SERIES=${BENCH_MON_BIG_SERIES:-100000}
ROUNDS=${BENCH_MON_ROUNDS:-2}
QUERY_ROUNDS=${BENCH_MON_QUERY_ROUNDS:-3}
dir=$PGHOST                         # the cluster's own directory, owned by postgres
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
db=bench_monitoring
HOURS=$(( SCRAPES >= 60 ? SCRAPES / 60 : 1 ))

q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# per-statement times (ms) of a psql script, as psql's \timing reports them
timings() { { echo '\timing on'; echo '\o /dev/null'; cat; } | psql -qX -v ON_ERROR_STOP=1 -d "$db" |
            awk '/^Time:/ { print $2 }'; }
best_ms() {  # best of QUERY_ROUNDS runs of a statement in one session
    for _ in $(seq "$QUERY_ROUNDS"); do echo "$1;"; done | timings | sort -g | head -1
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }

# The load starts at 08:00 UTC of a day that is over by the end of the load:
# the same bucket and partition alignment in every run, all of it in the past.
T0=$(psql -qXAt -d postgres -c "SELECT date_trunc('day', now() - ($SCRAPES + 10) * interval '1 minute')
                                        - interval '1 day' + interval '8 hours'")
SINCE="'$T0'::timestamptz"
UNTIL="'$T0'::timestamptz + interval '$HOURS hours'"

fresh_db() {
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    q >/dev/null <<SQL
BEGIN;
CREATE EXTENSION metrics_ex;
-- measured by hand here: the scheduler's jobs would only add noise
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
COMMIT;
SELECT metrics_ex.set_retention(NULL, '30 days');
SELECT metrics_ex.define('bench_mon_requests_total', 'counter', max_series => 10000000);
SELECT metrics_ex.define('bench_mon_cpu_percent', 'gauge', max_series => 10000000);
SELECT metrics_ex.define('bench_mon_latency_seconds', 'histogram', max_series => 10000000);
-- the day partitions of the load, as the scheduler would have made them: a
-- sample of that day waits in the default partition until prune() makes it.
-- The load plays scrapes of the present on a past day, so the rollup
-- watermark prune() publishes must lie before it: with a watermark of now,
-- every sample would be late (a backfill), which is not this workload.
SET metrics_ex.rollup_delay = '30 days';
SELECT metrics_ex.gauge('bench_mon_prime', 0, '{}', $SINCE);
SELECT metrics_ex.prune();
DELETE FROM metrics_ex.metrics WHERE name = 'bench_mon_prime';
CREATE TABLE bench_mon_bare (ts timestamptz, series_id bigint, value float8);
CHECKPOINT;
SQL
}

# ---- the rows, once, in the bench database: psql scripts of COPY ... FROM
# STDIN blocks, one per scrape, for metrics_ex.ingest and for the bare table;
# the same samples as OpenMetrics for promtool
g() { psql -qXAt -v ON_ERROR_STOP=1 -d "$gendb" "$@"; }
gendb=${PGDATABASE:-bench}
echo "generating $SERIES series x $SCRAPES scrapes from $T0"
g >/dev/null <<SQL
SELECT setseed(0.11);
DROP TABLE IF EXISTS bench_mon_rows;
CREATE UNLOGGED TABLE bench_mon_rows AS
SELECT k, i, CASE WHEN i % 20 < 9 THEN 'bench_mon_requests_total'
                  WHEN i % 20 < 18 THEN 'bench_mon_cpu_percent'
                  ELSE 'bench_mon_latency_seconds' END AS name,
       '{"instance": "host-' || i || '", "job": "node", "region": "r' || i % 10 || '"}' AS tags,
       $SINCE + k * interval '1 minute' AS ts,
       CASE WHEN i % 20 < 9 THEN floor(random() * 100)
            WHEN i % 20 < 18 THEN round((random() * 100)::numeric, 2)::float8
            ELSE round((random() * random() * 2)::numeric, 4)::float8 END AS value
  FROM generate_series(0, $SCRAPES + $ROUNDS - 1) k, generate_series(0, $SERIES - 1) i
 ORDER BY k, i;
SQL
script() {  # script TARGET COLUMNS LINE K_FROM K_TO: COPY blocks of scrapes K_FROM..K_TO
    g -c '\set FETCH_COUNT 100000' -c "
        SELECT line FROM (
            SELECT k, 0 AS part, 0 AS i, 'COPY $1 ($2) FROM STDIN;' AS line FROM generate_series($4, $5) k
            UNION ALL SELECT k, 1, i, $3 FROM bench_mon_rows WHERE k BETWEEN $4 AND $5
            UNION ALL SELECT k, 2, 0, '\.' FROM generate_series($4, $5) k) x
         ORDER BY k, part, i"
}
ingest_line="name || E'\t' || value || E'\t' || tags || E'\t' || ts"
bare_line="ts || E'\t' || i || E'\t' || value"
script metrics_ex.ingest "name, value, tags, ts" "$ingest_line" 0 $((SCRAPES - 1)) > "$dir/mon_ingest.sql"
script bench_mon_bare "ts, series_id, value" "$bare_line" 0 $((SCRAPES - 1)) > "$dir/mon_bare.sql"
for r in $(seq 0 $((ROUNDS - 1))); do     # one more scrape per round, for new sessions
    script metrics_ex.ingest "name, value, tags, ts" "$ingest_line" $((SCRAPES + r)) $((SCRAPES + r)) > "$dir/mon_new_ingest_$r.sql"
    script bench_mon_bare "ts, series_id, value" "$bare_line" $((SCRAPES + r)) $((SCRAPES + r)) > "$dir/mon_new_bare_$r.sql"
done
# Prometheus holds the same samples: every series as a gauge of the same
# values at the same times (OpenMetrics wants each family's lines together)
g -c '\set FETCH_COUNT 100000' -c "
    SELECT line FROM (
        SELECT name, -1 AS i, -1 AS k, '# TYPE ' || regexp_replace(name, '_total$', '') || ' gauge' AS line
          FROM (SELECT DISTINCT name FROM bench_mon_rows) n
        UNION ALL
        SELECT name, i, k, regexp_replace(name, '_total$', '') || '{instance=\"host-' || i || '\",job=\"node\",region=\"r'
                           || i % 10 || '\"} ' || value || ' ' || extract(epoch FROM ts)::bigint
          FROM bench_mon_rows WHERE k < $SCRAPES) x
     ORDER BY name, i, k" > "$dir/mon.om"
echo '# EOF' >> "$dir/mon.om"
# the series that make the exposition BIG_SERIES series: one scrape of them
g -c '\set FETCH_COUNT 100000' -c "SELECT 'COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN;'" -c "
    SELECT CASE WHEN i % 20 < 9 THEN 'bench_mon_requests_total' WHEN i % 20 < 18 THEN 'bench_mon_cpu_percent'
                ELSE 'bench_mon_latency_seconds' END || E'\t' || (i % 97) || E'\t' ||
           '{\"instance\": \"host-' || i || '\", \"job\": \"node\", \"region\": \"r' || i % 10 || '\"}' || E'\t' ||
           ($SINCE + ($SCRAPES - 1) * interval '1 minute')
      FROM generate_series($SERIES, $BIG_SERIES - 1) i ORDER BY i" -c "SELECT '\.'" > "$dir/mon_big.sql"
g -c "DROP TABLE bench_mon_rows"
fresh_db

# ---- ingest: best of ROUNDS rounds, each in a fresh database, bare first
rows_warm=$(( SERIES * (SCRAPES - 1) ))
best_bare_warm=999999999 best_ours_warm=999999999 best_bare_first=999999999 best_ours_first=999999999
for r in $(seq "$ROUNDS"); do
    ((r == 1)) || fresh_db
    q -c "CHECKPOINT"
    mapfile -t t < <(timings < "$dir/mon_bare.sql")
    bare_first=${t[0]}; bare_warm=$(printf '%s\n' "${t[@]:1}" | awk '{ s += $1 } END { print s }')
    q -c "CHECKPOINT"
    mapfile -t t < <(timings < "$dir/mon_ingest.sql")
    ours_first=${t[0]}; ours_warm=$(printf '%s\n' "${t[@]:1}" | awk '{ s += $1 } END { print s }')
    echo "round $r: first scrape bare ${bare_first} ms, metrics_ex ${ours_first} ms (creating $SERIES series);" \
         "scrapes 2..$SCRAPES bare ${bare_warm} ms, metrics_ex ${ours_warm} ms"
    best_bare_first=$(min "$bare_first" "$best_bare_first"); best_ours_first=$(min "$ours_first" "$best_ours_first")
    best_bare_warm=$(min "$bare_warm" "$best_bare_warm"); best_ours_warm=$(min "$ours_warm" "$best_ours_warm")
done

# ---- one scrape of known series from a new session, each round a new minute
best_bare_new=999999999 best_ours_new=999999999
for r in $(seq 0 $((ROUNDS - 1))); do
    best_bare_new=$(min "$(timings < "$dir/mon_new_bare_$r.sql")" "$best_bare_new")
    best_ours_new=$(min "$(timings < "$dir/mon_new_ingest_$r.sql")" "$best_ours_new")
done

samples=$(q -c "SELECT count(*) FROM metrics_ex.points")
expected=$(( SERIES * (SCRAPES + ROUNDS) ))
[[ $samples -eq $expected ]] || { echo "expected $expected samples, found $samples" >&2; exit 1; }

echo "one scrape from a new session: bare ${best_bare_new} ms, metrics_ex ${best_ours_new} ms"

# ---- maintenance (by hand: the jobs are off, so run_maintenance() would
# skip them): everything loaded is rolled up in one run
# (the watermark it publishes is the minute after the last scrape, as it
# would be in the present: every sample is rolled up, none was late)
mapfile -t t < <(printf '%s\n' \
    "SELECT set_config('metrics_ex.rollup_delay', (now() - $SINCE - ($SCRAPES + $ROUNDS) * interval '1 minute')::text, false);" \
    "SELECT metrics_ex.materialize();" | timings)
maintenance_ms=${t[1]}
[[ $(q -c "SELECT count(*) FROM metrics_ex.rollup_pending") == 0 ]] ||
    { echo "late deltas after an on-time load: the watermark was wrong" >&2; exit 1; }
echo "materialize(): ${maintenance_ms} ms for $samples samples"
q -c "VACUUM ANALYZE"
# sizes: raw samples, the series catalog, and every other table of the
# extension (rollups, deltas, totals, whatever maintenance keeps)
read -r raw_b series_b other_b bare_b < <(q -F ' ' <<'SQL'
WITH raw AS (SELECT relid FROM pg_partition_tree('metrics_ex.samples'))
SELECT (SELECT sum(pg_total_relation_size(relid)) FROM raw),
       pg_total_relation_size('metrics_ex.series') + pg_total_relation_size('metrics_ex.metrics'),
       (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
         WHERE c.relnamespace = 'metrics_ex'::regnamespace AND c.relkind IN ('r', 'm')
           AND c.oid NOT IN (SELECT relid FROM raw)
           AND c.oid NOT IN ('metrics_ex.series'::regclass, 'metrics_ex.metrics'::regclass)),
       pg_total_relation_size('bench_mon_bare')
SQL
)
biggest=$(q -c "SELECT string_agg(relname || ' ' || pg_size_pretty(s), ', ' ORDER BY s DESC) FROM (
                  SELECT c.relname, pg_total_relation_size(c.oid) AS s FROM pg_class c
                   WHERE c.relnamespace = 'metrics_ex'::regnamespace AND c.relkind = 'r'
                     AND c.oid NOT IN (SELECT relid FROM pg_partition_tree('metrics_ex.samples'))
                   ORDER BY s DESC LIMIT 4) x")

# Prometheus' TSDB of the first SCRAPES scrapes
rm -rf "$dir/mon_tsdb"
promtool tsdb create-blocks-from openmetrics "$dir/mon.om" "$dir/mon_tsdb" >/dev/null
tsdb_b=$(find "$dir/mon_tsdb" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
tsdb_samples=$(( SERIES * SCRAPES ))
echo "bytes: raw $raw_b, series $series_b, other $other_b, bare $bare_b, Prometheus TSDB $tsdb_b ($tsdb_samples samples)"

# ---- reads over the loaded whole hours, on the gauge (9 series in 20)
G=bench_mon_cpu_percent
declare -A SQL=(
  [ts_ours]="SELECT count(*), sum(value) FROM metrics_ex.time_series('$G', 'hour', 'mean', since => $SINCE, until => $UNTIL, group_by => '{instance}')"
  [ts_raw]="SELECT count(*), sum(v) FROM (SELECT date_trunc('hour', ts), tags ->> 'instance', avg(value) AS v FROM metrics_ex.points
            WHERE name = '$G' AND ts >= $SINCE AND ts < $UNTIL GROUP BY 1, 2) x"
  [q_ours]="SELECT count(*), sum(value) FROM metrics_ex.query('$G', 'mean', '{instance}', since => $SINCE, until => $UNTIL)"
  [q_raw]="SELECT count(*), sum(v) FROM (SELECT tags ->> 'instance', avg(value) AS v FROM metrics_ex.points
           WHERE name = '$G' AND ts >= $SINCE AND ts < $UNTIL GROUP BY 1) x"
  [r_ours]="SELECT count(*), sum((stats ->> 'mean')::float8 + (stats ->> 'count')::float8 + (stats ->> 'max')::float8)
            FROM metrics_ex.rollup('$G', '{instance}', '{mean,count,max}', since => $SINCE, until => $UNTIL)"
  [r_raw]="SELECT count(*), sum(m + c + x) FROM (SELECT tags ->> 'instance', avg(value) AS m, count(*) AS c, max(value) AS x
           FROM metrics_ex.points WHERE name = '$G' AND ts >= $SINCE AND ts < $UNTIL GROUP BY 1) x"
  [p_ours]="SELECT count(*), sum(value) FROM metrics_ex.time_series('$G', 'minute', 'p95', since => $SINCE, until => $UNTIL, group_by => '{instance}')"
  [p_raw]="SELECT count(*), sum(v) FROM (SELECT date_trunc('minute', ts), tags ->> 'instance',
           percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS v FROM metrics_ex.points
           WHERE name = '$G' AND ts >= $SINCE AND ts < $UNTIL GROUP BY 1, 2) x"
)
declare -A MS SAME
for k in ts q r p; do
    MS[${k}_raw]=$(best_ms "${SQL[${k}_raw]}")
    MS[${k}_ours]=$(best_ms "${SQL[${k}_ours]}")
    # the same answer: as many rows, the same sum of values (to rounding)
    SAME[$k]=$(q -c "SELECT CASE WHEN a.count = b.count AND abs(a.sum - b.sum) <= 1e-9 * abs(b.sum) THEN 'same' ELSE 'DIFFERENT' END
                     FROM (${SQL[${k}_ours]}) a, (${SQL[${k}_raw]}) b")
    echo "$k: metrics_ex ${MS[${k}_ours]} ms, raw ${MS[${k}_raw]} ms (${SAME[$k]})"
done

# ---- the exposition, and its floor: the same number of lines from a table
prom() {  # prints: series, ms of prometheus_text(), ms of the string_agg baseline
    q >/dev/null <<'SQL'
DROP TABLE IF EXISTS bench_mon_prom_bare;
CREATE TABLE bench_mon_prom_bare AS
SELECT m.name, (SELECT string_agg(e.key || '="' || e.value || '"', ',' ORDER BY e.key) FROM jsonb_each_text(s.tags) e) AS labels,
       random() * 100 AS value
  FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id;
VACUUM ANALYZE bench_mon_prom_bare;
SQL
    echo "$(q -c "SELECT count(*) FROM bench_mon_prom_bare")" \
         "$(best_ms "SELECT octet_length(metrics_ex.prometheus_text())")" \
         "$(best_ms "SELECT octet_length(string_agg(name || '{' || labels || '} ' || value, E'\n')) FROM bench_mon_prom_bare")"
}
read -r prom_series prom_ms prom_base_ms < <(prom)
echo "prometheus_text(): $prom_series series ${prom_ms} ms, string_agg ${prom_base_ms} ms"
# BIG_SERIES series: the others are entered into the catalog directly, since
# creating them through the write path takes many minutes today (each new
# series counts its metric's series); then one scrape of them, a new session
q >/dev/null <<SQL
INSERT INTO metrics_ex.series (metric_id, tags)
SELECT m.id, jsonb_build_object('instance', 'host-' || i, 'job', 'node', 'region', 'r' || i % 10)
  FROM generate_series($SERIES, $BIG_SERIES - 1) i
  JOIN metrics_ex.metrics m ON m.name = CASE WHEN i % 20 < 9 THEN 'bench_mon_requests_total'
                                             WHEN i % 20 < 18 THEN 'bench_mon_cpu_percent'
                                             ELSE 'bench_mon_latency_seconds' END;
ANALYZE metrics_ex.series;
SQL
mapfile -t t < <(timings < "$dir/mon_big.sql")
big_scrape_ms=${t[0]}
q -c "SELECT metrics_ex.materialize()" -c "VACUUM ANALYZE" >/dev/null
read -r big_series big_ms big_base_ms < <(prom)
echo "prometheus_text(): $big_series series ${big_ms} ms, string_agg ${big_base_ms} ms"
# and with one scrape of every series after the watermark (read from raw
# samples), as between two maintenance runs
q -c "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
      SELECT m.name, 1, s.tags, now() FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id" >/dev/null
tail_ms=$(best_ms "SELECT octet_length(metrics_ex.prometheus_text())")
echo "prometheus_text(): $big_series series and a scrape after the watermark ${tail_ms} ms"

awk -v n="$SERIES" -v s="$SCRAPES" -v rw="$rows_warm" -v bw="$best_bare_warm" -v ow="$best_ours_warm" \
    -v bf="$best_bare_first" -v of="$best_ours_first" -v bn="$best_bare_new" -v on="$best_ours_new" \
    -v samples="$samples" -v rawb="$raw_b" -v serb="$series_b" -v othb="$other_b" -v bareb="$bare_b" \
    -v tsdbb="$tsdb_b" -v tsdbs="$tsdb_samples" -v mm="$maintenance_ms" \
    -v tso="${MS[ts_ours]}" -v tsr="${MS[ts_raw]}" -v qo="${MS[q_ours]}" -v qr="${MS[q_raw]}" \
    -v ro="${MS[r_ours]}" -v rr="${MS[r_raw]}" -v po="${MS[p_ours]}" -v pr="${MS[p_raw]}" \
    -v tss="${SAME[ts]}" -v qs="${SAME[q]}" -v rs="${SAME[r]}" -v ps="${SAME[p]}" -v h="$HOURS" \
    -v ps1="$prom_series" -v pm1="$prom_ms" -v pb1="$prom_base_ms" \
    -v ps2="$big_series" -v pm2="$big_ms" -v pb2="$big_base_ms" -v bc="$big_scrape_ms" -v tm="$tail_ms" -v nb="$((BIG_SERIES - SERIES))" 'BEGIN {
    f = "%-64s %14s %14s %9s\n"
    printf "\n" f, "figure (" n " series x " s " scrapes, best of rounds)", "metrics_ex", "baseline", "ratio"
    printf f, "ingest rows/s, warm session (baseline: bare COPY; goal >= 70%)",
           sprintf("%.0f", rw / ow * 1000), sprintf("%.0f", rw / bw * 1000), sprintf("%.0f%%", 100 * bw / ow)
    printf f, "one scrape of known series, new session, ms (goal <= 2x)", sprintf("%.0f", on), sprintf("%.0f", bn), sprintf("%.1fx", on / bn)
    printf f, "first scrape, creating " n " series, s (goal <= 2 s)", sprintf("%.2f", of / 1000), sprintf("%.2f", bf / 1000), sprintf("%.1fx", of / bf)
    printf f, "bytes/sample: raw samples", sprintf("%.1f", rawb / samples), sprintf("%.1f", bareb / samples), sprintf("%.2f", rawb / bareb)
    printf f, "bytes/sample: rollups and other state", sprintf("%.1f", othb / samples), "", ""
    printf f, "bytes/sample: series catalog", sprintf("%.1f", serb / samples), "", ""
    printf f, "bytes/sample: total (goal <= 65) vs bare table", sprintf("%.1f", (rawb + othb + serb) / samples),
           sprintf("%.1f", bareb / samples), sprintf("%.2f", (rawb + othb + serb) / bareb)
    printf f, "bytes/sample: total vs Prometheus TSDB (promtool)", sprintf("%.1f", (rawb + othb + serb) / samples),
           sprintf("%.1f", tsdbb / tsdbs), sprintf("%.1fx", ((rawb + othb + serb) / samples) / (tsdbb / tsdbs))
    printf f, "maintenance: materialize() of the load, samples/s (goal >= 1M)", sprintf("%.0f", samples / mm * 1000), "", ""
    printf f, "time_series(hour, mean, " h " h, by instance), ms (" tss ")", sprintf("%.1f", tso), sprintf("%.1f", tsr), sprintf("%.1fx", tsr / tso)
    printf f, "query(mean, by instance, " h " h), ms (" qs ")", sprintf("%.1f", qo), sprintf("%.1f", qr), sprintf("%.1fx", qr / qo)
    printf f, "rollup({mean,count,max}, by instance, " h " h), ms (" rs ")", sprintf("%.1f", ro), sprintf("%.1f", rr), sprintf("%.1fx", rr / ro)
    printf f, "time_series(minute, p95) vs percentile_cont: raw, no minute rollups (" ps ")", sprintf("%.1f", po), sprintf("%.1f", pr), sprintf("%.1fx", pr / po)
    printf f, "prometheus_text(), " ps1 " series, ms (baseline: string_agg)", sprintf("%.1f", pm1), sprintf("%.1f", pb1), sprintf("%.1fx", pm1 / pb1)
    printf f, "prometheus_text(), " ps2 " series, ms (goal <= 1000)", sprintf("%.1f", pm2), sprintf("%.1f", pb2), sprintf("%.1fx", pm2 / pb2)
    printf f, "prometheus_text(), " ps2 " series + a scrape of each after the watermark, ms", sprintf("%.1f", tm), "", ""
    printf f, "(setup) one scrape of the " nb " other series, new session, s", sprintf("%.2f", bc / 1000), "", ""
    print "speed-ups of reads are baseline / metrics_ex (goal >= 15x where rollups serve the range)"
}'
echo "largest metrics_ex tables besides samples: $biggest"

psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
rm -rf "$dir"/mon_*.sql "$dir/mon.om" "$dir/mon_tsdb"
