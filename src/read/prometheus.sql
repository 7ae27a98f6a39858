-- Prometheus exposition: text format 0.0.4 and OpenMetrics 1.0.
--
-- A scrape reads the catalog, metrics_ex.series_totals (everything before
-- the rollup watermark), the deltas of late samples not merged yet, and the
-- raw samples after the watermark (a minute or two of them), so its cost
-- follows the number of series, and counter totals and histogram counts
-- survive retention.
--
-- Family names: a counter's family is its name without a trailing "_total"
-- and its sample is that plus "_total".  A gauge or histogram whose name ends
-- in a suffix Prometheus reserves (_total, _sum, _count, _bucket) is exposed
-- with "_value" appended, so it can never be read as part of another family.
-- Two metrics that still map to one family name (counter "x" and counter
-- "x_total", or gauge "x" and counter "x_total") expose only the first by
-- name; the other is left out rather than emitting a duplicate family that
-- Prometheus would reject.

CREATE FUNCTION metrics_ex.prometheus_content_type() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'text/plain; version=0.0.4; charset=utf-8';

CREATE FUNCTION metrics_ex.openmetrics_content_type() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'application/openmetrics-text; version=1.0.0; charset=utf-8';

-- A sample value: float8's own output (shortest round-trip form while
-- extra_float_digits >= 1, which the exposition functions set), integers bare.
CREATE FUNCTION metrics_ex._prom_number(v float8) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE WHEN v = 'NaN'::float8 THEN 'NaN'
            WHEN v = 'Infinity'::float8 THEN '+Inf'
            WHEN v = '-Infinity'::float8 THEN '-Inf'
            ELSE v::text END;

-- A label value: backslash, double quote and newline escaped.
CREATE FUNCTION metrics_ex._prom_label_value(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN replace(replace(replace(v, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n');

-- The family name a metric is exposed under (see the top of this file).
CREATE FUNCTION metrics_ex._prom_family(name text, kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN kind = 'counter' AND name ~ '._total$' THEN left(name, -6)
            WHEN kind = 'counter' THEN name
            WHEN name ~ '_(total|sum|count|bucket)$' THEN name || '_value'
            ELSE name END;

-- Every line of the exposition, in order.  om: OpenMetrics instead of 0.0.4.
CREATE FUNCTION metrics_ex._prom_lines(metric text, om boolean) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
WITH fam AS (
    SELECT f.*
      FROM (SELECT m.id, m.name, m.kind, m.help,
                   coalesce(m.buckets, '{.005,.01,.025,.05,.1,.25,.5,1,2.5,5,10}'::float8[]) AS bounds,
                   metrics_ex._prom_family(m.name, m.kind) AS base,
                   row_number() OVER (PARTITION BY metrics_ex._prom_family(m.name, m.kind)
                                      ORDER BY m.name COLLATE "C") AS rn
              FROM metrics_ex.metrics m) f
     WHERE f.rn = 1 AND (metric IS NULL OR f.name = metric)
), ser AS (
    SELECT s.id, s.metric_id, s.tags FROM metrics_ex.series s JOIN fam ON fam.id = s.metric_id
), done AS (
    SELECT (metrics_ex.watermarks()).done AS ts
), pend AS (
    -- what series_totals do not hold yet: late deltas older than the
    -- watermark, and the raw samples after it (the deltas of those are in
    -- the raw samples already)
    SELECT d.series_id, sum(d.count)::bigint AS count, metrics_ex.fsum(d.sum) AS sum, max(d.last_ts) AS last_ts,
           (array_agg(d.last_value ORDER BY d.last_ts DESC, d.ord DESC))[1] AS last_value,
           metrics_ex.bucket_counts(d.buckets) AS buckets
      FROM (SELECT p.series_id, p.count, p.sum, p.last_ts, p.last_value, p.buckets, 0 AS ord
              FROM metrics_ex.rollup_pending p, done
             WHERE p.bucket < done.ts AND (metric IS NULL OR p.series_id IN (SELECT id FROM ser))
            UNION ALL
            SELECT r.series_id, (r.r).count, (r.r).sum, (r.r).last_ts, (r.r).last_value, (r.r).buckets, 1
              FROM (SELECT x.series_id,
                           metrics_ex._rollup_agg(x.ts, x.value, x.ctid,
                                                  CASE WHEN fam.kind = 'histogram' THEN fam.bounds END) AS r
                      FROM metrics_ex.samples x
                      JOIN ser ON ser.id = x.series_id
                      JOIN fam ON fam.id = ser.metric_id
                     WHERE x.ts >= (SELECT ts FROM done)
                     GROUP BY 1) r) d
     GROUP BY d.series_id
), val AS (
    -- totals plus what they do not hold yet; the newest gauge value wins,
    -- and on a tie the later one, as materialize() decides.  A sum beyond the
    -- float8 range is exposed as +Inf, -Inf or NaN.
    SELECT ser.metric_id, ser.tags,
           coalesce(t.count, 0) + coalesce(p.count, 0) AS count,
           metrics_ex.fadd(coalesce(t.sum, 0), coalesce(p.sum, 0)) AS sum,
           CASE WHEN p.series_id IS NULL OR p.last_ts < t.last_ts THEN t.last_value
                ELSE p.last_value END AS last_value,
           CASE WHEN t.buckets IS NULL THEN p.buckets
                WHEN p.buckets IS NULL THEN t.buckets
                ELSE metrics_ex.bucket_counts_combine(t.buckets, p.buckets) END AS buckets,
           (SELECT string_agg(e.key || '="' || metrics_ex._prom_label_value(e.value) || '"', ','
                              ORDER BY e.key COLLATE "C")
              FROM jsonb_each_text(ser.tags) e) AS labels
      FROM ser
      LEFT JOIN metrics_ex.series_totals t ON t.series_id = ser.id
      LEFT JOIN pend p ON p.series_id = ser.id
     WHERE t.series_id IS NOT NULL OR p.series_id IS NOT NULL
), head AS (
    SELECT fam.id, fam.name, 1 AS part, NULL::jsonb AS tags, 0 AS k,
           '# HELP ' || CASE WHEN fam.kind = 'counter' AND NOT om THEN fam.base || '_total' ELSE fam.base END
           || ' ' || CASE WHEN om THEN metrics_ex._prom_label_value(h.help)
                          ELSE replace(replace(h.help, E'\\', E'\\\\'), E'\n', E'\\n') END AS line
      FROM fam, LATERAL (SELECT coalesce(nullif(fam.help, ''),
                                         fam.kind || ' ' || fam.name || ' (no help defined)') AS help) h
    UNION ALL
    SELECT fam.id, fam.name, 1, NULL, 1,
           '# TYPE ' || CASE WHEN fam.kind = 'counter' AND NOT om THEN fam.base || '_total' ELSE fam.base END
           || ' ' || fam.kind
      FROM fam
), body AS (
    SELECT fam.id, fam.name, 2 AS part, v.tags, l.k, l.line
      FROM val v JOIN fam ON fam.id = v.metric_id,
      LATERAL (
          SELECT 0 AS k, fam.base || '_total' || coalesce('{' || v.labels || '}', '') || ' '
                         || metrics_ex._prom_number(v.sum) AS line
           WHERE fam.kind = 'counter'
          UNION ALL
          SELECT 0, fam.base || coalesce('{' || v.labels || '}', '') || ' '
                    || metrics_ex._prom_number(v.last_value)
           WHERE fam.kind = 'gauge'
          UNION ALL
          SELECT i, fam.base || '_bucket{' || coalesce(v.labels || ',', '') || 'le="'
                    || CASE WHEN i > cardinality(fam.bounds) THEN '+Inf'
                            -- OpenMetrics writes integral bounds as 1.0; not
                            -- 1e+300 as 1e+300.0, which is no number
                            WHEN om AND metrics_ex._prom_number(fam.bounds[i]) ~ '^-?[0-9]+$'
                            THEN metrics_ex._prom_number(fam.bounds[i]) || '.0'
                            ELSE metrics_ex._prom_number(fam.bounds[i]) END
                    || '"} ' || coalesce(v.buckets[i], 0)
            FROM generate_series(1, cardinality(fam.bounds) + 1) i
           WHERE fam.kind = 'histogram'
          UNION ALL
          SELECT 100000, fam.base || '_sum' || coalesce('{' || v.labels || '}', '') || ' '
                         || metrics_ex._prom_number(v.sum)
           WHERE fam.kind = 'histogram'
          UNION ALL
          SELECT 100001, fam.base || '_count' || coalesce('{' || v.labels || '}', '') || ' ' || v.count
           WHERE fam.kind = 'histogram'
      ) l
)
SELECT line FROM (SELECT * FROM head UNION ALL SELECT * FROM body) x
 ORDER BY x.name COLLATE "C", x.part, x.tags, x.k
$$;

CREATE FUNCTION metrics_ex._prom_check_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NOT NULL AND (name !~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' OR length(name) > 200) THEN
        RAISE EXCEPTION 'invalid metric name "%"', name USING ERRCODE = '42602',
            HINT = 'Pass a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]* (at most 200 characters), or NULL for every metric.';
    END IF;
END
$$;

CREATE FUNCTION metrics_ex.prometheus(name text DEFAULT NULL) RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._prom_check_name(name);
    RETURN QUERY SELECT l FROM metrics_ex._prom_lines(name, false) l;
    IF name IS NULL THEN
        RETURN QUERY SELECT l FROM metrics_ex.prometheus_alerts(false) l;     -- alerts.sql
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_ex.prometheus(text) IS
    'Prometheus text exposition (format 0.0.4) of one metric or all, one line per row';

CREATE FUNCTION metrics_ex.prometheus_text(name text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._prom_check_name(name);
    RETURN coalesce((SELECT string_agg(l, E'\n') || E'\n' FROM metrics_ex._prom_lines(name, false) l), '')
           || coalesce((SELECT string_agg(l, E'\n') || E'\n' FROM metrics_ex.prometheus_alerts(false) l
                         WHERE name IS NULL), '');     -- alerts.sql
END
$$;
COMMENT ON FUNCTION metrics_ex.prometheus_text(text) IS
    'Prometheus text exposition (format 0.0.4) as one body ending in a newline; serve it as prometheus_content_type()';

CREATE FUNCTION metrics_ex.openmetrics_text(name text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._prom_check_name(name);
    RETURN coalesce((SELECT string_agg(l, E'\n') || E'\n' FROM metrics_ex._prom_lines(name, true) l), '')
           || coalesce((SELECT string_agg(l, E'\n') || E'\n' FROM metrics_ex.prometheus_alerts(true) l
                         WHERE name IS NULL), '')     -- alerts.sql
           || E'# EOF\n';
END
$$;
COMMENT ON FUNCTION metrics_ex.openmetrics_text(text) IS
    'OpenMetrics 1.0 text exposition ending in "# EOF"; serve it as openmetrics_content_type()';
