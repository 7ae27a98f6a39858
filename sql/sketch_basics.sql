-- Sketch types: small exact cases, NULL handling, text I/O, accessors.
SET search_path = public;
SET extra_float_digits = 0;

CREATE TABLE sk_small (g int, v float8);
INSERT INTO sk_small SELECT 1, x FROM generate_series(1, 10) x;
INSERT INTO sk_small VALUES (1, NULL), (2, NULL);

-- A digest of few values holds them all: it answers like percentile_cont.
SELECT g,
       metrics_ex.quantiles(metrics_ex.tdigest(v), '{0,0.25,0.5,0.9,1}') AS td,
       metrics_ex.percentile(v, 0.25) AS exact25,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY v) AS cont25
FROM sk_small GROUP BY g ORDER BY g;

-- All-NULL group and empty input give NULL.
SELECT g, metrics_ex.tdigest(v) IS NULL AS td_null, metrics_ex.ddsketch(v) IS NULL AS dd_null,
       metrics_ex.stats_agg(v) IS NULL AS st_null, metrics_ex.percentile(v, 0.5) AS p,
       metrics_ex.approx_percentile(v, 0.5) AS ap, metrics_ex.bucket_counts(v, '{5}') AS b
FROM sk_small GROUP BY g ORDER BY g;
SELECT metrics_ex.tdigest(v), metrics_ex.ddsketch(v), metrics_ex.stats_agg(v)
FROM sk_small WHERE false;

-- Text forms are canonical and round-trip.
SELECT metrics_ex.tdigest(v) FROM sk_small;
SELECT metrics_ex.ddsketch(v) FROM sk_small;
SELECT metrics_ex.stats_agg(v) FROM sk_small;
SELECT metrics_ex.tdigest(v)::text::metrics_ex.tdigest::text = metrics_ex.tdigest(v)::text AS td_rt,
       metrics_ex.ddsketch(v)::text::metrics_ex.ddsketch::text = metrics_ex.ddsketch(v)::text AS dd_rt,
       metrics_ex.stats_agg(v)::text::metrics_ex.stats::text = metrics_ex.stats_agg(v)::text AS st_rt
FROM sk_small;

-- Shortest round-trip floats: 0.1 + 0.2 stays 0.30000000000000004.
SELECT metrics_ex.stats_agg(x) FROM (VALUES (0.1::float8), (0.2::float8)) t(x);
SELECT metrics_ex.summary(metrics_ex.stats_agg(x)) FROM (VALUES (0.1::float8), (0.2::float8)) t(x);

-- Extremes: zero, negatives, tiny and huge magnitudes.
CREATE TABLE sk_wide (v float8);
INSERT INTO sk_wide VALUES (0), (-0.0), (-1e-300), (1e-300), (-5), (5e-324), (1.7e308), (-1.7e308), (42);
SELECT metrics_ex.quantiles(metrics_ex.ddsketch(v), '{0,0.5,1}') AS dd,
       metrics_ex.quantiles(metrics_ex.tdigest(v), '{0,0.5,1}') AS td,
       metrics_ex.summary(metrics_ex.ddsketch(v)) -> 'count' AS dd_count
FROM sk_wide;
SELECT metrics_ex.ddsketch(v)::text::metrics_ex.ddsketch::text = metrics_ex.ddsketch(v)::text AS dd_rt,
       metrics_ex.tdigest(v)::text::metrics_ex.tdigest::text = metrics_ex.tdigest(v)::text AS td_rt
FROM sk_wide;
-- the exact sum does not lose the small terms that a float8 sum drops
SELECT (metrics_ex.summary(metrics_ex.ddsketch(v)) ->> 'sum')::float8 AS exact_sum
FROM (VALUES (1e20::float8), (1), (-1e20)) t(v);

-- rank(): fraction of values <= x.
SELECT metrics_ex.rank(metrics_ex.tdigest(v), 5) AS td5, metrics_ex.rank(metrics_ex.tdigest(v), 0) AS td0,
       metrics_ex.rank(metrics_ex.tdigest(v), 10) AS td10,
       metrics_ex.rank(metrics_ex.ddsketch(v), 5) AS dd5, metrics_ex.rank(metrics_ex.ddsketch(v), -1) AS dd_neg
FROM sk_small;

-- stats accessors match the built-in aggregates.
SELECT metrics_ex.mean(s) = a AS mean_ok,
       abs(metrics_ex.variance(s) - var) < 1e-12 AS var_ok,
       abs(metrics_ex.stddev(s) - sd) < 1e-12 AS sd_ok
FROM (SELECT metrics_ex.stats_agg(v) s, avg(v) a, variance(v) var, stddev(v) sd FROM sk_small) t;
SELECT metrics_ex.variance(metrics_ex.stats_agg(x)), metrics_ex.stddev(metrics_ex.stats_agg(x))
FROM (VALUES (1.0::float8)) t(x);

-- bucket_counts: cumulative, le semantics, last = +Inf; bigint[] merge.
SELECT metrics_ex.bucket_counts(v, '{0.5,1,5,9.5}') FROM sk_small;
SELECT metrics_ex.bucket_counts(b) FROM (
    SELECT metrics_ex.bucket_counts(v, '{1,5}') b FROM sk_small GROUP BY v > 5) t;
SELECT metrics_ex.bucket_counts(x, '{1}') FROM (VALUES ('Infinity'::float8), ('-Infinity'), (1)) t(x);

-- Merging digests with different parameters: the coarser wins.
SELECT metrics_ex.ddsketch(d)::text LIKE 'rel_err=0.05 %' AS coarser_dd,
       metrics_ex.quantile(metrics_ex.ddsketch(d), 0.5) BETWEEN 5.5 * 0.95 AND 5.5 * 1.05 AS dd_p50_ok
FROM (SELECT metrics_ex.ddsketch(v, 0.01) d FROM sk_small
      UNION ALL SELECT metrics_ex.ddsketch(v, 0.05) FROM sk_small) t;
SELECT metrics_ex.tdigest(t)::text LIKE 'compression=20 %' AS coarser_td,
       metrics_ex.quantile(metrics_ex.tdigest(t), 0.5) AS td_p50
FROM (SELECT metrics_ex.tdigest(v, 200) t FROM sk_small
      UNION ALL SELECT metrics_ex.tdigest(v, 20) FROM sk_small) t;

-- Values at both ends of the float8 range: sums overflow (summary shows
-- null, the state still reads back), estimates stay finite and in range;
-- the stats mean stays finite (about 0) and m2 is Infinity.
CREATE TABLE sk_huge AS
SELECT 1.797e308::float8 * (x % 2 * 2 - 1) AS v FROM generate_series(1, 1000) x;
SELECT metrics_ex.quantiles(metrics_ex.ddsketch(v), '{0,0.5,0.7,1}') AS dd,
       metrics_ex.quantiles(metrics_ex.tdigest(v), '{0,1}') AS td
FROM sk_huge;
SELECT metrics_ex.summary(metrics_ex.tdigest(abs(v))) -> 'sum' AS td_sum,
       metrics_ex.summary(metrics_ex.ddsketch(abs(v))) -> 'mean' AS dd_mean,
       metrics_ex.summary(metrics_ex.ddsketch(v)) -> 'sum' AS dd_exact_sum
FROM sk_huge;
SELECT s AS overflowed, s::text::metrics_ex.stats::text = s::text AS st_rt,
       t::text::metrics_ex.tdigest::text = t::text AS td_rt
FROM (SELECT metrics_ex.stats_agg(v) s, metrics_ex.tdigest(abs(v)) t FROM sk_huge) x;

DROP TABLE sk_small, sk_wide, sk_huge;
