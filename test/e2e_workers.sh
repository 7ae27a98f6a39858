#!/usr/bin/env bash
# The background workers end to end, on the test cluster (started with
# shared_preload_libraries = 'metrics_ex'): a scheduler starts on CREATE
# EXTENSION, runs the jobs (old partitions go, rollups appear, late samples
# update their bucket), a failing job backs off without blocking the others,
# a killed scheduler comes back, DROP EXTENSION / DROP DATABASE work.
set -uo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_workers
. test/tap.sh

q() { psql -qXAt -d "$db" -v ON_ERROR_STOP=1 "$@"; }
check() { tap_wait "$1" "${3:-0}" q -c "$2"; }   # check DESC SQL [timeout]

psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q -c "CREATE EXTENSION metrics_ex"
check "a scheduler starts on CREATE EXTENSION" \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid
                      WHERE d.datname = current_database() AND w.state = 'running')" 20

q >/dev/null <<'SQL'
SET timezone = 'UTC';
SELECT metrics_ex.histogram('e2e_latency', i % 50, jsonb_build_object('host', 'h' || i % 3),
                            date_bin('1 hour', now() - interval '2 hours', '1970-01-01') + i * interval '5 seconds')
  FROM generate_series(0, 599) i;
SELECT metrics_ex.increment('e2e_jobs_total', 1, '{"tenant": "a"}', now() - interval '3 days');
SELECT metrics_ex.alter_job('materialize', '1 second');
SELECT metrics_ex.alter_job('retention', '2 seconds');
SQL

check "the retention job drops the partition of three days ago" \
      "SELECT NOT EXISTS (SELECT 1 FROM metrics_ex.partitions() WHERE upper_bound <= now() - interval '2 days')" 30
check "partitions for today and tomorrow exist" \
      "SELECT count(*) >= 2 FROM metrics_ex.partitions() WHERE upper_bound > now()" 10
check "the materialize job fills the rollups" \
      "SELECT (SELECT coalesce(sum(count), 0) FROM metrics_ex.rollup_hour) = 601
              AND NOT EXISTS (SELECT 1 FROM metrics_ex.rollup_pending)" 30
check "job_runs report the built-in jobs' runs" \
      "SELECT count(DISTINCT job) = 3 FROM metrics_ex.job_runs WHERE status = 'succeeded' AND job IN ('materialize', 'retention', 'alerts')" 10
check "rollup-served sums equal raw sums" \
      "SELECT (SELECT value FROM metrics_ex.query('e2e_latency', 'sum', span => '1 day'))
            = (SELECT sum(value) FROM metrics_ex.points WHERE name = 'e2e_latency')"

q -c "SELECT metrics_ex.histogram('e2e_latency', 1000, '{\"host\": \"h0\"}',
                                  date_bin('1 hour', now() - interval '2 hours', '1970-01-01') + interval '10 seconds')" >/dev/null
check "a late sample updates its materialized bucket" \
      "SELECT r.max = 1000 AND r.count = 201 FROM metrics_ex.rollup_hour r JOIN metrics_ex.series s ON s.id = r.series_id
        WHERE s.tags = '{\"host\": \"h0\"}' AND r.bucket = date_bin('1 hour', now() - interval '2 hours', '1970-01-01')" 20

q -c "SELECT metrics_ex.add_job('e2e_boom', 'SELECT 1/0', '1 second')" >/dev/null
mat_runs=$(q -c "SELECT count(*) FROM metrics_ex.job_runs WHERE job = 'materialize'")
check "a failing job is retried with backoff" \
      "SELECT consecutive_failures >= 2 AND last_error = 'division by zero' AND next_run > last_run + interval '1.5 seconds'
         FROM metrics_ex.jobs WHERE job = 'e2e_boom'" 30
check "and does not block the other jobs" \
      "SELECT count(*) > $mat_runs FROM metrics_ex.job_runs WHERE job = 'materialize' AND status = 'succeeded'" 10

pid=$(q -c "SELECT w.pid FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid WHERE d.datname = current_database()")
q -c "SELECT pg_terminate_backend($pid)" >/dev/null
check "a killed scheduler comes back" \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid
                      WHERE d.datname = current_database() AND w.state = 'running' AND w.pid <> $pid)" 40
runs=$(q -c "SELECT count(*) FROM metrics_ex.job_runs WHERE job = 'materialize'")
check "and picks up its jobs" \
      "SELECT count(*) > $runs FROM metrics_ex.job_runs WHERE job = 'materialize'" 20

q -c "DROP EXTENSION metrics_ex CASCADE"
check "DROP EXTENSION stops the scheduler" \
      "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'metrics_ex scheduler'" 30
q -c "CREATE EXTENSION metrics_ex"
check "CREATE EXTENSION starts it again" \
      "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'metrics_ex scheduler'" 20

if err=$(psql -qX -d postgres -c "DROP DATABASE $db" 2>&1); then
    tap_ok "DROP DATABASE succeeds while its scheduler runs"
else
    tap_not_ok "DROP DATABASE failed: $err"
    psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
fi
check_pg() { psql -qXAt -d postgres -c "$1"; }
waited=0
while [[ $(check_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'metrics_ex scheduler' AND datname = '$db'") != 0 ]] && ((waited < 15)); do
    sleep 1; waited=$((waited + 1))
done
if ((waited < 15)); then tap_ok "no scheduler is left for the dropped database"
else tap_not_ok "a scheduler lingers for the dropped database"; fi

tap_done
