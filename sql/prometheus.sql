-- Prometheus and OpenMetrics exposition.  Other tests leave metrics behind,
-- so this one only prints its own (names prefixed prom_) and deletes them at
-- the end.
\pset null '(null)'
CREATE FUNCTION pg_temp.scrape(om boolean DEFAULT false) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT l FROM regexp_split_to_table(CASE WHEN om THEN metrics_ex.openmetrics_text()
                                             ELSE metrics_ex.prometheus_text() END, E'\n')
                  WITH ORDINALITY AS t(l, n)
     WHERE l ~ '^(# (HELP|TYPE) )?prom_' ORDER BY n
$$;

SELECT metrics_ex.prometheus_content_type(), metrics_ex.openmetrics_content_type();

-- every kind; help and label values with backslash, double quote and newline
SELECT metrics_ex.define('prom_requests', 'counter', help => E'Requests served \\ by "path"\nsecond line');
SELECT metrics_ex.define('prom_done_total', 'counter', help => 'Jobs done');
SELECT metrics_ex.define('prom_depth', 'gauge', help => 'Queue depth');
SELECT metrics_ex.define('prom_latency_seconds', 'histogram', help => 'Latency (default buckets)');
SELECT metrics_ex.define('prom_size_bytes', 'histogram', help => 'Size', buckets => '{1,10,100.5,1000}');
SELECT metrics_ex.define('prom_empty', 'gauge', help => 'Defined, never recorded');
SELECT metrics_ex.increment('prom_requests', 3, jsonb_build_object('path', E'/a"b\\c\nd', 'code', '200'),
                            '2026-01-01 10:00:00+00');
SELECT metrics_ex.increment('prom_requests', 2, '{"path": "/x", "code": "500"}', '2026-01-01 10:00:01+00');
SELECT metrics_ex.increment('prom_requests', 0.5, '{"path": "/x", "code": "500"}', '2026-01-01 10:00:02+00');
SELECT metrics_ex.increment('prom_requests', 1, '{}', '2026-01-01 10:00:02+00');
SELECT metrics_ex.increment('prom_done_total', 7, '{"trace_id": "t-1", "tenant": "cns"}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.increment('prom_done_total', 5, '{"trace_id": "t-2", "tenant": "cns"}', '2026-01-01 10:00:03+00');
SELECT metrics_ex.gauge('prom_depth', 17, '{"queue": "q1"}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.gauge('prom_depth', 42, '{"queue": "q1"}', '2026-01-01 10:05:00+00');
SELECT metrics_ex.gauge('prom_depth', 0.1::float8 + 0.2::float8, '{"queue": "q2"}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.gauge('prom_depth', 1e300, '{"queue": "q3"}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.gauge('prom_depth', -1.5e-7, '{"queue": "q4"}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.histogram('prom_latency_seconds', v, '{"endpoint": "/api"}', '2026-01-01 10:00:00+00'::timestamptz + i * interval '1 second')
  FROM unnest('{0.003,0.02,0.02,0.3,0.7,4,12}'::float8[]) WITH ORDINALITY AS x(v, i);
SELECT metrics_ex.histogram('prom_latency_seconds', 0.05, '{"endpoint": "/health"}', '2026-01-01 11:00:00+00');
SELECT metrics_ex.histogram('prom_size_bytes', v, '{}', '2026-01-01 10:00:00+00')
  FROM unnest('{0.5,1,10,100.5,100.6,5000}'::float8[]) v;
-- names Prometheus reserves for other families: a gauge named *_count is
-- exposed as *_count_value; of counters prom_dup and prom_dup_total (one
-- family "prom_dup") only the first by name is exposed
SELECT metrics_ex.gauge('prom_queue_count', 3, '{}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.increment('prom_dup', 1, '{}', '2026-01-01 10:00:00+00');
SELECT metrics_ex.increment('prom_dup_total', 100, '{}', '2026-01-01 10:00:00+00');

-- before materialize: totals come from the pending deltas alone
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.scrape();
SELECT * FROM before;
SELECT * FROM pg_temp.scrape(true);
SELECT right(metrics_ex.prometheus_text(), 1) = E'\n' AS ends_in_newline,
       right(metrics_ex.prometheus_text(), 2) <> E'\n\n' AS just_one,
       right(metrics_ex.openmetrics_text(), 7) = E'\n# EOF\n' AS om_eof;

-- one metric, as rows and as a body
SELECT * FROM metrics_ex.prometheus('prom_size_bytes');
SELECT metrics_ex.prometheus_text('prom_done_total');
SELECT metrics_ex.openmetrics_text('prom_done_total');
SELECT metrics_ex.prometheus_text('prom_empty');

-- after materialize: the same output, now from series_totals
SELECT metrics_ex.materialize() IS NOT NULL AS materialized;
SELECT (SELECT count(*) FROM metrics_ex.rollup_pending) AS pending_left;
SELECT (SELECT array_agg(s) FROM pg_temp.scrape() s) = (SELECT array_agg(b.scrape) FROM before b) AS same_after_materialize;

-- partly merged: totals plus new deltas, and the newest gauge value wins
SELECT metrics_ex.increment('prom_requests', 10, '{"path": "/x", "code": "500"}', '2026-01-01 10:01:00+00');
SELECT metrics_ex.gauge('prom_depth', 5, '{"queue": "q1"}', '2026-01-01 09:00:00+00');  -- older: ignored
SELECT metrics_ex.gauge('prom_depth', 6, '{"queue": "q2"}', '2026-01-01 11:00:00+00');  -- newer
SELECT metrics_ex.histogram('prom_size_bytes', 2, '{}', '2026-01-01 10:00:00+00');
SELECT * FROM metrics_ex.prometheus('prom_requests');
SELECT l FROM metrics_ex.prometheus('prom_depth') l WHERE l ~ 'q[12]';
SELECT * FROM metrics_ex.prometheus('prom_size_bytes');
CREATE TEMP TABLE mixed AS SELECT * FROM pg_temp.scrape();
SELECT metrics_ex.materialize() IS NOT NULL AS materialized;
SELECT (SELECT array_agg(s) FROM pg_temp.scrape() s) = (SELECT array_agg(m.scrape) FROM mixed m) AS same_after_materialize;

-- counters survive retention: an increment three days ago, merged, then its
-- raw sample pruned (deleted from the default partition where it waited, or
-- with its day partition)
SELECT metrics_ex.increment('prom_old', 4, '{"host": "a"}', now() - interval '3 days');
SELECT metrics_ex.increment('prom_old', 1, '{"host": "a"}', now());
SELECT metrics_ex.materialize() IS NOT NULL AS materialized;
SELECT metrics_ex.prometheus_text('prom_old');
SELECT (p->>'partitions_dropped')::int + (p->>'samples_deleted')::int >= 1 AS pruned_old_sample
  FROM metrics_ex.prune() p;
SELECT count(*) AS raw_samples_left FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id
  JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = 'prom_old';
SELECT metrics_ex.prometheus_text('prom_old');

-- special values print as Prometheus spells them (they cannot be recorded)
SELECT metrics_ex.gauge('prom_depth', 0.1::float8 * 3, '{"queue": "q5"}', '2026-01-01 10:00:00+00');
SET extra_float_digits = 0;  -- the exposition sets 1 itself: shortest round-trip
SELECT l FROM metrics_ex.prometheus('prom_depth') l WHERE l ~ 'q5';
RESET extra_float_digits;
SELECT metrics_ex._prom_number(v) FROM unnest('{NaN,Infinity,-Infinity,0,-0,42,1e21,5e-324}'::float8[]) v;

-- unknown names give nothing; invalid names are refused
SELECT count(*) AS lines FROM metrics_ex.prometheus('prom_nope');
SELECT metrics_ex.prometheus_text('prom_nope') = '' AS empty_body,
       metrics_ex.openmetrics_text('prom_nope') = E'# EOF\n' AS only_eof;
SELECT metrics_ex.prometheus_text('bad name');
DO $$
BEGIN
    PERFORM metrics_ex.openmetrics_text('1abc');
EXCEPTION WHEN sqlstate '42602' THEN
    RAISE NOTICE 'openmetrics_text: 42602';
END $$;

-- a reader (SELECT on the tables) can scrape; a role without it cannot
CREATE ROLE regress_prom_reader;
CREATE ROLE regress_prom_nobody;
GRANT USAGE ON SCHEMA metrics_ex TO regress_prom_reader, regress_prom_nobody;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO regress_prom_reader;
SET ROLE regress_prom_reader;
SELECT * FROM metrics_ex.prometheus('prom_done_total');
RESET ROLE;
SET ROLE regress_prom_nobody;
DO $$
BEGIN
    PERFORM metrics_ex.prometheus_text('prom_done_total');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'no SELECT on the tables: permission denied';
END $$;
RESET ROLE;
REVOKE ALL ON ALL TABLES IN SCHEMA metrics_ex FROM regress_prom_reader;
REVOKE ALL ON SCHEMA metrics_ex FROM regress_prom_reader, regress_prom_nobody;
DROP ROLE regress_prom_reader;
DROP ROLE regress_prom_nobody;

-- clean up
DELETE FROM metrics_ex.metrics WHERE name LIKE 'prom\_%';
SELECT count(*) AS prom_lines_left FROM pg_temp.scrape();
