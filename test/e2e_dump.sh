#!/usr/bin/env bash
# pg_dump -Fc of a database with data, pg_restore --exit-on-error
# --single-transaction into a new one: no error, and everything works as
# before: the same samples, rollups, totals and scrape; new series (ids go
# on); jobs with their schedules and owners; retention settings;
# attachments; experiments; telemetry handlers and training runs.
# Usage: test/e2e_dump.sh (PGHOST/PGPORT/PGUSER set)
set -uo pipefail
cd "$(dirname "$0")/.."
src=metrics_ex_dump_src dst=metrics_ex_dump_dst
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/metrics_ex_dump.XXXXXX)
trap 'rm -rf "$work"' EXIT
. test/tap.sh
q() { local db=$1; shift; PGOPTIONS="-c client_min_messages=warning" psql -qXAt -d "$db" -v ON_ERROR_STOP=1 "$@"; }
same() {   # same "description" "SQL": equal output in both databases
    local a b
    a=$(q "$src" -c "$2" 2>&1); b=$(q "$dst" -c "$2" 2>&1)
    if [[ -n $a && $a == "$b" ]]; then tap_ok "$1"
    else tap_not_ok "$1"; diff <(echo "$a") <(echo "$b") | head -10; fi
}
check() { tap_wait "$1" 0 q "$2" -c "$3"; }   # check DESC DB SQL

PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $src" \
    -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $src" >/dev/null
psql -qX -d postgres -c "DROP ROLE IF EXISTS metrics_ex_dump_owner" -c "CREATE ROLE metrics_ex_dump_owner" >/dev/null
q "$src" >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SET timezone = 'UTC';
-- nothing may run behind our back: the scheduler's jobs wait
SELECT metrics_ex.alter_job('retention', schedule => '17 minutes', enabled => false);
SELECT metrics_ex.alter_job('materialize', schedule => '3 minutes', enabled => false);
SELECT metrics_ex.set_retention(NULL, '30 days');
SELECT metrics_ex.define('dump_latency', 'histogram', help => 'Latency', buckets => '{10,50,100}');
SELECT metrics_ex.set_retention('dump_latency', '40 days');
SELECT metrics_ex.set_rollup_retention('minute', '14 days');
-- samples over three days in day partitions, and some waiting in the default one
SELECT metrics_ex.histogram('dump_latency', i % 120, jsonb_build_object('host', 'h' || i % 4),
                            date_bin('1 day', now(), '1970-01-01') - interval '2 days' + i * interval '1 minute')
  FROM generate_series(0, 2999) i;
SELECT metrics_ex.prune();
SELECT metrics_ex.increment('dump_jobs_total', 1, jsonb_build_object('tenant', 't' || i % 3, 'work_id', 'w' || i),
                            now() - interval '10 minutes')
  FROM generate_series(1, 90) i;
SELECT metrics_ex.gauge('dump_depth', 7, '{"queue": "q"}', '2099-01-01 00:00:00+00');
SELECT metrics_ex.materialize();
SELECT metrics_ex.increment('dump_jobs_total', 2, '{"tenant": "t0"}');   -- a pending delta too
-- a user job with its owner
GRANT USAGE ON SCHEMA metrics_ex TO metrics_ex_dump_owner;
GRANT EXECUTE ON FUNCTION metrics_ex.add_job(text, text, interval, interval) TO metrics_ex_dump_owner;
SET ROLE metrics_ex_dump_owner;
SELECT metrics_ex.add_job('dump_user_job', 'SELECT 1', '7 minutes', timeout => '42 seconds');
RESET ROLE;
-- an attachment on a table of the user's (quoted mixed-case name)
CREATE TABLE "Dump Events" (id int, tenant text, ms float8, at timestamptz);
SELECT metrics_ex.attach('"Dump Events"', 'dump_events_total', 'counter', tag_columns => '{tenant}');
SELECT metrics_ex.attach('"Dump Events"', 'dump_event_ms', 'histogram', 'ms', '{tenant}', 'at');
INSERT INTO "Dump Events" VALUES (1, 'a', 5, now()), (2, 'b', 7, now());
-- experiments, telemetry, a training run
SELECT metrics_ex.start_experiment('dump_exp', hypothesis => 'restores') AS e \gset
SELECT metrics_ex.histogram('latency_ms', i, jsonb_build_object('experiment_id', :'e'), now() - interval '1 hour')
  FROM generate_series(1, 20) i;
SELECT metrics_ex.pause_experiment(:'e');
SELECT metrics_ex.histogram('latency_ms', 1, jsonb_build_object('experiment_id', :'e'));
SELECT metrics_ex.attach_telemetry('dump.request.stop', 'dump_requests_total', 'counter');
SELECT metrics_ex.emit('dump.request.stop', '{}', '{}');
SELECT metrics_ex.log_step('dump_run', 'loss', 0.5, 1);
SELECT metrics_ex.log_step('dump_run', 'loss', 0.25, 2);
SQL

if "$bindir/pg_dump" -Fc -d "$src" -f "$work/db.dump" 2>"$work/dump.err"; then
    tap_ok "pg_dump -Fc"
else
    tap_not_ok "pg_dump -Fc" "$(cat "$work/dump.err")"
fi
psql -qX -d postgres -c "CREATE DATABASE $dst" >/dev/null
if "$bindir/pg_restore" --exit-on-error --single-transaction -d "$dst" "$work/db.dump" 2>"$work/restore.err"; then
    tap_ok "pg_restore --exit-on-error --single-transaction: no error"
else
    tap_not_ok "pg_restore --exit-on-error --single-transaction: no error" "$(head -20 "$work/restore.err")"
fi

same "the same samples, partition by partition" \
     "SELECT tableoid::regclass, count(*), md5(string_agg(ts::text || series_id || value || coalesce(lineage::text, ''), ',' ORDER BY ts, series_id, value)) FROM metrics_ex.samples GROUP BY 1 ORDER BY 1"
same "the same partitions, each with its BRIN index" \
     "SELECT p.partition, p.lower_bound, (SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index WHERE indrelid = p.partition) FROM metrics_ex.partitions() p"
same "the same metrics and series" "SELECT m.name, m.kind, m.buckets, m.retention, s.id, s.tags FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id ORDER BY s.id"
same "the same rollups, deltas and totals" \
     "SELECT (SELECT count(*) || '/' || sum(count) FROM metrics_ex.rollup_minute), (SELECT count(*) || '/' || sum(count) FROM metrics_ex.rollup_hour),
             (SELECT count(*) || '/' || sum(count) FROM metrics_ex.rollup_pending), (SELECT sum(count) || '/' || sum(sum) FROM metrics_ex.series_totals),
             (SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM metrics_ex.totals)"
same "the same scrape" "SELECT metrics_ex.prometheus_text()"
same "the same jobs: schedules, owners, timeouts, enabled" \
     "SELECT job, kind, schedule, enabled, owner, timeout, command FROM metrics_ex.jobs ORDER BY job"
same "the same retention settings" \
     "SELECT metrics_ex.default_retention(), (SELECT string_agg(level || '=' || coalesce(keep::text, 'forever'), ',' ORDER BY level) FROM metrics_ex.rollup_levels)"
same "the same attachments" "SELECT source, name, kind, value_column, tag_columns, time_column, attached_by FROM metrics_ex.attach_events()"
same "the same experiments" "SELECT name, hypothesis, status, samples, samples_rejected FROM metrics_ex.experiments ORDER BY name"
same "the same experiment metrics" "SELECT metrics_ex.calculate_metrics(id) - 'summary' FROM metrics_ex.experiments WHERE name = 'dump_exp'"
same "the same telemetry handlers and training runs" \
     "SELECT (SELECT count(*) FROM metrics_ex.telemetry_handlers), (SELECT string_agg(metric || step || '=' || value, ',' ORDER BY step) FROM metrics_ex.run_history('dump_run'))"

q "$dst" -c "SELECT metrics_ex.increment('dump_new_total', 1, '{\"fresh\": \"yes\"}')" >/dev/null
check "new series get new ids" "$dst" \
      "SELECT (SELECT id FROM metrics_ex.series WHERE tags = '{\"fresh\": \"yes\"}') > (SELECT max(id) FROM metrics_ex.series WHERE tags <> '{\"fresh\": \"yes\"}')"
q "$dst" -c "SELECT metrics_ex.define('dump_new_gauge', 'gauge')" >/dev/null
check "new metrics too" "$dst" "SELECT count(DISTINCT id) = count(*) AND count(*) > 4 FROM metrics_ex.metrics"
q "$dst" -c "INSERT INTO \"Dump Events\" VALUES (3, 'a', 9, now())" >/dev/null
check "inserts into an attached table are recorded" "$dst" \
      "SELECT count(*) = 3 FROM metrics_ex.points WHERE name = 'dump_events_total'"
q "$dst" -c "SELECT metrics_ex.detach('\"Dump Events\"', 'dump_event_ms')" >/dev/null
check "detach() works" "$dst" "SELECT NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'metrics_ex_dump_event_ms')"
check "the built-in jobs run" "$dst" "SELECT metrics_ex.run_job('materialize') = 'succeeded' AND metrics_ex.run_job('retention') = 'succeeded'"
check "the user job runs as its owner" "$dst" \
      "SELECT metrics_ex.run_job('dump_user_job') = 'succeeded' AND (SELECT owner::text FROM metrics_ex.jobs WHERE job = 'dump_user_job') = 'metrics_ex_dump_owner'"
q "$dst" -c "SELECT metrics_ex.histogram('latency_ms', 2, jsonb_build_object('experiment_id', id)) FROM metrics_ex.experiments WHERE name = 'dump_exp'" >/dev/null
check "a paused experiment still refuses samples, and counts them" "$dst" \
      "SELECT samples = 20 AND samples_rejected = 2 FROM metrics_ex.experiments WHERE name = 'dump_exp'"
q "$dst" -c "SELECT metrics_ex.emit('dump.request.stop', '{}', '{}')" >/dev/null
check "telemetry events are recorded" "$dst" "SELECT count(*) = 2 FROM metrics_ex.points WHERE name = 'dump_requests_total'"

psql -qX -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst" >/dev/null
psql -qX -d postgres -c "DROP ROLE metrics_ex_dump_owner" >/dev/null
tap_done
