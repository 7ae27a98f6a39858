-- test/e2e_citus.sh: new series where rows wait for their statement's end
-- (on Citus they are written with the samples, all new series of a
-- statement in one INSERT): in subtransactions that roll back while an
-- outer statement's rows wait, in savepoints, at the series limit.  Run on
-- the coordinator and on the single node: the outputs must be the same.
\set ON_ERROR_STOP on
\pset footer off
\pset format unaligned
\pset tuples_only on
-- (Citus warns that a temporary function stays on this node: it is meant to)
SET client_min_messages = error;
CREATE FUNCTION pg_temp.inner_write(i int) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM metrics_ex.gauge('cs_inner', i, jsonb_build_object('k', i::text), '2026-11-20 00:00:00+00');
        IF i % 2 = 0 THEN RAISE EXCEPTION 'rolled back'; END IF;
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    RETURN i;
END $$;
RESET client_min_messages;
-- the outer statement's new series wait while the inner blocks write theirs
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'cs_outer', pg_temp.inner_write(i), jsonb_build_object('k', i::text), '2026-11-20 00:00:00+00'
  FROM generate_series(1, 10) i;
BEGIN;
SAVEPOINT a;
SELECT metrics_ex.gauge('cs_sp', 1, '{"s": "1"}', '2026-11-20 00:00:00+00') \g /dev/null
SAVEPOINT b;
SELECT metrics_ex.gauge('cs_sp', 2, '{"s": "2"}', '2026-11-20 00:00:00+00') \g /dev/null
ROLLBACK TO b;
SELECT metrics_ex.gauge('cs_sp', 3, '{"s": "2"}', '2026-11-20 00:00:00+00') \g /dev/null
RELEASE a;
SAVEPOINT c;
SELECT metrics_ex.gauge('cs_sp', 4, '{"s": "3"}', '2026-11-20 00:00:00+00') \g /dev/null
ROLLBACK TO c;
COMMIT;
-- the limit counts the series still waiting for their statement's end
SELECT metrics_ex.define('cs_limit', 'gauge', max_series => 5) \g /dev/null
\set ON_ERROR_STOP off
\set VERBOSITY sqlstate
SELECT metrics_ex.gauge('cs_limit', i, jsonb_build_object('k', i::text), '2026-11-20 00:00:00+00') FROM generate_series(1, 6) i;
SELECT metrics_ex.gauge('cs_limit', i, jsonb_build_object('k', i::text), '2026-11-20 00:00:00+00') FROM generate_series(1, 4) i \g /dev/null
BEGIN;
SELECT metrics_ex.gauge('cs_limit', 5, '{"k": "5"}', '2026-11-20 00:00:00+00') \g /dev/null
SELECT metrics_ex.gauge('cs_limit', 6, '{"k": "6"}', '2026-11-20 00:00:00+00');
ROLLBACK;
SELECT metrics_ex.gauge('cs_limit', 5, '{"k": "5"}', '2026-11-20 00:00:00+00') \g /dev/null
\set ON_ERROR_STOP on
\echo samples
SELECT name, count(*), sum(value), string_agg(tags::text, ',' ORDER BY tags::text)
  FROM metrics_ex.points WHERE name LIKE 'cs\_%' GROUP BY 1 ORDER BY 1;
\echo series
SELECT m.name, count(*), count(DISTINCT s.id), string_agg(s.tags::text, ',' ORDER BY s.tags::text)
  FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
 WHERE m.name LIKE 'cs\_%' GROUP BY 1 ORDER BY 1;
\echo samples without a series
SELECT count(*) FROM metrics_ex.samples x WHERE NOT EXISTS (SELECT 1 FROM metrics_ex.series s WHERE s.id = x.series_id);
