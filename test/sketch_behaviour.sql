-- pgTAP: behaviour and errors of the sketch types and percentile aggregates.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT plan(46);

SET LOCAL search_path = public;
CREATE TEMP TABLE tap_v AS SELECT x::float8 AS v FROM generate_series(1, 1000) x;
INSERT INTO tap_v VALUES (NULL);

-- catalog: every aggregate has a combine function, is parallel safe, and its
-- state is a real type (not internal)
SELECT is(
    (SELECT count(*)::int FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
     JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'metrics_ex'
       AND p.proname IN ('tdigest', 'ddsketch', 'stats_agg', 'percentile', 'approx_percentile', 'bucket_counts')
       AND (a.aggcombinefn = 0 OR p.proparallel <> 's' OR a.aggtranstype = 'internal'::regtype)),
    0, 'sketch aggregates: combinefn, PARALLEL SAFE, non-internal state');
SELECT is(
    (SELECT count(*)::int FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
     JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'metrics_ex'
       AND p.proname IN ('tdigest', 'ddsketch', 'stats_agg', 'percentile', 'approx_percentile', 'bucket_counts')),
    12, 'twelve sketch aggregates');
SELECT is(
    (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'metrics_ex'
       AND p.proname IN ('quantile', 'quantiles', 'rank', 'summary', 'mean', 'stddev', 'variance')
       AND (NOT p.proisstrict OR p.proparallel <> 's' OR p.provolatile <> 'i')),
    0, 'accessors are STRICT IMMUTABLE PARALLEL SAFE');

-- values
SELECT is(metrics_ex.percentile(v, 0.5), 500.5::float8, 'percentile p50 of 1..1000') FROM tap_v;
SELECT is(metrics_ex.percentile(v, 0.999),
          (SELECT percentile_cont(0.999) WITHIN GROUP (ORDER BY v) FROM tap_v),
          'percentile equals percentile_cont') FROM tap_v;
SELECT is(metrics_ex.percentile(v, 0), 1::float8, 'percentile q=0 is min') FROM tap_v;
SELECT is(metrics_ex.percentile(v, 1), 1000::float8, 'percentile q=1 is max') FROM tap_v;
SELECT ok(abs(metrics_ex.approx_percentile(v, 0.9) / 900.1 - 1) <= 0.01, 'approx_percentile within 1%') FROM tap_v;
SELECT ok(metrics_ex.tdigest(v)::text::metrics_ex.tdigest OPERATOR(metrics_ex.=) metrics_ex.tdigest(v),
          'tdigest text round trip is equal') FROM tap_v;
SELECT ok(metrics_ex.ddsketch(v)::text::metrics_ex.ddsketch OPERATOR(metrics_ex.=) metrics_ex.ddsketch(v),
          'ddsketch text round trip is equal') FROM tap_v;
SELECT ok(metrics_ex.ddsketch(v) OPERATOR(metrics_ex.<>) metrics_ex.ddsketch(v + 1),
          'ddsketch <> on different data') FROM tap_v;
SELECT is(metrics_ex.quantiles(metrics_ex.ddsketch(v), '{0,1}'), '{1,1000}'::float8[], 'ddsketch ends exact') FROM tap_v;
SELECT is(metrics_ex.quantiles(metrics_ex.tdigest(v), '{0,1}'), '{1,1000}'::float8[], 'tdigest ends exact') FROM tap_v;
SELECT ok(abs(metrics_ex.quantile(metrics_ex.tdigest(v), 0.5) - 500.5) < 1, 'tdigest p50 close') FROM tap_v;
SELECT is(metrics_ex.summary(metrics_ex.tdigest(v)),
          '{"count": 1000, "sum": 500500, "min": 1, "max": 1000, "mean": 500.5}'::jsonb, 'tdigest summary') FROM tap_v;
SELECT is(metrics_ex.summary(metrics_ex.ddsketch(v)),
          '{"count": 1000, "sum": 500500, "min": 1, "max": 1000, "mean": 500.5}'::jsonb, 'ddsketch summary') FROM tap_v;
SELECT is(metrics_ex.summary(metrics_ex.stats_agg(v)),
          '{"count": 1000, "sum": 500500, "min": 1, "max": 1000, "mean": 500.5}'::jsonb, 'stats summary') FROM tap_v;
SELECT is(metrics_ex.variance(metrics_ex.stats_agg(v)), (SELECT variance(v) FROM tap_v), 'stats variance') FROM tap_v;
SELECT is(metrics_ex.rank(metrics_ex.tdigest(v), 250), 0.25::float8, 'tdigest rank') FROM tap_v;
SELECT is(metrics_ex.rank(metrics_ex.ddsketch(v), 0), 0::float8, 'ddsketch rank below min') FROM tap_v;
SELECT is(metrics_ex.bucket_counts(v, '{10,100,999.5}'), '{10,100,999,1000}'::bigint[], 'bucket_counts le') FROM tap_v;
SELECT is(metrics_ex.bucket_counts(v, '{10}'), '{2,2}'::bigint[], 'bucket_counts: a value equal to a bound counts in it') FROM (VALUES (10::float8), (10)) t(v);
SELECT ok(metrics_ex.tdigest(v) IS NULL, 'tdigest of only NULLs is NULL') FROM tap_v WHERE v IS NULL;
SELECT is(metrics_ex.approx_percentile(v, 0.5), NULL, 'approx_percentile of no rows is NULL') FROM tap_v WHERE false;
SELECT is(metrics_ex.bucket_counts(v, '{1}'), NULL, 'bucket_counts of no rows is NULL') FROM tap_v WHERE false;

-- rollups: merging stored sketches
SELECT is(metrics_ex.ddsketch(d)::text, (SELECT metrics_ex.ddsketch(v)::text FROM tap_v), 'ddsketch merge exact')
FROM (SELECT metrics_ex.ddsketch(v) d FROM tap_v GROUP BY v::int % 3) t;
SELECT is(metrics_ex.summary(metrics_ex.stats_agg(s)), (SELECT metrics_ex.summary(metrics_ex.stats_agg(v)) FROM tap_v), 'stats merge')
FROM (SELECT metrics_ex.stats_agg(v) s FROM tap_v GROUP BY v::int % 3) t;
SELECT is(metrics_ex.quantile(metrics_ex.tdigest(d), 1), 1000::float8, 'tdigest merge keeps max')
FROM (SELECT metrics_ex.tdigest(v) d FROM tap_v GROUP BY v::int % 3) t;

-- errors, with SQLSTATEs
SELECT throws_ok($$SELECT metrics_ex.tdigest(x) FROM (VALUES ('NaN'::float8)) t(x)$$, '22023',
                 NULL, 'NaN value rejected');
SELECT throws_ok($$SELECT metrics_ex.ddsketch(x) FROM (VALUES ('-Infinity'::float8)) t(x)$$, '22023',
                 NULL, 'infinite value rejected by ddsketch');
SELECT throws_ok($$SELECT metrics_ex.percentile(1, 1.01)$$, '22023', NULL, 'q above 1');
SELECT throws_ok($$SELECT metrics_ex.approx_percentile(1, -0.5)$$, '22023', NULL, 'q below 0');
SELECT throws_ok($$SELECT metrics_ex.approx_percentile(1, NULL)$$, '22004', NULL, 'q NULL');
SELECT throws_ok($$SELECT metrics_ex.quantile(metrics_ex.ddsketch(1), 'NaN')$$, '22023', NULL, 'q NaN');
SELECT throws_ok($$SELECT metrics_ex.tdigest(1, 1)$$, '22023', NULL, 'compression too small');
SELECT throws_ok($$SELECT metrics_ex.ddsketch(1, 0.9)$$, '22023', NULL, 'rel_err too large');
SELECT throws_ok($$SELECT metrics_ex.bucket_counts(1, '{2,2}')$$, '22023', NULL, 'bounds not increasing');
SELECT throws_ok($$SELECT metrics_ex.bucket_counts(1, NULL)$$, '22004', NULL, 'bounds NULL');
SELECT throws_ok($$SELECT 'rel_err=0.01 count=1'::metrics_ex.ddsketch$$, '22P02', NULL, 'truncated ddsketch text');
SELECT throws_ok($$SELECT 'compression=100 count=1 sum=1 min=1 max=1 centroids={5:1}'::metrics_ex.tdigest$$,
                 '22P02', NULL, 'centroid outside [min, max]');
SELECT throws_ok($$SELECT 'count=2 sum=1 min=2 max=1 mean=1 m2=0'::metrics_ex.stats$$, '22P02', NULL, 'stats min > max');
SELECT throws_ok($$SELECT 'q=0.5 values={1,2'::metrics_ex.percentile_state$$, '22P02', NULL, 'unterminated values');
SELECT throws_ok($$SELECT metrics_ex.quantiles(metrics_ex.tdigest(1), '{0.5,NULL}')$$, '22004', NULL, 'NULL in q array');

-- the compact stored form of ddsketch: every kind of data reads back as it
-- was written (text is the dense form), and takes a few bytes a bucket
CREATE TEMP TABLE dd_forms AS
SELECT g, metrics_ex.ddsketch(v) AS d, metrics_ex.ddsketch(v)::text AS t
  FROM (SELECT g, CASE g % 5 WHEN 0 THEN (random() - 0.5) * 1e6 WHEN 1 THEN random() * 100
                               WHEN 2 THEN 0 WHEN 3 THEN -random() * 1e-9 ELSE random() * 1e300 END AS v
          FROM generate_series(1, 50) g, generate_series(1, 200) i) x
 GROUP BY g;
SELECT is_empty($$SELECT g FROM dd_forms WHERE d::text <> t OR t::metrics_ex.ddsketch::text <> t$$,
                'stored ddsketches read back as written (text round trip)');
SELECT is_empty($$SELECT g FROM dd_forms WHERE metrics_ex.quantiles(d, '{0,0.01,0.5,0.99,1}')
                  IS DISTINCT FROM metrics_ex.quantiles(t::metrics_ex.ddsketch, '{0,0.01,0.5,0.99,1}')$$,
                'and answer the same quantiles');
-- 1..100 fill 100 buckets: the packed form took 12 bytes each and 80 more
SELECT cmp_ok((SELECT pg_column_size(metrics_ex.ddsketch(x)) FROM generate_series(1, 100) x), '<', 400,
              'in a few bytes a bucket');

SELECT * FROM finish();
ROLLBACK;
