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
    -- minute rollups, from this time on (NULL: hour and day only)
    minute_rollups_from timestamptz,
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
-- Each partition has a small BRIN index on ts, so that a query reads the
-- last minutes of a day without the rest of it (the raw edges of a
-- rollup-served range); samples arrive roughly in time order, which is what
-- BRIN needs.  (The index is per partition, not on the parent: a partitioned
-- index of the extension would collide with the partitions' own indexes
-- when pg_restore attaches them.)
CREATE TABLE metrics_ex.samples (
    ts          timestamptz NOT NULL,
    series_id   bigint NOT NULL,
    value       float8 NOT NULL,
    lineage     jsonb                     -- work_id, trace_id, plan_id, step_id
) PARTITION BY RANGE (ts);
COMMENT ON TABLE metrics_ex.samples IS 'Raw samples, partitioned by UTC day; write through metrics_ex.ingest or the record functions';

-- Samples that no day partition takes wait here: the write path never runs
-- DDL, maintenance prepares the day partitions ahead of time and moves what
-- lands here into day partitions (see retention.sql).  It belongs to the
-- extension, so pg_dump keeps its rows as configuration data.
CREATE TABLE metrics_ex.samples_default PARTITION OF metrics_ex.samples DEFAULT;
CREATE INDEX samples_default_ts_brin ON metrics_ex.samples_default USING brin (ts)
    WITH (pages_per_range = 32, autosummarize = on);
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.samples_default', '');

-- Day partitions of samples with their bounds (not the default partition).
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
     WHERE i.inhparent = 'metrics_ex.samples'::regclass AND b IS NOT NULL
     ORDER BY 2;
END;

-- Running totals kept across retention (samples pruned so far, ...).  A
-- missing key counts 0: no row is seeded, so a restore brings back exactly
-- the rows that were dumped.
CREATE TABLE metrics_ex.totals (
    key         text PRIMARY KEY,
    value       bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION metrics_ex._add_total(key text, n bigint) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO metrics_ex.totals AS t (key, value) VALUES (_add_total.key, _add_total.n)
    ON CONFLICT (key) DO UPDATE SET value = t.value + excluded.value;
END;
REVOKE ALL ON FUNCTION metrics_ex._add_total(text, bigint) FROM PUBLIC;

-- Settings that SQL can change without a server reload.
CREATE TABLE metrics_ex.settings (
    key         text PRIMARY KEY,
    value       text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.settings', '');

-- The default raw retention: set_retention(NULL, ...) if it was called,
-- else the metrics_ex.retention setting.  (A SELECT, not RETURN: Citus 12.1
-- cannot run a RETURN body that reads a Citus table; see distribute.sql.)
CREATE FUNCTION metrics_ex.default_retention() RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce((SELECT value::interval FROM metrics_ex.settings WHERE key = 'retention'),
                    nullif(current_setting('metrics_ex.retention', true), '')::interval,
                    interval '24 hours');
END;

-- Backends cache metric and series ids; a change other than an insert to
-- these tables tells every backend to flush its cache.
CREATE FUNCTION metrics_ex._invalidate_cache() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'metrics_ex_invalidate_cache';
REVOKE ALL ON FUNCTION metrics_ex._invalidate_cache() FROM PUBLIC;
CREATE TRIGGER metrics_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON metrics_ex.metrics
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._invalidate_cache();
CREATE TRIGGER series_invalidate AFTER UPDATE OR DELETE OR TRUNCATE ON metrics_ex.series
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._invalidate_cache();

-- pg_dump keeps the catalog's rows (sample partitions are ordinary tables).
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.metrics', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.series', '');
-- and where their ids go on, so that a restored database makes no id twice
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.metrics_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.series_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.totals', '');
