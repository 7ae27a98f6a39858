-- Experiments, export and attach: errors with their SQLSTATEs, privileges,
-- and the gate's bookkeeping.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT plan(22);

SELECT metrics_ex.start_experiment('tap_a') AS a \gset
SELECT metrics_ex.start_experiment('tap_b') AS b \gset

-- lifecycle
SELECT throws_ok(format('SELECT metrics_ex.resume_experiment(%L)', :'a'), '55000', NULL, 'resume from running');
SELECT lives_ok(format('SELECT metrics_ex.pause_experiment(%L)', :'a'), 'pause from running');
SELECT throws_ok(format('SELECT metrics_ex.pause_experiment(%L)', :'a'), '55000', NULL, 'pause from paused');
SELECT lives_ok(format('SELECT metrics_ex.stop_experiment(%L)', :'a'), 'stop from paused');
SELECT throws_ok(format('SELECT metrics_ex.resume_experiment(%L)', :'a'), '55000', NULL, 'resume from stopped');
SELECT throws_ok($$SELECT metrics_ex.pause_experiment('00000000-0000-4000-8000-000000000000')$$, '42704', NULL, 'unknown id');
SELECT is(metrics_ex.experiment_paused('00000000-0000-4000-8000-000000000000'), false, 'experiment_paused of an unknown id is false, as upstream');
SELECT throws_ok($$SELECT metrics_ex.start_experiment(NULL)$$, '22023', NULL, 'NULL name');
SELECT throws_ok($$SELECT metrics_ex.start_experiment('x', sample_size => 0)$$, '22023', NULL, 'sample_size 0');

-- a stopped experiment's samples are dropped and counted; one statement, many rows
INSERT INTO metrics_ex.ingest (name, value, tags, kind)
SELECT 'tap_latency', i, jsonb_build_object('experiment_id', :'a'), 'histogram' FROM generate_series(1, 50) i;
SELECT metrics_ex.histogram('tap_latency', 1, jsonb_build_object('experiment_id', :'b'));
SELECT is((SELECT samples FROM metrics_ex.experiments WHERE id = :'a'), 0::bigint, 'stopped: nothing stored');
SELECT is((SELECT samples FROM metrics_ex.experiments WHERE id = :'b'), 1::bigint, 'running: stored');

-- compare / calculate / export arguments
SELECT throws_ok(format('SELECT * FROM metrics_ex.compare_experiments(ARRAY[%L]::uuid[])', :'a'), '22023', NULL, 'one id');
SELECT throws_ok($$SELECT * FROM metrics_ex.compare_experiments(NULL)$$, '22023', NULL, 'NULL ids');
SELECT throws_ok(format('SELECT * FROM metrics_ex.compare_experiments(ARRAY[%L, ''00000000-0000-4000-8000-000000000000'']::uuid[])', :'a'), '42704', NULL, 'unknown id to compare');
SELECT throws_ok($$SELECT metrics_ex.calculate_metrics('00000000-0000-4000-8000-000000000000')$$, '42704', NULL, 'calculate unknown');
SELECT throws_ok(format('SELECT metrics_ex.export(%L, ''xlsx'')', :'a'), '22023', 'invalid format "xlsx"', 'export format');
SELECT throws_ok($$SELECT metrics_ex.student_t_cdf(1, 0)$$, '22023', NULL, 'df 0');

-- attach
CREATE TABLE tap_events (id int, v float8, note text, "bad-name" text);
SELECT throws_ok($$SELECT metrics_ex.attach('tap_events', 'tap_g', 'gauge')$$, '22023', NULL, 'gauge without value column');
SELECT throws_ok($$SELECT metrics_ex.attach('tap_events', 'tap_g', 'gauge', 'note')$$, '42804', NULL, 'text value column');
SELECT throws_ok($$SELECT metrics_ex.attach('tap_events', 'tap_g', 'gauge', 'nope')$$, '42703', NULL, 'missing column');
SELECT throws_ok($$SELECT metrics_ex.attach('tap_events', 'tap_c_total', 'counter', tag_columns => '{bad-name}')$$, '22023', NULL, 'column that is no tag name');

-- a table the caller does not own
CREATE ROLE metrics_ex_tap_stranger;
GRANT USAGE ON SCHEMA metrics_ex TO metrics_ex_tap_stranger;
GRANT INSERT ON metrics_ex.ingest TO metrics_ex_tap_stranger;
SET LOCAL ROLE metrics_ex_tap_stranger;
SELECT throws_ok($$SELECT metrics_ex.attach('tap_events', 'tap_c_total', 'counter')$$, '42501', 'must be owner of table public.tap_events', 'not the owner');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
