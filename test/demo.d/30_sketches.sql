-- Percentiles and sketches: exact percentile(), approx_percentile(), t-digest
-- and ddsketch states you can store and merge, summary stats, histogram buckets.
-- Self-contained: makes its own seeded latencies (lognormal, in ms).
\pset footer off
SELECT setseed(0.42) \g /dev/null
CREATE TEMP TABLE demo_latency AS
SELECT CASE WHEN i % 3 = 0 THEN 'checkout' ELSE 'search' END AS endpoint,
       round((20 * exp(0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::numeric, 3)::float8 AS ms
FROM generate_series(1, 100000) i;

\echo '== exact percentile() vs percentile_cont: the same answers'
SELECT endpoint,
       metrics_ex.percentile(ms, 0.99) AS p99,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99_cont,
       metrics_ex.approx_percentile(ms, 0.99) AS p99_approx_1pct
FROM demo_latency GROUP BY endpoint ORDER BY endpoint;

\echo '== one sketch, many quantiles (t-digest and ddsketch)'
SELECT endpoint,
       metrics_ex.quantiles(metrics_ex.tdigest(ms), '{0.5,0.9,0.99,0.999}') AS tdigest_p50_p90_p99_p999,
       metrics_ex.quantiles(metrics_ex.ddsketch(ms), '{0.5,0.9,0.99,0.999}') AS ddsketch_p50_p90_p99_p999
FROM demo_latency GROUP BY endpoint ORDER BY endpoint;

\echo '== store per-minute-like partial sketches, merge them later (rollups)'
CREATE TEMP TABLE demo_rollup AS
SELECT endpoint, (row_number() OVER ()) % 10 AS slot, ms FROM demo_latency;
CREATE TEMP TABLE demo_parts AS
SELECT endpoint, slot, metrics_ex.ddsketch(ms) AS dd, metrics_ex.stats_agg(ms) AS st
FROM demo_rollup GROUP BY endpoint, slot;
SELECT endpoint,
       metrics_ex.quantile(metrics_ex.ddsketch(dd), 0.99) AS p99_from_parts,
       metrics_ex.ddsketch(dd) OPERATOR(metrics_ex.=)
           (SELECT metrics_ex.ddsketch(ms) FROM demo_latency d WHERE d.endpoint = p.endpoint) AS same_as_whole,
       round(metrics_ex.mean(metrics_ex.stats_agg(st))::numeric, 3) AS mean,
       round(metrics_ex.stddev(metrics_ex.stats_agg(st))::numeric, 3) AS stddev
FROM demo_parts p GROUP BY endpoint ORDER BY endpoint;

\echo '== summary() and rank(): what share of checkouts took <= 50 ms?'
SELECT metrics_ex.summary(metrics_ex.tdigest(ms)) AS summary,
       round(metrics_ex.rank(metrics_ex.tdigest(ms), 50)::numeric, 4) AS share_le_50ms,
       round(avg((ms <= 50)::int)::numeric, 4) AS exact_share
FROM demo_latency WHERE endpoint = 'checkout';

\echo '== Prometheus-style cumulative buckets (le), last = +Inf'
SELECT endpoint, metrics_ex.bucket_counts(ms, '{10,20,50,100,250}') AS le_10_20_50_100_250_inf
FROM demo_latency GROUP BY endpoint ORDER BY endpoint;

\echo '== states are plain values: lossless text (and binary), equal after a round trip'
CREATE TEMP TABLE demo_five AS SELECT ms FROM demo_latency ORDER BY ms DESC LIMIT 5;
SELECT metrics_ex.tdigest(ms) AS tdigest_of_5 FROM demo_five;
SELECT metrics_ex.ddsketch(ms) AS ddsketch_of_5 FROM demo_five;
SELECT metrics_ex.ddsketch(ms)::text::metrics_ex.ddsketch OPERATOR(metrics_ex.=) metrics_ex.ddsketch(ms)
       AS text_round_trip_equal
FROM demo_latency;
