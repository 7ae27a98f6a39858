-- metrics_ex read API: the points view, get_metrics(), get_stats().

-- Every sample with its metric and tags (lineage ids included), for ad-hoc
-- SQL and Grafana.
CREATE VIEW metrics_ex.points AS
    SELECT s.ts, m.name, m.kind,
           CASE WHEN s.lineage IS NULL THEN se.tags
                ELSE se.tags OPERATOR(pg_catalog.||) s.lineage END AS tags,
           s.value
    FROM metrics_ex.samples s
    JOIN metrics_ex.series se ON se.id OPERATOR(pg_catalog.=) s.series_id
    JOIN metrics_ex.metrics m ON m.id OPERATOR(pg_catalog.=) se.metric_id;
COMMENT ON VIEW metrics_ex.points IS 'All samples: ts, name, kind, tags (with lineage ids), value';

CREATE FUNCTION metrics_ex.get_metrics(
    name text DEFAULT NULL, "limit" int DEFAULT 100, tags jsonb DEFAULT '{}',
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL, kind text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF "limit" IS NULL OR "limit" < 0 THEN
        RAISE EXCEPTION 'limit must be zero or positive, not %', coalesce("limit"::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF tags IS NOT NULL AND jsonb_typeof(tags) <> 'object' THEN
        RAISE EXCEPTION 'tags must be a JSON object' USING ERRCODE = '22023',
            HINT = 'For example ''{"tenant": "cns"}''.';
    END IF;
    IF kind IS NOT NULL AND kind NOT IN ('counter', 'gauge', 'histogram') THEN
        RAISE EXCEPTION 'invalid kind "%"', kind USING ERRCODE = '22023',
            HINT = 'The kind is one of counter, gauge or histogram.';
    END IF;

    -- newest first; of two samples with one timestamp, the one written later
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'name', p.name, 'kind', p.kind, 'value', p.value,
               'tags', p.tags, 'timestamp', p.ts)
               ORDER BY p.ts DESC, p.name, p.tags::text, p.ctid DESC), '[]')
    INTO result
    FROM (SELECT x.ts, m.name, m.kind, x.ctid, t.tags, x.value
          FROM metrics_ex.samples x
          JOIN metrics_ex.series se ON se.id = x.series_id
          JOIN metrics_ex.metrics m ON m.id = se.metric_id
          CROSS JOIN LATERAL (SELECT CASE WHEN x.lineage IS NULL THEN se.tags
                                          ELSE se.tags || x.lineage END AS tags) t
          WHERE (get_metrics.name IS NULL OR m.name = get_metrics.name)
            AND (get_metrics.kind IS NULL OR m.kind = get_metrics.kind)
            AND (since IS NULL OR x.ts >= since)
            AND (until IS NULL OR x.ts < until)
            AND (get_metrics.tags IS NULL OR t.tags @> get_metrics.tags)
          ORDER BY x.ts DESC, m.name, t.tags::text, x.ctid DESC
          LIMIT "limit") p;

    RETURN jsonb_build_object('metrics', result,
                              'count', jsonb_array_length(result),
                              'timestamp', now());
END
$$;
COMMENT ON FUNCTION metrics_ex.get_metrics(text, int, jsonb, timestamptz, timestamptz, text) IS
    'Raw samples, newest first, as MetricsEx''s {"metrics": [...], "count": n, "timestamp": ...}';

CREATE FUNCTION metrics_ex.get_stats()
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH counts AS (
        SELECT (SELECT count(*) FROM metrics_ex.metrics) AS total_metrics,
               (SELECT count(*) FROM metrics_ex.samples) AS stored,
               (SELECT coalesce(sum(value), 0) FROM metrics_ex.totals
                 WHERE key = 'samples_pruned') AS pruned,
               (SELECT count(*) FROM metrics_ex.series) AS series,
               (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
                  FROM pg_partition_tree('metrics_ex.samples'::regclass))
             + pg_total_relation_size('metrics_ex.series'::regclass)
             + pg_total_relation_size('metrics_ex.metrics'::regclass) AS bytes,
               extract(epoch FROM metrics_ex.default_retention()) / 3600 AS retention_hours
    )
    SELECT jsonb_build_object(
        'storage', jsonb_build_object(
            'total_metrics', total_metrics,
            'metrics_stored', stored,
            'metrics_pruned', pruned,
            'retention_hours', retention_hours,
            'bytes', bytes,
            'series', series),
        'recorder', jsonb_build_object('metrics_recorded', stored + pruned),
        'timestamp', now())
    FROM counts;
END;
COMMENT ON FUNCTION metrics_ex.get_stats() IS
    'Storage and recorder statistics, as MetricsEx''s get_stats';
