-- Rollups, retention and jobs, run by hand (run_maintenance / run_job) in
-- one transaction; the background workers run the same functions.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(38);

-- two series of a histogram three hours ago, minute by minute
CREATE TEMP TABLE t0 AS SELECT date_bin('1 hour', now() - interval '3 hours', '1970-01-01') AS t0;
SELECT metrics_ex.define('ru_latency', 'histogram', buckets => '{10, 50, 100}');
SELECT metrics_ex.histogram('ru_latency', (i % 97) + 0.5, jsonb_build_object('host', 'h' || (i % 2)),
                            (SELECT t0 FROM t0) + i * interval '7 seconds')
  FROM generate_series(0, 999) i;
SELECT metrics_ex.increment('ru_jobs_total', 2, '{"tenant": "a"}', (SELECT t0 FROM t0) + i * interval '1 minute')
  FROM generate_series(0, 59) i;

SELECT is((SELECT sum(count) FROM metrics_ex.rollup_pending), 1060::numeric, 'the write path left deltas for every sample');
SELECT ok((SELECT count(*) FROM metrics_ex.rollup_pending) < 400, 'one delta per series and minute, not per sample');
SELECT ok((metrics_ex.materialize() ->> 'deltas')::int > 0, 'materialize merges them');
SELECT is((SELECT count(*) FROM metrics_ex.rollup_pending), 0::bigint, 'nothing left pending');

SELECT is((SELECT sum(count) FROM metrics_ex.rollup_minute), 1060::numeric, 'minute rollups count every sample');
SELECT is((SELECT sum(count) FROM metrics_ex.rollup_hour), 1060::numeric, 'hour rollups too');
SELECT is((SELECT sum(count) FROM metrics_ex.rollup_day), 1060::numeric, 'day rollups too');
SELECT results_eq(
    $$SELECT r.count, r.sum, r.buckets FROM metrics_ex.series_totals r JOIN metrics_ex.series s ON s.id = r.series_id
       WHERE s.tags = '{"host": "h0"}'$$,
    $$SELECT count(*), sum(value), metrics_ex.bucket_counts(value, '{10,50,100}') FROM metrics_ex.points
       WHERE name = 'ru_latency' AND tags = '{"host": "h0"}'$$,
    'series totals equal the raw count, sum and cumulative buckets');

-- the same answers from rollups as from raw samples
SELECT results_eq(
    $$SELECT labels, value FROM metrics_ex.query('ru_latency', 'sum', '{host}', span => '1 day')$$,
    $$SELECT jsonb_build_object('host', tags ->> 'host'), sum(value) FROM metrics_ex.points
       WHERE name = 'ru_latency' GROUP BY 1 ORDER BY 1$$, 'sum by host');
SELECT results_eq(
    $$SELECT a, value FROM unnest('{count,min,max,last}'::text[]) a,
             metrics_ex.query('ru_latency', a, span => '1 day')$$,
    $$SELECT * FROM (VALUES ('count', (SELECT count(*)::float8 FROM metrics_ex.points WHERE name = 'ru_latency')),
                            ('min', (SELECT min(value) FROM metrics_ex.points WHERE name = 'ru_latency')),
                            ('max', (SELECT max(value) FROM metrics_ex.points WHERE name = 'ru_latency')),
                            ('last', (SELECT value FROM metrics_ex.points WHERE name = 'ru_latency' ORDER BY ts DESC LIMIT 1))) v$$,
    'count, min, max, last');
SELECT ok(abs((SELECT value FROM metrics_ex.query('ru_latency', 'mean', span => '1 day'))
              - (SELECT avg(value) FROM metrics_ex.points WHERE name = 'ru_latency')) < 1e-9, 'mean (to 1e-9)');
SELECT ok(abs((SELECT value FROM metrics_ex.query('ru_latency', 'stddev', span => '1 day'))
              - (SELECT stddev_samp(value) FROM metrics_ex.points WHERE name = 'ru_latency')) < 1e-9, 'stddev (to 1e-9)');
SELECT results_eq(
    $$SELECT "time", value FROM metrics_ex.time_series('ru_latency', '10m', 'count', span => '1 day')$$,
    $$SELECT date_bin('10 minutes', ts, '1970-01-01'), count(*)::float8 FROM metrics_ex.points
       WHERE name = 'ru_latency' GROUP BY 1 ORDER BY 1$$, 'time_series counts per 10 minutes');
SELECT results_eq(
    $$SELECT "time", value FROM metrics_ex.time_series('ru_jobs_total', 'hour', 'sum', span => '1 day')$$,
    $$SELECT date_bin('1 hour', ts, '1970-01-01'), sum(value) FROM metrics_ex.points
       WHERE name = 'ru_jobs_total' GROUP BY 1 ORDER BY 1$$, 'time_series sums per hour');

-- percentiles: exact while raw samples cover the range, else from the sketch (1%)
SELECT is((SELECT value FROM metrics_ex.query('ru_latency', 'p95', span => '1 day')),
          (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM metrics_ex.points WHERE name = 'ru_latency'),
          'p95 over raw samples is exact');
SELECT metrics_ex.set_retention('ru_latency', '1 hour');
SELECT ok(abs((SELECT value FROM metrics_ex.query('ru_latency', 'p95', span => '1 day'))
              / (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM metrics_ex.points WHERE name = 'ru_latency') - 1)
          <= 0.01, 'p95 beyond raw retention comes from the sketch, within 1%');

-- a late sample re-aggregates its own series' buckets only
CREATE TEMP TABLE before AS SELECT series_id, bucket, count FROM metrics_ex.rollup_minute;
SELECT metrics_ex.histogram('ru_latency', 1000, '{"host": "h1"}', (SELECT t0 FROM t0) + interval '30 seconds');
SELECT ok((metrics_ex.materialize() ->> 'minutes')::int = 1, 'one minute bucket merged');
SELECT results_eq(
    $$SELECT s.tags, r.count - b.count FROM metrics_ex.rollup_minute r JOIN before b USING (series_id, bucket)
       JOIN metrics_ex.series s ON s.id = r.series_id WHERE r.count <> b.count$$,
    $$VALUES ('{"host": "h1"}'::jsonb, 1::bigint)$$, 'only h1''s minute changed');
SELECT is((SELECT max FROM metrics_ex.rollup_hour r JOIN metrics_ex.series s ON s.id = r.series_id
            WHERE s.tags = '{"host": "h1"}' AND r.bucket = (SELECT t0 FROM t0)), 1000::float8, 'and its hour');

-- retention: a whole old day is dropped, rollups and totals stay
SELECT metrics_ex.set_retention('ru_latency', NULL);
SELECT metrics_ex._create_day_partition(now() - interval '3 days');
SELECT metrics_ex.increment('ru_jobs_total', 5, '{"tenant": "a"}', now() - interval '3 days');
SELECT metrics_ex.materialize();
CREATE TEMP TABLE totals_before AS SELECT * FROM metrics_ex.series_totals;
CREATE TEMP TABLE pruned_before AS SELECT coalesce(sum(value), 0)::bigint AS value FROM metrics_ex.totals WHERE key = 'samples_pruned';
SELECT is((metrics_ex.prune() ->> 'samples_dropped')::int, 1, 'the old day''s one sample is dropped with its partition');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE ts < now() - interval '2 days'), 0::bigint, 'raw samples are gone');
SELECT is((SELECT value FROM metrics_ex.query('ru_jobs_total', 'sum', since => now() - interval '4 days', until => now() - interval '2 days')),
          5::float8, 'the range is still answered from rollups');
SELECT results_eq($$SELECT * FROM metrics_ex.series_totals ORDER BY series_id$$,
                  $$SELECT * FROM totals_before ORDER BY series_id$$, 'counter totals did not move');
SELECT is((SELECT value FROM metrics_ex.totals WHERE key = 'samples_pruned') - (SELECT value FROM pruned_before),
          1::bigint, 'get_stats counts the pruned sample');

-- a metric kept shorter than the others is pruned row by row
SELECT metrics_ex.set_retention('ru_jobs_total', '1 hour');
SELECT ok((metrics_ex.prune() ->> 'samples_deleted')::int = 60, 'samples older than an hour deleted');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'ru_jobs_total'), 0::bigint, 'none left');

-- a single value keeps no stats or sketch; merging a second one rebuilds them
SELECT metrics_ex.gauge('ru_single', 10, '{}', (SELECT t0 FROM t0));
SELECT metrics_ex.materialize();
SELECT ok((SELECT stats IS NULL AND sketch IS NULL FROM metrics_ex.rollup_minute r
            JOIN metrics_ex.series s ON s.id = r.series_id JOIN metrics_ex.metrics m ON m.id = s.metric_id
           WHERE m.name = 'ru_single'), 'a one-value minute stores neither stats nor sketch');
SELECT metrics_ex.gauge('ru_single', 20, '{}', (SELECT t0 FROM t0) + interval '1 second');
SELECT metrics_ex.materialize();
SELECT results_eq($$SELECT r.count, metrics_ex.stddev(r.stats), metrics_ex.quantile(r.sketch, 1)
                      FROM metrics_ex.rollup_minute r JOIN metrics_ex.series s ON s.id = r.series_id
                      JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_single'$$,
                  $$VALUES (2::bigint, sqrt(50)::float8, 20::float8)$$, 'the merge rebuilds stats and sketch');
SELECT is((SELECT value FROM metrics_ex.query('ru_single', 'stddev', span => '1 day')), sqrt(50)::float8,
          'stddev from the rollup');

-- a load bigger than the deltas' memory bound writes them out part way
COPY (SELECT 'ru_big', (i % 1000)::float8 / 10, '{"h": "' || i % 7 || '"}',
             (SELECT t0 FROM t0) + (i % 3600) * interval '1 second'
        FROM generate_series(1, 1100000) i) TO '/tmp/metrics_ex_rollups_big.txt';
COPY metrics_ex.ingest (name, value, tags, ts) FROM '/tmp/metrics_ex_rollups_big.txt';
SELECT is((SELECT sum(r.count) FROM metrics_ex.rollup_pending r JOIN metrics_ex.series s ON s.id = r.series_id
            JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_big'), 1100000::numeric,
          'every sample of a 1.1M-row COPY has its delta');

-- a subtransaction that fails inside the statement does not lose the
-- deltas of samples its parent stored
CREATE FUNCTION pg_temp.try_thing() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
    RETURN 1;
END $$;
SELECT metrics_ex.increment('ru_subxact_total', 1, '{}', (SELECT t0 FROM t0)), pg_temp.try_thing()
  FROM generate_series(1, 3);
SELECT metrics_ex.materialize();
SELECT is((SELECT sum(r.count) FROM metrics_ex.rollup_minute r JOIN metrics_ex.series s ON s.id = r.series_id
            JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_subxact_total'), 3::numeric,
          'every stored sample has its rollup delta despite rolled-back subtransactions');

-- jobs
SELECT is(metrics_ex.run_job('materialize'), 'succeeded', 'run_job runs a built-in job');
SELECT metrics_ex.add_job('ru_boom', 'SELECT 1/0', '1 minute');
SELECT is(metrics_ex.run_job('ru_boom'), 'failed', 'a failing job is logged as failed');
SELECT is(metrics_ex.run_job('ru_boom'), 'failed', 'and again');
SELECT results_eq($$SELECT consecutive_failures, last_error, next_run > now() + interval '110 seconds'
                      FROM metrics_ex.jobs WHERE job = 'ru_boom'$$,
                  $$VALUES (2, 'division by zero', true)$$, 'failures back off');
SELECT is(metrics_ex.run_job('retention'), 'succeeded', 'other jobs still run');
SELECT throws_ok($$SELECT metrics_ex.run_job('nope')$$, '42704', NULL, 'unknown job');
SELECT throws_ok($$SELECT metrics_ex.define('ru_latency', 'histogram', buckets => '{1,2}')$$, '55000', NULL,
                 'buckets of a metric with series cannot change');

SELECT * FROM finish();
ROLLBACK;
