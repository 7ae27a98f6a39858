-- metrics_ex rollups: per series and UTC hour and day (and minute, for the
-- metrics that ask for it), mergeable state only, built by maintenance from
-- the raw samples.  The write path writes raw samples only; a sample older
-- than the watermark that maintenance has published (a late one) also
-- leaves a small delta in rollup_pending, merged by the next run.  Queries
-- and scrapes read the rollups up to the watermark and raw samples after it
-- (watermark.c explains how writers and maintenance agree on it).

-- A rollup row: count, sum, min, max, the last value (latest ts; a tie goes
-- to the sample written later), m2 (the sum of squared deviations, for
-- stddev), a 1% ddsketch (for percentiles; NULL when the row holds one
-- value, which is then its sum) and cumulative bucket counts (histograms).
CREATE TYPE metrics_ex._rollup_row AS (
    count       bigint,
    sum         float8,
    min         float8,
    max         float8,
    last_ts     timestamptz,
    last_value  float8,
    m2          float8,
    sketch      metrics_ex.ddsketch,
    buckets     bigint[]
);

-- Late deltas: what the write path adds for samples older than the
-- published watermark, per series, minute and statement.
CREATE TABLE metrics_ex.rollup_pending (
    series_id   bigint NOT NULL,
    bucket      timestamptz NOT NULL,     -- the minute
    count       bigint NOT NULL,
    sum         float8 NOT NULL,
    min         float8 NOT NULL,
    max         float8 NOT NULL,
    last_ts     timestamptz NOT NULL,
    last_value  float8 NOT NULL,
    m2          float8 NOT NULL,
    sketch      metrics_ex.ddsketch,      -- NULL: one value, = sum
    buckets     bigint[]                  -- histograms: cumulative, +Inf last
);
-- Every delta is deleted by the next maintenance run: vacuum the table
-- often, so that scans of it (materialize, queries) stay small.
ALTER TABLE metrics_ex.rollup_pending SET (autovacuum_vacuum_scale_factor = 0,
                                          autovacuum_vacuum_threshold = 10000,
                                          autovacuum_vacuum_insert_scale_factor = 0,
                                          autovacuum_vacuum_insert_threshold = 100000);
COMMENT ON TABLE metrics_ex.rollup_pending IS
    'Deltas of late samples (older than the published watermark), merged by metrics_ex.materialize()';

-- The current hour's row grows with every run: leave room on its pages so
-- that the updates stay on the page (HOT).  Day rows are written once, when
-- their day is over (late data aside).
CREATE TABLE metrics_ex.rollup_minute (LIKE metrics_ex.rollup_pending, PRIMARY KEY (series_id, bucket));
CREATE TABLE metrics_ex.rollup_hour (LIKE metrics_ex.rollup_pending, PRIMARY KEY (series_id, bucket))
    WITH (fillfactor = 90);
CREATE TABLE metrics_ex.rollup_day (LIKE metrics_ex.rollup_pending, PRIMARY KEY (series_id, bucket));
COMMENT ON TABLE metrics_ex.rollup_minute IS 'Per series and UTC minute, for metrics with minute rollups';
COMMENT ON TABLE metrics_ex.rollup_hour IS 'Per series and UTC hour: count, sum, min, max, last, m2, ddsketch, buckets';
COMMENT ON TABLE metrics_ex.rollup_day IS 'Per series and complete UTC day, merged from its hours';

-- Where maintenance stands.  published: writers treat samples before it as
-- late; done: rollups and totals hold every sample before it (the rest is
-- read from raw samples).  No row (a new database) means -infinity for both.
CREATE TABLE metrics_ex.rollup_state (
    key         text PRIMARY KEY CHECK (key = 'watermark'),
    published   timestamptz NOT NULL,
    done        timestamptz NOT NULL CHECK (done <= published)
);
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.rollup_state', '');

CREATE FUNCTION metrics_ex.watermarks(OUT published timestamptz, OUT done timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(max(s.published), '-infinity'), coalesce(max(s.done), '-infinity')
      FROM metrics_ex.rollup_state s;
END;
COMMENT ON FUNCTION metrics_ex.watermarks() IS
    'published: samples older than it are late; done: rollups and totals hold everything older';

-- The protocol between writers and maintenance (watermark.c).
CREATE FUNCTION metrics_ex._wait_for_writers() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_wait_for_writers';
CREATE FUNCTION metrics_ex._hold_writers() RETURNS bool
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_hold_writers';
CREATE FUNCTION metrics_ex._publish_watermark(ts timestamptz) RETURNS void
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'metrics_ex_publish_watermark';
CREATE FUNCTION metrics_ex._watermark_published_here() RETURNS bool
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_watermark_published_here';
REVOKE ALL ON FUNCTION metrics_ex._wait_for_writers(), metrics_ex._hold_writers(),
    metrics_ex._publish_watermark(timestamptz), metrics_ex._watermark_published_here() FROM PUBLIC;

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

-- ---- building and merging rows (rollup_build.c) ---------------------------

CREATE FUNCTION metrics_ex._rollup_agg_add(internal, timestamptz, float8, tid, float8[]) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_rollup_agg_add';
CREATE FUNCTION metrics_ex._rollup_merge_add(internal, bigint, float8, float8, float8, timestamptz, float8,
                                             float8, metrics_ex.ddsketch, bigint[]) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_rollup_merge_add';
CREATE FUNCTION metrics_ex._rollup_final(internal) RETURNS metrics_ex._rollup_row
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_rollup_final';
-- the row of raw samples (ts, value, ctid: ties of ts go to the later row,
-- bounds: the histogram's bucket bounds or NULL)
CREATE AGGREGATE metrics_ex._rollup_agg(timestamptz, float8, tid, float8[]) (
    SFUNC = metrics_ex._rollup_agg_add, STYPE = internal, FINALFUNC = metrics_ex._rollup_final,
    PARALLEL = SAFE);
-- the row of rollup rows
CREATE AGGREGATE metrics_ex._rollup_merge(bigint, float8, float8, float8, timestamptz, float8, float8,
                                          metrics_ex.ddsketch, bigint[]) (
    SFUNC = metrics_ex._rollup_merge_add, STYPE = internal, FINALFUNC = metrics_ex._rollup_final,
    PARALLEL = SAFE);
CREATE FUNCTION metrics_ex._m2_merge(bigint, float8, float8, bigint, float8, float8) RETURNS float8
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_m2_merge';
CREATE FUNCTION metrics_ex._sketch_merge(bigint, float8, metrics_ex.ddsketch, bigint, float8, metrics_ex.ddsketch)
    RETURNS metrics_ex.ddsketch
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_sketch_merge';
CREATE FUNCTION metrics_ex._stddev_merge_add(internal, bigint, float8, float8) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_stddev_merge_add';
CREATE FUNCTION metrics_ex._stddev_merge_final(internal) RETURNS float8
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'metrics_ex_stddev_merge_final';
-- the sample standard deviation of rows (count, sum, m2)
CREATE AGGREGATE metrics_ex._stddev_merge(bigint, float8, float8) (
    SFUNC = metrics_ex._stddev_merge_add, STYPE = internal, FINALFUNC = metrics_ex._stddev_merge_final,
    PARALLEL = SAFE);

-- A row's sketch; a row of one value has none stored (it is its sum).
CREATE FUNCTION metrics_ex._sketch_of(count bigint, sum float8, sketch metrics_ex.ddsketch)
RETURNS metrics_ex.ddsketch
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN sketch IS NULL AND count = 1
            THEN metrics_ex.ddsketch_final(metrics_ex.ddsketch_add(NULL::metrics_ex.ddsketch, sum))
            ELSE sketch END;

-- Prometheus' default histogram buckets: a histogram defined without buckets.
CREATE FUNCTION metrics_ex._default_buckets() RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{.005,.01,.025,.05,.1,.25,.5,1,2.5,5,10}'::float8[];

-- INSERT rows "src" into rollup table "target", merging with what is there.
-- The new rows hold later data: a tie of last_ts goes to them.
CREATE FUNCTION metrics_ex._merge_upsert_sql(target text, src text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$INSERT INTO metrics_ex.%I AS r SELECT * FROM %s
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        count = r.count + excluded.count, sum = metrics_ex.fadd(r.sum, excluded.sum),
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
        last_ts = greatest(r.last_ts, excluded.last_ts),
        last_value = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_value ELSE r.last_value END,
        m2 = CASE WHEN least(r.min, excluded.min) = greatest(r.max, excluded.max) THEN 0
                  ELSE metrics_ex._m2_merge(r.count, r.sum, r.m2, excluded.count, excluded.sum, excluded.m2) END,
        sketch = metrics_ex._sketch_merge(r.count, r.sum, r.sketch, excluded.count, excluded.sum, excluded.sketch),
        buckets = metrics_ex.bucket_counts_combine(r.buckets, excluded.buckets)
    RETURNING 1$f$, target, src);

-- Rows "src" grouped by series and bucket_sql, merged.
CREATE FUNCTION metrics_ex._merge_select_sql(src text, bucket_sql text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$SELECT series_id, bucket, (r).* FROM (
    SELECT series_id, %s AS bucket,
           metrics_ex._rollup_merge(count, sum, min, max, last_ts, last_value, m2, sketch, buckets) AS r
      FROM %s GROUP BY 1, 2) x$f$, bucket_sql, src);

-- The rollup rows of the raw samples of [since, until): per series and hour,
-- and per series and minute (minute true) for the metrics with minute
-- rollups, in one pass (rollup_scan.c).
CREATE FUNCTION metrics_ex._raw_rollups(since timestamptz, until timestamptz)
RETURNS TABLE (minute bool, series_id bigint, bucket timestamptz, count bigint, sum float8, min float8,
               max float8, last_ts timestamptz, last_value float8, m2 float8, sketch metrics_ex.ddsketch,
               buckets bigint[])
LANGUAGE c STABLE STRICT ROWS 100000
AS 'MODULE_PATHNAME', 'metrics_ex_raw_rollups';

-- One run's work: every raw sample of [since, until), and every late delta
-- of buckets before since, into the minute (where asked) and hour rows and
-- the series totals, in one statement (one snapshot); the late deltas of
-- [since, until) are dropped, the raw samples hold them.  Then the day rows
-- of the days that are now complete, from their hours (the current day is
-- read from hour rows: updating a day row every run would cost as much as
-- the hour rows again).  done becomes until.
CREATE FUNCTION metrics_ex._build_rollups(since timestamptz, until timestamptz) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
    ndays bigint;
    -- the start of the first day not complete before this run, and after it
    day_from timestamptz := CASE WHEN since = '-infinity' THEN since
                                 ELSE date_bin('1 day', since, '1970-01-01 00:00:00+00') END;
    day_to timestamptz := date_bin('1 day', until, '1970-01-01 00:00:00+00');
    -- late deltas to merge (older ones wait for the next run if one arrives
    -- after this check: the statement below leaves them alone then)
    late bool;
BEGIN
    -- on Citus, statements that the shards run (distribute.sql)
    IF metrics_ex._distributed() THEN
        RETURN metrics_ex._build_rollups_distributed(since, until);
    END IF;
    late := EXISTS (SELECT 1 FROM metrics_ex.rollup_pending p WHERE p.bucket < since);
    EXECUTE format($q$
    WITH late AS (
        DELETE FROM metrics_ex.rollup_pending p WHERE p.bucket < $2 %s RETURNING *
    ), late_kept AS (
        SELECT * FROM late WHERE bucket < $1
    ), raw AS (
        SELECT * FROM metrics_ex._raw_rollups($1, $2)
    ), minute_series AS (
        SELECT s.id, m.minute_rollups_from AS since
          FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
         WHERE m.minute_rollups_from IS NOT NULL AND $3
    ), by_minute AS (%s
    ), by_hour AS (%s
    ), late_day AS (%s
    ), by_series AS (%s
    ), m AS (%s
    ), h AS (%s
    ), d AS (%s
    ), t AS (%s
    ), w AS (%s
    )
    SELECT jsonb_build_object('samples', (SELECT coalesce(sum(count), 0) FROM raw WHERE NOT minute),
                              'late', (SELECT count(*) FROM late_kept),
                              'late_in_raw', (SELECT count(*) FROM late) - (SELECT count(*) FROM late_kept),
                              'minutes', (SELECT count(*) FROM m),
                              'hours', (SELECT count(*) FROM h),
                              'days', (SELECT count(*) FROM d),
                              'series', (SELECT count(*) FROM t),
                              'done', (SELECT count(*) FROM w))$q$,
        CASE WHEN late THEN '' ELSE 'AND p.bucket >= $1' END,
        -- minute rows: raw ones, and late deltas from the metric's minute rollups on
        CASE WHEN late THEN metrics_ex._merge_select_sql(
                 '(SELECT series_id, bucket, count, sum, min, max, last_ts, last_value, m2, sketch, buckets
                     FROM raw WHERE minute
                   UNION ALL
                   SELECT l.* FROM late_kept l JOIN minute_series ms ON ms.id = l.series_id AND l.bucket >= ms.since) x',
                 'bucket')
             ELSE 'SELECT series_id, bucket, count, sum, min, max, last_ts, last_value, m2, sketch, buckets
                     FROM raw WHERE minute' END,
        CASE WHEN late THEN metrics_ex._merge_select_sql(
                 '(SELECT series_id, bucket, count, sum, min, max, last_ts, last_value, m2, sketch, buckets
                     FROM raw WHERE NOT minute
                   UNION ALL
                   SELECT * FROM late_kept) x',
                 $b$date_bin('1 hour', bucket, '1970-01-01 00:00:00+00')$b$)
             ELSE 'SELECT series_id, bucket, count, sum, min, max, last_ts, last_value, m2, sketch, buckets
                     FROM raw WHERE NOT minute' END,
        -- late deltas of days that were complete before this run: their day rows
        metrics_ex._merge_select_sql('(SELECT * FROM late_kept WHERE bucket < $4) x',
                                     $b$date_bin('1 day', bucket, '1970-01-01 00:00:00+00')$b$),
        metrics_ex._by_series_sql('by_hour'),
        metrics_ex._merge_upsert_sql('rollup_minute', 'by_minute'),
        metrics_ex._merge_upsert_sql('rollup_hour', 'by_hour'),
        metrics_ex._merge_upsert_sql('rollup_day', 'late_day'),
        metrics_ex._totals_upsert_sql('by_series'),
        metrics_ex._done_upsert_sql())
    INTO result
    USING since, until,
          EXISTS (SELECT 1 FROM metrics_ex.metrics m WHERE m.minute_rollups_from IS NOT NULL),
          day_from;

    IF day_to > day_from THEN
        ndays := metrics_ex._roll_days(day_from, day_to);
        result := jsonb_set(result, '{days}', to_jsonb((result ->> 'days')::bigint + ndays));
    END IF;
    RETURN result - 'done';
END
$$;

-- The upsert of the series totals from rows "src" (series_id, count, sum,
-- last_ts, last_value, buckets).
CREATE FUNCTION metrics_ex._totals_upsert_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$INSERT INTO metrics_ex.series_totals AS r SELECT * FROM %s
        ON CONFLICT (series_id) DO UPDATE SET
            count = r.count + excluded.count, sum = metrics_ex.fadd(r.sum, excluded.sum),
            last_ts = greatest(r.last_ts, excluded.last_ts),
            last_value = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_value ELSE r.last_value END,
            buckets = metrics_ex.bucket_counts_combine(r.buckets, excluded.buckets)
        RETURNING 1$f$, src);

-- Hour rows "src" summed per series, as the totals take them (exactly: the
-- same bits in whatever order the rows come, on one node or on Citus).
CREATE FUNCTION metrics_ex._by_series_sql(src text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$SELECT series_id, sum(count)::bigint AS count, metrics_ex.xsum(sum) AS sum,
               max(last_ts) AS last_ts, (array_agg(last_value ORDER BY last_ts DESC))[1] AS last_value,
               metrics_ex.bucket_counts(buckets) AS buckets
          FROM %s GROUP BY 1$f$, src);

-- done := $2 (the run's until).
CREATE FUNCTION metrics_ex._done_upsert_sql() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN $f$INSERT INTO metrics_ex.rollup_state AS s (key, published, done) VALUES ('watermark', $2, $2)
        ON CONFLICT (key) DO UPDATE SET done = excluded.done,
                                        published = greatest(s.published, excluded.done)
        RETURNING 1$f$;

-- The day rows of the days [day_from, day_to) that a run completed, from
-- their hour rows; returns how many.
CREATE FUNCTION metrics_ex._roll_days(day_from timestamptz, day_to timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ndays bigint;
BEGIN
    EXECUTE format($q$WITH d AS (%s) SELECT count(*) FROM d$q$,
                   metrics_ex._merge_upsert_sql('rollup_day', format('(%s) y', metrics_ex._merge_select_sql(
                       format('(SELECT * FROM metrics_ex.rollup_hour WHERE bucket >= %L AND bucket < %L) x',
                              day_from, day_to),
                       $b$date_bin('1 day', bucket, '1970-01-01 00:00:00+00')$b$))))
    INTO ndays;
    RETURN ndays;
END
$$;

-- Roll up what the watermark published by an earlier run allows, then
-- publish the next one (now - metrics_ex.rollup_delay, to the minute).
-- Writers that may still use an older watermark are waited for first
-- (without holding anyone back), so no sample between the two is missed.
-- With catch_up, and no writer active at that moment, it also rolls up to
-- the new watermark at once, holding writers back until it commits; the
-- scheduler runs it without (its next run, a minute later, does that part).
CREATE FUNCTION metrics_ex.materialize(catch_up bool DEFAULT true) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET work_mem = '256MB'
AS $$
DECLARE
    wm record;
    next_wm timestamptz;
    result jsonb;
    more jsonb;
    old_timeout text := current_setting('lock_timeout');
BEGIN
    -- on Citus the coordinator rolls up for the cluster
    IF metrics_ex._citus_worker() THEN
        RETURN '{"skipped": "a Citus worker: the coordinator rolls up"}';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('metrics_ex.materialize')) THEN
        RETURN '{"skipped": "another materialize() is running"}';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'materialize() needs a READ COMMITTED transaction' USING ERRCODE = '25001',
            HINT = 'It must see what writers commit while it waits for them.';
    END IF;
    wm := metrics_ex.watermarks();
    IF metrics_ex._watermark_published_here() THEN
        -- this transaction published it: safe only with the writers held back
        IF NOT metrics_ex._hold_writers() THEN
            RETURN '{"skipped": "the watermark this transaction published waits for its commit"}';
        END IF;
    ELSE
        -- a writer idle in its transaction must not stall maintenance: give
        -- up after a while, and try again next run (queries read raw samples
        -- after the watermark meanwhile)
        BEGIN
            PERFORM set_config('lock_timeout', '30s', true);
            PERFORM metrics_ex._wait_for_writers();
            PERFORM set_config('lock_timeout', old_timeout, true);
        EXCEPTION WHEN lock_not_available THEN
            RETURN jsonb_build_object('skipped', 'a writing transaction has been open for more than 30 s',
                                      'watermark', wm.done);
        END;
    END IF;
    result := metrics_ex._build_rollups(wm.done, wm.published);

    next_wm := date_bin('1 minute', clock_timestamp() - metrics_ex._rollup_delay(), '1970-01-01 00:00:00+00');
    IF next_wm > wm.published THEN
        PERFORM metrics_ex._publish_watermark(next_wm);
        IF catch_up AND metrics_ex._hold_writers() THEN
            more := metrics_ex._build_rollups(wm.published, next_wm);
            SELECT jsonb_object_agg(k, (result ->> k)::bigint + (more ->> k)::bigint) INTO result
              FROM jsonb_object_keys(result) k;
        END IF;
    END IF;
    RETURN result || jsonb_build_object('watermark', (metrics_ex.watermarks()).done);
END
$$;
COMMENT ON FUNCTION metrics_ex.materialize(bool) IS
    'Roll raw samples and late deltas up into minute/hour/day rollups and series totals, up to the watermark';

CREATE FUNCTION metrics_ex._rollup_delay() RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(nullif(current_setting('metrics_ex.rollup_delay', true), '')::interval, interval '1 minute');

REVOKE ALL ON FUNCTION metrics_ex._build_rollups(timestamptz, timestamptz), metrics_ex._rollup_delay(),
    metrics_ex._raw_rollups(timestamptz, timestamptz), metrics_ex._roll_days(timestamptz, timestamptz),
    metrics_ex._totals_upsert_sql(text), metrics_ex._by_series_sql(text), metrics_ex._done_upsert_sql()
    FROM PUBLIC;
