-- Sketches against percentile_cont on seeded data, under forced parallel
-- plans; merges of sketches from different splits; binary COPY round trips.
SET search_path = public;
SELECT setseed(0.5);
CREATE TABLE sk_data AS
SELECT i,
       random() AS u,
       exp(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS ln
FROM generate_series(1, 200000) i;
ANALYZE sk_data;

-- reference values, computed once without parallelism
SET max_parallel_workers_per_gather = 0;
CREATE TABLE sk_truth AS
SELECT q,
       (SELECT percentile_cont(q) WITHIN GROUP (ORDER BY u) FROM sk_data) AS u,
       (SELECT percentile_cont(q) WITHIN GROUP (ORDER BY ln) FROM sk_data) AS ln
FROM unnest('{0,0.5,0.95,0.99,0.999,1}'::float8[]) q;
CREATE TABLE sk_serial AS
SELECT metrics_ex.ddsketch(u) AS dd_u, metrics_ex.ddsketch(ln) AS dd_ln,
       metrics_ex.tdigest(u) AS td_u, metrics_ex.tdigest(ln) AS td_ln,
       metrics_ex.stats_agg(ln) AS st_ln,
       metrics_ex.bucket_counts(ln, '{0.5,1,2,5,10}') AS bc_ln
FROM sk_data;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;

EXPLAIN (COSTS OFF)
SELECT metrics_ex.ddsketch(ln), metrics_ex.tdigest(ln), metrics_ex.stats_agg(ln),
       metrics_ex.percentile(ln, 0.5), metrics_ex.approx_percentile(ln, 0.5),
       metrics_ex.bucket_counts(ln, '{1,2}')
FROM sk_data;

CREATE TABLE sk_par AS
SELECT metrics_ex.ddsketch(u) AS dd_u, metrics_ex.ddsketch(ln) AS dd_ln,
       metrics_ex.tdigest(u) AS td_u, metrics_ex.tdigest(ln) AS td_ln,
       metrics_ex.stats_agg(ln) AS st_ln,
       metrics_ex.bucket_counts(ln, '{0.5,1,2,5,10}') AS bc_ln,
       metrics_ex.percentile(ln, 0.5) AS p50_ln, metrics_ex.percentile(ln, 0.999) AS p999_ln,
       metrics_ex.percentile(u, 0.95) AS p95_u,
       metrics_ex.approx_percentile(ln, 0.99) AS ap99_ln
FROM sk_data;

-- ddsketch: within 1% relative of percentile_cont; q = 0 and 1 exact.
SELECT t.q,
       abs(metrics_ex.quantile(p.dd_u, t.q) / t.u - 1) <= 0.01 AS dd_u_ok,
       abs(metrics_ex.quantile(p.dd_ln, t.q) / t.ln - 1) <= 0.01 AS dd_ln_ok,
       (t.q NOT IN (0, 1) OR metrics_ex.quantile(p.dd_ln, t.q) = t.ln) AS ends_exact
FROM sk_truth t, sk_par p ORDER BY t.q;

-- ddsketch: serial and parallel sketches are bit-identical.
SELECT s.dd_u::text = p.dd_u::text AS dd_u_same, s.dd_ln::text = p.dd_ln::text AS dd_ln_same,
       s.bc_ln = p.bc_ln AS buckets_same, p.bc_ln
FROM sk_serial s, sk_par p;

-- tdigest: within 0.5% relative (measured errors are far smaller), serial
-- and parallel; q = 0 and 1 exact.
SELECT t.q,
       abs(metrics_ex.quantile(s.td_ln, t.q) / t.ln - 1) <= 0.005 AS td_serial_ok,
       abs(metrics_ex.quantile(p.td_ln, t.q) / t.ln - 1) <= 0.005 AS td_par_ok,
       abs(metrics_ex.quantile(p.td_u, t.q) - t.u) <= 0.001 AS td_u_ok,
       (t.q NOT IN (0, 1) OR metrics_ex.quantile(p.td_ln, t.q) = t.ln) AS ends_exact
FROM sk_truth t, sk_serial s, sk_par p ORDER BY t.q;

-- rank() inverts quantile() within the same tolerance.
SELECT abs(metrics_ex.rank(p.td_ln, t.ln) - 0.95) < 0.001 AS td_rank_ok,
       abs(metrics_ex.rank(p.dd_ln, t.ln) - 0.95) < 0.01 AS dd_rank_ok
FROM sk_truth t, sk_par p WHERE t.q = 0.95;

-- percentile() is exact: the same float8 as percentile_cont, in parallel.
SELECT p.p50_ln = (SELECT ln FROM sk_truth WHERE q = 0.5) AS p50_exact,
       p.p999_ln = (SELECT ln FROM sk_truth WHERE q = 0.999) AS p999_exact,
       p.p95_u = (SELECT u FROM sk_truth WHERE q = 0.95) AS p95_exact,
       p.ap99_ln = metrics_ex.quantile(p.dd_ln, 0.99) AS approx_is_ddsketch
FROM sk_par p;

-- stats: parallel combine agrees with the serial state and avg/stddev.
SELECT (metrics_ex.summary(p.st_ln) ->> 'count')::bigint AS n,
       abs(metrics_ex.mean(p.st_ln) / metrics_ex.mean(s.st_ln) - 1) < 1e-12 AS mean_ok,
       abs(metrics_ex.stddev(p.st_ln) / (SELECT stddev(ln) FROM sk_data) - 1) < 1e-9 AS sd_ok,
       metrics_ex.summary(p.st_ln) -> 'min' = metrics_ex.summary(s.st_ln) -> 'min' AS min_ok
FROM sk_serial s, sk_par p;

-- Merging sketches of any split gives the whole: exactly for ddsketch.
RESET parallel_leader_participation;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE sk_parts AS
SELECT i % 7 AS part, metrics_ex.ddsketch(ln) AS dd, metrics_ex.tdigest(ln) AS td,
       metrics_ex.stats_agg(ln) AS st, metrics_ex.bucket_counts(ln, '{0.5,1,2,5,10}') AS bc
FROM sk_data GROUP BY i % 7;
SELECT metrics_ex.ddsketch(dd)::text = (SELECT dd_ln::text FROM sk_serial) AS dd_merge_exact,
       metrics_ex.bucket_counts(bc) = (SELECT bc_ln FROM sk_serial) AS bc_merge_exact,
       (metrics_ex.summary(metrics_ex.stats_agg(st)) ->> 'count')::bigint AS st_count,
       abs(metrics_ex.quantile(metrics_ex.tdigest(td), 0.99)
           / (SELECT ln FROM sk_truth WHERE q = 0.99) - 1) < 0.005 AS td_merge_ok
FROM sk_parts;
-- ... and in any order, also split differently and merged in parallel
SET max_parallel_workers_per_gather = 2;
SELECT metrics_ex.ddsketch(dd ORDER BY part DESC)::text = (SELECT dd_ln::text FROM sk_serial) AS dd_any_order
FROM sk_parts;
SET max_parallel_workers_per_gather = 0;

-- Binary round trip through COPY (FORMAT binary), and text round trip.
CREATE TEMP TABLE sk_rt AS
SELECT dd_ln AS dd, td_ln AS td, st_ln AS st,
       'q=0.25 values={3,1,2}'::metrics_ex.percentile_state AS ps
FROM sk_serial;
CREATE TEMP TABLE sk_rt_back (LIKE sk_rt);
DO $$
DECLARE f text := '/tmp/metrics_ex_sketch_rt_' || pg_backend_pid() || '.bin';
BEGIN
    EXECUTE format('COPY sk_rt TO %L (FORMAT binary)', f);
    -- read the file back and remove it
    EXECUTE format('COPY sk_rt_back FROM PROGRAM %L (FORMAT binary)',
                   format('cat %s && rm -f %s', f, f));
END $$;
SELECT a.dd::text = b.dd::text AS dd_binary, a.td::text = b.td::text AS td_binary,
       a.st::text = b.st::text AS st_binary, b.ps AS ps_binary,
       a.dd::text::metrics_ex.ddsketch::text = a.dd::text AS dd_text,
       a.td::text::metrics_ex.tdigest::text = a.td::text AS td_text,
       metrics_ex.quantile(b.td, 0.5) = metrics_ex.quantile(a.td, 0.5) AS td_same_answer
FROM sk_rt a, sk_rt_back b;

-- Sizes of the stored states (deterministic for ddsketch).
SELECT pg_column_size(dd_ln) AS dd_bytes, pg_column_size(td_ln) < 16000 AS td_small
FROM sk_serial;

RESET ALL;
DROP TABLE sk_data, sk_truth, sk_serial, sk_par, sk_parts;
