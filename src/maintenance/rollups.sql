-- metrics_ex rollups: per series and minute, hour and day, mergeable state
-- only.  The write path leaves one delta row per (series, minute) and
-- statement in rollup_pending; materialize() merges deltas into the three
-- levels and into series_totals.  No raw sample is ever read again, so
-- pruning raw data never erases rollups, and a late sample re-aggregates
-- only its own series' buckets.

CREATE TABLE metrics_ex.rollup_pending (
    series_id   bigint NOT NULL,
    bucket      timestamptz NOT NULL,     -- the minute
    count       bigint NOT NULL,
    sum         float8 NOT NULL,
    min         float8 NOT NULL,
    max         float8 NOT NULL,
    last_ts     timestamptz NOT NULL,
    last_value  float8 NOT NULL,
    stats       metrics_ex.stats,         -- NULL: one gauge/histogram value, = sum
    sketch      metrics_ex.ddsketch,      -- NULL for counters, and with stats
    buckets     bigint[]                  -- histograms: cumulative, +Inf last
);
-- Every delta is deleted within a minute of its insert: vacuum the table
-- often, so that scans of it (materialize, queries) stay small.
ALTER TABLE metrics_ex.rollup_pending SET (autovacuum_vacuum_scale_factor = 0,
                                          autovacuum_vacuum_threshold = 10000,
                                          autovacuum_vacuum_insert_scale_factor = 0,
                                          autovacuum_vacuum_insert_threshold = 100000);
COMMENT ON TABLE metrics_ex.rollup_pending IS
    'Rollup deltas written with the samples, merged by metrics_ex.materialize()';

CREATE TABLE metrics_ex.rollup_minute (LIKE metrics_ex.rollup_pending, PRIMARY KEY (series_id, bucket));
CREATE TABLE metrics_ex.rollup_hour (LIKE metrics_ex.rollup_pending, PRIMARY KEY (series_id, bucket));
CREATE TABLE metrics_ex.rollup_day (LIKE metrics_ex.rollup_pending, PRIMARY KEY (series_id, bucket));
COMMENT ON TABLE metrics_ex.rollup_minute IS 'Per series and UTC minute: count, sum, min, max, last, stats, ddsketch, buckets';
COMMENT ON TABLE metrics_ex.rollup_hour IS 'Per series and UTC hour, merged from minute deltas';
COMMENT ON TABLE metrics_ex.rollup_day IS 'Per series and UTC day, merged from minute deltas';

-- Everything ever recorded per series, never decremented by retention:
-- counter totals and histogram buckets for Prometheus exposition.
CREATE TABLE metrics_ex.series_totals (
    series_id   bigint PRIMARY KEY,
    count       bigint NOT NULL,
    sum         float8 NOT NULL,
    last_ts     timestamptz NOT NULL,
    last_value  float8 NOT NULL,
    buckets     bigint[]
);
COMMENT ON TABLE metrics_ex.series_totals IS 'Per series, all time: count, sum, last value, histogram buckets';

-- Rollup levels and their retention (NULL: kept forever).
CREATE TABLE metrics_ex.rollup_levels (
    level       text PRIMARY KEY CHECK (level IN ('minute', 'hour', 'day')),
    width       interval NOT NULL,
    keep        interval CHECK (keep > interval '0')
);
INSERT INTO metrics_ex.rollup_levels VALUES
    ('minute', '1 minute', '7 days'), ('hour', '1 hour', '90 days'), ('day', '1 day', NULL);

-- pg_restore loads rollup_levels after CREATE EXTENSION has seeded it: a
-- restored level replaces its seed, keeping the user's retention.
CREATE FUNCTION metrics_ex._rollup_levels_restore() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM metrics_ex.rollup_levels l WHERE l.level = NEW.level;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._rollup_levels_restore() FROM PUBLIC;
CREATE TRIGGER rollup_levels_restore BEFORE INSERT ON metrics_ex.rollup_levels
    FOR EACH ROW EXECUTE FUNCTION metrics_ex._rollup_levels_restore();
ALTER TABLE metrics_ex.rollup_levels ENABLE ALWAYS TRIGGER rollup_levels_restore;

SELECT pg_catalog.pg_extension_config_dump('metrics_ex.rollup_minute', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.rollup_hour', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.rollup_day', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.rollup_pending', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.series_totals', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.rollup_levels', '');

CREATE FUNCTION metrics_ex.set_rollup_retention(level text, keep interval) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF keep IS NOT NULL AND keep <= interval '0' THEN
        RAISE EXCEPTION 'keep must be a positive interval or NULL (forever)' USING ERRCODE = '22023';
    END IF;
    UPDATE metrics_ex.rollup_levels l SET keep = set_rollup_retention.keep
     WHERE l.level = lower(set_rollup_retention.level);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invalid rollup level "%"', level USING ERRCODE = '22023',
            HINT = 'The levels are minute, hour and day.';
    END IF;
END
$$;

-- A row holding a single gauge or histogram value keeps neither stats nor
-- sketch (both follow from its sum); these give them back.  Counters have
-- stats and no sketch.
CREATE FUNCTION metrics_ex._stats_of(stats metrics_ex.stats, sum float8) RETURNS metrics_ex.stats
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(stats, metrics_ex.stats_add(NULL::metrics_ex.stats, sum));

CREATE FUNCTION metrics_ex._sketch_of(stats metrics_ex.stats, sketch metrics_ex.ddsketch, sum float8)
RETURNS metrics_ex.ddsketch
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN stats IS NULL
            THEN metrics_ex.ddsketch_final(metrics_ex.ddsketch_add(NULL::metrics_ex.ddsketch, sum))
            ELSE sketch END;

-- The SQL of one level's merge: states of rows "src" grouped by bucket.
CREATE FUNCTION metrics_ex._merge_select_sql(src text, bucket_sql text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$SELECT series_id, %s AS bucket, sum(count)::bigint AS count, metrics_ex.fsum(sum) AS sum,
       min(min) AS min, max(max) AS max, max(last_ts) AS last_ts,
       (array_agg(last_value ORDER BY last_ts DESC))[1] AS last_value,
       CASE WHEN sum(count) = 1 AND bool_and(stats IS NULL) THEN NULL
            ELSE metrics_ex.stats_agg(metrics_ex._stats_of(stats, sum)) END AS stats,
       CASE WHEN sum(count) = 1 AND bool_and(stats IS NULL) THEN NULL
            ELSE metrics_ex.ddsketch(metrics_ex._sketch_of(stats, sketch, sum)) END AS sketch,
       metrics_ex.bucket_counts(buckets) AS buckets
  FROM %s GROUP BY 1, 2$f$, bucket_sql, src);

CREATE FUNCTION metrics_ex._merge_upsert_sql(target text, src text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$INSERT INTO metrics_ex.%I AS r SELECT * FROM %s
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        count = r.count + excluded.count, sum = metrics_ex.fadd(r.sum, excluded.sum),
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
        last_ts = greatest(r.last_ts, excluded.last_ts),
        last_value = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_value ELSE r.last_value END,
        stats = metrics_ex.stats_combine(metrics_ex._stats_of(r.stats, r.sum),
                                         metrics_ex._stats_of(excluded.stats, excluded.sum)),
        sketch = metrics_ex.ddsketch_final(metrics_ex.ddsketch_combine(
                     metrics_ex._sketch_of(r.stats, r.sketch, r.sum),
                     metrics_ex._sketch_of(excluded.stats, excluded.sketch, excluded.sum))),
        buckets = metrics_ex.bucket_counts_combine(r.buckets, excluded.buckets)
    RETURNING 1$f$, target, src);

-- Merge the pending deltas into minute, hour and day rollups and the totals,
-- in one statement.  Deltas that arrive meanwhile wait for the next run.
-- Sums add up with fsum()/fadd(): one beyond the float8 range becomes
-- +-Infinity (or NaN) instead of failing every later run.
CREATE FUNCTION metrics_ex.materialize() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('metrics_ex.materialize')) THEN
        RETURN '{"skipped": "another materialize() is running"}';
    END IF;
    EXECUTE format($q$
    WITH moved AS (
        DELETE FROM metrics_ex.rollup_pending RETURNING *
    ), delta AS (%s
    ), by_hour AS (%s
    ), by_day AS (%s
    ), by_series AS (
        SELECT series_id, sum(count)::bigint AS count, metrics_ex.fsum(sum) AS sum,
               max(last_ts) AS last_ts, (array_agg(last_value ORDER BY last_ts DESC))[1] AS last_value,
               metrics_ex.bucket_counts(buckets) AS buckets
          FROM by_day GROUP BY 1
    ), m AS (%s
    ), h AS (%s
    ), d AS (%s
    ), t AS (
        INSERT INTO metrics_ex.series_totals AS r SELECT * FROM by_series
        ON CONFLICT (series_id) DO UPDATE SET
            count = r.count + excluded.count, sum = metrics_ex.fadd(r.sum, excluded.sum),
            last_ts = greatest(r.last_ts, excluded.last_ts),
            last_value = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_value ELSE r.last_value END,
            buckets = metrics_ex.bucket_counts_combine(r.buckets, excluded.buckets)
        RETURNING 1
    )
    SELECT jsonb_build_object('deltas', (SELECT count(*) FROM moved),
                              'minutes', (SELECT count(*) FROM m),
                              'hours', (SELECT count(*) FROM h),
                              'days', (SELECT count(*) FROM d),
                              'series', (SELECT count(*) FROM t))$q$,
        metrics_ex._merge_select_sql('moved', 'bucket'),
        metrics_ex._merge_select_sql('delta', $b$date_bin('1 hour', bucket, '1970-01-01 00:00:00+00')$b$),
        metrics_ex._merge_select_sql('by_hour', $b$date_bin('1 day', bucket, '1970-01-01 00:00:00+00')$b$),
        metrics_ex._merge_upsert_sql('rollup_minute', 'delta'),
        metrics_ex._merge_upsert_sql('rollup_hour', 'by_hour'),
        metrics_ex._merge_upsert_sql('rollup_day', 'by_day'))
    INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION metrics_ex.materialize() IS
    'Merge pending rollup deltas into minute/hour/day rollups and series totals';
