-- Write API: record, increment, gauge, histogram, define, the ingest view,
-- and how samples show in points, get_metrics and get_stats.
SET timezone = 'UTC';

-- MetricsEx record/2: value, promoted keys, tags, lineage ids per sample
SELECT metrics_ex.record('experiment_result',
  '{"value": 0.75, "experiment_id": "exp_123", "metric": "entailment_score",
    "ts": "2026-11-20T10:00:00Z",
    "tags": {"model": "llama-3.1", "dataset": "scifact", "trace_id": "trace-123", "work_id": "work-456"}}');
SELECT metrics_ex.record('experiment_result',
  '{"value": 0.5, "experiment_id": "exp_123", "metric": "entailment_score",
    "ts": "2026-11-20T10:00:01Z",
    "tags": {"model": "llama-3.1", "dataset": "scifact", "trace_id": "trace-124"}}');
-- same tag set, different lineage: one series, two samples
SELECT count(*) AS series FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
 WHERE m.name = 'experiment_result';
SELECT ts, name, kind, tags, value FROM metrics_ex.points WHERE name = 'experiment_result' ORDER BY ts;
-- lineage ids filter like any tag
SELECT count(*) FROM metrics_ex.points WHERE tags @> '{"trace_id": "trace-124"}';

-- explicit tags win over promoted keys; numbers and booleans become strings; null drops
SELECT metrics_ex.record('promo_total', '{"value": 2, "model": "a", "gpu": true, "n": 3, "skip": null,
  "tags": {"model": "b"}, "ts": "2026-11-20T10:00:00Z"}');
SELECT tags, value, kind FROM metrics_ex.points WHERE name = 'promo_total';

-- kind inference as MetricsEx: fraction -> histogram, integer -> counter,
-- gauge words -> gauge, _total -> counter; value defaults to 1
SELECT metrics_ex.record('infer_fraction', '{"value": 1.0, "ts": "2026-11-20T10:00:00Z"}');
SELECT metrics_ex.record('infer_integer', '{"value": 3, "ts": "2026-11-20T10:00:00Z"}');
SELECT metrics_ex.record('infer_queue_depth', '{"value": 7, "ts": "2026-11-20T10:00:00Z"}');
SELECT metrics_ex.record('infer_active_jobs', '{"value": 2, "ts": "2026-11-20T10:00:00Z"}');
SELECT metrics_ex.record('infer_bytes_total', '{"value": 0.5, "ts": "2026-11-20T10:00:00Z"}');
SELECT metrics_ex.record('infer_default', '{"ts": "2026-11-20T10:00:00Z"}');
SELECT name, kind FROM metrics_ex.metrics WHERE name LIKE 'infer%' ORDER BY name;
SELECT value FROM metrics_ex.points WHERE name = 'infer_default';

-- the typed functions
SELECT metrics_ex.increment('jobs_completed', tags => '{"tenant": "cns"}', ts => '2026-11-20 10:00:00+00');
SELECT metrics_ex.increment('jobs_completed', 2, '{"tenant": "cns"}', '2026-11-20 10:00:01+00');
SELECT metrics_ex.increment('requests_total', 5, '{"endpoint": "/api"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.gauge('queue_depth', 42, '{"queue": "sno_validation"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.gauge('queue_depth', -3, '{"queue": "sno_validation"}', '2026-11-20 10:00:05+00');
SELECT metrics_ex.histogram('response_time', 123.45, '{"endpoint": "/api"}', '2026-11-20 10:00:00+00');
SELECT name, kind, tags, value FROM metrics_ex.points
 WHERE name IN ('jobs_completed', 'requests_total', 'queue_depth', 'response_time')
 ORDER BY name, ts;

-- tag order and value types do not make new series
SELECT metrics_ex.gauge('order_test', 1, '{"a": "1", "b": "2"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.gauge('order_test', 2, '{"b": "2", "a": 1}', '2026-11-20 10:00:00+00');
SELECT count(*) AS series, min(tags::text) FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
 WHERE m.name = 'order_test';

-- define: help, unit, buckets, max_series; NULL keeps what is there
SELECT metrics_ex.define('http_latency_seconds', 'histogram', 'HTTP latency', 'seconds', '{0.1, 0.5, 1}');
SELECT metrics_ex.define('http_latency_seconds', 'histogram', max_series => 2);
SELECT name, kind, help, unit, buckets, max_series FROM metrics_ex.metrics WHERE name = 'http_latency_seconds';
SELECT metrics_ex.histogram('http_latency_seconds', 0.2, '{"path": "/a"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.histogram('http_latency_seconds', 0.3, '{"path": "/b"}', '2026-11-20 10:00:00+00');
-- the third tag set is refused; existing series keep recording
SELECT metrics_ex.histogram('http_latency_seconds', 0.4, '{"path": "/c"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.histogram('http_latency_seconds', 0.5, '{"path": "/a"}', '2026-11-20 10:00:01+00');
-- lineage ids do not count as series
SELECT metrics_ex.histogram('http_latency_seconds', 0.6, '{"path": "/a", "trace_id": "t-1"}', '2026-11-20 10:00:02+00');
SELECT count(*) FROM metrics_ex.points WHERE name = 'http_latency_seconds';

-- bulk: INSERT and COPY through the ingest view
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
  ('bulk_requests_total', 1, '{"host": "a"}', '2026-11-20 11:00:00+00'),
  ('bulk_requests_total', 2, '{"host": "b"}'::jsonb, '2026-11-20 11:00:01+00'),
  ('bulk_requests_total', 3, NULL, '2026-11-20 11:00:02+00');
INSERT INTO metrics_ex.ingest (name, tags, ts, kind) VALUES
  ('bulk_temperature', '{"room": "1"}', '2026-11-20 11:00:00+00', 'gauge');
COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN;
bulk_requests_total	4	{"host": "a"}	2026-11-20 11:00:03+00
bulk_requests_total	5	{"host":"a"}	2026-11-20 11:00:04+00
bulk_requests_total	6	{"host": "a", "work_id": "w-9"}	2026-11-21 11:00:05+00
\.
SELECT name, kind, tags, value, ts FROM metrics_ex.points WHERE name LIKE 'bulk%' ORDER BY name, ts;
-- one bad row fails the whole statement and stores nothing of it
COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN;
bulk_requests_total	7	{"host": "a"}	2026-11-20 11:00:06+00
bulk_requests_total	-1	{"host": "a"}	2026-11-20 11:00:07+00
\.
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
  ('bulk_requests_total', 8, '{"host": "a"}', '2026-11-20 11:00:08+00'),
  ('bulk_requests_total', 9, '{"host": ["a"]}', '2026-11-20 11:00:09+00');
SELECT count(*), sum(value) FROM metrics_ex.points WHERE name = 'bulk_requests_total';

-- COPY with a WHERE clause takes the view's trigger instead of the fast path
COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN WHERE value > 1;
bulk_where_total	1	{"host": "a"}	2026-11-20 11:00:00+00
bulk_where_total	2	{"host": "a"}	2026-11-20 11:00:01+00
\.
SELECT count(*), sum(value) FROM metrics_ex.points WHERE name = 'bulk_where_total';
-- a large COPY: rows are written in batches, across several days
COPY (SELECT 'bulk_big', i, '{"shard": "' || i % 10 || '"}', '2026-11-01 00:00:00+00'::timestamptz + i * interval '1 minute'
        FROM generate_series(1, 5000) i) TO '/tmp/metrics_ex_regress_copy.txt';
COPY metrics_ex.ingest (name, value, tags, ts) FROM '/tmp/metrics_ex_regress_copy.txt';
SELECT count(*), sum(value), count(DISTINCT tags), min(ts), max(ts) FROM metrics_ex.points WHERE name = 'bulk_big';

-- the write path runs no DDL: samples of days that have no partition wait
-- in the default partition, until maintenance makes the day's partition and
-- moves them in (these are old: keep them from retention meanwhile)
SELECT tableoid::regclass AS partition, count(*) FROM metrics_ex.samples
 WHERE ts >= '2026-11-20' AND ts < '2026-11-22' GROUP BY 1 ORDER BY 1;
SELECT metrics_ex.set_retention(NULL, '1000 years');
SELECT (p->>'samples_moved')::int = (SELECT count(*) FROM metrics_ex.points) AS moved_all,
       p->'partitions_dropped' AS dropped, p->'partitions_skipped' AS skipped
  FROM metrics_ex.prune() p;
SELECT tableoid::regclass AS partition, count(*) FROM metrics_ex.samples
 WHERE ts >= '2026-11-20' AND ts < '2026-11-22' GROUP BY 1 ORDER BY 1;
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bounds
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'metrics_ex.samples'::regclass AND c.relname IN ('samples_p20261120', 'samples_p20261121')
 ORDER BY 1;
SELECT count(*) AS left_waiting FROM ONLY metrics_ex.samples_default;
SELECT metrics_ex.set_retention(NULL, NULL);

-- get_metrics: newest first, limit, tags, kind, half-open [since, until)
SELECT jsonb_pretty(metrics_ex.get_metrics(name => 'jobs_completed', "limit" => 100) - 'timestamp');
SELECT (metrics_ex.get_metrics("limit" => 2, kind => 'counter', tags => '{"host": "a"}') -> 'metrics');
SELECT metrics_ex.get_metrics(name => 'bulk_requests_total', since => '2026-11-20 11:00:01+00',
                              until => '2026-11-20 11:00:04+00') -> 'count';
SELECT metrics_ex.get_metrics(name => 'no_such_metric') - 'timestamp';

-- get_stats
SELECT s -> 'storage' -> 'total_metrics' AS total_metrics,
       s -> 'storage' -> 'metrics_stored' AS stored,
       s -> 'storage' -> 'metrics_pruned' AS pruned,
       s -> 'storage' -> 'series' AS series,
       s -> 'storage' -> 'retention_hours' AS retention_hours,
       (s -> 'storage' ->> 'bytes')::bigint > 0 AS has_bytes,
       s -> 'recorder' -> 'metrics_recorded' AS recorded,
       s ? 'timestamp' AS has_timestamp
  FROM metrics_ex.get_stats() s;
SELECT count(*) FROM metrics_ex.points;

-- measure: runs the statement, records ms as a histogram
SELECT metrics_ex.measure('query_ms', 'SELECT count(*) FROM pg_class', '{"query": "SELECT"}') >= 0 AS measured;
SELECT kind, tags, value >= 0 AS ms FROM metrics_ex.points WHERE name = 'query_ms';
-- a failing statement is re-raised; its sample (status=error) cannot be
-- written in the transaction the error rolls back, so the session keeps it
-- and its next write stores it
DO $$
BEGIN
    PERFORM metrics_ex.measure('query_ms', 'SELECT 1/0', '{"query": "div"}');
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;
SELECT metrics_ex.measure('query_ms', 'SELECT 1/0', '{"query": "div"}');
SELECT count(*) FROM metrics_ex.points WHERE name = 'query_ms';
SELECT metrics_ex.gauge('any_write', 1, ts => '2026-11-20 12:00:00+00');
SELECT tags, count(*) FROM metrics_ex.points WHERE name = 'query_ms' GROUP BY tags ORDER BY tags::text;
