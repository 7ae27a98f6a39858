-- Telemetry events, training runs and experiment deletion: bad input with
-- its SQLSTATE, the enrichment rules beyond the upstream suites, and the
-- privilege model (who may emit, attach, detach, change prices, log steps,
-- delete an experiment).
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(67);

CREATE ROLE mx_tel_writer;
CREATE ROLE mx_tel_writer2;
CREATE ROLE mx_tel_team;
CREATE ROLE mx_tel_member IN ROLE mx_tel_team;
CREATE ROLE mx_tel_reader;
CREATE ROLE mx_tel_nobody;
GRANT USAGE ON SCHEMA metrics_ex TO mx_tel_writer, mx_tel_writer2, mx_tel_team, mx_tel_member, mx_tel_reader, mx_tel_nobody;
GRANT INSERT ON metrics_ex.ingest TO mx_tel_writer, mx_tel_writer2, mx_tel_team;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO mx_tel_reader;

\set t0 '''2026-11-20 10:00:00+00'''

------------------------------------------------------------------------
-- emit: bad input
------------------------------------------------------------------------
SELECT throws_ok($$SELECT metrics_ex.emit('req llm stop')$$, '22023', 'invalid event name "req llm stop"', 'event with spaces');
SELECT throws_ok($$SELECT metrics_ex.emit('a..b')$$, '22023', NULL, 'event with an empty segment');
SELECT throws_ok($$SELECT metrics_ex.emit(NULL)$$, '22023', NULL, 'NULL event');
SELECT throws_ok($$SELECT metrics_ex.emit('a.b', '[1]')$$, '22023', 'measurements must be a JSON object, not array', 'measurements not an object');
SELECT throws_ok($$SELECT metrics_ex.emit('a.b', '{}', '"x"')$$, '22023', 'metadata must be a JSON object, not string', 'metadata not an object');
SELECT throws_ok($$SELECT metrics_ex.emit('a.b', '{}', '{}', NULL)$$, '22004', NULL, 'NULL ts');
SELECT is(metrics_ex.emit('nobody.listens', '{"duration": 5}', '{}', :t0), 0, 'no handler, no experiment: nothing recorded');
SELECT is(metrics_ex.emit('a.b', NULL, NULL, :t0), 0, 'NULL measurements and metadata are empty objects');

------------------------------------------------------------------------
-- attach_telemetry / detach_telemetry: bad input
------------------------------------------------------------------------
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('a b', 'm', 'counter')$$, '22023', NULL, 'attach: invalid event');
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('a.b', 'bad-name', 'counter')$$, '42602', NULL, 'attach: invalid metric name');
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('a.b', 'm', 'summary')$$, '22023', 'invalid kind "summary"', 'attach: invalid kind');
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('a.b', 'm', 'gauge', ' ')$$, '22023', NULL, 'attach: empty measurement');
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('a.b', 'm', 'counter', tag_keys => '{le}')$$, '22023', NULL, 'attach: reserved tag key');
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('a.b', 'm', 'counter', tag_keys => '{"a b"}')$$, '22023', NULL, 'attach: tag key that is no tag name');
SELECT lives_ok($$SELECT metrics_ex.attach_telemetry('app.request.stop', 'app_request_ms', 'histogram', 'duration', '{route}')$$,
                'attach a histogram of a measurement');
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('app.request.stop', 'app_request_ms', 'gauge', 'x')$$, '42710', NULL,
                 'attach the same event and metric twice');
SELECT throws_ok($$SELECT metrics_ex.detach_telemetry('app.request.stop', 'no_such')$$, '42704', NULL, 'detach what is not attached');
SELECT throws_ok($$SELECT metrics_ex.emit('app.request.stop', '{"duration": "slow"}')$$, '22023',
                 'measurement "duration" of event "app.request.stop" is not a number: "slow"', 'a measurement that is no number');
SELECT is(metrics_ex.emit('app.request.stop', '{"duration": 12.5}', '{"route": "/a", "trace_id": "t-1", "user": "u"}', :t0), 1,
          'a handler records one sample');
SELECT is((SELECT ROW(kind, value, tags)::text FROM metrics_ex.points WHERE name = 'app_request_ms'),
          ROW('histogram', 12.5::float8, '{"route": "/a", "trace_id": "t-1"}'::jsonb)::text,
          'its kind, the measurement, the listed tag keys and the lineage ids');
SELECT is((SELECT s.tags FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'app_request_ms'),
          '{"route": "/a"}', 'lineage ids are kept per sample, not in the series');
SELECT throws_ok($$SELECT metrics_ex.emit('app.request.stop', '{"duration": 1}', '{"route": {"nested": 1}}')$$, '22023', NULL,
                 'the write path''s checks apply: a tag value that is an object');
SELECT metrics_ex.attach_telemetry('app.request.stop', 'app_requests', 'counter');
SELECT throws_ok($$SELECT metrics_ex.gauge('app_requests_g', 1), metrics_ex.attach_telemetry('app.request.stop', 'app_requests_g', 'counter'),
                          metrics_ex.emit('app.request.stop', '{"duration": 1}')$$, '42809', NULL,
                 'and so does the kind of a metric that exists');

------------------------------------------------------------------------
-- privileges of handlers
------------------------------------------------------------------------
SET LOCAL ROLE mx_tel_reader;
SELECT throws_ok($$SELECT metrics_ex.attach_telemetry('x.y', 'xy_total', 'counter')$$, '42501', NULL, 'a reader cannot attach');
SELECT throws_ok($$SELECT metrics_ex.emit('x.y')$$, '42501', NULL, 'nor emit');
SELECT throws_ok($$SELECT metrics_ex.detach_telemetry('app.request.stop', 'app_requests')$$, '42501', NULL,
                 'nor detach what the superuser attached');
RESET ROLE;
SET LOCAL ROLE mx_tel_writer;
SELECT lives_ok($$SELECT metrics_ex.attach_telemetry('w.job.done', 'w_jobs_total', 'counter', tag_keys => '{queue}')$$, 'a writer can attach');
SELECT is((SELECT attached_by::text FROM metrics_ex.telemetry_handlers WHERE metric = 'w_jobs_total'), 'mx_tel_writer',
          'the handler is the writer''s');
SELECT throws_ok($$INSERT INTO metrics_ex.telemetry_handlers (event, metric, kind, attached_by) VALUES ('w.x', 'wx', 'counter', 'mx_tel_writer2')$$,
                 '42501', NULL, 'a writer cannot attach in another role''s name');
SELECT throws_ok($$UPDATE metrics_ex.telemetry_handlers SET kind = 'gauge' WHERE metric = 'app_request_ms'$$, '42501', NULL,
                 'nor change a handler');
RESET ROLE;
SET LOCAL ROLE mx_tel_writer2;
SELECT is(metrics_ex.emit('w.job.done', '{}', '{"queue": "q1"}', :t0), 1, 'another writer''s emit runs the handler');
SELECT throws_ok($$SELECT metrics_ex.detach_telemetry('w.job.done', 'w_jobs_total')$$, '42501', NULL,
                 'but cannot detach it');
DELETE FROM metrics_ex.telemetry_handlers WHERE metric = 'w_jobs_total';
SELECT is((SELECT count(*) FROM metrics_ex.telemetry_handlers WHERE metric = 'w_jobs_total'), 1::bigint,
          'nor delete its row by hand');
RESET ROLE;
SET LOCAL ROLE mx_tel_nobody;
SELECT throws_ok($$SELECT metrics_ex.emit('w.job.done', '{}', '{"queue": "q1"}')$$, '42501', NULL,
                 'a role that may not record cannot record through someone''s handler');
RESET ROLE;
SET LOCAL ROLE mx_tel_team;
SELECT metrics_ex.attach_telemetry('team.evt', 'team_evt_total', 'counter');
RESET ROLE;
SET LOCAL ROLE mx_tel_member;
SELECT lives_ok($$SELECT metrics_ex.detach_telemetry('team.evt', 'team_evt_total')$$, 'a member of the attaching role can detach');
RESET ROLE;
SET LOCAL ROLE mx_tel_writer;
SELECT lives_ok($$SELECT metrics_ex.detach_telemetry('w.job.done', 'w_jobs_total')$$, 'the attaching writer can detach');
RESET ROLE;
SELECT is((SELECT value FROM metrics_ex.points WHERE name = 'w_jobs_total'), 1::float8, 'the other writer''s sample is there');

------------------------------------------------------------------------
-- prices: enrichment rules, and who may change them
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('prices') AS e \gset
SELECT metrics_ex.emit('llm.call.stop', '{"prompt_tokens": 1000000, "completion_tokens": 500000}',
                       jsonb_build_object('experiment_id', :'e', 'model', 'gpt-3.5-turbo'), '2026-11-20 10:00:00+00');
SELECT is((SELECT array_agg(name || '=' || value ORDER BY name) FROM metrics_ex.points
            WHERE tags ->> 'experiment_id' = :'e' AND name LIKE 'tokens%'),
          '{tokens_completion=500000,tokens_prompt=1000000,tokens_total=1500000}',
          'flat token measurements; the total is their sum when not given');
SELECT is((SELECT value FROM metrics_ex.points WHERE name = 'cost_usd' AND tags ->> 'experiment_id' = :'e'), 1.25::float8,
          'cost from the price table: 1M * 0.5 + 0.5M * 1.5 per million = 1.25');
SELECT metrics_ex.emit('llm.call.stop', '{"prompt_tokens": 1000000}', jsonb_build_object('experiment_id', :'e', 'model', 'my-own-model'),
                       '2026-11-20 10:00:01+00');
SELECT is((SELECT value FROM metrics_ex.points WHERE name = 'cost_usd' AND tags ->> 'experiment_id' = :'e'
             AND ts = '2026-11-20 10:00:01+00'), 1::float8, 'an unknown model is priced by ''*''');
SELECT metrics_ex.emit('llm.call.stop', '{"prompt_tokens": 1000000, "cost": 9}',
                       jsonb_build_object('experiment_id', :'e', 'model', 'gpt-4', 'cost', 0.5), '2026-11-20 10:00:02+00');
SELECT is((SELECT value FROM metrics_ex.points WHERE name = 'cost_usd' AND tags ->> 'experiment_id' = :'e'
             AND ts = '2026-11-20 10:00:02+00'), 0.5::float8, 'metadata.cost wins over tokens and measurements.cost');
SELECT metrics_ex.emit('llm.call.stop', '{"cost": 9}', jsonb_build_object('experiment_id', :'e'), '2026-11-20 10:00:03+00');
SELECT is((SELECT value FROM metrics_ex.points WHERE name = 'cost_usd' AND tags ->> 'experiment_id' = :'e'
             AND ts = '2026-11-20 10:00:03+00'), 9::float8, 'measurements.cost when nothing else says');
SELECT throws_ok(format($$SELECT metrics_ex.emit('llm.call.stop', '{"duration": 1}', '{"experiment_id": "%s", "tokens": {"prompt": "ten"}}')$$, :'e'),
                 '22023', NULL, 'a token count that is no number');

SET LOCAL ROLE mx_tel_writer;
SELECT throws_ok($$UPDATE metrics_ex.model_prices SET input_per_1m = 0 WHERE model = 'gpt-4'$$, '42501', NULL,
                 'a writer cannot change prices');
SELECT throws_ok($$INSERT INTO metrics_ex.model_prices VALUES ('cheap', 0, 0)$$, '42501', NULL, 'nor add one');
SELECT is((SELECT input_per_1m FROM metrics_ex.model_prices WHERE model = 'gpt-4'), 30::float8, 'but can read them');
RESET ROLE;
INSERT INTO metrics_ex.model_prices (model, input_per_1m, output_per_1m) VALUES ('gpt-4', 2, 4);
SELECT is((SELECT ROW(input_per_1m, output_per_1m)::text FROM metrics_ex.model_prices WHERE model = 'gpt-4'),
          ROW(2::float8, 4::float8)::text, 'inserting a model that is there replaces its prices');
SELECT throws_ok($$INSERT INTO metrics_ex.model_prices VALUES ('bad', 'NaN', 1)$$, '23514', NULL, 'a NaN price');
DELETE FROM metrics_ex.model_prices WHERE model = '*';
SELECT is(metrics_ex.emit('llm.call.stop', '{"prompt_tokens": 10}', jsonb_build_object('experiment_id', :'e', 'model', 'other')), 4,
          'without ''*'', an unknown model gets no cost (count, success, tokens_prompt, tokens_total)');

------------------------------------------------------------------------
-- events of experiments that are not running, or are not experiments
------------------------------------------------------------------------
SELECT is(metrics_ex.emit('x.stop', '{"duration": 1}', '{"experiment_id": "exp_123"}'), 0,
          'an experiment_id that is no uuid is just metadata');
SELECT is(metrics_ex.emit('x.stop', '{"duration": 1}', '{"experiment_id": "00000000-0000-4000-8000-000000000000"}'), 0,
          'nor is the uuid of no experiment');
SET LOCAL ROLE mx_tel_writer;
SELECT is(metrics_ex.experiment_status(:'e'), 'running', 'a writer learns an experiment''s status without SELECT on the registry');
SELECT is(metrics_ex.emit('llm.call.stop', '{"duration": 2000000, "prompt_tokens": 10}', jsonb_build_object('experiment_id', :'e', 'model', 'gpt-4')), 6,
          'a writer with no SELECT on any table emits an experiment''s event, priced');
RESET ROLE;

------------------------------------------------------------------------
-- training runs
------------------------------------------------------------------------
SELECT throws_ok($$SELECT metrics_ex.log_step('', 'loss', 1, 0)$$, '22023', NULL, 'empty run_id');
SELECT throws_ok($$SELECT metrics_ex.log_step('r', 'loss', 'NaN', 0)$$, '22023', NULL, 'NaN value');
SELECT throws_ok($$SELECT metrics_ex.log_step('r', 'loss', 1, -1)$$, '22023', NULL, 'negative step');
SELECT throws_ok($$SELECT metrics_ex.log_step('r', 'loss', 1, 0, '[]')$$, '22023', NULL, 'metadata not an object');
SET LOCAL ROLE mx_tel_writer;
SELECT metrics_ex.log_step('r1', 'loss', 2.0, 10, jsonb_build_object('experiment_id', :'e'), '2026-11-20 10:10:00+00');
SELECT metrics_ex.log_step('r1', 'loss', 3.0, 0, '{}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.log_step('r1', 'accuracy', 0.5, 10, '{}', '2026-11-20 10:10:00+00');
SELECT throws_ok($$INSERT INTO metrics_ex.run_steps (run_id, metric, step, value, recorded_by) VALUES ('r1', 'loss', 1, 1, 'mx_tel_writer2')$$,
                 '42501', NULL, 'a writer cannot log in another role''s name');
RESET ROLE;
SET LOCAL ROLE mx_tel_nobody;
SELECT throws_ok($$SELECT metrics_ex.log_step('r1', 'loss', 1, 1)$$, '42501', NULL, 'a role that may not record cannot log');
RESET ROLE;
SET LOCAL ROLE mx_tel_reader;
SELECT is(ARRAY(SELECT metric || '@' || step || '=' || value FROM metrics_ex.run_history('r1')),
          '{loss@0=3,accuracy@10=0.5,loss@10=2}', 'a reader reads the run in step order, whatever the order it was logged in');
SELECT is((SELECT ROW(experiment_id, metrics, steps, first_step, last_step, last_values)::text FROM metrics_ex.runs WHERE run_id = 'r1'),
          ROW(:'e', '{accuracy,loss}'::text[], 3::bigint, 0::bigint, 10::bigint, '{"loss": 2, "accuracy": 0.5}'::jsonb)::text,
          'the runs view: experiment, metrics, steps, first and last step, values at the last step');
RESET ROLE;

------------------------------------------------------------------------
-- delete_experiment: the creator's
------------------------------------------------------------------------
SET LOCAL ROLE mx_tel_writer;
SELECT metrics_ex.start_experiment('mine') AS mine \gset
SELECT metrics_ex.emit('x.stop', '{"duration": 1000000}', jsonb_build_object('experiment_id', :'mine'), '2026-11-20 10:00:00+00');
RESET ROLE;
SELECT is((SELECT created_by::text FROM metrics_ex.experiments WHERE id = :'mine'), 'mx_tel_writer', 'created_by');
SET LOCAL ROLE mx_tel_writer2;
SELECT throws_ok(format('SELECT metrics_ex.delete_experiment(%L)', :'mine'), '42501', NULL, 'another writer cannot delete it');
RESET ROLE;
SET LOCAL ROLE mx_tel_reader;
SELECT throws_ok(format('SELECT metrics_ex.delete_experiment(%L)', :'mine'), '42501', NULL, 'nor can a reader');
RESET ROLE;
SET LOCAL ROLE mx_tel_writer;
SELECT lives_ok(format('SELECT metrics_ex.delete_experiment(%L)', :'mine'), 'its creator can');
RESET ROLE;
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE tags ->> 'experiment_id' = :'mine'), 0::bigint, 'and its samples are gone');
SELECT throws_ok($$SELECT metrics_ex.start_experiment('x', metadata => '[]')$$, '22023', NULL, 'experiment metadata not an object');

SELECT * FROM finish();
ROLLBACK;
