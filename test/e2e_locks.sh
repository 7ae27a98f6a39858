#!/usr/bin/env bash
# Locks end to end, on the test cluster: retention never stalls writers
# behind a long reader, and the write path, which runs no DDL, never
# deadlocks or exhausts the lock table, whatever days its samples carry.
#   - a 10 s reader, prune() dropping partitions (by hand and from the
#     scheduler) and a writer at the same time: every write stays under 1 s
#   - two writers that have written and then both cross into a day that has
#     no partition: both commit
#   - one COPY with samples on 10,000 distinct days: stored, no partition made
# Usage: test/e2e_locks.sh (PGHOST/PGPORT/PGUSER set)
set -uo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_locks
work=$(mktemp -d /tmp/metrics_ex_locks.XXXXXX)
chmod 777 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. test/tap.sh
check() { if eval "$2"; then tap_ok "$1"; else tap_not_ok "$1" "$3"; fi; }
q() { PGOPTIONS="-c client_min_messages=warning" psql -qXAt -d "$db" -v ON_ERROR_STOP=1 "$@"; }
pgbench=${PG_BINDIR:-/usr/lib/postgresql/15/bin}/pgbench

PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SET timezone = 'UTC';
-- three old days with samples in their own partitions, and today's
SELECT metrics_ex._create_day_partition(now() - d * interval '1 day') FROM generate_series(0, 12) d;
SELECT count(metrics_ex.gauge('locks_old', i, jsonb_build_object('d', d), now() - d * interval '1 day'))
  FROM generate_series(10, 12) d, generate_series(1, 1000) i;
SQL
parts_before=$(q -c "SELECT count(*) FROM metrics_ex.partitions() WHERE upper_bound <= now() - interval '9 days'")

# ---- a long reader, retention and a writer at once ----
echo "SELECT metrics_ex.increment('locks_writes_total', 1, '{\"w\": \"1\"}');" > "$work/write.sql"
q -c "SELECT count(*), pg_sleep(10) FROM metrics_ex.points WHERE name = 'locks_old'" >/dev/null &
pids+=($!)
sleep 1
(cd "$work" && "$pgbench" -n -d "$db" -f write.sql -T 14 -c 1 --log --log-prefix=w >/dev/null 2>"$work/pgbench.err") &
pids+=($!)
bench_pid=$!
sleep 1
q -c "SELECT metrics_ex.set_retention(NULL, '8 days')" >/dev/null
t0=$(date +%s%N)
skipped=$(q -c "SELECT (metrics_ex.prune()->>'partitions_skipped')::int")
t1=$(date +%s%N)
check "prune() behind a 10 s reader gives up on its locks instead of waiting" \
      "[[ $skipped -ge 1 && $(( (t1 - t0) / 1000000 )) -lt 5000 ]]" "skipped $skipped, took $(( (t1 - t0) / 1000000 )) ms"
# the scheduler's retention, one partition per transaction, meanwhile too
q -c "SELECT metrics_ex.alter_job('retention', schedule => '1 second', enabled => true)" >/dev/null
wait "$bench_pid"
max_us=$(awk '{ if ($3 > m) m = $3 } END { print m + 0 }' "$work"/w.* 2>/dev/null)
n=$(cat "$work"/w.* 2>/dev/null | wc -l)
check "the writer kept writing ($n calls) and no call took 1 s or more (longest $((max_us / 1000)) ms)" \
      "[[ $n -gt 50 && $max_us -lt 1000000 ]]" "max $max_us us, $(cat "$work/pgbench.err")"
check "every write was stored" \
      "[[ \$(q -c \"SELECT count(*) FROM metrics_ex.points WHERE name = 'locks_writes_total'\") == $n ]]" "count differs"
waited=0
while [[ $(q -c "SELECT count(*) FROM metrics_ex.partitions() WHERE upper_bound <= now() - interval '9 days'") != 0 ]] && ((waited < 30)); do
    sleep 1; waited=$((waited + 1))
done
check "once the reader is done, retention drops the $parts_before expired partitions" "((waited < 30))" "still there"
check "and counts their samples once" \
      "[[ \$(q -c \"SELECT metrics_ex.get_stats()->'storage'->>'metrics_pruned'\") == 3000 ]]" \
      "$(q -c "SELECT metrics_ex.get_stats()->'storage'->>'metrics_pruned'")"
q -c "SELECT metrics_ex.alter_job('retention', enabled => false)" >/dev/null

# ---- two writers cross into a day without a partition ----
for w in a b; do
    # in opposite orders: the worst case for lock ordering
    if [[ $w == a ]]; then d1=01 d2=02; else d1=02 d2=01; fi
    q >"$work/cross_$w.out" 2>&1 <<SQL &
BEGIN;
SELECT metrics_ex.gauge('locks_cross', 1, '{"w": "$w"}', now());
SELECT pg_sleep(1);
SELECT metrics_ex.gauge('locks_cross', 2, '{"w": "$w"}', '2099-06-$d1 00:00:00+00');
SELECT metrics_ex.gauge('locks_cross', 3, '{"w": "$w"}', '2099-06-$d2 00:00:00+00');
SELECT pg_sleep(1);
COMMIT;
SQL
    pids+=($!)
done
wait "${pids[-1]}" "${pids[-2]}"
check "two writers crossing into days without a partition both commit" \
      "[[ \$(q -c \"SELECT count(*) FROM metrics_ex.points WHERE name = 'locks_cross'\") == 6 ]]" \
      "$(cat "$work"/cross_*.out)"
check "their samples wait in the default partition" \
      "[[ \$(q -c \"SELECT count(*) FROM ONLY metrics_ex.samples_default WHERE ts >= '2099-01-01'\") == 4 ]]" "not there"

# ---- one COPY over 10,000 distinct days ----
parts=$(q -c "SELECT count(*) FROM metrics_ex.partitions()")
q -c "COPY (SELECT 'locks_days', 1, '{}', '2000-01-01 00:00:00+00'::timestamptz + i * interval '1 day'
              FROM generate_series(0, 9999) i) TO '$work/days.txt'"
check "a COPY with samples on 10,000 distinct days is stored" \
      "q -c \"COPY metrics_ex.ingest (name, value, tags, ts) FROM '$work/days.txt'\" && [[ \$(q -c \"SELECT count(*) FROM metrics_ex.points WHERE name = 'locks_days'\") == 10000 ]]" \
      "COPY failed"
check "without making a partition" \
      "[[ \$(q -c 'SELECT count(*) FROM metrics_ex.partitions()') == $parts ]]" "partitions changed"

# ---- a writer that waited for a day partition being attached ---------------
# it had routed its sample to the default partition; once maintenance
# commits, the sample must go to the new day's partition (in the default
# one, queries of that day would never see it, and a dump would not restore)
q -c "SELECT metrics_ex.increment('locks_race_total', 1, '{}', '2031-01-04 12:00+00')" >/dev/null
q -c "BEGIN" -c "SELECT metrics_ex._create_day_partition('2031-01-05 00:00+00')" -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null &
race_pid=$!
sleep 0.5
q -c "SELECT metrics_ex.increment('locks_race_total', 1, '{}', '2031-01-05 12:00+00')" >/dev/null
wait "$race_pid"
got=$(q -c "SELECT string_agg(tableoid::regclass::text, ',' ORDER BY ts) FROM metrics_ex.samples WHERE ts >= '2031-01-04' AND ts < '2031-01-06'")
check "a sample that waited for its day's partition to be attached goes into it, not into the default one" \
    '[[ $got == "metrics_ex.samples_default,metrics_ex.samples_p20310105" ]]' "$got"

psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
tap_done
