-- MetricsEx's own test suite (North-Shore-AI/metrics_ex, test/), translated
-- case by case with upstream's expected values as the oracle.  Upstream
-- records "now" and queries windows ending now; here samples get fixed times
-- and queries name their [since, until).  Where we answer differently on
-- purpose (README: Differences from the Elixir libraries), the case is named
-- "documented:" and tests our answer.  ETS.clear/0 has no counterpart: each
-- case uses its own metric names.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(55);

\set t0 '''2026-11-20 10:00:00+00'''
\set since '''2026-11-20 09:00:00+00'''
\set until '''2026-11-20 11:00:00+00'''

-- the newest sample of a metric, as get_metrics returns it
CREATE FUNCTION pg_temp.newest(metric text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT metrics_ex.get_metrics(metric, 1) -> 'metrics' -> 0 $$;

------------------------------------------------------------------------
-- storage/ets_test.exs
------------------------------------------------------------------------
SELECT metrics_ex.increment('metric1', 1, '{}', :t0);
SELECT metrics_ex.gauge('metric2', 42, '{}', :t0);
SELECT is((SELECT array_agg(x ->> 'name') FROM jsonb_array_elements(metrics_ex.get_metrics(kind => 'gauge') -> 'metrics') x),
          '{metric2}', 'query/1 queries by metric type');
SELECT is(pg_temp.newest('metric2') ->> 'kind', 'gauge',
          'documented: the type is reported as "kind"');

SELECT metrics_ex.increment('test_counter_s', 1, '{"tenant": "cns"}', :t0);
SELECT is((metrics_ex.get_metrics('test_counter_s') ->> 'count')::int, 1, 'store/1 stores a metric');
SELECT is(pg_temp.newest('test_counter_s') ->> 'name', 'test_counter_s', '... under its name');
SELECT metrics_ex.increment('test_counter_s', 2, '{"tenant": "crucible"}', :t0);
SELECT is((metrics_ex.get_metrics('test_counter_s') ->> 'count')::int, 2, 'stores multiple metrics with same name');

SELECT metrics_ex.increment('counter_a', 1, '{}', :t0);
SELECT metrics_ex.increment('counter_b', 2, '{}', :t0);
SELECT is((SELECT array_agg(x ->> 'name') FROM jsonb_array_elements(metrics_ex.get_metrics('counter_a') -> 'metrics') x),
          '{counter_a}', 'queries by metric name');

SELECT metrics_ex.increment('test_tags', 1, '{"tenant": "cns"}', :t0);
SELECT metrics_ex.increment('test_tags', 2, '{"tenant": "crucible"}', :t0);
SELECT is((SELECT array_agg(x -> 'tags' ->> 'tenant')
             FROM jsonb_array_elements(metrics_ex.get_metrics('test_tags', tags => '{"tenant": "cns"}') -> 'metrics') x),
          '{cns}', 'queries by tags');

SELECT metrics_ex.increment('test_range', 1, '{}', :t0);
SELECT is((metrics_ex.get_metrics('test_range', since => :since, until => :until) ->> 'count')::int, 1,
          'queries with time range');

SELECT count(metrics_ex.increment('test_limit', i, '{}', :t0)) FROM generate_series(1, 10) i;
SELECT is((metrics_ex.get_metrics('test_limit', 5) ->> 'count')::int, 5, 'limits results');

SELECT ok((metrics_ex.get_stats() #>> '{storage,total_metrics}')::int >= 1
          AND (metrics_ex.get_stats() #>> '{storage,metrics_stored}')::int >= 1,
          'stats/0 returns storage statistics');
SELECT is(jsonb_typeof(metrics_ex.get_stats() #> '{storage,bytes}'), 'number',
          'documented: memory_bytes is "bytes" (the table and catalog size on disk)');

------------------------------------------------------------------------
-- metrics_ex_test.exs: the main API
------------------------------------------------------------------------
SELECT metrics_ex.record('test_metric', jsonb_build_object('value', 42, 'ts', :t0));
SELECT ok((metrics_ex.get_metrics('test_metric') ->> 'count')::int >= 1, 'record/2 stores metrics');
SELECT metrics_ex.increment('test_counter_api', ts => :t0);
SELECT ok((metrics_ex.get_metrics('test_counter_api') ->> 'count')::int >= 1, 'increment/1 increments counters');
SELECT metrics_ex.gauge('test_gauge', 100, '{}', :t0);
SELECT is((pg_temp.newest('test_gauge') ->> 'value')::float8, 100::float8, 'gauge/2 records gauge values');
SELECT metrics_ex.histogram('test_histogram', 123.45, '{}', :t0);
SELECT is((pg_temp.newest('test_histogram') ->> 'value')::float8, 123.45::float8, 'histogram/2 records histogram values');
SELECT metrics_ex.increment('test_query', 10, '{}', :t0);
SELECT metrics_ex.increment('test_query', 20, '{}', :t0);
SELECT is((SELECT value FROM metrics_ex.query('test_query', 'sum', since => :since, until => :until)), 30::float8,
          'query/2 aggregates metrics: sum 30');

------------------------------------------------------------------------
-- metric_test.exs: metric values and tags
------------------------------------------------------------------------
SELECT metrics_ex.increment('test_counter_m', ts => :t0);
SELECT is(pg_temp.newest('test_counter_m') - 'timestamp',
          '{"name": "test_counter_m", "kind": "counter", "value": 1, "tags": {}}',
          'counter/4 creates a counter metric with default value 1 and no tags');
SELECT metrics_ex.increment('test_counter_m5', 5, '{"tenant": "cns"}', :t0);
SELECT is(pg_temp.newest('test_counter_m5') - 'timestamp' - 'name' - 'kind', '{"value": 5, "tags": {"tenant": "cns"}}',
          'creates a counter metric with custom value and tags');
SELECT metrics_ex.gauge('queue_depth_m', 42, '{"queue": "default"}', :t0);
SELECT is(pg_temp.newest('queue_depth_m') - 'timestamp',
          '{"name": "queue_depth_m", "kind": "gauge", "value": 42, "tags": {"queue": "default"}}', 'gauge/4 creates a gauge metric');
SELECT metrics_ex.histogram('response_time_m', 123.45, '{"endpoint": "/api"}', :t0);
SELECT is(pg_temp.newest('response_time_m') - 'timestamp',
          '{"name": "response_time_m", "kind": "histogram", "value": 123.45, "tags": {"endpoint": "/api"}}',
          'histogram/4 creates a histogram metric');
SELECT metrics_ex.increment('test_map', 1, '{"tag": "value"}', :t0);
SELECT is(jsonb_typeof(pg_temp.newest('test_map') -> 'timestamp'), 'string', 'to_map/1: the timestamp is a string');
SELECT is(pg_temp.newest('test_map') ->> 'timestamp', '2026-11-20T10:00:00+00:00', '... in ISO 8601');

------------------------------------------------------------------------
-- recorder_test.exs
------------------------------------------------------------------------
SELECT metrics_ex.increment('test_counter_r', ts => :t0);
SELECT is((pg_temp.newest('test_counter_r') ->> 'value')::float8, 1::float8, 'increment/3 increments a counter by 1');
SELECT metrics_ex.increment('test_counter_r5', 5, ts => :t0);
SELECT is((pg_temp.newest('test_counter_r5') ->> 'value')::float8, 5::float8, 'increments a counter by custom amount');
SELECT metrics_ex.increment('test_counter_rt', tags => '{"tenant": "cns"}', ts => :t0);
SELECT is((metrics_ex.get_metrics('test_counter_rt', tags => '{"tenant": "cns"}') ->> 'count')::int, 1, 'increments with tags');
SELECT metrics_ex.increment('test_counter_rd', tags => '{"tenant": "cns", "trace_id": "trace-001", "work_id": "work-001"}', ts => :t0);
SELECT is(pg_temp.newest('test_counter_rd') -> 'tags',
          '{"tenant": "cns", "trace_id": "trace-001", "work_id": "work-001"}',
          'documented: standard dimensions go in tags (there is no metadata argument), kept per sample');
SELECT is((SELECT count(*) FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
            WHERE m.name = 'test_counter_rd' AND s.tags ? 'trace_id'), 0::bigint,
          '... and are no part of the series');
SELECT metrics_ex.gauge('queue_depth_r', 42, ts => :t0);
SELECT is(pg_temp.newest('queue_depth_r') - 'timestamp' - 'name' - 'tags', '{"kind": "gauge", "value": 42}',
          'gauge/3 records a gauge value');
SELECT metrics_ex.histogram('response_time_r', 123.45, ts => :t0);
SELECT is(pg_temp.newest('response_time_r') - 'timestamp' - 'name' - 'tags', '{"kind": "histogram", "value": 123.45}',
          'histogram/3 records a histogram value');
SELECT ok(metrics_ex.measure('test_operation', 'SELECT pg_sleep(0.01)') >= 10, 'measure/3 returns the time, >= 10 ms ...');
SELECT ok((pg_temp.newest('test_operation') ->> 'value')::float8 >= 10, '... and records it: at least 10 ms');
SELECT metrics_ex.record('experiment_result', jsonb_build_object('value', 0.75, 'tags', '{"model": "llama-3.1"}'::jsonb,
                                                                 'experiment_id', 'exp_123', 'ts', :t0));
SELECT is((pg_temp.newest('experiment_result') ->> 'value')::float8, 0.75::float8, 'record/2 records a generic metric');
SELECT is(pg_temp.newest('experiment_result') #>> '{tags,model}', 'llama-3.1', '... with its tags');
SELECT is(pg_temp.newest('experiment_result') #>> '{tags,experiment_id}', 'exp_123',
          'documented: other payload keys (experiment_id) become tags, not metadata');
SELECT metrics_ex.record('dimension_metric', jsonb_build_object('value', 1, 'trace_id', 'trace-999', 'work_id', 'work-999', 'ts', :t0));
SELECT is(pg_temp.newest('dimension_metric') -> 'tags', '{"trace_id": "trace-999", "work_id": "work-999"}',
          'promotes standard dimensions into tags');

------------------------------------------------------------------------
-- aggregator_test.exs
------------------------------------------------------------------------
SELECT metrics_ex.increment('jobs_completed', 10, '{"tenant": "cns"}', :t0);
SELECT metrics_ex.increment('jobs_completed', 20, '{"tenant": "cns"}', :t0);
SELECT metrics_ex.increment('jobs_completed', 30, '{"tenant": "crucible"}', :t0);
-- raw samples answer percentiles exactly while retention keeps them: keep
-- these (dated in the past) long enough
SELECT metrics_ex.define('response_time', 'histogram');
SELECT metrics_ex.set_retention('response_time', '100 years');
SELECT metrics_ex.histogram('response_time', 100.0, '{"endpoint": "/api"}', :t0);
SELECT metrics_ex.histogram('response_time', 200.0, '{"endpoint": "/api"}', :t0);
SELECT metrics_ex.histogram('response_time', 150.0, '{"endpoint": "/api"}', :t0);
SELECT is((SELECT value FROM metrics_ex.query('jobs_completed', 'count', since => :since, until => :until)), 3::float8,
          'query/2 calculates count');
SELECT is((SELECT value FROM metrics_ex.query('jobs_completed', 'sum', since => :since, until => :until)), 60::float8,
          'calculates sum');
SELECT ok(abs((SELECT value FROM metrics_ex.query('response_time', 'mean', since => :since, until => :until)) - 150) < 0.1,
          'calculates mean (+-0.1)');
SELECT is((SELECT value FROM metrics_ex.query('response_time', 'min', since => :since, until => :until)), 100::float8,
          'calculates min');
SELECT is((SELECT value FROM metrics_ex.query('response_time', 'max', since => :since, until => :until)), 200::float8,
          'calculates max');
SELECT ok((SELECT value FROM metrics_ex.query('response_time', 'p95', since => :since, until => :until)) >= 150,
          'calculates p95 (>= 150) ...');
SELECT is((SELECT value FROM metrics_ex.query('response_time', 'p95', since => :since, until => :until)), 195::float8,
          'documented: ... exactly, as percentile_cont: 195 (upstream nearest rank: 200)');
SELECT is(metrics_ex.query_json('jobs_completed', 'sum', '{tenant}', since => :since, until => :until),
          '[{"tenant": "cns", "sum": 30}, {"tenant": "crucible", "sum": 30}]', 'groups by single field');
SELECT metrics_ex.increment('test_group', 1, '{"model": "llama", "dataset": "scifact"}', :t0);
SELECT metrics_ex.increment('test_group', 2, '{"model": "llama", "dataset": "fever"}', :t0);
SELECT is((SELECT count(*) FROM metrics_ex.query('test_group', 'sum', '{model,dataset}', since => :since, until => :until)),
          2::bigint, 'groups by multiple fields');
SELECT ok((SELECT count(*) > 0 AND bool_and("time" IS NOT NULL AND value IS NOT NULL)
             FROM metrics_ex.time_series('jobs_completed', 'hour', 'count',
                                         since => timestamptz '2026-11-20 10:30:00+00' - interval '2 hours',
                                         until => '2026-11-20 10:30:00+00')),
          'time_series/2 creates hourly time series (every point has a time and a value)');
SELECT is(metrics_ex.rollup_json('jobs_completed', '{tenant}', '{sum,count,mean}', since => :since, until => :until) -> 'cns',
          '{"sum": 30, "count": 2, "mean": 15}', 'rollup/2 calculates rollups with multiple aggregations');

------------------------------------------------------------------------
-- telemetry_handler_test.exs, metric_test.exs from_telemetry/3
------------------------------------------------------------------------
SELECT metrics_ex.attach_telemetry('work.job.completed', 'work_job_completed', 'counter', tag_keys => '{tenant}');
SELECT is(metrics_ex.emit('work.job.completed', '{"count": 1}',
                          '{"work_id": "work-222", "trace_id": "trace-222", "plan_id": "plan-222", "step_id": "step-222", "tenant": "cns"}',
                          :t0), 1, 'attach_telemetry: the event records one sample');
SELECT is((metrics_ex.get_metrics('work_job_completed') ->> 'count')::int, 1, 'propagates standard dimensions: one metric');
SELECT is(pg_temp.newest('work_job_completed') -> 'tags',
          '{"work_id": "work-222", "trace_id": "trace-222", "plan_id": "plan-222", "step_id": "step-222", "tenant": "cns"}',
          '... with work_id, trace_id, plan_id, step_id and tenant');
SELECT metrics_ex.attach_telemetry('work.job.started', 'work_job_started', 'counter');
SELECT metrics_ex.emit('work.job.started', '{}', '{"work_id": "work-123", "tenant": "cns"}', :t0);
SELECT is(pg_temp.newest('work_job_started') -> 'tags', '{"work_id": "work-123"}',
          'documented: lineage ids always travel; tenant only when listed in tag_keys');
SELECT metrics_ex.emit('work.job.completed', '{"count": 5}', '{"tenant": "cns"}', :t0);
SELECT is((SELECT value FROM metrics_ex.query('work_job_completed', 'sum', since => :since, until => :until)), 2::float8,
          'documented: a counter without a measurement counts events (upstream adds measurements.count)');
SELECT metrics_ex.attach_telemetry('work.job.batch', 'work_jobs_total', 'counter', 'count');
SELECT metrics_ex.emit('work.job.batch', '{"count": 5}', '{}', :t0);
SELECT is((SELECT value FROM metrics_ex.query('work_jobs_total', 'sum', since => :since, until => :until)), 5::float8,
          'a counter with measurement => count adds it');
SELECT metrics_ex.attach_telemetry('queue.depth', 'queue_depth_t', 'gauge');
SELECT metrics_ex.emit('queue.depth', '{"size": 7, "active": 2}', '{}', :t0);
SELECT is((pg_temp.newest('queue_depth_t') ->> 'value')::float8, 7::float8,
          'a gauge takes value, size, depth or active, the first there');
SELECT metrics_ex.attach_telemetry('work.job.duration', 'work_job_duration', 'histogram');
SELECT metrics_ex.emit('work.job.duration', '{"latency": 12, "value": 99}', '{}', :t0);
SELECT is((pg_temp.newest('work_job_duration') ->> 'value')::float8, 12::float8,
          'a histogram takes duration, latency, time or value, the first there');
SELECT is(metrics_ex.emit('work.job.duration', '{"other": 1}', '{}', :t0), 0, 'an event without such a value is dropped');

SELECT * FROM finish();
ROLLBACK;
