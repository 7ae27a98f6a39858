-- metrics_ex storage: metric catalog, series, samples partitioned on time.
\echo Use "CREATE EXTENSION metrics_ex" to load this file. \quit

-- One row per metric name.
CREATE TABLE metrics_ex.metrics (
    id          int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE
                CHECK (name ~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' AND length(name) <= 200),
    kind        text NOT NULL CHECK (kind IN ('counter', 'gauge', 'histogram')),
    help        text,
    unit        text,
    buckets     float8[],                 -- histogram upper bounds, +Inf implied
    retention   interval,                 -- NULL: metrics_ex.retention
    max_series  int CHECK (max_series > 0), -- NULL: metrics_ex.max_series_per_metric
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE metrics_ex.metrics IS 'One row per metric: kind, help, unit, buckets, limits';

-- One row per (metric, tag set).  Tags are a jsonb object of strings: jsonb
-- keeps keys sorted and unique, so equal tag sets are equal values.
CREATE TABLE metrics_ex.series (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    metric_id   int NOT NULL REFERENCES metrics_ex.metrics (id) ON DELETE CASCADE,
    tags        jsonb NOT NULL CHECK (jsonb_typeof(tags) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (metric_id, tags)
);
COMMENT ON TABLE metrics_ex.series IS 'One row per metric and canonical tag set';

-- The samples.  Range-partitioned on ts by UTC day so that retention drops
-- whole partitions and a time range reads only its days.  48 bytes of tuple
-- per sample (lineage is NULL for most rows and then costs nothing).  No
-- btree: one on (series_id, ts) would add about 30 bytes to every sample.
-- A small BRIN index on ts lets a query read the last minutes of a day
-- without the rest of it (the raw edges of a rollup-served range); samples
-- arrive roughly in time order, which is what BRIN needs.
CREATE TABLE metrics_ex.samples (
    ts          timestamptz NOT NULL,
    series_id   bigint NOT NULL,
    value       float8 NOT NULL,
    lineage     jsonb                     -- work_id, trace_id, plan_id, step_id
) PARTITION BY RANGE (ts);
CREATE INDEX samples_ts_brin ON metrics_ex.samples USING brin (ts)
    WITH (pages_per_range = 32, autosummarize = on);
COMMENT ON TABLE metrics_ex.samples IS 'Raw samples, partitioned by UTC day; write through metrics_ex.ingest or the record functions';

-- Partitions of samples with their bounds.
CREATE FUNCTION metrics_ex.partitions(
    OUT partition regclass, OUT lower_bound timestamptz, OUT upper_bound timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT c.oid::regclass, b[1]::timestamptz, b[2]::timestamptz
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid,
           LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') b
     WHERE i.inhparent = 'metrics_ex.samples'::regclass
     ORDER BY 2;
END;

-- The partitions of the UTC day of ts and of the next day, each unless a
-- partition (ours or one made by hand) already overlaps it.  Writers call it
-- (as the tables' owner) when a sample finds no partition, the retention job
-- to make the coming days ahead of time.
CREATE FUNCTION metrics_ex._create_day_partitions(ts timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    day timestamptz := date_bin('1 day', ts, '1970-01-01 00:00:00+00');
    name text;
BEGIN
    FOR i IN 0..1 LOOP
        -- the last partition ends at 10000-01-01 (samples end with year 9999)
        EXIT WHEN day >= '10000-01-01 00:00:00+00';
        name := 'samples_p' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD');
        IF to_regclass(format('metrics_ex.%I', name)) IS NULL AND
           NOT EXISTS (SELECT 1 FROM metrics_ex.partitions() x
                        WHERE x.lower_bound < day + interval '1 day' AND x.upper_bound > day) THEN
            EXECUTE format('CREATE TABLE metrics_ex.%I PARTITION OF metrics_ex.samples FOR VALUES FROM (%L) TO (%L)',
                           name,
                           to_char(day AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00',
                           to_char((day + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
        END IF;
        day := day + interval '1 day';
    END LOOP;
END
$$;

-- Running totals kept across retention (samples pruned so far, ...).
CREATE TABLE metrics_ex.totals (
    key         text PRIMARY KEY,
    value       bigint NOT NULL DEFAULT 0
);
INSERT INTO metrics_ex.totals (key, value) VALUES ('samples_pruned', 0);

-- Settings that SQL can change without a server reload.
CREATE TABLE metrics_ex.settings (
    key         text PRIMARY KEY,
    value       text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.settings', '');

-- The default raw retention: set_retention(NULL, ...) if it was called,
-- else the metrics_ex.retention setting.
CREATE FUNCTION metrics_ex.default_retention() RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT value::interval FROM metrics_ex.settings WHERE key = 'retention'),
                nullif(current_setting('metrics_ex.retention', true), '')::interval,
                interval '24 hours');

-- Backends cache metric and series ids; a change other than an insert to
-- these tables tells every backend to flush its cache.
CREATE FUNCTION metrics_ex._invalidate_cache() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'metrics_ex_invalidate_cache';
CREATE TRIGGER metrics_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON metrics_ex.metrics
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._invalidate_cache();
CREATE TRIGGER series_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON metrics_ex.series
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._invalidate_cache();

-- pg_dump keeps the catalog's rows (sample partitions are ordinary tables).
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.metrics', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.series', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.totals', '');
