-- No stored sample may make a later read or job fail.  Every finite value
-- is accepted, so sums near the ends of the float8 range overflow: they
-- carry +-Infinity (NaN for Infinity plus -Infinity) through rollups,
-- scrapes and queries instead of raising 22003.  Counts, min, max, last and
-- percentiles stay exact.  Normal data gives the same bits as before.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(48);
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
-- a rollup watermark of now: every sample below is late, and leaves a
-- delta beside its raw row until materialize() merges it
SELECT metrics_ex.materialize() IS NOT NULL AS watermark_published;

-- a = 1.7e308.  Series s of a gauge and a histogram, all in 2020-01-01 10:xx:
--   up: +a +a (sum +Inf)   mix: +a -a (sum 0, squares overflow)
--   down: -a -a (-Inf)     nan: +a +a in one minute, -a -a in another (NaN)
-- The gauge writes a minute's two values in one statement (one delta of
-- two values), the histogram one value per statement (one delta each).
SELECT metrics_ex.define('ov_c_total', 'counter');
SELECT metrics_ex.define('ov_gauge', 'gauge');
SELECT metrics_ex.define('ov_hist', 'histogram', buckets => '{1,1e300}');
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
    ('ov_gauge', 1.7e308, '{"s": "up"}', '2020-01-01 10:00:00+00'), ('ov_gauge', 1.7e308, '{"s": "up"}', '2020-01-01 10:00:30+00');
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
    ('ov_gauge', 1.7e308, '{"s": "mix"}', '2020-01-01 10:05:00+00'), ('ov_gauge', -1.7e308, '{"s": "mix"}', '2020-01-01 10:05:30+00');
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
    ('ov_gauge', -1.7e308, '{"s": "down"}', '2020-01-01 10:10:00+00'), ('ov_gauge', -1.7e308, '{"s": "down"}', '2020-01-01 10:10:30+00');
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
    ('ov_gauge', 1.7e308, '{"s": "nan"}', '2020-01-01 10:15:00+00'), ('ov_gauge', 1.7e308, '{"s": "nan"}', '2020-01-01 10:15:30+00');
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
    ('ov_gauge', -1.7e308, '{"s": "nan"}', '2020-01-01 10:20:00+00'), ('ov_gauge', -1.7e308, '{"s": "nan"}', '2020-01-01 10:20:30+00');
SELECT metrics_ex.histogram('ov_hist', 1.7e308, '{"s": "up"}', '2020-01-01 10:00:00+00');
SELECT metrics_ex.histogram('ov_hist', 1.7e308, '{"s": "up"}', '2020-01-01 10:00:30+00');
SELECT metrics_ex.histogram('ov_hist', 1.7e308, '{"s": "mix"}', '2020-01-01 10:05:00+00');
SELECT metrics_ex.histogram('ov_hist', -1.7e308, '{"s": "mix"}', '2020-01-01 10:05:30+00');
SELECT metrics_ex.histogram('ov_hist', -1.7e308, '{"s": "down"}', '2020-01-01 10:10:00+00');
SELECT metrics_ex.histogram('ov_hist', -1.7e308, '{"s": "down"}', '2020-01-01 10:10:30+00');
SELECT metrics_ex.histogram('ov_hist', 1.7e308, '{"s": "nan"}', '2020-01-01 10:15:00+00');
SELECT metrics_ex.histogram('ov_hist', 1.7e308, '{"s": "nan"}', '2020-01-01 10:15:30+00');
SELECT metrics_ex.histogram('ov_hist', -1.7e308, '{"s": "nan"}', '2020-01-01 10:20:00+00');
SELECT metrics_ex.histogram('ov_hist', -1.7e308, '{"s": "nan"}', '2020-01-01 10:20:30+00');
SELECT metrics_ex.increment('ov_c_total', 1.7e308, '{"s": "up"}', '2020-01-01 10:00:00+00');
SELECT metrics_ex.increment('ov_c_total', 1.7e308, '{"s": "up"}', '2020-01-01 10:00:30+00');

-- What query() must answer, per series and aggregation, over the whole day
-- (read from rollups and pending deltas) and over 10:00-11:00 (no whole
-- level-bucket the default rollup retention keeps for 2020: raw samples).
-- v NULL: any value (the order in which overflowing values are added decides
-- it); tol: relative tolerance (sketch estimates); nonfinite: the exact
-- answer is finite, but an Infinity or NaN (an overflowed sum of squares, or
-- of parts that were added separately) is allowed.  Never a wrong finite
-- number, never an error.
CREATE TEMP TABLE ov_expect (rng text, s text, agg text, v float8, tol float8, nonfinite bool);
INSERT INTO ov_expect
SELECT r.rng, e.s, e.agg,
       CASE WHEN r.rng = 'raw' AND e.s = 'nan' AND e.agg = 'stddev' THEN NULL ELSE e.v END,
       CASE WHEN r.rng = 'day' AND e.agg IN ('p50', 'p99') THEN 0.01 ELSE 0 END,
       e.agg = 'stddev' AND e.v = 0 OR e.s = 'nan' AND e.agg IN ('sum', 'mean', 'rate')
  FROM (VALUES ('day'), ('raw')) r(rng),
       (VALUES ('up', 'count', 2::float8), ('up', 'sum', 'Infinity'), ('up', 'mean', 'Infinity'), ('up', 'min', 1.7e308),
               ('up', 'max', 1.7e308), ('up', 'last', 1.7e308), ('up', 'stddev', 0), ('up', 'rate', 'Infinity'),
               ('up', 'p50', 1.7e308), ('up', 'p99', 1.7e308),
               ('mix', 'count', 2), ('mix', 'sum', 0), ('mix', 'mean', 0), ('mix', 'min', -1.7e308),
               ('mix', 'max', 1.7e308), ('mix', 'last', -1.7e308), ('mix', 'stddev', 'Infinity'), ('mix', 'rate', 0),
               ('mix', 'p50', 0), ('mix', 'p99', -1.7e308 * (1 - 0.99::float8) + 1.7e308 * 0.99),
               ('down', 'count', 2), ('down', 'sum', '-Infinity'), ('down', 'mean', '-Infinity'), ('down', 'min', -1.7e308),
               ('down', 'max', -1.7e308), ('down', 'last', -1.7e308), ('down', 'stddev', 0), ('down', 'rate', '-Infinity'),
               ('down', 'p50', -1.7e308), ('down', 'p99', -1.7e308),
               ('nan', 'count', 4), ('nan', 'sum', 0), ('nan', 'mean', 0), ('nan', 'min', -1.7e308),
               ('nan', 'max', 1.7e308), ('nan', 'last', -1.7e308), ('nan', 'stddev', 'Infinity'), ('nan', 'rate', 0),
               ('nan', 'p50', 0), ('nan', 'p99', 1.7e308)) e(s, agg, v);

-- query() over both ranges: the rows that miss their expected value
CREATE FUNCTION pg_temp.ov_misses(metric text, skip_series text DEFAULT '') RETURNS TABLE (rng text, s text, agg text, got float8, want float8)
LANGUAGE sql AS $$
    SELECT e.rng, e.s, e.agg, q.value, e.v
      FROM ov_expect e
      LEFT JOIN LATERAL (
          SELECT q.value FROM metrics_ex.query(metric, e.agg, '{s}',
                                               since => CASE e.rng WHEN 'day' THEN '2020-01-01' ELSE '2020-01-01 10:00' END::timestamptz,
                                               until => CASE e.rng WHEN 'day' THEN '2020-01-02' ELSE '2020-01-01 11:00' END::timestamptz) q
           WHERE q.labels ->> 's' = e.s) q ON true
     WHERE NOT (e.rng = 'day' AND e.s = skip_series)
       AND NOT coalesce(q.value = e.v
                        OR (e.v IS NULL AND q.value IS NOT NULL)
                        OR (e.tol > 0 AND abs(q.value / e.v - 1) <= e.tol)
                        OR (e.nonfinite AND q.value IN ('Infinity', '-Infinity', 'NaN')), false)
$$;

-- before materialize: rollup ranges read the pending deltas (the "nan"
-- series: +Inf and -Inf, or four single values whose sum depends on the
-- order they are added in)
SELECT is_empty($$SELECT * FROM pg_temp.ov_misses('ov_gauge')$$, 'gauge: every aggregation, pending deltas and raw');
SELECT is_empty($$SELECT * FROM pg_temp.ov_misses('ov_hist')$$, 'histogram: every aggregation, pending deltas and raw');
SELECT is((SELECT value FROM metrics_ex.query('ov_c_total', 'sum', since => '2020-01-01', until => '2020-01-02')),
          'Infinity'::float8, 'counter: sum of two increments of 1.7e308 is +Infinity');

-- the exposition: totals plus pending deltas
CREATE TEMP TABLE ov_lines (l text);
INSERT INTO ov_lines VALUES ('ov_c_total{s="up"} +Inf'), ('ov_gauge{s="up"} 1.7e+308'), ('ov_gauge{s="mix"} -1.7e+308'),
    ('ov_hist_sum{s="up"} +Inf'), ('ov_hist_sum{s="mix"} 0'), ('ov_hist_sum{s="down"} -Inf'),
    ('ov_hist_count{s="up"} 2'), ('ov_hist_count{s="nan"} 4'), ('ov_hist_bucket{s="mix",le="+Inf"} 2');
SELECT is_empty($$SELECT l FROM ov_lines WHERE strpos(metrics_ex.prometheus_text(), E'\n' || l || E'\n') = 0$$,
                'prometheus_text: +Inf, -Inf and exact counts before materialize');
SELECT is_empty($$SELECT l FROM ov_lines WHERE strpos(metrics_ex.openmetrics_text(), E'\n' || l || E'\n') = 0$$,
                'openmetrics_text: the same before materialize');

-- materialize(), the scheduler's job, merges them
SELECT is(metrics_ex.materialize() ->> 'late', '17', 'materialize merges every delta');
SELECT is((SELECT count(*) FROM metrics_ex.rollup_pending), 0::bigint, 'none left pending');
-- merged sums are exact: +a +a -a -a is 0 however the deltas were split
SELECT results_eq($$SELECT r.sum FROM metrics_ex.series_totals r JOIN metrics_ex.series s ON s.id = r.series_id
                     JOIN metrics_ex.metrics m ON m.id = s.metric_id
                    WHERE m.name = 'ov_hist' ORDER BY s.tags ->> 's'$$,
                  $$VALUES ('-Infinity'::float8), (0), (0), ('Infinity')$$,
                  'series totals of the histogram: -Inf, 0, 0 (+a +a -a -a, exactly), +Inf');
SELECT is_empty($$SELECT * FROM pg_temp.ov_misses('ov_gauge')$$, 'gauge: every aggregation from rollups and raw');
SELECT is_empty($$SELECT * FROM pg_temp.ov_misses('ov_hist')$$, 'histogram: every aggregation from rollups and raw');
INSERT INTO ov_lines VALUES ('ov_hist_sum{s="nan"} 0');
SELECT is_empty($$SELECT l FROM ov_lines WHERE strpos(metrics_ex.prometheus_text(), E'\n' || l || E'\n') = 0$$,
                'prometheus_text after materialize');
SELECT is_empty($$SELECT l FROM ov_lines WHERE strpos(metrics_ex.openmetrics_text(), E'\n' || l || E'\n') = 0$$,
                'openmetrics_text after materialize');
SELECT ok(strpos(metrics_ex.openmetrics_text('ov_hist'), 'le="1e+300"}') > 0
          AND strpos(metrics_ex.openmetrics_text('ov_hist'), 'le="1.0"}') > 0
          AND strpos(metrics_ex.openmetrics_text('ov_hist'), '1e+300.0') = 0,
          'OpenMetrics bounds: 1.0, and 1e+300 (not the invalid 1e+300.0)');
SELECT ok(right(metrics_ex.openmetrics_text(), 6) = E'# EOF\n', 'openmetrics_text ends in # EOF');

-- a second merge into existing buckets adds with fadd: +Inf then -Inf in one minute is NaN
SELECT metrics_ex.define('ov_h2', 'histogram');
SELECT metrics_ex.histogram('ov_h2', v, '{}', '2020-01-01 10:00:00+00') FROM (VALUES (1.7e308), (1.7e308)) x(v);
SELECT is(metrics_ex.materialize() ->> 'late', '1', 'one delta of two values: a minute summing to +Inf');
SELECT metrics_ex.histogram('ov_h2', v, '{}', '2020-01-01 10:00:10+00') FROM (VALUES (-1.7e308), (-1.7e308)) x(v);
SELECT metrics_ex.increment('ov_c_total', 1, '{"s": "up"}', '2020-01-01 10:00:40+00');
SELECT is(metrics_ex.run_job('materialize'), 'succeeded', 'the materialize job succeeds on overflowing buckets');
SELECT results_eq($$SELECT r.count, r.sum, r.min, r.max FROM metrics_ex.rollup_hour r
                     JOIN metrics_ex.series s ON s.id = r.series_id JOIN metrics_ex.metrics m ON m.id = s.metric_id
                    WHERE m.name = 'ov_h2'$$,
                  $$VALUES (4::bigint, 'NaN'::float8, -1.7e308::float8, 1.7e308::float8)$$,
                  'upsert of an hour: +Inf + -Inf = NaN, count, min and max exact');
SELECT results_eq($$SELECT r.count, r.sum FROM metrics_ex.series_totals r
                     JOIN metrics_ex.series s ON s.id = r.series_id JOIN metrics_ex.metrics m ON m.id = s.metric_id
                    WHERE m.name IN ('ov_h2', 'ov_c_total') ORDER BY m.name$$,
                  $$VALUES (3::bigint, 'Infinity'::float8), (4, 'NaN')$$, 'upsert of series totals');
SELECT is((SELECT value FROM metrics_ex.query('ov_h2', 'p50', since => '2020-01-01', until => '2020-01-02')),
          0::float8, 'the merged sketch still answers (p50 of two +a and two -a)');
SELECT is((SELECT count(*) FROM metrics_ex.rollup_day r WHERE r.m2::text::float8 IS DISTINCT FROM r.m2
              OR r.sketch::text::metrics_ex.ddsketch OPERATOR(metrics_ex.<>) r.sketch), 0::bigint,
          'overflowed rollup states read back from their text (as pg_dump writes them)');

-- the other read functions
SELECT results_eq($$SELECT metric, value FROM metrics_ex.time_series('ov_gauge', 'day', 'sum', group_by => '{s}',
                                                                        since => '2020-01-01', until => '2020-01-02')$$,
                  $$VALUES ('down', '-Infinity'::float8), ('mix', 0), ('nan', 'NaN'), ('up', 'Infinity')$$,
                  'time_series by day (rollups)');
SELECT results_eq($$SELECT metric, value FROM metrics_ex.time_series('ov_hist', 'hour', 'mean', group_by => '{s}',
                                                                        since => '2020-01-01', until => '2020-01-02')
                     WHERE metric <> 'nan'$$,
                  $$VALUES ('down', '-Infinity'::float8), ('mix', 0), ('up', 'Infinity')$$,
                  'time_series by hour (raw samples)');
SELECT is_empty($$SELECT r.key, a.agg FROM metrics_ex.rollup('ov_hist', '{s}', '{count,sum,mean,min,max,last,stddev,rate,p50,p99}',
                                                             since => '2020-01-01', until => '2020-01-02') r,
                         jsonb_each_text(r.stats) a(agg, v)
                   WHERE a.v::float8 IS DISTINCT FROM (SELECT q.value FROM metrics_ex.query('ov_hist', a.agg, '{s}',
                                                          since => '2020-01-01', until => '2020-01-02') q
                                                        WHERE q.labels ->> 's' = r.key)$$,
                'rollup() answers what query() answers (Infinity and NaN as JSON strings)');
-- the gauge's "nan" minutes were +Inf and -Inf (two values in one delta each)
SELECT is((SELECT r.stats FROM metrics_ex.rollup('ov_gauge', '{s}', '{sum,mean,count}', since => '2020-01-01',
                                                 until => '2020-01-02') r WHERE r.key = 'nan'),
          '{"sum": "NaN", "mean": "NaN", "count": 4}'::jsonb, 'rollup() of the NaN series');
SELECT is((SELECT r.stats FROM metrics_ex.rollup('ov_hist', '{s}', '{sum,mean,count}', since => '2020-01-01',
                                                 until => '2020-01-02') r WHERE r.key = 'nan'),
          '{"sum": 0, "mean": 0, "count": 4}'::jsonb, 'rollup() of four single values that add up to 0 exactly');
SELECT results_eq($$SELECT count, value FROM metrics_ex.windowed('ov_gauge', '1 minute', '1 minute', 'sum', '{"s": "up"}',
                                                                 since => '2020-01-01')$$,
                  $$VALUES (2::bigint, 'Infinity'::float8)$$, 'windowed sum');
SELECT results_eq($$SELECT count, value FROM metrics_ex.windowed('ov_gauge', '1 minute', '1 minute', 'stddev', '{"s": "mix"}',
                                                                 since => '2020-01-01')$$,
                  $$VALUES (2::bigint, 'Infinity'::float8)$$, 'windowed stddev of +a and -a');
SELECT metrics_ex.gauge('ov_now', 1.7e308, '{}', now() - interval '30 seconds');
SELECT metrics_ex.gauge('ov_now', 1.7e308, '{}', now() - interval '20 seconds');
SELECT results_eq($$SELECT current, count_1m, average_1m, average_5m, average_15m FROM metrics_ex.rolling('ov_now')$$,
                  $$VALUES (1.7e308::float8, 2::bigint, 'Infinity'::float8, 'Infinity'::float8, 'Infinity'::float8)$$,
                  'rolling: current exact, means +Infinity');
SELECT results_eq($$SELECT (m ->> 'value')::float8 FROM jsonb_array_elements(metrics_ex.get_metrics('ov_gauge') -> 'metrics') m
                    WHERE m -> 'tags' ->> 's' = 'mix'$$,
                  $$VALUES (-1.7e308::float8), (1.7e308)$$, 'get_metrics returns the values exactly');
SELECT is((metrics_ex.get_stats() -> 'storage' ->> 'metrics_stored')::bigint, (SELECT count(*) FROM metrics_ex.samples),
          'get_stats');
SELECT is(metrics_ex.percentile(v, 0.5), 0::float8, 'percentile interpolates between -1.7e308 and 1.7e308 without overflow')
  FROM (VALUES (-1.7e308::float8), (1.7e308)) x(v);

-- experiments
SELECT metrics_ex.start_experiment('ov_big') AS ov_big \gset
SELECT metrics_ex.start_experiment('ov_small') AS ov_small \gset
SELECT metrics_ex.start_experiment('ov_far') AS ov_far \gset
SELECT metrics_ex.start_experiment('ov_near') AS ov_near \gset
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT n, v, jsonb_build_object('experiment_id', :'ov_big'), '2020-01-01 10:00:00+00'::timestamptz + i * interval '1 second', 'histogram'
  FROM (VALUES (1, 'latency_ms', 1.7e308), (2, 'latency_ms', 1.7e308), (3, 'cost_usd', 1.7e308), (4, 'cost_usd', 1.7e308),
               (5, 'tokens_prompt', 1.7e308), (6, 'tokens_completion', 1.7e308)) d(i, n, v);
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'latency_ms', v, jsonb_build_object('experiment_id', :'ov_small'), '2020-01-01 10:00:00+00'::timestamptz + i * interval '1 second', 'histogram'
  FROM (VALUES (1, 1e-200), (2, 2e-200), (3, 3e-200)) d(i, v);
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'latency_ms', v, jsonb_build_object('experiment_id', e), '2020-01-01 10:00:00+00'::timestamptz + i * interval '1 second', 'histogram'
  FROM (VALUES (1, 1e200, :'ov_far'), (2, 1e200, :'ov_far'), (3, 1e-150, :'ov_near'), (4, 3e-150, :'ov_near')) d(i, v, e);
SELECT is((metrics_ex.calculate_metrics(:'ov_big') -> 'latency') - 'std_dev',
          '{"count": 2, "mean": "Infinity", "min": 1.7e308, "max": 1.7e308, "median": 1.7e308,
            "p50": 1.7e308, "p90": 1.7e308, "p95": 1.7e308, "p99": 1.7e308}'::jsonb,
          'calculate_metrics: latency');
SELECT ok(metrics_ex.calculate_metrics(:'ov_big') -> 'latency' ->> 'std_dev' IN ('Infinity', 'NaN'),
          'calculate_metrics: std_dev beyond the range');
SELECT is(metrics_ex.calculate_metrics(:'ov_big') -> 'cost',
          '{"count": 2, "total": "Infinity", "mean_per_request": "Infinity", "median": 1.7e308,
            "cost_per_1k_requests": "Infinity", "cost_per_1m_requests": "Infinity"}'::jsonb,
          'calculate_metrics: cost');
SELECT is(metrics_ex.calculate_metrics(:'ov_big') -> 'tokens' ->> 'total', 'Infinity', 'calculate_metrics: token total');
SELECT results_eq(format($$SELECT n, mean, baseline_n, baseline_mean, difference, t_statistic, p_value
                             FROM metrics_ex.compare_experiments(ARRAY[%L, %L]::uuid[])$$, :'ov_small', :'ov_big'),
                  $$VALUES (2::bigint, 'Infinity'::float8, 3::bigint, 2e-200::float8, 'Infinity'::float8,
                            NULL::float8, NULL::float8)$$,
                  'compare_experiments: means and difference beyond the range, undefined statistics NULL');
-- finite means and deviations whose ratios overflow: 1e200 against 2e-150 +- 1.4e-150
SELECT results_eq(format($$SELECT n, mean, difference, percent_change, t_statistic, degrees_of_freedom, p_value, cohens_d
                             FROM metrics_ex.compare_experiments(ARRAY[%L, %L]::uuid[])$$, :'ov_near', :'ov_far'),
                  $$VALUES (2::bigint, 1e200::float8, 1e200::float8, NULL::float8, NULL::float8, NULL::float8, NULL::float8,
                            NULL::float8)$$,
                  'compare_experiments: statistics beyond the float8 range are NULL, not an error');

-- the sketch and stats types with such values
SELECT is(metrics_ex.stats_agg(v)::text, 'count=2 sum=0 min=-1.7e+308 max=1.7e+308 mean=0 m2=Infinity',
          'stats: the mean stays finite and m2 is Infinity (was mean=Infinity m2=-Infinity)')
  FROM (VALUES (-1.7e308::float8), (1.7e308)) x(v);
SELECT ok(s::text::metrics_ex.stats OPERATOR(metrics_ex.=) s AND metrics_ex.stddev(s) = 'Infinity',
          'stats: such a state reads back from its text')
  FROM (SELECT metrics_ex.stats_agg(v) s FROM (VALUES (-1.7e308::float8), (1.7e308), (5)) x(v)) t;
SELECT results_eq($$SELECT metrics_ex.summary(d) -> 'sum', metrics_ex.quantiles(d, '{0,1}')
                      FROM (SELECT metrics_ex.ddsketch(v) d FROM (VALUES (1.7e308::float8), (1.7e308), (-1.7e308), (-1.7e308)) x(v)) t$$,
                  $$VALUES ('0'::jsonb, '{-1.7e308,1.7e308}'::float8[])$$, 'ddsketch: exact sum 0, exact ends');

-- normal data: the f* functions give PostgreSQL's own bits
SELECT setseed(0.42);
CREATE TABLE ov_norm AS
SELECT i, (random() - 0.5) * 10 ^ (random() * 12 - 6) AS v, random() * 1000 AS w
  FROM generate_series(1, 20000) i;
SELECT results_eq($$SELECT metrics_ex.fsum(v), metrics_ex.favg(v), metrics_ex.fstddev_samp(v), metrics_ex.fstddev_pop(v),
                           metrics_ex.fsum(w), metrics_ex.favg(w), metrics_ex.fstddev_samp(w), metrics_ex.fstddev_pop(w)
                      FROM ov_norm$$,
                  $$SELECT sum(v), avg(v), stddev_samp(v), stddev_pop(v), sum(w), avg(w), stddev_samp(w), stddev_pop(w)
                      FROM ov_norm$$, 'fsum, favg, fstddev_samp, fstddev_pop equal sum, avg, stddev_samp, stddev_pop');
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.ov_plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END $$;
SELECT ok(strpos(pg_temp.ov_plan('SELECT metrics_ex.fsum(v), metrics_ex.favg(v), metrics_ex.fstddev_samp(v) FROM ov_norm'),
                 'Partial Aggregate') > 0, 'they run as partial aggregates under parallel query');
SELECT results_eq($$SELECT metrics_ex.fsum(v) = sum(v), metrics_ex.favg(v) = avg(v),
                           metrics_ex.fstddev_samp(v) = stddev_samp(v), metrics_ex.fstddev_pop(v) = stddev_pop(v)
                      FROM ov_norm$$,
                  $$VALUES (true, true, true, true)$$, 'and under parallel query (combine functions)');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT is_empty($$SELECT a.v, b.w FROM ov_norm a JOIN ov_norm b ON b.i = a.i % 997 + 1
                   WHERE metrics_ex.fadd(a.v, b.w) <> a.v + b.w OR metrics_ex.fmul(a.v, b.w) <> a.v * b.w
                      OR metrics_ex.fdiv(a.v, b.w) <> a.v / b.w$$, 'fadd, fmul, fdiv equal +, *, /');
SELECT results_eq($$SELECT metrics_ex.fadd(1e308, 1e308), metrics_ex.fadd('Infinity', '-Infinity'),
                           metrics_ex.fmul(1e308, -10), metrics_ex.fdiv(1e308, 0.1), metrics_ex.fdiv(5e-324, 3)$$,
                  $$VALUES ('Infinity'::float8, 'NaN'::float8, '-Infinity'::float8, 'Infinity'::float8, 0::float8)$$,
                  'and overflow (or underflow) where those raise 22003');
SELECT throws_ok($$SELECT metrics_ex.fdiv(1, 0)$$, '22012', NULL, 'fdiv by zero is still an error');
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'ov_norm', v, '{}', '2020-01-02 10:00:00+00'::timestamptz + i * interval '100 milliseconds', 'gauge' FROM ov_norm;
-- rollup and raw pieces sum exactly (the correctly rounded sum, which a
-- ddsketch's summary also keeps); stddev from the pieces' m2, to rounding
SELECT results_eq($$SELECT a, q.value FROM unnest('{sum,mean,rate}'::text[]) a,
                           metrics_ex.query('ov_norm', a, since => '2020-01-02 09:00', until => '2020-01-02 11:00') q$$,
                  $$SELECT r.* FROM (SELECT (metrics_ex.summary(metrics_ex.ddsketch(v)) ->> 'sum')::float8 AS x FROM ov_norm) e,
                          LATERAL (VALUES ('sum', e.x), ('mean', e.x / 20000), ('rate', e.x / 7200)) r(a, v)$$,
                  'query() of raw pieces: the exact sum, mean and rate');
SELECT ok(abs((SELECT value FROM metrics_ex.query('ov_norm', 'stddev', since => '2020-01-02 09:00', until => '2020-01-02 11:00'))
              / (SELECT stddev_samp(v) FROM ov_norm) - 1) < 1e-12, 'query() stddev: stddev_samp to 1e-12');

SELECT * FROM finish();
ROLLBACK;
