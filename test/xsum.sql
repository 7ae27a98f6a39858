-- xsum() and xavg(): sums and means of float8 added exactly and rounded
-- once, so the same bits in any order and however the rows are split
-- (parallel workers, Citus shards).  Checked against hand-computed values
-- and against numeric sums of values that float8 holds exactly.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT plan(27);

-- cancellation: 1e16 + 1 - 1e16 is 1 in every order (sum() loses the 1 in one)
SELECT is(metrics_ex.xsum(x ORDER BY o), 1::float8, format('1e16, 1, -1e16 in order %s: exactly 1', o0))
  FROM (VALUES (1), (2), (3)) p(o0),
       LATERAL (SELECT x, CASE p.o0 WHEN 1 THEN i WHEN 2 THEN -i ELSE (i * 2) % 3 END AS o
                  FROM unnest('{1e16,1,-1e16}'::float8[]) WITH ORDINALITY u(x, i)) v
 GROUP BY o0 ORDER BY o0;
SELECT is(sum(x ORDER BY i), 0::float8, 'sum() in the order 1e16, -1e16 last loses the 1 (why xsum exists)')
  FROM unnest('{1e16,1,-1e16}'::float8[]) WITH ORDINALITY u(x, i);

-- ten times 0.1: the exact sum is 1.000000000000000055511151231257827 -> 1
SELECT is(metrics_ex.xsum(0.1::float8), 1::float8, 'ten times 0.1 rounds once to 1 (sum() gives 0.9999999999999999)')
  FROM generate_series(1, 10);
SELECT is(metrics_ex.xavg(x), 1::float8 / 3, 'xavg(1e16, 1, -1e16) is 1/3')
  FROM unnest('{1e16,1,-1e16}'::float8[]) x;

-- against numeric: values of very different magnitude, each exact in float8
-- (k * 2^20 and k / 1024 with k < 2^53), so the numeric sum is the exact sum
CREATE TEMP TABLE v AS
SELECT i, n, n::float8 AS x
  FROM (SELECT i, CASE WHEN i % 2 = 0 THEN ((i * 7919) % 1000003)::numeric * 1048576 * 1000003
                       ELSE -((i * 104729) % 999983)::numeric / 1024 END AS n
          FROM generate_series(1, 20000) i) s;
SELECT is(metrics_ex.xsum(x), sum(n)::float8, 'xsum of 20,000 values over 80 bits of range is the numeric sum rounded once')
  FROM v;
SELECT is(metrics_ex.xavg(x), (sum(n) / count(*))::float8, 'xavg of two values of very different magnitude is their numeric mean')
  FROM v WHERE i <= 2;
SELECT is((SELECT metrics_ex.xsum(x ORDER BY x) FROM v), (SELECT metrics_ex.xsum(x ORDER BY -x) FROM v),
          'ascending and descending orders give the same bits');
SELECT is((SELECT metrics_ex.xsum(x ORDER BY md5(i::text)) FROM v), (SELECT metrics_ex.xsum(x) FROM v),
          'a shuffled order gives the same bits');

-- split: partial states combined (parallel workers, as Citus' shards do)
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE TEMP TABLE serial AS SELECT metrics_ex.xsum(x) AS s, metrics_ex.xavg(x) AS a FROM v;
CREATE TABLE xsum_par AS SELECT i, x FROM v;   -- temp tables are not scanned in parallel
ANALYZE xsum_par;
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; o text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN ' || q LOOP o := o || r || E'\n'; END LOOP;
    RETURN o;
END $$;
SELECT ok(pg_temp.plan('SELECT metrics_ex.xsum(x), metrics_ex.xavg(x) FROM xsum_par') ~ 'Partial Aggregate',
          'xsum and xavg run as partial aggregates under Gather');
SELECT is((SELECT metrics_ex.xsum(x) FROM xsum_par), (SELECT s FROM serial), 'a parallel xsum gives the serial bits');
SELECT is((SELECT metrics_ex.xavg(x) FROM xsum_par), (SELECT a FROM serial), 'a parallel xavg gives the serial bits');

-- the state: a few partials for everyday data, a full fixed-point sum near
-- the top of the range; the same sums and the same text either way
CREATE AGGREGATE pg_temp.xstate(float8) (sfunc = metrics_ex.xsum_add, stype = metrics_ex.xsum_state,
                                         combinefunc = metrics_ex.xsum_combine);
SELECT cmp_ok(pg_column_size(pg_temp.xstate(x)), '<=', 80, 'a state of 20,000 values over 80 bits of range is a few dozen bytes')
  FROM v;
SELECT is((SELECT metrics_ex.xsum(y ORDER BY o) FROM (SELECT x AS y, i AS o FROM v UNION ALL
                                                    VALUES (-1.5e308::float8, -2), (1.5e308, -1)) w),
          (SELECT metrics_ex.xsum(x) FROM v),
          'with +-1.5e308 first (the full fixed-point form) the sum is the same bits');
SELECT is((SELECT pg_temp.xstate(y ORDER BY o) FROM (SELECT x AS y, i AS o FROM v UNION ALL
                                                   VALUES (-1.5e308::float8, -2), (1.5e308, -1)) w)::text,
          regexp_replace((SELECT pg_temp.xstate(x) FROM v)::text, '^count=20000', 'count=20002'),
          'and the same text form');

-- NULLs, no rows, non-finite values
SELECT is(metrics_ex.xsum(x), NULL, 'no rows: NULL, as sum()') FROM v WHERE false;
SELECT is(metrics_ex.xsum(NULL::float8), NULL, 'only NULLs: NULL');
SELECT is(metrics_ex.xsum(x), 3::float8, 'NULLs are skipped') FROM unnest('{1,NULL,2}'::float8[]) x;
SELECT is(metrics_ex.xavg(x), 1.5::float8, 'NULLs do not count in the mean') FROM unnest('{1,NULL,2}'::float8[]) x;
SELECT is(metrics_ex.xsum(x), 'Infinity'::float8, 'beyond the float8 range: Infinity, no error')
  FROM unnest('{1.7e308,1.7e308}'::float8[]) x;
SELECT is(metrics_ex.xsum(x), 'NaN'::float8, 'Infinity and -Infinity: NaN')
  FROM unnest('{Infinity,-Infinity,1}'::float8[]) x;

-- the state type: canonical text, validated input
SELECT is(metrics_ex.xsum_add(metrics_ex.xsum_add(NULL, 1.5), 2)::text, 'count=2 sum=0xe0000p-18',
          'the state''s text form: the count and the exact sum (3.5 = 0xe0000 * 2^-18)');
SELECT is(metrics_ex.xsum_final('count=2 sum=0xe0000p-18'::metrics_ex.xsum_state::text::metrics_ex.xsum_state),
          3.5::float8, 'the text form reads back to the same sum');
SELECT throws_ok($$SELECT 'count=0 sum=0x1p0'::metrics_ex.xsum_state$$, '22P02', NULL, 'a count below 1 is refused');
SELECT throws_ok($$SELECT 'count=1 sum=0x1p0 nonfinite=5'::metrics_ex.xsum_state$$, '22P02', NULL,
                 'a finite "nonfinite" part is refused');

SELECT throws_ok($$SELECT 'count=1 sum=1'::metrics_ex.xsum_state$$, '22P02', NULL, 'a sum not in the output''s form is refused');
SELECT * FROM finish();
ROLLBACK;
