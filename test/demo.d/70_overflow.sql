-- metrics_ex demo: values near the ends of the float8 range.  Every finite
-- value is accepted, so sums can overflow; they become +-Infinity (NaN where
-- the two meet) instead of an error that would stop rollups and scrapes.
\echo '== two increments of 1e308: the total is +Inf, and everything still answers'
SELECT metrics_ex.increment('demo_huge_total', 1e308, ts => '2020-01-01 10:00:00+00'),
       metrics_ex.increment('demo_huge_total', 1e308, ts => '2020-01-01 10:00:30+00');
SELECT metrics_ex.prometheus_text('demo_huge_total');
SELECT a AS aggregation, (SELECT value FROM metrics_ex.query('demo_huge_total', a, since => '2020-01-01',
                                                             until => '2020-01-02'))
  FROM unnest('{count,sum,mean,max,last}'::text[]) a;

\echo '== the same arithmetic for your own SQL: sum() raises 22003, fsum() carries +Inf'
SELECT metrics_ex.fsum(v) AS fsum, metrics_ex.fadd(1e308, -1e308) AS fadd
  FROM (VALUES (1e308::float8), (1e308)) x(v);
