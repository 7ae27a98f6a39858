-- test/e2e_citus.sh: every read function over the data of writes.sql, on
-- the coordinator and on the single node.  "== name" starts a section; the
-- script compares them exactly, except sections marked "~" (a standard
-- deviation or what is computed from one: float sums of squares, whose
-- last bits depend on the order rows are added in), compared to 1e-12.
-- Series ids, experiment ids and now() differ between the two nodes and
-- are left out or replaced (ID1, ID2), and rows sorted after that.
\set ON_ERROR_STOP on
\pset footer off
\pset format unaligned
\pset tuples_only on
SELECT id AS control FROM metrics_ex.experiments WHERE name = 'cx_control' \gset
SELECT id AS treatment FROM metrics_ex.experiments WHERE name = 'cx_treatment' \gset
CREATE TEMP TABLE ids (id text, alias text);
INSERT INTO ids VALUES (:'control', 'ID1'), (:'treatment', 'ID2');
-- (Citus warns that a temporary function stays on this node: it is meant to)
SET client_min_messages = error;
CREATE FUNCTION pg_temp.norm(t text) RETURNS text LANGUAGE sql
    RETURN replace(replace(t, (SELECT id FROM ids WHERE alias = 'ID1'), 'ID1'), (SELECT id FROM ids WHERE alias = 'ID2'), 'ID2');
RESET client_min_messages;

\echo == query: every aggregation, whole range
SELECT a, q.labels, q.value
  FROM unnest('{count,sum,mean,min,max,last,rate,p50,p90,p99,p999}'::text[]) a,
       unnest('{cx_req_total,cx_depth,cx_lat_ms,cx_bulk_total,cx_minute,cx_record,cx_copy,cx_job_ms,cx_tx_total,cx_gone_total,cx_event_ms}'::text[]) n,
       metrics_ex.query(n, a, since => '2026-11-01', until => '2026-12-01') q
 ORDER BY n, a;
\echo == query: grouped, filtered, lineage
SELECT * FROM metrics_ex.query('cx_req_total', 'sum', '{host,code}', since => '2026-11-20', until => '2026-11-23');
SELECT * FROM metrics_ex.query('cx_lat_ms', 'p95', '{host}', since => '2026-11-20 08:00', until => '2026-11-20 09:00');
SELECT * FROM metrics_ex.query('cx_lat_ms', 'mean', '{work_id}', since => '2026-11-20', until => '2026-11-21');
SELECT * FROM metrics_ex.query('cx_lat_ms', 'count', tags => '{"work_id": "w1"}', since => '2026-11-20', until => '2026-11-21');
SELECT * FROM metrics_ex.query('cx_bulk_total', 'last', '{instance}', tags => '{"job": "node"}',
                               since => '2026-11-20 12:10', until => '2026-11-20 12:50:30');
SELECT * FROM metrics_ex.query('cx_measure_ms', 'count', since => '2000-01-01', until => '3000-01-01');
SELECT metrics_ex.query_json('cx_depth', 'max', '{queue}', since => '2026-11-20', until => '2026-11-22');
\echo == ~ query: stddev
SELECT n, q.labels, q.value
  FROM unnest('{cx_req_total,cx_depth,cx_lat_ms,cx_bulk_total,cx_minute,cx_record}'::text[]) n,
       metrics_ex.query(n, 'stddev', '{}', since => '2026-11-01', until => '2026-12-01') q ORDER BY n;
\echo == time_series
SELECT * FROM metrics_ex.time_series('cx_req_total', 'hour', 'sum', since => '2026-11-20', until => '2026-11-23');
SELECT * FROM metrics_ex.time_series('cx_req_total', 'minute', 'count', since => '2026-11-20 08:00', until => '2026-11-20 08:30',
                                     group_by => '{code}', fill => 'zero');
SELECT * FROM metrics_ex.time_series('cx_depth', '5m', 'last', since => '2026-11-20 08:00', until => '2026-11-20 10:00',
                                     group_by => '{queue}', fill => 'previous');
SELECT * FROM metrics_ex.time_series('cx_lat_ms', 'hour', 'p99', since => '2026-11-20', until => '2026-11-21', group_by => '{host}');
SELECT * FROM metrics_ex.time_series('cx_lat_ms', 'day', 'mean', since => '2026-11-19', until => '2026-11-23');
SELECT * FROM metrics_ex.time_series('cx_minute', 'minute', 'max', since => '2026-11-20 10:00', until => '2026-11-20 11:00');
SELECT * FROM metrics_ex.time_series('cx_bulk_total', '30s', 'rate', since => '2026-11-20 12:00', until => '2026-11-20 13:00',
                                     fill => 'null');
SELECT * FROM metrics_ex.time_series('cx_record', 'hour', 'sum', since => '2026-11-20', until => '2026-11-21');
\echo == rollup
SELECT * FROM metrics_ex.rollup('cx_req_total', '{host}', '{count,sum,mean,min,max,last,rate,p50,p99}',
                                since => '2026-11-20', until => '2026-11-23');
SELECT * FROM metrics_ex.rollup('cx_lat_ms', '{host,work_id}', '{count,mean,p95}', since => '2026-11-20', until => '2026-11-21');
SELECT metrics_ex.rollup_json('cx_job_ms', '{tenant}', '{count,sum,p50}', since => '2026-11-20', until => '2026-11-21');
\echo == ~ rollup: stddev
SELECT * FROM metrics_ex.rollup('cx_depth', '{queue}', '{stddev,mean,count}', since => '2026-11-20', until => '2026-11-22');
\echo == rolling and windowed
SELECT * FROM metrics_ex.rolling('cx_depth');
SELECT * FROM metrics_ex.rolling('cx_lat_ms', '{"host": "h2"}');
SELECT * FROM metrics_ex.windowed('cx_depth', '10 minutes', '5 minutes', 'mean', since => '2026-11-20', until => '2026-11-21');
SELECT * FROM metrics_ex.windowed('cx_lat_ms', '30 minutes', '10 minutes', 'p90', '{"host": "h3"}');
\echo == get_metrics and points
SELECT metrics_ex.get_metrics(name => 'cx_depth', "limit" => 50) - 'timestamp';
SELECT metrics_ex.get_metrics(tags => '{"host": "h2"}', "limit" => 30, since => '2026-11-20 08:00', until => '2026-11-20 09:00') - 'timestamp';
SELECT metrics_ex.get_metrics(kind => 'counter', "limit" => 20) - 'timestamp';
WITH p AS MATERIALIZED (SELECT * FROM metrics_ex.points WHERE name <> 'cx_measure_ms')
SELECT ts, name, kind, pg_temp.norm(tags::text) t, value FROM p ORDER BY ts, name, t, value;
\echo == get_stats
SELECT (metrics_ex.get_stats() -> 'storage') - 'bytes', metrics_ex.get_stats() -> 'recorder';
\echo == the exposition
-- measure()'s samples are wall times: only their count is the same
SELECT pg_temp.norm(regexp_replace(metrics_ex.prometheus_text(), '^cx_measure_ms_(bucket|sum)[{ ][^\n]*\n', '', 'gn'));
SELECT pg_temp.norm(regexp_replace(metrics_ex.openmetrics_text(), '^cx_measure_ms_(bucket|sum)[{ ][^\n]*\n', '', 'gn'));
SELECT metrics_ex.prometheus_text('cx_lat_ms');
\echo == experiments
SELECT name, condition, status, samples, samples_rejected FROM metrics_ex.experiments ORDER BY name;
SELECT pg_temp.norm(x) FROM metrics_ex.export(:'control', 'csv') x;
SELECT pg_temp.norm(x) FROM metrics_ex.export(:'treatment', 'jsonl') x;
-- calculate_metrics() has standard deviations (sums of squares)
\echo == ~ experiments: calculate_metrics
SELECT pg_temp.norm(metrics_ex.calculate_metrics(:'control')::text);
SELECT pg_temp.norm(metrics_ex.calculate_metrics(:'treatment')::text);
\echo == ~ experiments: the statistical test
SELECT n, mean, std_dev, baseline_n, baseline_mean, difference, t_statistic, degrees_of_freedom, p_value, cohens_d
  FROM metrics_ex.compare_experiments(ARRAY[:'control', :'treatment']::uuid[], 'latency_ms');
\echo == rollup rows, totals and late deltas (sketches bit-identical)
WITH r AS MATERIALIZED (SELECT m.name, se.tags, r.bucket, r.count, r.sum, r.min, r.max, r.last_ts, r.last_value, r.sketch, r.buckets
    FROM metrics_ex.rollup_hour r JOIN metrics_ex.series se ON se.id = r.series_id JOIN metrics_ex.metrics m ON m.id = se.metric_id)
SELECT 'hour', name, pg_temp.norm(tags::text) t, bucket, count, sum, min, max, last_ts, last_value, sketch, buckets
  FROM r ORDER BY name, t, bucket;
WITH r AS MATERIALIZED (SELECT m.name, se.tags, r.bucket, r.count, r.sum, r.min, r.max, r.last_ts, r.last_value, r.sketch, r.buckets
    FROM metrics_ex.rollup_day r JOIN metrics_ex.series se ON se.id = r.series_id JOIN metrics_ex.metrics m ON m.id = se.metric_id)
SELECT 'day', name, pg_temp.norm(tags::text) t, bucket, count, sum, min, max, last_ts, last_value, sketch, buckets
  FROM r ORDER BY name, t, bucket;
WITH r AS MATERIALIZED (SELECT m.name, se.tags, r.bucket, r.count, r.sum, r.min, r.max, r.last_ts, r.last_value, r.sketch, r.buckets
    FROM metrics_ex.rollup_minute r JOIN metrics_ex.series se ON se.id = r.series_id JOIN metrics_ex.metrics m ON m.id = se.metric_id)
SELECT 'minute', name, pg_temp.norm(tags::text) t, bucket, count, sum, min, max, last_ts, last_value, sketch, buckets
  FROM r ORDER BY name, t, bucket;
WITH r AS MATERIALIZED (SELECT m.name, se.tags, t.count, t.sum, t.last_ts, t.last_value, t.buckets
    FROM metrics_ex.series_totals t JOIN metrics_ex.series se ON se.id = t.series_id JOIN metrics_ex.metrics m ON m.id = se.metric_id)
SELECT 'totals', name, pg_temp.norm(tags::text) t, count, sum, last_ts, last_value, buckets FROM r ORDER BY name, t;
WITH r AS MATERIALIZED (SELECT m.name, se.tags, p.bucket, p.count, p.sum, p.sketch
    FROM metrics_ex.rollup_pending p JOIN metrics_ex.series se ON se.id = p.series_id JOIN metrics_ex.metrics m ON m.id = se.metric_id)
SELECT 'pending', name, pg_temp.norm(tags::text) t, bucket, count, sum, sketch FROM r ORDER BY name, t, bucket;
SELECT m.name FROM metrics_ex.raw_horizon h JOIN metrics_ex.metrics m ON m.id = h.metric_id ORDER BY 1;
SELECT lower_bound, upper_bound FROM metrics_ex.partitions() WHERE upper_bound <= '2026-11-30';
\echo == the aggregates over every sample, split across the shards
SELECT name, count(*), metrics_ex.xsum(value), metrics_ex.xavg(value), min(value), max(value),
       metrics_ex.percentile(value, 0.9), metrics_ex.ddsketch(value), metrics_ex.approx_percentile(value, 0.99),
       metrics_ex.bucket_counts(value, '{1,10,100}')
  FROM metrics_ex.points WHERE name <> 'cx_measure_ms' GROUP BY name ORDER BY name;
