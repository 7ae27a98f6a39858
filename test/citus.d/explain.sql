-- test/e2e_citus.sh: EXPLAIN of the statements the read functions run.  A
-- read function is PL/pgSQL that builds one statement with _source(),
-- _group_sql() and _aggregate_sql() (query.sql); explain() builds it the way
-- rollup() and time_series() do and returns its plan.  (auto_explain with
-- log_nested_statements cannot show them: Citus fails to fetch the remote
-- plan of a statement inside a function.)  "== name" starts each plan.
\set ON_ERROR_STOP on
\pset format unaligned
\pset tuples_only on
SET client_min_messages = error;  -- the temporary function stays on this node
CREATE FUNCTION pg_temp.explain(name text, aggregations text[], group_by text[], width interval,
                                since timestamptz, until timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    g record := metrics_ex._group_sql(group_by);
    mid int := metrics_ex._metric_id(name);
    src record := metrics_ex._source(mid, since, until, width, aggregations, false);
    parts text[] := '{}';
    a text;
    sql text;
BEGIN
    FOREACH a IN ARRAY aggregations LOOP
        parts := parts || format('%L, %s', a, metrics_ex._aggregate_sql(a, '60::float8', src.mode));
    END LOOP;
    sql := format('SELECT %s, %s AS labels, jsonb_build_object(%s) AS stats %s GROUP BY 1, %s',
                  CASE WHEN width IS NULL THEN 'NULL::timestamptz'
                       ELSE format('date_bin(%L::interval, %s, ''1970-01-01 00:00:00+00''::timestamptz)', width,
                                   CASE WHEN src.mode = 'raw' THEN 'x.ts' ELSE 'u.t' END) END,
                  g.labels_sql, array_to_string(parts, ', '), src.from_sql, g.group_sql);
    RETURN NEXT format('mode %s', src.mode);
    RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE) ' || sql USING mid, since, until, NULL::jsonb, NULL::jsonb;
END
$$;
RESET client_min_messages;
\echo == query(cx_lat_ms, p95, {host}): exact, from raw samples
SELECT * FROM pg_temp.explain('cx_lat_ms', '{p95}', '{host}', NULL, '2026-11-20', '2026-11-21');
\echo == rollup(cx_req_total, {host}, {count,mean,max}): from rollups, deltas and raw edges
SELECT * FROM pg_temp.explain('cx_req_total', '{count,mean,max}', '{host}', NULL, '2026-11-20 00:30', '2026-11-23');
\echo == time_series(cx_bulk_total, minute, sum, {instance})
SELECT * FROM pg_temp.explain('cx_bulk_total', '{sum}', '{instance}', '1 minute', '2026-11-20 12:00', '2026-11-20 13:00');
\echo == time_series(cx_record, hour, {p99,count}, {model}): from the stored sketches where raw samples are gone
SELECT * FROM pg_temp.explain('cx_record', '{p99,count}', '{model}', '1 hour', '2026-11-20', '2026-11-21');
