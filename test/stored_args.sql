-- No function modifies its argument outside an aggregate's own transition
-- state: calling any sketch function on a stored value, as any reader may,
-- leaves the stored bytes (in the shared buffer: there is no WAL for such a
-- change) exactly as they were.  The values below are 130..2000 bytes, so
-- they are stored inline and uncompressed, and a function gets a pointer
-- into the buffer itself (stats and the float8[] state are smaller: stored
-- with a 1-byte header, they reach functions as copies anyway).
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
CREATE EXTENSION IF NOT EXISTS pageinspect;
SELECT plan(17);

-- one table per kind of state; id 1 the aggregate's stored form, id 2 the
-- form a transition function returns when called directly (spare room,
-- tdigest buffer, dense ddsketch)
CREATE TABLE sa_td (id int, v metrics_ex.tdigest);
INSERT INTO sa_td SELECT 1, metrics_ex.tdigest(x) FROM generate_series(20, 1, -1) x;
INSERT INTO sa_td VALUES (2, metrics_ex.tdigest_add(metrics_ex.tdigest_add(metrics_ex.tdigest_add(NULL, 9), 1), 5));
CREATE TABLE sa_dd (id int, v metrics_ex.ddsketch);
-- (spread over both stores: the compact form of 20 small values is under 130 bytes)
INSERT INTO sa_dd SELECT 1, metrics_ex.ddsketch(x * 1.5 - 7) FROM generate_series(60, 1, -1) x;
INSERT INTO sa_dd VALUES (2, metrics_ex.ddsketch_add(metrics_ex.ddsketch_add(NULL, 9), -3)),
                         (3, metrics_ex.ddsketch_add_q(metrics_ex.ddsketch_add_q(NULL, 9, 0.5), 8, 0.5));
CREATE TABLE sa_st (id int, v metrics_ex.stats);
INSERT INTO sa_st SELECT 1, metrics_ex.stats_agg(x) FROM generate_series(20, 1, -1) x;
CREATE TABLE sa_ps (id int, v metrics_ex.percentile_state);
INSERT INTO sa_ps VALUES (1, 'q=0.5 values={9,3,7,1,20,15,2,8,4,19,6,11,13,5,17,10,12,16,14,18}'),
                         (2, metrics_ex.percentile_add(metrics_ex.percentile_add(NULL, 9, 0.5), 1, 0.5));
CREATE TABLE sa_bc (id int, v bigint[]);
INSERT INTO sa_bc SELECT 1, array_agg(x::bigint ORDER BY x DESC) FROM generate_series(1, 30) x;
INSERT INTO sa_bc SELECT 2, metrics_ex.bucket_counts(x, (SELECT array_agg(b::float8 ORDER BY b) FROM generate_series(1, 29) b))
  FROM generate_series(1, 40) x;
CREATE TABLE sa_fv (id int, v float8[]);
INSERT INTO sa_fv VALUES (1, '{3,6,14}'), (2, '{2,4,2}');

SELECT is_empty($$SELECT 'td', id FROM sa_td WHERE pg_column_size(v) NOT BETWEEN 130 AND 2000
                  UNION ALL SELECT 'dd', id FROM sa_dd WHERE pg_column_size(v) NOT BETWEEN 130 AND 2000
                  UNION ALL SELECT 'ps', id FROM sa_ps WHERE pg_column_size(v) NOT BETWEEN 130 AND 2000
                  UNION ALL SELECT 'bc', id FROM sa_bc WHERE pg_column_size(v) NOT BETWEEN 130 AND 2000$$,
                'the stored values are inline, uncompressed (4-byte header) datums');

-- the stored text and the bytes of each table's page, before
CREATE FUNCTION pg_temp.sa_snapshot() RETURNS TABLE (tbl text, texts text, page text) LANGUAGE sql AS $$
    SELECT t.tbl,
           (SELECT string_agg(x::text, ' | ') FROM (SELECT v::text x FROM sa_td WHERE t.tbl = 'sa_td' UNION ALL
                                                    SELECT v::text FROM sa_dd WHERE t.tbl = 'sa_dd' UNION ALL
                                                    SELECT v::text FROM sa_st WHERE t.tbl = 'sa_st' UNION ALL
                                                    SELECT v::text FROM sa_ps WHERE t.tbl = 'sa_ps' UNION ALL
                                                    SELECT v::text FROM sa_bc WHERE t.tbl = 'sa_bc' UNION ALL
                                                    SELECT v::text FROM sa_fv WHERE t.tbl = 'sa_fv') s),
           (SELECT md5(string_agg(coalesce(p.t_data::text, ''), ',' ORDER BY p.lp))
              FROM heap_page_items(get_raw_page(t.tbl, 0)) p)
      FROM unnest('{sa_td,sa_dd,sa_st,sa_ps,sa_bc,sa_fv}'::text[]) t(tbl)
$$;
CREATE TEMP TABLE sa_before AS SELECT * FROM pg_temp.sa_snapshot();

-- every SQL-callable function that takes these types, on the stored values
SELECT is((SELECT metrics_ex.percentile_final(v) || ' ' || v::text FROM sa_ps WHERE id = 1),
          '10.5 q=0.5 values={9,3,7,1,20,15,2,8,4,19,6,11,13,5,17,10,12,16,14,18}',
          'percentile_final(stored) answers and leaves the value as it was, even within its row');
SELECT is((SELECT metrics_ex.percentile_final(v) FROM sa_ps WHERE id = 2), 5::float8, 'percentile_final of a transition result');
CREATE TEMP TABLE sa_calls AS
SELECT 'td' t, id, r.* FROM sa_td, LATERAL (VALUES
    ('quantile', metrics_ex.quantile(v, 0.5)::text), ('quantiles', metrics_ex.quantiles(v, '{0.1,0.9}')::text),
    ('rank', metrics_ex.rank(v, 5)::text), ('summary', metrics_ex.summary(v)::text),
    ('final', metrics_ex.tdigest_final(v)::text), ('add', metrics_ex.tdigest_add(v, 100)::text),
    ('add3', metrics_ex.tdigest_add(v, 100, 50)::text), ('combine', metrics_ex.tdigest_combine(v, v)::text),
    ('combine_null_v', metrics_ex.tdigest_combine(NULL, v)::text), ('combine_v_null', metrics_ex.tdigest_combine(v, NULL)::text),
    ('send', metrics_ex.tdigest_send(v)::text), ('eq', (v OPERATOR(metrics_ex.=) v)::text)) r(fn, res)
UNION ALL
SELECT 'dd', id, r.* FROM sa_dd, LATERAL (VALUES
    ('quantile', metrics_ex.quantile(v, 0.5)::text), ('quantiles', metrics_ex.quantiles(v, '{0.1,0.9}')::text),
    ('rank', metrics_ex.rank(v, 5)::text), ('summary', metrics_ex.summary(v)::text),
    ('final', metrics_ex.ddsketch_final(v)::text), ('add', metrics_ex.ddsketch_add(v, 100)::text),
    ('add3', metrics_ex.ddsketch_add(v, 100, 0.02)::text), ('combine', metrics_ex.ddsketch_combine(v, v)::text),
    ('combine_null_v', metrics_ex.ddsketch_combine(NULL, v)::text), ('combine_v_null', metrics_ex.ddsketch_combine(v, NULL)::text),
    ('send', metrics_ex.ddsketch_send(v)::text), ('eq', (v OPERATOR(metrics_ex.=) v)::text)) r(fn, res)
UNION ALL
-- approx_percentile's transition and final need the sketch's own q
SELECT 'dd', id, r.* FROM sa_dd, LATERAL (VALUES
    ('add_q', metrics_ex.ddsketch_add_q(v, 2, 0.5)::text), ('approx_final', metrics_ex.ddsketch_approx_final(v)::text)) r(fn, res)
 WHERE id = 3
UNION ALL
SELECT 'st', id, r.* FROM sa_st, LATERAL (VALUES
    ('mean', metrics_ex.mean(v)::text), ('variance', metrics_ex.variance(v)::text), ('stddev', metrics_ex.stddev(v)::text),
    ('summary', metrics_ex.summary(v)::text), ('add', metrics_ex.stats_add(v, 100)::text),
    ('combine', metrics_ex.stats_combine(v, v)::text), ('combine_null_v', metrics_ex.stats_combine(NULL, v)::text),
    ('combine_v_null', metrics_ex.stats_combine(v, NULL)::text), ('send', metrics_ex.stats_send(v)::text),
    ('eq', (v OPERATOR(metrics_ex.=) v)::text)) r(fn, res)
UNION ALL
SELECT 'ps', id, r.* FROM sa_ps, LATERAL (VALUES
    ('final', metrics_ex.percentile_final(v)::text), ('add', metrics_ex.percentile_add(v, 100, 0.5)::text),
    ('combine', metrics_ex.percentile_combine(v, v)::text), ('combine_null_v', metrics_ex.percentile_combine(NULL, v)::text),
    ('combine_v_null', metrics_ex.percentile_combine(v, NULL)::text), ('send', metrics_ex.percentile_state_send(v)::text)) r(fn, res)
UNION ALL
SELECT 'bc', id, r.* FROM sa_bc, LATERAL (VALUES
    ('final', metrics_ex.bucket_counts_final(v)::text),
    ('add', metrics_ex.bucket_counts_add(v, 5, (SELECT array_agg(b::float8 ORDER BY b) FROM generate_series(1, 29) b))::text),
    ('combine', metrics_ex.bucket_counts_combine(v, v)::text), ('combine_null_v', metrics_ex.bucket_counts_combine(NULL, v)::text),
    ('combine_v_null', metrics_ex.bucket_counts_combine(v, NULL)::text)) r(fn, res)
UNION ALL
SELECT 'fv', id, r.* FROM sa_fv, LATERAL (VALUES
    ('accum', metrics_ex.fvar_accum(v, 5)::text), ('combine', metrics_ex.fvar_combine(v, v)::text),
    ('avg', pg_catalog.float8_avg(v)::text)) r(fn, res);
-- and the aggregates over them, as plain aggregates and as window functions
CREATE TEMP TABLE sa_aggs AS
SELECT (SELECT metrics_ex.tdigest(v)::text FROM sa_td) a, (SELECT metrics_ex.ddsketch(v)::text FROM sa_dd WHERE id < 3) b,
       (SELECT metrics_ex.stats_agg(v)::text FROM sa_st) c, (SELECT metrics_ex.bucket_counts(v)::text FROM sa_bc) d,
       (SELECT string_agg(x, ',') FROM (SELECT metrics_ex.tdigest(v) OVER (ORDER BY id)::text x FROM sa_td) w) e,
       (SELECT string_agg(x, ',') FROM (SELECT metrics_ex.ddsketch(v) OVER (ORDER BY id)::text x FROM sa_dd WHERE id < 3) w) f,
       (SELECT string_agg(x, ',') FROM (SELECT metrics_ex.stats_agg(v) OVER (ORDER BY id)::text x FROM sa_st) w) g,
       (SELECT string_agg(x, ',') FROM (SELECT metrics_ex.bucket_counts(v) OVER (ORDER BY id)::text x FROM sa_bc) w) h,
       (SELECT metrics_ex.quantile(metrics_ex.tdigest(v), 0.5) FROM sa_td) i;
SELECT results_eq($$SELECT t, count(*), count(res) FROM sa_calls GROUP BY t ORDER BY t$$,
                  $$VALUES ('bc', 10::bigint, 10::bigint), ('dd', 38, 38), ('fv', 6, 6), ('ps', 12, 12), ('st', 10, 10),
                           ('td', 24, 24)$$, 'every function answered on every stored value');
SELECT is((SELECT res FROM sa_calls WHERE t = 'td' AND id = 1 AND fn = 'quantile'), '10.5',
          'quantile(stored tdigest), as percentile_cont');
SELECT is((SELECT res FROM sa_calls WHERE t = 'ps' AND id = 1 AND fn = 'add'),
          'q=0.5 values={9,3,7,1,20,15,2,8,4,19,6,11,13,5,17,10,12,16,14,18,100}', 'percentile_add(stored) appends to a copy');
SELECT is((SELECT res FROM sa_calls WHERE t = 'fv' AND id = 1 AND fn = 'accum'), '{4,11,20.75}', 'fvar_accum(stored) steps a copy');
SELECT is((SELECT i FROM sa_aggs), 9::float8, 'the aggregates over stored values answer');

-- after: nothing stored changed
SELECT results_eq($$SELECT tbl, texts FROM pg_temp.sa_snapshot() ORDER BY tbl$$,
                  $$SELECT tbl, texts FROM sa_before ORDER BY tbl$$, 'the stored values'' text is unchanged');
SELECT is((SELECT s.page FROM pg_temp.sa_snapshot() s WHERE s.tbl = t.tbl), t.page,
          'page bytes of ' || t.tbl || ' unchanged')
  FROM sa_before t ORDER BY t.tbl;

-- the aggregates' own states are still updated in place (same answers as a fresh call)
SELECT is((SELECT metrics_ex.percentile(x, 0.5) FROM generate_series(1, 1000) x), 500.5::float8,
          'percentile() still reorders its own state');
SELECT is((SELECT metrics_ex.tdigest(x)::text FROM generate_series(1, 1000) x),
          (SELECT metrics_ex.tdigest_final(metrics_ex.tdigest(x))::text FROM generate_series(1, 1000) x),
          'tdigest() state as before');

SELECT * FROM finish();
ROLLBACK;
