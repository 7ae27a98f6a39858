#!/usr/bin/env bash
# Issue 11 figure: does the scheduler keep up with the monitoring shape, and
# what does it cost?  SERIES series (100,000) scraped every INTERVAL seconds
# (15) for MINUTES minutes (5), one COPY per scrape of samples of the
# present, with the scheduler's jobs on as shipped (materialize every minute,
# retention, alerts).  Reported: the CPU the database's scheduler used
# (user + system time from /proc, every job included) as a share of one core
# over the run, beside the writer's own share; how far the rollups lag behind
# at the end; and that every sample is rolled up once the lag has passed.
set -euo pipefail
SERIES=${BENCH_SCHED_SERIES:-100000}
INTERVAL=${BENCH_SCHED_INTERVAL:-15}
MINUTES=${BENCH_SCHED_MINUTES:-5}
dir=$PGHOST
db=bench_scheduler
q() { psql -qXAt -v ON_ERROR_STOP=1 -d "$db" "$@"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }     # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)

psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q >/dev/null <<SQL
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.define('bench_sched_cpu_seconds_total', 'counter', max_series => 10000000);
SELECT metrics_ex.define('bench_sched_load', 'gauge', max_series => 10000000);
SQL
# the scheduler of this database, once it has started
for _ in $(seq 60); do
    pid=$(q -c "SELECT w.pid FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid
                 WHERE d.datname = current_database() AND w.state = 'running'")
    [[ -n $pid ]] && break
    sleep 1
done
[[ -n $pid ]] || { echo "no scheduler for $db" >&2; exit 1; }

# one scrape: every series, one sample each, at the time of the scrape
cat > "$dir/sched_scrape.sql" <<SQL
COPY (SELECT CASE WHEN i % 2 = 0 THEN 'bench_sched_cpu_seconds_total' ELSE 'bench_sched_load' END,
             (i % 1000) / 10.0, '{"instance": "node-' || i || '", "job": "node"}', now()
        FROM generate_series(0, $SERIES - 1) i) TO '$dir/sched_scrape.tsv';
COPY metrics_ex.ingest (name, value, tags, ts) FROM '$dir/sched_scrape.tsv';
SQL
q -f "$dir/sched_scrape.sql" >/dev/null          # creates the series
scrapes=$(( MINUTES * 60 / INTERVAL ))
sched0=$(ticks "$pid")
t0=$(date +%s.%N)
writer=0
for k in $(seq "$scrapes"); do
    start=$(date +%s.%N)
    s0=$(date +%s.%N)
    q -f "$dir/sched_scrape.sql" >/dev/null
    s1=$(date +%s.%N)
    writer=$(awk -v w="$writer" -v a="$s0" -v b="$s1" 'BEGIN { print w + b - a }')
    sleep "$(awk -v a="$start" -v i="$INTERVAL" -v now="$(date +%s.%N)" 'BEGIN { d = a + i - now; print (d > 0 ? d : 0) }')"
done
t1=$(date +%s.%N)
sched1=$(ticks "$pid")
lag=$(q -c "SELECT extract(epoch FROM now() - done)::int FROM metrics_ex.watermarks()")
samples=$(q -c "SELECT count(*) FROM metrics_ex.samples")
runs=$(q -c "SELECT count(*) || ' runs, longest ' || round(max(extract(epoch FROM finished_at - started_at)) * 1000) || ' ms'
               FROM metrics_ex.job_runs WHERE job = 'materialize' AND status = 'succeeded'")
# once the lag has passed, every sample is in the rollups
for _ in $(seq 240); do
    rolled=$(q -c "SELECT coalesce(sum(count), 0) FROM metrics_ex.series_totals")
    [[ $rolled == "$samples" ]] && break
    sleep 1
done

awk -v s0="$sched0" -v s1="$sched1" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v w="$writer" -v n="$SERIES" \
    -v i="$INTERVAL" -v m="$MINUTES" -v lag="$lag" -v runs="$runs" -v samples="$samples" -v rolled="$rolled" 'BEGIN {
    wall = t1 - t0; cpu = (s1 - s0) / hz
    printf "\n%-66s %14s\n", "figure (" n " series every " i " s, " m " minutes, jobs as shipped)", "value"
    printf "%-66s %13.1f%%\n", "scheduler CPU, share of one core (goal < 10%)", 100 * cpu / wall
    printf "%-66s %13.1f%%\n", "the writer'"'"'s COPYs, share of the wall time (baseline)", 100 * w / wall
    printf "%-66s %14s\n", "materialize job", runs
    printf "%-66s %13ss\n", "rollups behind now at the end (rollup_delay + up to a run)", lag
    printf "%-66s %14s\n", "samples rolled up after the lag / written", rolled "/" samples
}'
psql -qX -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
rm -f "$dir/sched_scrape.sql" "$dir/sched_scrape.tsv"
