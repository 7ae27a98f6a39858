-- Experiments: the writer privilege, rejected counts in get_stats, and
-- attach recording on behalf of the table owner.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT plan(8);

CREATE ROLE metrics_ex_tap_reader;
GRANT USAGE ON SCHEMA metrics_ex TO metrics_ex_tap_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO metrics_ex_tap_reader;
CREATE ROLE metrics_ex_tap_writer;
GRANT USAGE ON SCHEMA metrics_ex TO metrics_ex_tap_writer;
GRANT INSERT ON metrics_ex.ingest TO metrics_ex_tap_writer;

SELECT metrics_ex.start_experiment('tap_priv') AS p \gset
SET LOCAL ROLE metrics_ex_tap_reader;
SELECT throws_ok(format('SELECT metrics_ex.pause_experiment(%L)', :'p'), '42501', NULL, 'a reader cannot pause');
SELECT throws_ok(format('SELECT metrics_ex._experiment_transition(%L, ''pause'')', :'p'), '42501', NULL, 'nor call the internal function');
RESET ROLE;
SET LOCAL ROLE metrics_ex_tap_writer;
SELECT lives_ok(format('SELECT metrics_ex.pause_experiment(%L)', :'p'), 'a writer can');
SELECT lives_ok(format('SELECT metrics_ex.gauge(''tap_priv_g'', 1, jsonb_build_object(''experiment_id'', %L))', :'p'),
                'a writer records into a paused experiment without error');
RESET ROLE;

-- (the rejected count is written at commit: sql/experiments.sql checks it)
SELECT is((SELECT samples FROM metrics_ex.experiments WHERE id = :'p'), 0::bigint, 'the paused sample is not stored');
SELECT ok((metrics_ex.get_stats() -> 'recorder') ? 'samples_rejected', 'get_stats has recorder.samples_rejected');
SELECT ok((metrics_ex.get_stats() -> 'recorder') ? 'metrics_recorded', 'and keeps metrics_recorded');

-- attach records as the table's owner, for any inserting role
CREATE TABLE tap_orders (id int, amount float8);
SELECT metrics_ex.attach('tap_orders', 'tap_order_amount', 'histogram', 'amount');
GRANT INSERT ON tap_orders TO metrics_ex_tap_reader;
SET LOCAL ROLE metrics_ex_tap_reader;
INSERT INTO tap_orders VALUES (1, 9.5), (2, 0.5);
RESET ROLE;
SELECT is((SELECT sum(value) FROM metrics_ex.points WHERE name = 'tap_order_amount'), 10::float8,
          'rows inserted by a role without metrics privileges are recorded');

SELECT * FROM finish();
ROLLBACK;
