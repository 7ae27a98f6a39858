#!/usr/bin/env bash
# Issue 11 figures, series resolution: one scrape (COPY metrics_ex.ingest of
# one row per series, tags like {"instance": "host-N", "job": "node"}) beside
# a bare COPY of the same rows into an unindexed (ts, series_id, value) table,
# both timed inside the server's session (psql \timing), so that connecting
# costs neither side anything:
#   - from a new session, series known (in the shared dictionary);
#   - from a new session with the shared dictionary empty (after a restart,
#     or a DELETE of any metric; what every new session does without
#     shared_preload_libraries): one query loads the metric's series;
#   - from a warm session (one that has written the scrape before);
#   - the first scrape, creating every series.
# Best of rounds, reported as ratios: the machine is noisy.
set -euo pipefail
SERIES=${BENCH_SERIES_COUNT:-20000}
ROUNDS=${BENCH_SERIES_ROUNDS:-5}
CREATE_ROUNDS=${BENCH_SERIES_CREATE_ROUNDS:-2}
dir=$PGHOST                         # the cluster's own directory, owned by postgres
metric=bench_series_value

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }

q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT metrics_ex.run_job('retention');
DELETE FROM metrics_ex.metrics WHERE name IN ('$metric', 'bench_series_other');
DROP TABLE IF EXISTS bench_series_bare;
CREATE TABLE bench_series_bare (ts timestamptz, series_id bigint, value float8);
SELECT setseed(0.12);
CREATE TEMP TABLE src AS
    -- tomorrow 01:00: after the rollup watermark, as a scrape of the
    -- present is (an earlier time would make every sample late)
    SELECT date_trunc('day', now()) + interval '1 day 1 hour' AS ts, i AS sid,
           round((random() * 1000)::numeric, 3)::float8 AS value
    FROM generate_series(1, $SERIES) i;
COPY (SELECT ts, sid, value FROM src) TO '$dir/series_bare.copy';
COPY (SELECT '$metric', value, '{"instance": "host-' || sid || '", "job": "node"}', ts FROM src)
    TO '$dir/series_ingest.copy';
SQL

bare_copy="COPY bench_series_bare FROM '$dir/series_bare.copy'"
ingest_copy="COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/series_ingest.copy'"

# milliseconds of each statement after the first argument, in one session
timed() { psql -qXAt -v ON_ERROR_STOP=1 -c '\timing on' "$@" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'; }
best() { sort -g | head -1; }
# the dictionary empties when any series is removed: delete another metric
empty_dictionary() {
    q -c "SELECT metrics_ex.gauge('bench_series_other', 1)" \
      -c "DELETE FROM metrics_ex.metrics WHERE name = 'bench_series_other'" >/dev/null
}

# first scrape: every series is new (the metric is deleted between rounds)
create_ms=$(for r in $(seq "$CREATE_ROUNDS"); do
    q -c "DELETE FROM metrics_ex.metrics WHERE name = '$metric'" -c "CHECKPOINT" \
      -c "SELECT metrics_ex.define('$metric', 'gauge', max_series => $SERIES)" >/dev/null
    timed -c "$ingest_copy"
done | best)
created=$(q -c "SELECT count(*) FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
                WHERE m.name = '$metric'")
[[ $created -eq $SERIES ]] || { echo "expected $SERIES series, found $created" >&2; exit 1; }

# warm session: the same connection writes the scrape again and again
repeat() { local i; for ((i = 0; i <= ROUNDS; i++)); do printf -- '-c\0%s\0' "$1"; done; }
mapfile -d '' warm_args < <(repeat "$ingest_copy")
mapfile -d '' warm_bare_args < <(repeat "$bare_copy")
warm_ms=$(timed "${warm_args[@]}" | tail -n +2 | best)
warm_bare_ms=$(timed "${warm_bare_args[@]}" | tail -n +2 | best)

# a new session per scrape, series in the shared dictionary
new_ms=$(for r in $(seq "$ROUNDS"); do timed -c "$ingest_copy"; done | best)
new_bare_ms=$(for r in $(seq "$ROUNDS"); do timed -c "$bare_copy"; done | best)

# a new session per scrape, the shared dictionary emptied before each
cold_ms=$(for r in $(seq "$ROUNDS"); do empty_dictionary; timed -c "$ingest_copy"; done | best)

dict=$(q -c "SELECT entries || ' entries, ' || pg_size_pretty(bytes_used) || ' of ' || pg_size_pretty(bytes_limit)
             FROM metrics_ex.series_dictionary()")
stored=$(q -c "SELECT count(*) FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id
               JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = '$metric'")
expected=$((SERIES * (1 + (ROUNDS + 1) + ROUNDS + ROUNDS)))
[[ $stored -eq $expected ]] || { echo "expected $expected samples, found $stored" >&2; exit 1; }

awk -v n="$SERIES" -v c="$create_ms" -v w="$warm_ms" -v wb="$warm_bare_ms" -v s="$new_ms" \
    -v sb="$new_bare_ms" -v cold="$cold_ms" -v dict="$dict" 'BEGIN {
    printf "\n%-66s %10s %10s %8s\n", "one scrape of " n " series, ms (best of rounds)", "metrics_ex", "bare COPY", "ratio"
    printf "%-66s %10.1f %10.1f %7.2fx\n", "new session, series known (target <= 2x)", s, sb, s/sb
    printf "%-66s %10.1f %10.1f %7.2fx\n", "new session, shared dictionary empty (as without preloading)", cold, sb, cold/sb
    printf "%-66s %10.1f %10.1f %7.2fx\n", "warm session", w, wb, w/wb
    printf "%-66s %10.1f %10.1f %7.2fx\n", "first scrape, creating every series (target <= 2000 ms)", c, sb, c/sb
    printf "%-66s %10.0f %10.0f %7.0f%%\n", "warm session rows/s", 1000*n/w, 1000*n/wb, 100*wb/w
    printf "shared dictionary afterwards: %s\n", dict
}'
q -c "DROP TABLE bench_series_bare" -c "DELETE FROM metrics_ex.metrics WHERE name = '$metric'"
rm -f "$dir"/series_*.copy
