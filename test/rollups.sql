-- Rollups, the watermark, retention and jobs, run by hand (materialize,
-- prune, run_job) in one transaction; the background workers run the same
-- functions.  The data lies in the future (t1, two hours ahead), so that
-- the test decides the watermark itself, whatever the clock says.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(48);
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;

CREATE TEMP TABLE t AS
SELECT date_bin('1 hour', now() + interval '2 hours', '1970-01-01') AS t1,
       date_bin('1 hour', now() - interval '3 hours', '1970-01-01') AS t0;

-- on time: two series of a histogram (with minute rollups) and a counter,
-- minute by minute, after the published watermark
SELECT metrics_ex.define('ru_latency', 'histogram', buckets => '{10, 50, 100}', minute_rollups => true);
SELECT metrics_ex.histogram('ru_latency', (i % 97) + 0.5, jsonb_build_object('host', 'h' || (i % 2)),
                            (SELECT t1 FROM t) + i * interval '7 seconds')
  FROM generate_series(0, 999) i;
SELECT metrics_ex.increment('ru_jobs_total', 2, '{"tenant": "a"}', (SELECT t1 FROM t) + i * interval '1 minute')
  FROM generate_series(0, 59) i;
SELECT is((SELECT count(*) FROM metrics_ex.rollup_pending), 0::bigint, 'samples after the watermark leave no delta');

-- exact before any rollup: the raw samples after the watermark
SELECT is((SELECT value FROM metrics_ex.query('ru_latency', 'count', since => (SELECT t1 FROM t),
                                              until => (SELECT t1 + interval '3 hours' FROM t))),
          1000::float8, 'read from raw samples before maintenance');

-- maintenance rolls them up once the watermark passes them
SELECT metrics_ex._publish_watermark((SELECT t1 + interval '3 hours' FROM t));
SELECT is((metrics_ex.materialize() ->> 'samples')::int, 1060, 'materialize rolls up every raw sample before the watermark');
SELECT is((SELECT done FROM metrics_ex.watermarks()), (SELECT t1 + interval '3 hours' FROM t), 'done is the watermark');
SELECT is((SELECT sum(r.count) FROM metrics_ex.rollup_minute r JOIN metrics_ex.series s ON s.id = r.series_id
            JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_latency'),
          1000::numeric, 'minute rollups for the metric that asked for them');
SELECT is((SELECT count(*) FROM metrics_ex.rollup_minute r JOIN metrics_ex.series s ON s.id = r.series_id
            JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_jobs_total'),
          0::bigint, 'none for the others');
SELECT is((SELECT sum(count) FROM metrics_ex.rollup_hour r WHERE r.bucket >= (SELECT t1 FROM t)), 1060::numeric, 'hour rollups count every sample');
SELECT is((SELECT count(*) FROM metrics_ex.rollup_day r
            WHERE r.bucket >= date_bin('1 day', (SELECT done FROM metrics_ex.watermarks()), '1970-01-01')),
          0::bigint, 'no day row for the day the watermark is in (its hours hold it)');
-- once the watermark is past the day, its day rows are made from its hours
SELECT metrics_ex._publish_watermark((SELECT date_bin('1 day', t1, '1970-01-01') + interval '2 days' FROM t));
SELECT is((metrics_ex.materialize() ->> 'days')::int > 0, true, 'materialize makes the day rows of complete days');
SELECT is((SELECT sum(count) FROM metrics_ex.rollup_day r WHERE r.bucket >= (SELECT date_bin('1 day', t1, '1970-01-01') FROM t)),
          1060::numeric, 'day rollups count every sample');
SELECT results_eq(
    $$SELECT r.count, r.sum, r.buckets FROM metrics_ex.series_totals r JOIN metrics_ex.series s ON s.id = r.series_id
       WHERE s.tags = '{"host": "h0"}'$$,
    $$SELECT count(*), sum(value), metrics_ex.bucket_counts(value, '{10,50,100}') FROM metrics_ex.points
       WHERE name = 'ru_latency' AND tags = '{"host": "h0"}'$$,
    'series totals equal the raw count, sum and cumulative buckets');

-- the same answers from rollups as from raw samples
CREATE TEMP VIEW ru_raw AS
SELECT * FROM metrics_ex.points WHERE ts >= (SELECT t1 FROM t) AND ts < (SELECT t1 + interval '1 day' FROM t);
CREATE FUNCTION pg_temp.q(metric text, agg text, group_by text[] DEFAULT '{}') RETURNS TABLE (labels jsonb, value float8)
LANGUAGE sql AS $$
    SELECT * FROM metrics_ex.query(metric, agg, group_by, since => (SELECT t1 FROM t), until => (SELECT t1 + interval '1 day' FROM t))
$$;
SELECT results_eq(
    $$SELECT labels, value FROM pg_temp.q('ru_latency', 'sum', '{host}')$$,
    $$SELECT jsonb_build_object('host', tags ->> 'host'), sum(value) FROM ru_raw
       WHERE name = 'ru_latency' GROUP BY 1 ORDER BY 1$$, 'sum by host');
SELECT results_eq(
    $$SELECT a, value FROM unnest('{count,min,max,last}'::text[]) a, pg_temp.q('ru_latency', a)$$,
    $$SELECT * FROM (VALUES ('count', (SELECT count(*)::float8 FROM ru_raw WHERE name = 'ru_latency')),
                            ('min', (SELECT min(value) FROM ru_raw WHERE name = 'ru_latency')),
                            ('max', (SELECT max(value) FROM ru_raw WHERE name = 'ru_latency')),
                            ('last', (SELECT value FROM ru_raw WHERE name = 'ru_latency' ORDER BY ts DESC LIMIT 1))) v$$,
    'count, min, max, last');
SELECT ok(abs((SELECT value FROM pg_temp.q('ru_latency', 'mean'))
              - (SELECT avg(value) FROM ru_raw WHERE name = 'ru_latency')) < 1e-9, 'mean (to 1e-9)');
SELECT ok(abs((SELECT value FROM pg_temp.q('ru_latency', 'stddev'))
              - (SELECT stddev_samp(value) FROM ru_raw WHERE name = 'ru_latency')) < 1e-9, 'stddev (to 1e-9)');
SELECT results_eq(
    $$SELECT "time", value FROM metrics_ex.time_series('ru_latency', '10m', 'count', since => (SELECT t1 FROM t),
                                                       until => (SELECT t1 + interval '1 day' FROM t))$$,
    $$SELECT date_bin('10 minutes', ts, '1970-01-01'), count(*)::float8 FROM ru_raw
       WHERE name = 'ru_latency' GROUP BY 1 ORDER BY 1$$, 'time_series counts per 10 minutes (minute rollups)');
SELECT results_eq(
    $$SELECT "time", value FROM metrics_ex.time_series('ru_jobs_total', 'hour', 'sum', since => (SELECT t1 FROM t),
                                                       until => (SELECT t1 + interval '1 day' FROM t))$$,
    $$SELECT date_bin('1 hour', ts, '1970-01-01'), sum(value) FROM ru_raw
       WHERE name = 'ru_jobs_total' GROUP BY 1 ORDER BY 1$$, 'time_series sums per hour');
-- a range that starts and ends inside hours: its edges from raw samples
SELECT is((SELECT value FROM metrics_ex.query('ru_jobs_total', 'count', since => (SELECT t1 + interval '10 minutes 30 seconds' FROM t),
                                              until => (SELECT t1 + interval '50 minutes' FROM t))),
          39::float8, 'the edges of a range inside an hour');

-- percentiles: exact while raw samples cover the range, else from the sketch (1%)
SELECT is((SELECT value FROM pg_temp.q('ru_latency', 'p95')),
          (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM ru_raw WHERE name = 'ru_latency'),
          'p95 over raw samples is exact');
SELECT metrics_ex._cut_raw(metrics_ex._metric_id('ru_latency'), (SELECT t1 + interval '1 day' FROM t));
SELECT ok(abs((SELECT value FROM pg_temp.q('ru_latency', 'p95'))
              / (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM ru_raw WHERE name = 'ru_latency') - 1)
          <= 0.01, 'p95 where retention has cut the raw samples comes from the sketch, within 1%');
SELECT metrics_ex._cut_raw(metrics_ex._metric_id('ru_jobs_total'), (SELECT t1 + interval '1 day' FROM t));
SELECT ok(abs((SELECT value FROM pg_temp.q('ru_jobs_total', 'p50')) / 2 - 1) <= 0.01,
          'a counter''s percentiles come from its stored sketch too');
SELECT is((SELECT value FROM metrics_ex.query('ru_jobs_total', 'count', since => (SELECT t1 + interval '10 minutes' FROM t),
                                              until => (SELECT t1 + interval '1 hour 10 minutes' FROM t))),
          60::float8, 'without raw samples, a range''s edges come from the finest level that still has them (the hour)');

-- a late sample (before the watermark) leaves a delta, merged into its own
-- series' buckets only; queries add it meanwhile
CREATE TEMP TABLE before AS SELECT series_id, bucket, count FROM metrics_ex.rollup_minute;
SELECT metrics_ex.histogram('ru_latency', 1000, '{"host": "h1"}', (SELECT t1 FROM t) + interval '30 seconds');
SELECT is((SELECT count(*) FROM metrics_ex.rollup_pending), 1::bigint, 'a late sample leaves a delta');
SELECT is((SELECT value FROM pg_temp.q('ru_latency', 'max')), 1000::float8, 'which queries read at once');
SELECT ok((metrics_ex.materialize() ->> 'minutes')::int = 1, 'one minute bucket merged');
SELECT results_eq(
    $$SELECT s.tags, r.count - b.count FROM metrics_ex.rollup_minute r JOIN before b USING (series_id, bucket)
       JOIN metrics_ex.series s ON s.id = r.series_id WHERE r.count <> b.count$$,
    $$VALUES ('{"host": "h1"}'::jsonb, 1::bigint)$$, 'only h1''s minute changed');
SELECT is((SELECT max FROM metrics_ex.rollup_hour r JOIN metrics_ex.series s ON s.id = r.series_id
            WHERE s.tags = '{"host": "h1"}' AND r.bucket = (SELECT t1 FROM t)), 1000::float8, 'and its hour');
SELECT is((SELECT value FROM pg_temp.q('ru_latency', 'max')), 1000::float8, 'the merged delta is read once');
SELECT is((SELECT value FROM pg_temp.q('ru_latency', 'count')), 1001::float8, 'and counted once');

-- retention: a whole old day is dropped, rollups and totals stay
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

-- a metric kept shorter than the others is pruned row by row, but never
-- beyond what the rollups hold
SELECT metrics_ex.set_retention('ru_jobs_total', '1 hour');
SELECT metrics_ex.increment('ru_jobs_total', 1, '{"tenant": "b"}', now() - interval '2 hours');
SELECT ok((metrics_ex.prune() ->> 'samples_deleted')::int >= 1, 'samples older than an hour deleted');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'ru_jobs_total' AND ts < now() - interval '1 hour'), 0::bigint,
          'none left');

-- a single value keeps no sketch; merging a second one makes it
SELECT metrics_ex.gauge('ru_single', 10, '{}', (SELECT t0 FROM t));
SELECT metrics_ex.materialize();
SELECT ok((SELECT m2 = 0 AND sketch IS NULL FROM metrics_ex.rollup_hour r
            JOIN metrics_ex.series s ON s.id = r.series_id JOIN metrics_ex.metrics m ON m.id = s.metric_id
           WHERE m.name = 'ru_single'), 'a one-value hour stores no sketch');
SELECT metrics_ex.gauge('ru_single', 20, '{}', (SELECT t0 FROM t) + interval '1 second');
SELECT metrics_ex.materialize();
SELECT results_eq($$SELECT r.count, r.m2, metrics_ex.quantile(r.sketch, 1)
                      FROM metrics_ex.rollup_hour r JOIN metrics_ex.series s ON s.id = r.series_id
                      JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_single'$$,
                  $$VALUES (2::bigint, 50::float8, 20::float8)$$, 'the merge makes m2 and the sketch');
SELECT is((SELECT value FROM metrics_ex.query('ru_single', 'stddev', since => (SELECT t0 FROM t),
                                              until => (SELECT t0 + interval '1 hour' FROM t))), sqrt(50)::float8,
          'stddev from the rollup');

-- a late load bigger than the deltas' memory bound writes them out part way
COPY (SELECT 'ru_big', (i % 1000)::float8 / 10, '{"h": "' || i % 7 || '"}',
             (SELECT t0 FROM t) + (i % 3600) * interval '1 second'
        FROM generate_series(1, 1100000) i) TO '/tmp/metrics_ex_rollups_big.txt';
COPY metrics_ex.ingest (name, value, tags, ts) FROM '/tmp/metrics_ex_rollups_big.txt';
SELECT is((SELECT sum(r.count) FROM metrics_ex.rollup_pending r JOIN metrics_ex.series s ON s.id = r.series_id
            JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_big'), 1100000::numeric,
          'every sample of a 1.1M-row late COPY has its delta');

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
SELECT metrics_ex.increment('ru_subxact_total', 1, '{}', (SELECT t0 FROM t)), pg_temp.try_thing()
  FROM generate_series(1, 3);
SELECT metrics_ex.materialize();
SELECT is((SELECT sum(r.count) FROM metrics_ex.rollup_hour r JOIN metrics_ex.series s ON s.id = r.series_id
            JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'ru_subxact_total'), 3::numeric,
          'every stored late sample has its rollup delta despite rolled-back subtransactions');

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
