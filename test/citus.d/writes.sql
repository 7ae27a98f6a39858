-- test/e2e_citus.sh: the same writes on the Citus coordinator and on the
-- single node, through every write path, with maintenance in between and
-- late samples into rolled-up minutes.  Fixed timestamps (in the past: every
-- sample is older than the rollup watermark), deterministic values.
\set ON_ERROR_STOP on
\set QUIET on
\o /dev/null
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT metrics_ex.set_retention(NULL, '36500 days');
SELECT metrics_ex.define('cx_lat_ms', 'histogram', help => 'latency', unit => 'ms', buckets => '{1,5,10,50,100,500}');
SELECT metrics_ex.define('cx_minute', 'gauge', minute_rollups => true);

-- functions
SELECT metrics_ex.increment('cx_req_total', (i % 4) + 1, jsonb_build_object('host', 'h' || i % 5, 'code', (200 + 100 * (i % 3))::text),
                            '2026-11-20 08:00:00+00'::timestamptz + i * interval '7 seconds')
  FROM generate_series(1, 400) i;
SELECT metrics_ex.gauge('cx_depth', (i * 37) % 101, jsonb_build_object('queue', 'q' || i % 3),
                        '2026-11-20 08:00:00+00'::timestamptz + i * interval '13 seconds')
  FROM generate_series(1, 300) i;
SELECT metrics_ex.histogram('cx_lat_ms', ((i * 7919) % 997) / 3.0, jsonb_build_object('host', 'h' || i % 5, 'work_id', 'w' || i % 4),
                            '2026-11-20 08:00:00+00'::timestamptz + i * interval '11 seconds')
  FROM generate_series(1, 500) i;
SELECT metrics_ex.record('cx_record', jsonb_build_object('value', i * 0.25, 'model', 'm' || i % 2,
                                                          'ts', to_char('2026-11-20 09:00:00+00'::timestamptz + i * interval '1 minute',
                                                                        'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
  FROM generate_series(1, 120) i;
SELECT metrics_ex.gauge('cx_minute', i % 17, '{"k": "v"}', '2026-11-20 10:00:00+00'::timestamptz + i * interval '20 seconds')
  FROM generate_series(1, 180) i;
-- one sample per statement (on Citus a single-row INSERT, routed to its shard)
SELECT metrics_ex.histogram('cx_lat_ms', 42.5, '{"host": "h1", "work_id": "w9"}', '2026-11-20 08:30:00+00');
SELECT metrics_ex.gauge('cx_depth', 7, '{"queue": "q1"}', '2026-11-20 08:31:00+00');
-- measure(): its value is a wall time, so only its count is compared
SELECT metrics_ex.measure('cx_measure_ms', 'SELECT 1', '{"q": "one"}') FROM generate_series(1, 3);

-- INSERT and COPY into ingest
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'cx_bulk_total', i % 9, format('{"instance": "i%s", "job": "node"}', i % 50),
       '2026-11-20 12:00:00+00'::timestamptz + (i / 50) * interval '1 minute' + (i % 50) * interval '1 second'
  FROM generate_series(0, 4999) i;
COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN;
cx_copy	1.5	{"src": "copy", "n": "1"}	2026-11-20 13:00:00+00
cx_copy	2.5	{"src": "copy", "n": "2"}	2026-11-20 13:00:01+00
cx_copy	3.25	{"src": "copy", "n": "1"}	2026-11-20 13:00:02+00
cx_copy	-4	{"src": "copy", "n": "2", "trace_id": "t9"}	2026-11-20 13:00:03+00
\.

-- attach(): a table of the application's, its rows recorded by a trigger
CREATE TABLE cx_jobs (tenant text, duration_ms float8, finished_at timestamptz, work_id text);
SELECT metrics_ex.attach('cx_jobs', 'cx_jobs_total', 'counter', tag_columns => '{tenant}', time_column => 'finished_at');
SELECT metrics_ex.attach('cx_jobs', 'cx_job_ms', 'histogram', 'duration_ms', '{tenant}', 'finished_at');
INSERT INTO cx_jobs SELECT 't' || i % 3, i * 1.5, '2026-11-20 14:00:00+00'::timestamptz + i * interval '30 seconds', 'w' || i % 7
  FROM generate_series(1, 200) i;

-- telemetry events and an experiment's enrichment
SELECT metrics_ex.attach_telemetry('cx.job.done', 'cx_event_ms', 'histogram', 'duration_ms', '{tenant}');
SELECT metrics_ex.emit('cx.job.done', jsonb_build_object('duration_ms', i * 2.5),
                       jsonb_build_object('tenant', 't' || i % 2, 'trace_id', 'tr' || i),
                       '2026-11-20 15:00:00+00'::timestamptz + i * interval '10 seconds')
  FROM generate_series(1, 60) i;
SELECT metrics_ex.start_experiment('cx_control', condition => 'control') AS control \gset
SELECT metrics_ex.start_experiment('cx_treatment', condition => 'treatment') AS treatment \gset
SELECT metrics_ex.emit('req_llm.request.stop',
                       jsonb_build_object('duration', (100 + (i * 37) % 400) * 1000000),
                       jsonb_build_object('experiment_id', e.id, 'model', 'gpt-4',
                                          'tokens', jsonb_build_object('prompt', 10 + i % 7, 'completion', 20 + i % 11)),
                       '2026-11-20 16:00:00+00'::timestamptz + i * interval '5 seconds')
  FROM generate_series(1, 80) i, (VALUES (:'control'::uuid), (:'treatment'::uuid)) e(id);
SELECT metrics_ex.histogram('latency_ms', 150 + (i * 13) % 50, jsonb_build_object('experiment_id', :'treatment'),
                            '2026-11-20 16:30:00+00'::timestamptz + i * interval '1 second')
  FROM generate_series(1, 40) i;
SELECT metrics_ex.pause_experiment(:'treatment');
SELECT metrics_ex.histogram('latency_ms', 1e6, jsonb_build_object('experiment_id', :'treatment'), '2026-11-20 16:40:00+00');
SELECT metrics_ex.resume_experiment(:'treatment');
SELECT metrics_ex.stop_experiment(:'control');

-- a transaction of several writes; a rolled-back savepoint stores nothing
BEGIN;
SELECT metrics_ex.increment('cx_tx_total', 1, '{"step": "a"}', '2026-11-20 17:00:00+00');
SAVEPOINT s;
SELECT metrics_ex.increment('cx_tx_total', 100, '{"step": "b"}', '2026-11-20 17:00:01+00');
ROLLBACK TO SAVEPOINT s;
SELECT metrics_ex.increment('cx_tx_total', 2, '{"step": "a"}', '2026-11-20 17:00:02+00');
COMMIT;

-- maintenance, then late samples into minutes that are rolled up already
SELECT metrics_ex.materialize();
SELECT metrics_ex.prune();
SELECT metrics_ex.increment('cx_req_total', 5, '{"host": "h1", "code": "200"}', '2026-11-20 08:00:30+00');
SELECT metrics_ex.gauge('cx_depth', 77, '{"queue": "q1"}', '2026-11-20 08:10:00+00');
SELECT metrics_ex.gauge('cx_minute', 99, '{"k": "v"}', '2026-11-20 10:00:40+00');
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'cx_lat_ms', 1000 + i, '{"host": "h2"}', '2026-11-20 08:20:00+00'::timestamptz + i * interval '1 second'
  FROM generate_series(1, 50) i;
-- two gauge values at one time: the one written later wins
SELECT metrics_ex.gauge('cx_depth', 1, '{"queue": "q0"}', '2026-11-21 00:00:00+00');
SELECT metrics_ex.gauge('cx_depth', 2, '{"queue": "q0"}', '2026-11-21 00:00:00+00');
-- a day later, in a partition of its own after the next prune()
SELECT metrics_ex.increment('cx_req_total', 3, '{"host": "h9", "code": "500"}', '2026-11-22 06:00:00+00'::timestamptz + i * interval '1 hour')
  FROM generate_series(0, 20) i;

-- a metric deleted and recorded again: its old series are gone, the new
-- samples go to new series
SELECT metrics_ex.increment('cx_gone_total', 1, '{"a": "1"}', '2026-11-20 18:00:00+00');
DELETE FROM metrics_ex.metrics WHERE name = 'cx_gone_total';
SELECT metrics_ex.increment('cx_gone_total', 7, '{"a": "1"}', '2026-11-20 18:00:01+00');

-- one metric kept shorter: prune() deletes its raw samples, rollups stay
SELECT metrics_ex.set_retention('cx_record', '7 days');
SELECT metrics_ex.prune();
SELECT metrics_ex.materialize();
-- deltas left pending: reads add them
SELECT metrics_ex.gauge('cx_depth', 55, '{"queue": "q2"}', '2026-11-20 08:30:00+00');
SELECT metrics_ex.increment('cx_bulk_total', 4, '{"instance": "i7", "job": "node"}', '2026-11-20 12:30:00+00');
