-- Sketch types: invalid arguments and hostile text input.
SET search_path = public;
\set VERBOSITY default

SELECT metrics_ex.tdigest(x) FROM (VALUES ('NaN'::float8)) t(x);
SELECT metrics_ex.ddsketch(x) FROM (VALUES ('Infinity'::float8)) t(x);
SELECT metrics_ex.stats_agg(x) FROM (VALUES ('NaN'::float8)) t(x);
SELECT metrics_ex.percentile(x, 0.5) FROM (VALUES ('NaN'::float8)) t(x);
SELECT metrics_ex.percentile(x, 1.5) FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.approx_percentile(x, -0.1) FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.quantile(metrics_ex.tdigest(x), 2) FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.quantiles(metrics_ex.ddsketch(x), '{0.5,NaN}') FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.tdigest(x, 5) FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.ddsketch(x, 0) FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.bucket_counts(x, '{5,1}') FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.bucket_counts(x, '{}') FROM (VALUES (1::float8)) t(x);
SELECT metrics_ex.bucket_counts(b) FROM (VALUES ('{1,2}'::bigint[]), ('{1,2,3}')) t(b);
SELECT metrics_ex.percentile(x, q) FROM (VALUES (1::float8, 0.5::float8), (2, 0.9)) t(x, q);

-- hostile or malformed text never crashes or over-reads
SELECT 'count=1 sum=1 min=1 max=1 mean=1 m2=0'::metrics_ex.stats;
SELECT 'count=0 sum=1 min=1 max=1 mean=1 m2=0'::metrics_ex.stats;
SELECT 'count=1 sum=1 min=1 max=1 mean=1'::metrics_ex.stats;
SELECT 'count=1 sum=1 min=1 max=1 mean=1 m2=0 junk'::metrics_ex.stats;
SELECT 'count=99999999999999999999 sum=1 min=1 max=1 mean=1 m2=0'::metrics_ex.stats;
SELECT 'compression=100 count=2 sum=3 min=1 max=2 centroids={1:1,2:1}'::metrics_ex.tdigest;
SELECT 'compression=100 count=3 sum=3 min=1 max=2 centroids={1:1,2:1}'::metrics_ex.tdigest;
SELECT 'compression=100 count=2 sum=3 min=1 max=2 centroids={2:1,1:1}'::metrics_ex.tdigest;
SELECT 'compression=100 count=2 sum=3 min=1 max=2 centroids={1:1,2:1'::metrics_ex.tdigest;
SELECT 'compression=100 count=2 sum=3 min=1 max=2 centroids={1:-1,2:3}'::metrics_ex.tdigest;
SELECT 'compression=1000000 count=1 sum=1 min=1 max=1 centroids={1:1}'::metrics_ex.tdigest;
SELECT 'compression=10 count=1 sum=1 min=NaN max=1 centroids={1:1}'::metrics_ex.tdigest;
SELECT 'rel_err=0.01 count=2 zeros=1 min=0 max=1 sum=0x1p0 pos=0:{1} neg=0:{}'::metrics_ex.ddsketch;
SELECT 'rel_err=0.01 count=2 zeros=1 min=0 max=1 sum=0x1p0 pos=0:{2} neg=0:{}'::metrics_ex.ddsketch;
SELECT 'rel_err=0.01 count=1 zeros=0 min=1 max=1 sum=0x1p0 pos=2147483647:{1} neg=0:{}'::metrics_ex.ddsketch;
SELECT 'rel_err=0.01 count=1 zeros=0 min=1 max=1 sum=0x1p1 pos=0:{1} neg=0:{}'::metrics_ex.ddsketch;
SELECT 'rel_err=0.01 count=1 zeros=0 min=1 max=1 sum=0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffp0 pos=0:{1} neg=0:{}'::metrics_ex.ddsketch;
SELECT 'rel_err=2 count=1 zeros=1 min=0 max=0 sum=0 pos=0:{} neg=0:{}'::metrics_ex.ddsketch;
SELECT 'q=0.5 values={1,2,3}'::metrics_ex.percentile_state;
SELECT 'q=0.5 values={1,NaN}'::metrics_ex.percentile_state;
SELECT ''::metrics_ex.tdigest;
SELECT 'compression='::metrics_ex.tdigest;
