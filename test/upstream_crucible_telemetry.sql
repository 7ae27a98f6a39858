-- CrucibleTelemetry's own test suite (North-Shore-AI/crucible_telemetry,
-- test/), translated case by case with upstream's expected values as the
-- oracle.  Events that upstream stores with Store.insert are emitted here
-- with emit(), the measurements and metadata that make the same enriched
-- fields (a latency of x ms is a duration of x * 1e6 native units, i.e. ns).
-- Where we answer differently on purpose (README: Differences from the Elixir
-- libraries), the case is named "documented:" and tests our answer.
-- Cases about ETS tables, processes and telemetry handler ids have no
-- counterpart and are left out.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(151);

-- samples of an experiment: metric name -> values, in time order
CREATE FUNCTION pg_temp.vals(e uuid, metric text) RETURNS float8[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(p.value ORDER BY p.ts, p.value), '{}') FROM metrics_ex.points p
     WHERE p.name = metric AND p.tags ->> 'experiment_id' = e::text $$;
CREATE FUNCTION pg_temp.tag(e uuid, metric text, key text) RETURNS text LANGUAGE sql AS $$
    SELECT min(p.tags ->> key) FROM metrics_ex.points p
     WHERE p.name = metric AND p.tags ->> 'experiment_id' = e::text $$;
CREATE FUNCTION pg_temp.m(e uuid) RETURNS jsonb LANGUAGE sql AS $$
    SELECT metrics_ex.calculate_metrics(e) $$;

------------------------------------------------------------------------
-- events_test.exs: CrucibleTelemetry.Events
------------------------------------------------------------------------
SELECT ok((SELECT count(*) > 0 AND bool_and(e ~ '^[a-z_]+(\.[a-z_]+)+$') FROM metrics_ex.standard_events() e),
          'standard_events/0 returns a list of telemetry event names');
SELECT ok(ARRAY['req_llm.request.start', 'req_llm.request.stop', 'req_llm.request.exception']
          <@ ARRAY(SELECT metrics_ex.standard_events()), 'includes req_llm events');
SELECT ok(ARRAY['ensemble.prediction.start', 'ensemble.prediction.stop', 'ensemble.vote.completed']
          <@ ARRAY(SELECT metrics_ex.standard_events()), 'includes ensemble events');
SELECT ok(ARRAY['hedging.request.start', 'hedging.request.duplicated', 'hedging.request.stop']
          <@ ARRAY(SELECT metrics_ex.standard_events()), 'includes hedging events');
SELECT ok(ARRAY['crucible_train.training.start', 'crucible_train.training.stop', 'crucible_train.epoch.start',
                'crucible_train.epoch.stop', 'crucible_train.batch.stop', 'crucible_train.checkpoint.saved']
          <@ ARRAY(SELECT metrics_ex.standard_events()), 'includes training events');
SELECT ok(ARRAY['crucible_deployment.inference.start', 'crucible_deployment.inference.stop',
                'crucible_deployment.inference.exception']
          <@ ARRAY(SELECT metrics_ex.standard_events()), 'includes deployment events');
SELECT ok(ARRAY['crucible_framework.pipeline.start', 'crucible_framework.pipeline.stop',
                'crucible_framework.stage.start', 'crucible_framework.stage.stop']
          <@ ARRAY(SELECT metrics_ex.standard_events()), 'includes framework events');
SELECT is((SELECT count(*) FROM metrics_ex.standard_events()), 25::bigint, 'the 25 standard events');
SELECT is(ARRAY(SELECT metrics_ex.standard_events() LIMIT 3),
          ARRAY['req_llm.request.start', 'req_llm.request.stop', 'req_llm.request.exception'],
          'in upstream''s order');

-- training_events/0 and friends are events_by_category() -> category
CREATE TEMP TABLE cat AS
    SELECT c.key AS category, e.value #>> '{}' AS event
      FROM jsonb_each(metrics_ex.events_by_category()) c, jsonb_array_elements(c.value) e;
SELECT ok((SELECT bool_and(event LIKE 'crucible_train.%') FROM cat WHERE category = 'training'),
          'training_events/0 returns only training-related events');
SELECT is(ARRAY(SELECT event FROM cat WHERE category = 'training' ORDER BY event),
          ARRAY['crucible_train.batch.stop', 'crucible_train.checkpoint.saved', 'crucible_train.epoch.start',
                'crucible_train.epoch.stop', 'crucible_train.training.start', 'crucible_train.training.stop'],
          'includes all expected training events');
SELECT ok((SELECT bool_and(event LIKE 'crucible_deployment.%') FROM cat WHERE category = 'deployment'),
          'deployment_events/0 returns only deployment-related events');
SELECT is((SELECT count(*) FROM cat WHERE category = 'deployment'), 3::bigint, 'includes all expected deployment events');
SELECT ok((SELECT bool_and(event LIKE 'crucible_framework.%') FROM cat WHERE category = 'framework'),
          'framework_events/0 returns only framework-related events');
SELECT is((SELECT count(*) FROM cat WHERE category = 'framework'), 4::bigint, 'includes all expected framework events');
SELECT ok((SELECT bool_and(event LIKE 'req_llm.%') FROM cat WHERE category = 'llm'),
          'llm_events/0 returns only LLM-related events');
SELECT is(ARRAY(SELECT event FROM cat WHERE category = 'llm'),
          ARRAY['req_llm.request.start', 'req_llm.request.stop', 'req_llm.request.exception'],
          'includes all expected LLM events');
SELECT ok((SELECT count(*) > 0 AND bool_and(event LIKE 'ensemble.%') FROM cat WHERE category = 'ensemble'),
          'ensemble_events/0 returns only ensemble-related events');
SELECT ok((SELECT count(*) > 0 AND bool_and(event LIKE 'hedging.%') FROM cat WHERE category = 'hedging'),
          'hedging_events/0 returns only hedging-related events');
SELECT is(ARRAY(SELECT jsonb_object_keys(metrics_ex.events_by_category()) k ORDER BY k),
          ARRAY['deployment', 'ensemble', 'framework', 'hedging', 'llm', 'tools', 'trace', 'training'],
          'events_by_category/0: a map of the eight categories');
SELECT ok((SELECT bool_and(event = ANY (ARRAY(SELECT metrics_ex.standard_events()))) FROM cat),
          'each category contains valid events');

SELECT is(metrics_ex.event_info('crucible_train.training.start') ->> 'category', 'training',
          'event_info/1 returns info for known events');
SELECT is(metrics_ex.event_info('crucible_train.epoch.stop') - 'enriched_fields',
          '{"category": "training", "description": "Epoch completed with metrics"}'::jsonb,
          'event_info/1 of epoch stop, as in the moduledoc');
SELECT is(metrics_ex.event_info('unknown.event.name'), NULL, 'returns nil for unknown events');
SELECT is(ARRAY[metrics_ex.event_info('req_llm.request.start') ->> 'category',
                metrics_ex.event_info('crucible_train.epoch.stop') ->> 'category',
                metrics_ex.event_info('crucible_deployment.inference.stop') ->> 'category',
                metrics_ex.event_info('crucible_framework.pipeline.start') ->> 'category',
                metrics_ex.event_info('ensemble.prediction.start') ->> 'category',
                metrics_ex.event_info('hedging.request.start') ->> 'category'],
          ARRAY['llm', 'training', 'deployment', 'framework', 'ensemble', 'hedging'],
          'returns info with correct category for each event type');
SELECT is(metrics_ex.event_info('crucible_train.epoch.stop') -> 'enriched_fields',
          '["epoch", "batch", "loss", "accuracy", "learning_rate", "gradient_norm", "checkpoint_path"]',
          'the training fields the handler extracts');

------------------------------------------------------------------------
-- experiment_test.exs
------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM metrics_ex.experiments), 0::bigint, 'list/0: empty list when no experiments');
SELECT metrics_ex.start_experiment('test_experiment') AS x1 \gset
SELECT is((SELECT name FROM metrics_ex.experiments WHERE id = :'x1'), 'test_experiment',
          'start/1 creates an experiment with the required name');
SELECT is((SELECT status FROM metrics_ex.experiments WHERE id = :'x1'), 'running', '... running');
SELECT ok((SELECT started_at IS NOT NULL AND stopped_at IS NULL FROM metrics_ex.experiments WHERE id = :'x1'),
          '... started, not stopped');

SELECT metrics_ex.start_experiment('full_experiment', hypothesis => 'Testing hypothesis', condition => 'treatment',
                                   tags => '{tag1,tag2}', metadata => '{"custom": "value"}', sample_size => 1000) AS x2 \gset
SELECT is((SELECT ROW(name, hypothesis, condition, tags, metadata, sample_size)::text
             FROM metrics_ex.experiments WHERE id = :'x2'),
          ROW('full_experiment', 'Testing hypothesis', 'treatment', '{tag1,tag2}'::text[],
              '{"custom": "value"}'::jsonb, 1000)::text,
          'creates experiment with all options');
SELECT metrics_ex.start_experiment('defaults') AS x3 \gset
SELECT is((SELECT ROW(condition, tags, metadata, sample_size)::text FROM metrics_ex.experiments WHERE id = :'x3'),
          ROW('default', '{}'::text[], '{}'::jsonb, NULL::int)::text,
          'uses default values when options not provided (condition "default")');

SELECT metrics_ex.stop_experiment(:'x1');
SELECT ok((SELECT status = 'stopped' AND stopped_at IS NOT NULL FROM metrics_ex.experiments WHERE id = :'x1'),
          'stop/1 stops a running experiment');
SELECT is(metrics_ex.emit('req_llm.request.stop', '{"duration": 1000000}', jsonb_build_object('experiment_id', :'x1')),
          3, 'emit into a stopped experiment hands its samples to the write path ...');
SELECT is((SELECT samples FROM metrics_ex.experiments WHERE id = :'x1'), 0::bigint,
          '... which drops them: a stopped experiment collects nothing');
SELECT throws_ok($$SELECT metrics_ex.stop_experiment('00000000-0000-4000-8000-000000000000')$$, '42704', NULL,
                 'stop/1 returns an error for a non-existent experiment');
SELECT throws_ok(format('SELECT metrics_ex.stop_experiment(%L)', :'x1'), '55000', NULL,
                 'documented: stopping a stopped experiment is an error (upstream returns ok)');
SELECT is((SELECT id FROM metrics_ex.experiments WHERE id = :'x2'), :'x2'::uuid, 'get/1 retrieves an experiment by id');
SELECT is((SELECT count(*) FROM metrics_ex.experiments WHERE id = '00000000-0000-4000-8000-000000000000'), 0::bigint,
          'get/1: nothing for a non-existent experiment');
SELECT is((SELECT count(*) FROM metrics_ex.experiments), 3::bigint, 'list/0 returns all experiments');

-- cleanup/2 is delete_experiment(id, keep_data)
SELECT metrics_ex.start_experiment('cleanup_data_test') AS c1 \gset
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 5000000}', jsonb_build_object('experiment_id', :'c1'),
                       '2026-11-20 10:00:00+00');
SELECT metrics_ex.delete_experiment(:'c1');
SELECT is((SELECT count(*) FROM metrics_ex.experiments WHERE id = :'c1'), 0::bigint, 'cleanup/2 removes experiment from registry');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE tags ->> 'experiment_id' = :'c1'), 0::bigint,
          'deletes experiment data by default');
SELECT metrics_ex.start_experiment('keep_data_test') AS c2 \gset
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 5000000}', jsonb_build_object('experiment_id', :'c2'),
                       '2026-11-20 10:00:00+00');
SELECT metrics_ex.delete_experiment(:'c2', keep_data => true);
SELECT is((SELECT count(*) FROM metrics_ex.experiments WHERE id = :'c2'), 0::bigint, 'keep_data: the experiment is gone ...');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE tags ->> 'experiment_id' = :'c2'), 3::bigint,
          '... and its data kept when keep_data is true');
SELECT throws_ok(format('SELECT metrics_ex.delete_experiment(%L)', :'c1'), '42704', NULL, 'cleanup of an id that is gone');

------------------------------------------------------------------------
-- pause_resume_test.exs
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('pause_test') AS p1 \gset
SELECT metrics_ex.pause_experiment(:'p1');
SELECT ok((SELECT status = 'paused' AND paused_at IS NOT NULL AND pause_count = 1
             FROM metrics_ex.experiments WHERE id = :'p1'), 'pause/1 pauses a running experiment');
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 1000000}', jsonb_build_object('experiment_id', :'p1'));
SELECT is((SELECT samples FROM metrics_ex.experiments WHERE id = :'p1'), 0::bigint,
          'collects nothing while paused (the handlers are detached)');
SELECT throws_ok($$SELECT metrics_ex.pause_experiment('00000000-0000-4000-8000-000000000000')$$, '42704', NULL,
                 'pause/1 returns an error for a non-existent experiment');
SELECT throws_ok(format('SELECT metrics_ex.pause_experiment(%L)', :'p1'), '55000', NULL,
                 'returns an error when pausing an already paused experiment');
SELECT metrics_ex.start_experiment('pause_stopped_test') AS p2 \gset
SELECT metrics_ex.stop_experiment(:'p2');
SELECT throws_ok(format('SELECT metrics_ex.pause_experiment(%L)', :'p2'), '55000', NULL,
                 'returns an error when pausing a stopped experiment');

SELECT metrics_ex.resume_experiment(:'p1');
SELECT ok((SELECT status = 'running' AND paused_at IS NULL AND pause_count = 1
             FROM metrics_ex.experiments WHERE id = :'p1'), 'resume/1 resumes a paused experiment (paused_at nil)');
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 1000000}', jsonb_build_object('experiment_id', :'p1'));
SELECT is((SELECT samples FROM metrics_ex.experiments WHERE id = :'p1'), 3::bigint,
          'collects again once resumed (handlers reattached)');
SELECT throws_ok($$SELECT metrics_ex.resume_experiment('00000000-0000-4000-8000-000000000000')$$, '42704', NULL,
                 'resume/1 returns an error for a non-existent experiment');
SELECT metrics_ex.start_experiment('resume_running_test') AS p3 \gset
SELECT throws_ok(format('SELECT metrics_ex.resume_experiment(%L)', :'p3'), '55000', NULL,
                 'returns an error when resuming a non-paused experiment');

SELECT metrics_ex.start_experiment('multiple_cycles_test') AS p4 \gset
CREATE TEMP TABLE cycles (n int);
SELECT metrics_ex.pause_experiment(:'p4');
INSERT INTO cycles SELECT pause_count FROM metrics_ex.experiments WHERE id = :'p4';
SELECT metrics_ex.resume_experiment(:'p4');
INSERT INTO cycles SELECT pause_count FROM metrics_ex.experiments WHERE id = :'p4';
SELECT metrics_ex.pause_experiment(:'p4');
INSERT INTO cycles SELECT pause_count FROM metrics_ex.experiments WHERE id = :'p4';
SELECT metrics_ex.resume_experiment(:'p4');
INSERT INTO cycles SELECT pause_count FROM metrics_ex.experiments WHERE id = :'p4';
SELECT metrics_ex.pause_experiment(:'p4');
INSERT INTO cycles SELECT pause_count FROM metrics_ex.experiments WHERE id = :'p4';
SELECT is(ARRAY(SELECT n FROM cycles), '{1,1,2,2,3}'::int[], 'handles multiple pause/resume cycles');

SELECT is(metrics_ex.experiment_paused(:'p3'), false, 'is_paused?/1 returns false for a running experiment');
SELECT is(metrics_ex.experiment_paused(:'p4'), true, 'returns true for a paused experiment');
SELECT is(metrics_ex.experiment_paused(:'p2'), false, 'returns false for a stopped experiment');
SELECT is(metrics_ex.experiment_paused('00000000-0000-4000-8000-000000000000'), false,
          'returns false for a non-existent experiment');

------------------------------------------------------------------------
-- handler_test.exs and training_events_test.exs: enrichment
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('handler_test') AS h \gset
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 150000000}',
                       jsonb_build_object('experiment_id', :'h', 'model', 'gpt-4', 'provider', 'openai',
                                          'session_id', 'session-123'),
                       '2026-11-20 10:00:00+00');
SELECT is(pg_temp.m(:'h') -> 'events', '{"req_llm.request.stop": {"count": 1}}', 'handle_event/4 stores one event');
SELECT is(pg_temp.vals(:'h', 'latency_ms'), '{150}', '... with latency_ms 150.0');
SELECT is(pg_temp.tag(:'h', 'experiment_events_total', 'experiment_id'), :'h',
          'enriches event with experiment context: experiment_id');
SELECT is((SELECT ROW(e.name, e.condition, e.tags)::text FROM metrics_ex.experiments e
             JOIN metrics_ex.points p ON p.tags ->> 'experiment_id' = e.id::text
            WHERE p.name = 'experiment_events_total' AND e.id = :'h'),
          ROW('handler_test', 'default', '{}'::text[])::text,
          'documented: name, condition and tags are the experiment''s, reached by its id');
SELECT is(ARRAY[pg_temp.tag(:'h', 'latency_ms', 'model'), pg_temp.tag(:'h', 'latency_ms', 'provider')],
          ARRAY['gpt-4', 'openai'], 'enrich_event/4: model and provider');
SELECT is(pg_temp.tag(:'h', 'latency_ms', 'session_id'), NULL,
          'documented: session_id is not kept (one series per session would be unbounded)');

SELECT metrics_ex.emit('test.latency', '{"duration": 250000000}', jsonb_build_object('experiment_id', :'h'),
                       '2026-11-20 10:00:01+00');
SELECT is(pg_temp.vals(:'h', 'latency_ms'), '{150,250}', 'calculates latency from duration (nanoseconds)');
SELECT metrics_ex.emit('test.span', '{"start": 1000000000, "stop": 1040000000}', jsonb_build_object('experiment_id', :'h'),
                       '2026-11-20 10:00:02+00');
SELECT is(pg_temp.vals(:'h', 'latency_ms'), '{150,250,40}', '... or from stop - start');

SELECT metrics_ex.start_experiment('success_test') AS s \gset
SELECT metrics_ex.emit('test.success', '{}', jsonb_build_object('experiment_id', :'s', 'response', 'ok'), '2026-11-20 10:00:00+00');
SELECT metrics_ex.emit('test.failure', '{}', jsonb_build_object('experiment_id', :'s', 'error', 'timeout'), '2026-11-20 10:00:01+00');
SELECT is(pg_temp.m(:'s') -> 'events', '{"test.success": {"count": 1}, "test.failure": {"count": 1}}',
          'determines success from metadata: two events');
SELECT is((SELECT array_agg(tags ->> 'event' || '=' || value ORDER BY ts) FROM metrics_ex.points
            WHERE name = 'success' AND tags ->> 'experiment_id' = :'s'),
          ARRAY['test.success=1', 'test.failure=0'], '... a response is a success, an error a failure');
SELECT metrics_ex.emit('test.event', '{}', jsonb_build_object('experiment_id', :'s'), '2026-11-20 10:00:02+00');
SELECT is(pg_temp.vals(:'s', 'success'), '{1,0}', 'success is unknown (no sample) without any sign');

SELECT metrics_ex.start_experiment('cost_test') AS k \gset
SELECT metrics_ex.emit('test.cost', '{}', jsonb_build_object('experiment_id', :'k', 'model', 'gpt-4',
                       'tokens', '{"prompt": 100, "completion": 200, "total": 300}'::jsonb), '2026-11-20 10:00:00+00');
SELECT ok(pg_temp.vals(:'k', 'cost_usd') = '{0.015}',
          'calculates cost from tokens and model: 100 * 30 / 1e6 + 200 * 60 / 1e6 = 0.015 (> 0)');

SELECT metrics_ex.start_experiment('training_test') AS t \gset
SELECT metrics_ex.emit('crucible_train.training.start', '{"system_time": 1764000000000000000}',
                       jsonb_build_object('experiment_id', :'t', 'model_name', 'bert-base'), '2026-11-20 10:00:00+00');
SELECT is(pg_temp.m(:'t') -> 'events', '{"crucible_train.training.start": {"count": 1}}', 'handles training start event');
SELECT is(pg_temp.vals(:'t', 'latency_ms'), '{}', 'handles missing training fields gracefully: no latency');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE tags ->> 'experiment_id' = :'t'
             AND name IN ('epoch', 'batch', 'loss', 'accuracy')), 0::bigint, '... and no epoch, batch, loss, accuracy');
SELECT metrics_ex.emit('crucible_train.training.stop', '{"duration": 3600000000000, "total_epochs": 10}',
                       jsonb_build_object('experiment_id', :'t', 'final_loss', 0.05), '2026-11-20 11:00:00+00');
SELECT is(pg_temp.vals(:'t', 'latency_ms'), '{3600000}', 'handles training stop event: latency_ms 3,600,000');

SELECT metrics_ex.start_experiment('epoch_test') AS ep \gset
SELECT metrics_ex.emit('crucible_train.epoch.stop', '{"duration": 360000000000, "loss": 0.25, "accuracy": 0.85}',
                       jsonb_build_object('experiment_id', :'ep', 'epoch', 3, 'learning_rate', 0.001), '2026-11-20 10:00:00+00');
SELECT is(ARRAY[pg_temp.vals(:'ep', 'epoch'), pg_temp.vals(:'ep', 'loss'), pg_temp.vals(:'ep', 'accuracy'),
                pg_temp.vals(:'ep', 'learning_rate')],
          '{{3},{0.25},{0.85},{0.001}}'::float8[],
          'handles epoch stop event with metrics: epoch 3, loss 0.25, accuracy 0.85, learning_rate 0.001');
SELECT metrics_ex.emit('crucible_train.batch.stop', '{"duration": 100000000, "loss": 0.35, "gradient_norm": 1.5}',
                       jsonb_build_object('experiment_id', :'ep', 'epoch', 2, 'batch', 150), '2026-11-20 10:00:01+00');
SELECT is(ARRAY[pg_temp.vals(:'ep', 'batch'), pg_temp.vals(:'ep', 'gradient_norm')], '{{150},{1.5}}'::float8[],
          'handles batch stop event with loss: batch 150, gradient_norm 1.5');
SELECT is(pg_temp.vals(:'ep', 'loss'), '{0.25,0.35}', '... loss 0.35');
SELECT metrics_ex.emit('crucible_train.checkpoint.saved', '{"model_size_bytes": 500000000}',
                       jsonb_build_object('experiment_id', :'ep', 'epoch', 5, 'checkpoint_path', '/checkpoints/model_epoch_5.pt'),
                       '2026-11-20 10:00:02+00');
SELECT is(pg_temp.vals(:'ep', 'epoch'), '{3,2,5}', 'handles checkpoint saved event: epoch 5');
SELECT is((SELECT tags ->> 'checkpoint_path' FROM metrics_ex.points WHERE name = 'epoch' AND value = 5
             AND tags ->> 'experiment_id' = :'ep'), '/checkpoints/model_epoch_5.pt', '... checkpoint_path');
SELECT metrics_ex.emit('crucible_train.epoch.stop', '{"duration": 100000000, "loss": 0.15, "accuracy": 0.92}',
                       jsonb_build_object('experiment_id', :'ep', 'epoch', 7, 'learning_rate', 0.0001), '2026-11-20 10:00:03+00');
SELECT is(ARRAY[pg_temp.vals(:'ep', 'accuracy'), pg_temp.vals(:'ep', 'learning_rate')],
          '{{0.85,0.92},{0.001,0.0001}}'::float8[], 'enriches training events with training-specific fields');

SELECT metrics_ex.start_experiment('deployment_test') AS d \gset
SELECT metrics_ex.emit('crucible_deployment.inference.start', '{"system_time": 1}',
                       jsonb_build_object('experiment_id', :'d', 'model_name', 'gpt-4', 'model_version', 'v1.0'),
                       '2026-11-20 10:00:00+00');
SELECT is(ARRAY[pg_temp.tag(:'d', 'experiment_events_total', 'model_name'), pg_temp.tag(:'d', 'experiment_events_total', 'model_version')],
          ARRAY['gpt-4', 'v1.0'], 'handles inference start event: model_name, model_version');
SELECT metrics_ex.emit('crucible_deployment.inference.stop', '{"duration": 250000000, "input_size": 512, "output_size": 128}',
                       jsonb_build_object('experiment_id', :'d', 'model_name', 'bert-classifier', 'batch_size', 32),
                       '2026-11-20 10:00:01+00');
SELECT is(ARRAY[pg_temp.vals(:'d', 'latency_ms'), pg_temp.vals(:'d', 'input_size'), pg_temp.vals(:'d', 'output_size'),
                pg_temp.vals(:'d', 'batch_size')],
          '{{250},{512},{128},{32}}'::float8[],
          'handles inference stop event with metrics: 250 ms, 512, 128, 32');

SELECT metrics_ex.start_experiment('framework_test') AS f \gset
SELECT metrics_ex.emit('crucible_framework.pipeline.start', '{}',
                       jsonb_build_object('experiment_id', :'f', 'pipeline_id', 'pipe-123', 'stage_count', 5),
                       '2026-11-20 10:00:00+00');
SELECT is(pg_temp.tag(:'f', 'experiment_events_total', 'pipeline_id'), 'pipe-123', 'handles pipeline start event');
SELECT metrics_ex.emit('crucible_framework.stage.stop', '{"duration": 50000000}',
                       jsonb_build_object('experiment_id', :'f', 'pipeline_id', 'pipe-123', 'stage_name', 'preprocessing',
                                          'stage_index', 0), '2026-11-20 10:00:01+00');
SELECT is((SELECT ROW(tags ->> 'pipeline_id', tags ->> 'stage_name')::text FROM metrics_ex.points
            WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'f'),
          ROW('pipe-123', 'preprocessing')::text, 'handles stage stop event: pipeline_id, stage_name');
SELECT is(pg_temp.vals(:'f', 'stage_index'), '{0}', '... stage_index 0');

SELECT metrics_ex.emit('crucible_train.epoch.stop', '{"duration": 200000000, "loss": 0.18, "accuracy": 0.89}',
                       '{"epoch": 4, "learning_rate": 0.001}', '2026-11-20 10:00:04+00');
SELECT is(pg_temp.vals(:'ep', 'loss'), '{0.25,0.35,0.15}',
          'documented: an event without experiment_id in its metadata belongs to no experiment');
SELECT metrics_ex.emit('crucible_train.epoch.stop', '{"duration": 200000000, "loss": 0.18, "accuracy": 0.89}',
                       jsonb_build_object('experiment_id', :'ep', 'epoch', 4), '2026-11-20 10:00:05+00');
SELECT is(pg_temp.vals(:'ep', 'loss'), '{0.25,0.35,0.15,0.18}',
          'automatically captures training events: emitted with its experiment_id');

------------------------------------------------------------------------
-- analysis_test.exs: 10 successful requests, latencies 100..1000 ms, costs
-- 0.001..0.010, tokens (100i, 200i, 300i); 2 failed ones
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('analysis_test') AS a \gset
SELECT count(metrics_ex.emit('req_llm.request.stop', jsonb_build_object('duration', 100000000 * i),
                             jsonb_build_object('experiment_id', :'a', 'cost', 0.001 * i,
                                                'tokens', jsonb_build_object('prompt', 100 * i, 'completion', 200 * i, 'total', 300 * i)),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 millisecond'))
  FROM generate_series(1, 10) i;
SELECT count(metrics_ex.emit('req_llm.request.exception', '{}', jsonb_build_object('experiment_id', :'a'),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 millisecond'))
  FROM generate_series(11, 12) i;
SELECT ok(pg_temp.m(:'a') ?& ARRAY['summary', 'latency', 'cost', 'reliability', 'tokens', 'events'],
          'calculate_metrics/1 calculates comprehensive metrics');
SELECT is((pg_temp.m(:'a') #>> '{summary,total_events}')::int, 12, 'summary: total_events 12');
SELECT ok((pg_temp.m(:'a') #>> '{summary,duration_seconds}')::float8 > 0, 'summary: duration_seconds > 0');
SELECT is(ARRAY[(pg_temp.m(:'a') #>> '{latency,count}')::float8, (pg_temp.m(:'a') #>> '{latency,mean}')::float8,
                (pg_temp.m(:'a') #>> '{latency,min}')::float8, (pg_temp.m(:'a') #>> '{latency,max}')::float8,
                (pg_temp.m(:'a') #>> '{latency,median}')::float8],
          '{10,550,100,1000,550}', 'latency: count 10, mean 550, min 100, max 1000, median 550');
SELECT is((pg_temp.m(:'a') #>> '{cost,count}')::int, 10, 'cost: count 10');
SELECT ok(abs((pg_temp.m(:'a') #>> '{cost,total}')::float8 - 0.055) < 1e-12, 'cost: total 0.055 (to 1e-12)');
SELECT ok(abs((pg_temp.m(:'a') #>> '{cost,mean_per_request}')::float8 - 0.0055) < 0.0001, 'cost: mean_per_request 0.0055');
SELECT is(ARRAY[(pg_temp.m(:'a') #>> '{reliability,count}')::int, (pg_temp.m(:'a') #>> '{reliability,successes}')::int,
                (pg_temp.m(:'a') #>> '{reliability,failures}')::int],
          '{12,10,2}', 'documented: reliability count, successes, failures (upstream total_requests, successful, failed) 12, 10, 2');
SELECT ok(abs((pg_temp.m(:'a') #>> '{reliability,success_rate}')::float8 - 0.8333) < 0.01, 'reliability: success_rate 0.8333');
SELECT is(ARRAY[(pg_temp.m(:'a') #>> '{reliability,sla_99}')::bool, (pg_temp.m(:'a') #>> '{reliability,sla_999}')::bool],
          '{false,false}', 'reliability: sla_99 and sla_999 false');
SELECT is(ARRAY[(pg_temp.m(:'a') #>> '{tokens,count}')::float8, (pg_temp.m(:'a') #>> '{tokens,total_prompt}')::float8,
                (pg_temp.m(:'a') #>> '{tokens,total_completion}')::float8, (pg_temp.m(:'a') #>> '{tokens,total}')::float8,
                (pg_temp.m(:'a') #>> '{tokens,mean_prompt}')::float8, (pg_temp.m(:'a') #>> '{tokens,mean_completion}')::float8,
                (pg_temp.m(:'a') #>> '{tokens,mean_total}')::float8],
          '{10,5500,11000,16500,550,1100,1650}', 'tokens: count 10, totals 5500/11000/16500, means 550/1100/1650');
SELECT is(pg_temp.m(:'a') -> 'events',
          '{"req_llm.request.stop": {"count": 10}, "req_llm.request.exception": {"count": 2}}',
          'calculates event type metrics correctly');

SELECT metrics_ex.start_experiment('comparison_test', condition => 'treatment') AS a2 \gset
SELECT count(metrics_ex.emit('req_llm.request.stop', jsonb_build_object('duration', 50000000 * i),
                             jsonb_build_object('experiment_id', :'a2', 'cost', 0.0005 * i),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 millisecond'))
  FROM generate_series(1, 10) i;
SELECT is((SELECT array_agg(ROW(baseline_id, experiment_id, percent_change)::text)
             FROM metrics_ex.compare_experiments(ARRAY[:'a', :'a2']::uuid[])),
          ARRAY[ROW(:'a'::uuid, :'a2'::uuid, -50::float8)::text],
          'documented: compare_experiments/1 gives a row per treatment; latency improvement -50%');

SELECT metrics_ex.start_experiment('percentile_test') AS pc \gset
SELECT count(metrics_ex.emit('test.event', jsonb_build_object('duration', 1000000 * i), jsonb_build_object('experiment_id', :'pc'),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 millisecond'))
  FROM generate_series(1, 100) i;
SELECT ok(abs((pg_temp.m(:'pc') #>> '{latency,p50}')::float8 - 50.5) <= 1.0, 'percentiles of 1..100: p50 50.5 (+-1)');
SELECT ok(abs((pg_temp.m(:'pc') #>> '{latency,p95}')::float8 - 95.5) <= 1.0, 'p95 95.5 (+-1); ours is 95.05, percentile_cont');
SELECT ok(abs((pg_temp.m(:'pc') #>> '{latency,p99}')::float8 - 99.5) <= 1.0, 'p99 99.5 (+-1); ours is 99.01');

------------------------------------------------------------------------
-- streaming_metrics_test.exs: calculate_metrics is always current
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('streaming_test') AS st \gset
SELECT is(ARRAY[(pg_temp.m(:'st') #>> '{latency,count}')::float8, (pg_temp.m(:'st') #>> '{cost,total}')::float8,
                (pg_temp.m(:'st') #>> '{reliability,count}')::float8],
          '{0,0,0}', 'get_metrics/1 returns initial empty metrics');
SELECT count(metrics_ex.emit('test.event', jsonb_build_object('duration', 1000000 * i),
                             jsonb_build_object('experiment_id', :'st', 'cost', 0.001 * i, 'response', 'ok'),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second'))
  FROM generate_series(1, 10) i;
SELECT is(ARRAY[(pg_temp.m(:'st') #>> '{latency,count}')::float8, (pg_temp.m(:'st') #>> '{latency,mean}')::float8,
                (pg_temp.m(:'st') #>> '{latency,min}')::float8, (pg_temp.m(:'st') #>> '{latency,max}')::float8],
          '{10,5.5,1,10}', 'updates metrics as events are added: latency count 10, mean 5.5, min 1, max 10');
SELECT ok(abs((pg_temp.m(:'st') #>> '{cost,total}')::float8 - 0.055) < 1e-12, 'cost total 0.055 (to 1e-12)');
SELECT is(ARRAY[(pg_temp.m(:'st') #>> '{reliability,count}')::float8, (pg_temp.m(:'st') #>> '{reliability,successes}')::float8,
                (pg_temp.m(:'st') #>> '{reliability,success_rate}')::float8],
          '{10,10,1}', 'reliability: 10 requests, 10 successful, rate 1.0');

SELECT metrics_ex.start_experiment('mixed_test') AS mx \gset
SELECT count(metrics_ex.emit('test.event', '{"duration": 100000000}',
                             jsonb_build_object('experiment_id', :'mx', 'cost', 0.01)
                             || CASE WHEN i <= 8 THEN '{"response": "ok"}'::jsonb ELSE '{"error": "boom"}' END,
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second'))
  FROM generate_series(1, 10) i;
SELECT is(ARRAY[(pg_temp.m(:'mx') #>> '{reliability,count}')::float8, (pg_temp.m(:'mx') #>> '{reliability,successes}')::float8,
                (pg_temp.m(:'mx') #>> '{reliability,failures}')::float8, (pg_temp.m(:'mx') #>> '{reliability,success_rate}')::float8],
          '{10,8,2,0.8}', 'handles mixed success/failure events: 8 of 10, rate 0.8');

SELECT metrics_ex.start_experiment('incremental_test') AS inc \gset
SELECT metrics_ex.emit('test.event', '{"duration": 10000000}', jsonb_build_object('experiment_id', :'inc', 'cost', 0.01, 'response', 'ok'),
                       '2026-11-20 10:00:00+00');
SELECT is((pg_temp.m(:'inc') #>> '{latency,mean}')::float8, 10::float8, 'update/2 incrementally: mean 10 after one event');
SELECT metrics_ex.emit('test.event', '{"duration": 20000000}', jsonb_build_object('experiment_id', :'inc', 'cost', 0.02, 'response', 'ok'),
                       '2026-11-20 10:00:01+00');
SELECT is(ARRAY[(pg_temp.m(:'inc') #>> '{latency,mean}')::float8, (pg_temp.m(:'inc') #>> '{latency,min}')::float8,
                (pg_temp.m(:'inc') #>> '{latency,max}')::float8],
          '{15,10,20}', '... mean 15, min 10, max 20 after two');
SELECT ok(abs((pg_temp.m(:'inc') #>> '{cost,total}')::float8 - 0.03) < 1e-12, '... cost total 0.03');
SELECT metrics_ex.start_experiment('nil_test') AS nl \gset
SELECT metrics_ex.emit('test.event', '{}', jsonb_build_object('experiment_id', :'nl'), '2026-11-20 10:00:00+00');
SELECT is(ARRAY[(pg_temp.m(:'nl') #>> '{latency,count}')::float8, (pg_temp.m(:'nl') #>> '{cost,count}')::float8],
          '{0,0}', 'handles nil values gracefully');
SELECT throws_ok($$SELECT metrics_ex.calculate_metrics('00000000-0000-4000-8000-000000000000')$$, '42704', NULL,
                 'start/1 returns an error if the experiment does not exist');

------------------------------------------------------------------------
-- store/ets_test.exs: time order, filters
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('store_test') AS so \gset
SELECT is((pg_temp.m(:'so') #>> '{summary,total_events}')::int, 0, 'get_all/1: no events for an experiment with none');
SELECT metrics_ex.emit('test.event', '{"duration": 2000000}', jsonb_build_object('experiment_id', :'so'), '2026-11-20 10:00:00.002+00');
SELECT metrics_ex.emit('test.event', '{"duration": 1000000}', jsonb_build_object('experiment_id', :'so'), '2026-11-20 10:00:00.001+00');
SELECT metrics_ex.emit('test.event', '{"duration": 3000000}', jsonb_build_object('experiment_id', :'so'), '2026-11-20 10:00:00.003+00');
SELECT is(ARRAY(SELECT (l::jsonb ->> 'value')::float8 FROM metrics_ex.export(:'so', 'jsonl') l
                 WHERE l::jsonb ->> 'name' = 'latency_ms'),
          '{1,2,3}', 'maintains time-ordered storage (inserted out of order)');

SELECT metrics_ex.start_experiment('query_test') AS q \gset
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 100000000}', jsonb_build_object('experiment_id', :'q', 'response', 'ok'),
                       '2026-11-20 10:00:00.001+00');
SELECT metrics_ex.emit('ensemble.prediction.stop', '{"duration": 200000000}', jsonb_build_object('experiment_id', :'q'),
                       '2026-11-20 10:00:00.002+00');
SELECT metrics_ex.emit('req_llm.request.stop', '{"duration": 50000000}', jsonb_build_object('experiment_id', :'q', 'error', 'x'),
                       '2026-11-20 10:00:00.003+00');
SELECT is((pg_temp.m(:'q') #>> '{events,req_llm.request.stop,count}')::int, 2, 'query/2 filters by event name');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'success' AND value = 1
             AND tags ->> 'experiment_id' = :'q'), 2::bigint, 'filters by success status');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'experiment_events_total' AND tags ->> 'experiment_id' = :'q'
             AND ts >= '2026-11-20 10:00:00.0015+00' AND ts < '2026-11-20 10:00:00.0025+00'), 1::bigint,
          'filters by time range');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'success' AND value = 1
             AND tags ->> 'experiment_id' = :'q' AND tags ->> 'event' = 'req_llm.request.stop'), 1::bigint,
          'combines multiple filters');

------------------------------------------------------------------------
-- time_window_test.exs: 20 events a minute apart, latency 10i ms, cost 0.001i
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('window_test') AS w \gset
SELECT count(metrics_ex.emit('test.event', jsonb_build_object('duration', 10000000 * i),
                             jsonb_build_object('experiment_id', :'w', 'cost', 0.001 * i, 'response', 'ok'),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 minute'))
  FROM generate_series(1, 20) i;
-- query_window {:last, n, unit} with now = base + 21 minutes
SELECT is(ARRAY(SELECT value FROM metrics_ex.points WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'w'
                   AND ts >= timestamptz '2026-11-20 10:21:00+00' - interval '5 minutes'
                   AND ts < '2026-11-20 10:21:00+00' ORDER BY ts),
          '{160,170,180,190,200}', 'queries last N minutes of events: 16-20');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'w'
             AND ts >= timestamptz '2026-11-20 10:21:00+00' - interval '120 seconds' AND ts < '2026-11-20 10:21:00+00'),
          2::bigint, 'queries last N seconds of events: 2');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'w'
             AND ts >= timestamptz '2026-11-20 10:21:00+00' - interval '1 hour' AND ts < '2026-11-20 10:21:00+00'),
          20::bigint, 'queries last N hours of events: all 20');
SELECT is(ARRAY(SELECT (x ->> 'value')::float8
                  FROM jsonb_array_elements(metrics_ex.get_metrics('latency_ms', 5, jsonb_build_object('experiment_id', :'w')) -> 'metrics') x),
          '{200,190,180,170,160}', 'documented: last N events come newest first (upstream: oldest first)');
SELECT is((metrics_ex.get_metrics('latency_ms', 100, jsonb_build_object('experiment_id', :'w')) ->> 'count')::int, 20,
          'handles request for more events than exist');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'w'
             AND ts >= '2026-11-20 10:05:00+00' AND ts < '2026-11-20 10:10:00+00'), 5::bigint,
          'documented: a range is half-open, [5 min, 10 min) holds events 5-9 (upstream inclusive: 6)');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'w'
             AND ts >= '2026-11-20 09:50:00+00' AND ts < '2026-11-20 09:55:00+00'), 0::bigint,
          'returns empty list for range with no events');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'latency_ms' AND tags ->> 'experiment_id' = :'w'
             AND value > 150 AND ts >= '2026-11-20 10:11:00+00'), 5::bigint,
          'combines window with additional filters: last 10 with value > 15');

SELECT is((SELECT count(*) FROM metrics_ex.windowed('latency_ms', '5 minutes', '5 minutes', 'mean',
                                                     jsonb_build_object('experiment_id', :'w'))), 4::bigint,
          'windowed_metrics/3: 5-minute windows: 4 windows');
SELECT is((SELECT ROW(count, value)::text FROM metrics_ex.windowed('latency_ms', '5 minutes', '5 minutes', 'mean',
                                                                   jsonb_build_object('experiment_id', :'w')) LIMIT 1),
          ROW(5, 30::float8)::text, 'first window: 5 events, mean latency 30');
SELECT ok(abs((SELECT value FROM metrics_ex.windowed('cost_usd', '5 minutes', '5 minutes', 'sum',
                                                     jsonb_build_object('experiment_id', :'w')) LIMIT 1) - 0.015) < 1e-12,
          'first window: total cost 0.015');
SELECT is(ARRAY(SELECT count FROM metrics_ex.windowed('latency_ms', '10 minutes', '5 minutes', 'mean',
                                                      jsonb_build_object('experiment_id', :'w'))),
          '{10,10,10}'::bigint[], 'handles overlapping sliding windows: 3 windows (1-10, 6-15, 11-20)');
SELECT is((SELECT count(*) FROM metrics_ex.windowed('latency_ms', '1 minute', '1 minute', 'mean',
                                                     jsonb_build_object('experiment_id', :'st', 'no', 'such'))), 0::bigint,
          'returns empty list for empty experiment');
SELECT is((SELECT count(*) FROM metrics_ex.windowed('latency_ms', '0 minutes', '1 minute', 'mean',
                                                     jsonb_build_object('experiment_id', :'w')))
        + (SELECT count(*) FROM metrics_ex.windowed('latency_ms', '1 minute', '0 minutes', 'mean',
                                                     jsonb_build_object('experiment_id', :'w'))), 0::bigint,
          'returns empty list for invalid window parameters (0)');

------------------------------------------------------------------------
-- export_test.exs: 3 requests of gpt-4
------------------------------------------------------------------------
SELECT metrics_ex.start_experiment('export_test') AS x \gset
SELECT count(metrics_ex.emit('req_llm.request.stop', jsonb_build_object('duration', 100000000 * i),
                             jsonb_build_object('experiment_id', :'x', 'cost', 0.001 * i, 'model', 'gpt-4',
                                                'provider', 'openai', 'tokens', '{"total": 500}'::jsonb),
                             '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 millisecond'))
  FROM generate_series(1, 3) i;
SELECT ok((SELECT string_agg(l, E'\n') ~ 'latency_ms' AND string_agg(l, E'\n') ~ 'cost_usd'
             FROM metrics_ex.export(:'x', 'csv') l), 'exports to CSV format: latency_ms and cost_usd present');
SELECT is((SELECT l FROM metrics_ex.export(:'x', 'csv') l LIMIT 1),
          'ts,name,kind,value,event,experiment_id,model,provider',
          'documented: one line per sample, the header names ts, name, kind, value and the tags (no event_id)');
SELECT ok((SELECT count(*) >= 4 AND bool_and(cardinality(string_to_array(l, ',')) = 8) FROM metrics_ex.export(:'x', 'csv') l),
          'creates properly formatted CSV: every line has the header''s fields');
SELECT metrics_ex.start_experiment('empty_test') AS em \gset
SELECT throws_ok(format('SELECT * FROM metrics_ex.export(%L, ''csv'')', :'em'), 'P0002', NULL,
                 'CSV: returns error when no data');
SELECT throws_ok(format('SELECT * FROM metrics_ex.export(%L, ''jsonl'')', :'em'), 'P0002', NULL,
                 'JSONL: returns error when no data');
SELECT is((SELECT count(*) FROM metrics_ex.export(:'x', 'jsonl') l WHERE l::jsonb ->> 'name' = 'experiment_events_total'),
          3::bigint, 'exports to JSON Lines format: the 3 events');
SELECT ok((SELECT bool_and(l::jsonb ?& ARRAY['ts', 'name', 'kind', 'value', 'tags']
                           AND l::jsonb -> 'tags' ? 'experiment_id') FROM metrics_ex.export(:'x', 'jsonl') l),
          'documented: each line is a sample, {ts, name, kind, value, tags} with experiment_id in tags');
SELECT throws_ok(format('SELECT * FROM metrics_ex.export(%L, ''xml'')', :'x'), '22023', NULL,
                 'returns error for unsupported format');
SELECT throws_ok($$SELECT * FROM metrics_ex.export('00000000-0000-4000-8000-000000000000', 'csv')$$, '42704', NULL,
                 'returns error for non-existent experiment');

------------------------------------------------------------------------
-- adapters/jsonl_metrics_test.exs and ports/metrics_store_test.exs
------------------------------------------------------------------------
SELECT metrics_ex.log_step('run_123', 'loss', 1.5, 0, ts => '2026-11-20 10:00:00+00');
SELECT is((SELECT l::jsonb - 'timestamp' FROM metrics_ex.export_run('run_123') l),
          '{"run_id": "run_123", "metric": "loss", "value": 1.5, "step": 0, "metadata": {}}',
          'record/5 appends a metric entry');
SELECT is((SELECT l::jsonb ->> 'timestamp' FROM metrics_ex.export_run('run_123') l), '2026-11-20T10:00:00.000000Z',
          '... with an ISO 8601 timestamp');
SELECT metrics_ex.log_step('run_m', 'loss', 2.0, 0);
SELECT metrics_ex.log_step('run_m', 'loss', 1.5, 1);
SELECT metrics_ex.log_step('run_m', 'loss', 1.2, 2);
SELECT is(ARRAY(SELECT (l::jsonb ->> 'value')::float8 FROM metrics_ex.export_run('run_m') l), '{2.0,1.5,1.2}',
          'appends multiple entries');
SELECT metrics_ex.log_step('run_md', 'lr', 0.001, 10, '{"epoch": 1, "batch": 5}');
SELECT is((SELECT l::jsonb -> 'metadata' FROM metrics_ex.export_run('run_md') l), '{"epoch": 1, "batch": 5}',
          'records metrics with metadata');
SELECT is((SELECT count(*) FROM metrics_ex.run_history('does_not_exist')), 0::bigint,
          'read/2 returns empty list for a run with nothing logged');
SELECT metrics_ex.log_step('run_1', 'loss', 1.0, 0);
SELECT metrics_ex.log_step('run_1', 'loss', 0.9, 1);
SELECT metrics_ex.log_step('run_2', 'loss', 2.0, 0);
SELECT is((SELECT count(*) FROM metrics_ex.export_run('run_1') l WHERE l::jsonb ->> 'run_id' = 'run_1'), 2::bigint,
          'returns all entries for a run_id');
SELECT metrics_ex.log_step('run_o', 'loss', 3.0, 0);
SELECT metrics_ex.log_step('run_o', 'loss', 2.0, 1);
SELECT metrics_ex.log_step('run_o', 'loss', 1.0, 2);
SELECT is(ARRAY(SELECT value FROM metrics_ex.run_history('run_o')), '{3.0,2.0,1.0}', 'returns entries in order');
SELECT ok(has_function_privilege('metrics_ex.log_step(text, text, float8, bigint, jsonb, timestamptz)', 'EXECUTE')
          AND has_function_privilege('metrics_ex.run_history(text, text)', 'EXECUTE'),
          'the port''s record and read callbacks exist (flush has nothing to do: every step is written at once)');

SELECT * FROM finish();
ROLLBACK;
