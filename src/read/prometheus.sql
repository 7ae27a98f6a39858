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

-- Every family's lines, in order, as one text ending in a newline (or
-- empty): metric_id NULL for every metric; om: OpenMetrics instead of 0.0.4
-- (exposition.c).
CREATE FUNCTION metrics_ex._prom_body(metric_id int, om boolean) RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'metrics_ex_prom_body';

-- The same, of one metric by name or of all (NULL), line by line.
CREATE FUNCTION metrics_ex._prom_text(metric text, om boolean) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN metrics_ex._prom_body(CASE WHEN metric IS NOT NULL THEN coalesce(metrics_ex._metric_id(metric), 0) END, om);

CREATE FUNCTION metrics_ex._prom_lines(metric text, om boolean) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT l FROM (SELECT metrics_ex._prom_text(metric, om) AS b) x, string_to_table(left(x.b, -1), E'\n') l
 WHERE x.b <> ''
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
    RETURN metrics_ex._prom_text(name, false)
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
    RETURN metrics_ex._prom_text(name, true)
           || coalesce((SELECT string_agg(l, E'\n') || E'\n' FROM metrics_ex.prometheus_alerts(true) l
                         WHERE name IS NULL), '')     -- alerts.sql
           || E'# EOF\n';
END
$$;
COMMENT ON FUNCTION metrics_ex.openmetrics_text(text) IS
    'OpenMetrics 1.0 text exposition ending in "# EOF"; serve it as openmetrics_content_type()';
