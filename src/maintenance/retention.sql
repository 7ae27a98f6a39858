-- metrics_ex retention and partition upkeep.

CREATE FUNCTION metrics_ex.set_retention(name text, keep interval) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF keep IS NOT NULL AND keep <= interval '0' THEN
        RAISE EXCEPTION 'keep must be a positive interval' USING ERRCODE = '22023',
            HINT = 'For example ''7 days''; NULL resets to the default.';
    END IF;
    IF name IS NULL THEN
        IF keep IS NULL THEN
            DELETE FROM metrics_ex.settings WHERE key = 'retention';
        ELSE
            INSERT INTO metrics_ex.settings VALUES ('retention', keep::text)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value;
        END IF;
        RETURN;
    END IF;
    UPDATE metrics_ex.metrics m SET retention = keep WHERE m.name = set_retention.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'metric "%" does not exist', name USING ERRCODE = '42704',
            HINT = 'Define it first with metrics_ex.define(), or record a sample.';
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_ex.set_retention(text, interval) IS
    'Raw-sample retention of one metric, or with NULL name the default for all';

-- ---- what retention has left ---------------------------------------------
-- Where each metric's raw samples are complete: retention records the cut
-- it applied (metric_id 0: a cut for every metric that existed then, by
-- dropped partitions and the default partition).  Queries read raw samples
-- only from there on, and older ranges from the finest rollup level that
-- still holds them.
CREATE TABLE metrics_ex.raw_horizon (
    metric_id   int PRIMARY KEY,
    kept_from   timestamptz NOT NULL,
    cut_at      timestamptz NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.raw_horizon', '');
COMMENT ON TABLE metrics_ex.raw_horizon IS
    'Per metric (0: all metrics created before cut_at), the time from which retention has kept every raw sample';

CREATE FUNCTION metrics_ex._raw_from(mid int) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(max(h.kept_from), '-infinity') FROM metrics_ex.raw_horizon h
     WHERE h.metric_id = mid
        OR h.metric_id = 0 AND h.cut_at >= (SELECT m.created_at FROM metrics_ex.metrics m WHERE m.id = mid);
END;

CREATE FUNCTION metrics_ex._cut_raw(mid int, cut timestamptz) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO metrics_ex.raw_horizon AS h VALUES (mid, cut, now())
    ON CONFLICT (metric_id) DO UPDATE SET kept_from = greatest(h.kept_from, excluded.kept_from),
                                          cut_at = excluded.cut_at;
END;

-- ---- partitions ----------------------------------------------------------
-- Writers never run DDL: day partitions are made here ahead of time, and a
-- sample no day partition takes waits in metrics_ex.samples_default until a
-- maintenance run moves it into its day.  Every step is short and takes its
-- strong locks with metrics_ex.maintenance_lock_timeout: a step that cannot
-- get them in time gives up and is tried again on a later run, so a long
-- query never makes writers queue behind maintenance for more than a moment.

CREATE FUNCTION metrics_ex._lock_timeout() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(nullif(current_setting('metrics_ex.maintenance_lock_timeout', true), ''), '200ms');

-- The longest raw retention of any metric: older day partitions can go.
CREATE FUNCTION metrics_ex._longest_retention() RETURNS interval
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT greatest(metrics_ex.default_retention(), max(m.retention)) FROM metrics_ex.metrics m;
END;

-- The UTC days that want a partition now, earliest first: today and the
-- next metrics_ex.partitions_ahead days, and the days of samples waiting in
-- the default partition that retention still keeps (at most 31 per run;
-- samples further ahead wait until their day comes near).
CREATE FUNCTION metrics_ex._partition_days_wanted() RETURNS SETOF timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH bounds AS (
        SELECT date_bin('1 day', now(), '1970-01-01 00:00:00+00') AS today,
               coalesce(nullif(current_setting('metrics_ex.partitions_ahead', true), '')::int, 3) AS ahead,
               now() - metrics_ex._longest_retention() AS kept_from
    ), days AS (
        SELECT b.today + i * interval '1 day' AS day
          FROM bounds b, generate_series(0, b.ahead) i
        UNION
        (SELECT DISTINCT date_bin('1 day', d.ts, '1970-01-01 00:00:00+00')
           FROM ONLY metrics_ex.samples_default d, bounds b
          WHERE d.ts >= date_bin('1 day', b.kept_from, '1970-01-01 00:00:00+00')
            AND d.ts < b.today + (b.ahead + 1) * interval '1 day'
          ORDER BY 1 LIMIT 31)
    )
    SELECT day FROM days
     WHERE day < '10000-01-01 00:00:00+00'
       -- on Citus the coordinator makes them for the cluster
       AND NOT metrics_ex._citus_worker()
       AND NOT EXISTS (SELECT 1 FROM metrics_ex.partitions() x
                        WHERE x.lower_bound < day + interval '1 day' AND x.upper_bound > day)
     ORDER BY day;
END;

-- Make the partition of one UTC day, unless a partition overlaps it, and
-- move the day's samples out of the default partition into it.  Returns the
-- number moved, NULL when nothing was made.  The table is built beside
-- metrics_ex.samples and then attached: ATTACH PARTITION takes SHARE UPDATE
-- EXCLUSIVE on samples, which writers and readers do not wait for (CREATE
-- TABLE ... PARTITION OF would take ACCESS EXCLUSIVE).  Its CHECK constraint
-- spares ATTACH a scan and goes once attached (the write path refuses
-- constraints it would bypass).
CREATE FUNCTION metrics_ex._create_day_partition(day timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lo timestamptz := date_bin('1 day', day, '1970-01-01 00:00:00+00');
    hi timestamptz := lo + interval '1 day';
    name text := 'samples_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    lo_text text := to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00';
    hi_text text := to_char(hi AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00';
    moved bigint;
BEGIN
    IF lo >= '10000-01-01 00:00:00+00' OR to_regclass(format('metrics_ex.%I', name)) IS NOT NULL OR
       EXISTS (SELECT 1 FROM metrics_ex.partitions() x WHERE x.lower_bound < hi AND x.upper_bound > lo) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE metrics_ex.%I (ts timestamptz NOT NULL, series_id bigint NOT NULL, '
                   'value float8 NOT NULL, lineage jsonb, CONSTRAINT %I CHECK (ts >= %L AND ts < %L))',
                   name, name || '_bounds', lo_text, hi_text);
    EXECUTE format('CREATE INDEX %I ON metrics_ex.%I USING brin (ts) WITH (pages_per_range = 32, autosummarize = on)',
                   name || '_ts_brin', name);
    -- until commit no sample can land in the default partition meanwhile
    LOCK TABLE metrics_ex.samples_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('WITH moved AS (DELETE FROM ONLY metrics_ex.samples_default WHERE ts >= $1 AND ts < $2 RETURNING *) '
                   'INSERT INTO metrics_ex.%I (ts, series_id, value, lineage) '
                   'SELECT ts, series_id, value, lineage FROM moved', name)
      USING lo, hi;
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE metrics_ex.samples ATTACH PARTITION metrics_ex.%I FOR VALUES FROM (%L) TO (%L)',
                   name, lo_text, hi_text);
    EXECUTE format('ALTER TABLE metrics_ex.%I DROP CONSTRAINT %I', name, name || '_bounds');
    RETURN moved;
END
$$;

-- Day partitions that retention says can go: every metric has expired there.
CREATE FUNCTION metrics_ex._expired_partitions() RETURNS SETOF regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT p.partition FROM metrics_ex.partitions() p
     WHERE p.upper_bound <= least(now() - metrics_ex._longest_retention(), (metrics_ex.watermarks()).done)
       AND NOT metrics_ex._citus_worker()
     ORDER BY p.lower_bound;
END;

-- The samples of an expired partition, counted exactly: the SHARE lock keeps
-- a late sample from arriving there until the transaction ends (writers of
-- other days do not wait).
CREATE FUNCTION metrics_ex._count_partition(p regclass) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('LOCK TABLE %s IN SHARE MODE', p);
    EXECUTE format('SELECT count(*) FROM %s', p) INTO n;
    RETURN n;
END
$$;

-- Drop an expired partition whose n samples were counted in this
-- transaction; they join get_stats()' metrics_pruned.  DROP takes ACCESS
-- EXCLUSIVE on metrics_ex.samples for a moment: call it with a lock timeout.
CREATE FUNCTION metrics_ex._drop_partition(p regclass, n bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._cut_raw(0, x.upper_bound) FROM metrics_ex.partitions() x WHERE x.partition = p;
    EXECUTE format('DROP TABLE %s', p);
    PERFORM metrics_ex._add_total('samples_pruned', n);
END
$$;

-- Both in one transaction, as the scheduler does it: the count stays exact.
CREATE FUNCTION metrics_ex._drop_expired_partition(p regclass) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint := metrics_ex._count_partition(p);
BEGIN
    PERFORM metrics_ex._drop_partition(p, n);
    RETURN n;
END
$$;

-- Retention that deletes rows instead of dropping partitions: metrics kept
-- shorter than the longest retention, expired samples waiting in the default
-- partition, and rollup rows past their level's retention.  Row locks only.
CREATE FUNCTION metrics_ex._prune_rows() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    default_keep interval := metrics_ex.default_retention();
    -- nothing the rollups do not hold yet is deleted
    done timestamptz := (metrics_ex.watermarks()).done;
    longest interval := metrics_ex._longest_retention();
    m record;
    lvl record;
    n bigint;
    deleted bigint := 0;
    rollups_deleted bigint := 0;
BEGIN
    IF metrics_ex._citus_worker() THEN
        RETURN jsonb_build_object('samples_deleted', 0, 'rollup_rows_deleted', 0);
    END IF;
    FOR m IN SELECT id, coalesce(retention, default_keep) AS keep FROM metrics_ex.metrics
              WHERE coalesce(retention, default_keep) < longest LOOP
        DELETE FROM metrics_ex.samples s
         USING metrics_ex.series se
         WHERE se.metric_id = m.id AND s.series_id = se.id AND s.ts < least(now() - m.keep, done);
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
        PERFORM metrics_ex._cut_raw(m.id, least(now() - m.keep, done));
    END LOOP;
    DELETE FROM ONLY metrics_ex.samples_default WHERE ts < least(now() - longest, done);
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
    IF n > 0 THEN
        PERFORM metrics_ex._cut_raw(0, least(now() - longest, done));
    END IF;
    PERFORM metrics_ex._add_total('samples_pruned', deleted);

    FOR lvl IN SELECT level, keep FROM metrics_ex.rollup_levels WHERE keep IS NOT NULL LOOP
        EXECUTE format('DELETE FROM metrics_ex.%I WHERE bucket < now() - $1', 'rollup_' || lvl.level)
          USING lvl.keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        rollups_deleted := rollups_deleted + n;
    END LOOP;
    RETURN jsonb_build_object('samples_deleted', deleted, 'rollup_rows_deleted', rollups_deleted);
END
$$;

-- Everything retention and partition upkeep do, in the caller's transaction
-- (the scheduler runs the same steps, each in a transaction of its own).
-- Strong locks come last, each step with the lock timeout: expired
-- partitions are counted first, then the coming days' partitions are made,
-- then the expired ones dropped; a step that cannot get its lock is skipped
-- (partitions_skipped) and tried again by the next run.
CREATE FUNCTION metrics_ex.prune() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
    p regclass;
    day timestamptz;
    counted regclass[] := '{}';
    counts bigint[] := '{}';
    moved bigint;
    n bigint := 0;
    created int := 0;
    dropped int := 0;
    skipped int := 0;
    pruned bigint := 0;
    old_timeout text := current_setting('lock_timeout');
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('metrics_ex.prune')) THEN
        RETURN '{"skipped": "another prune() is running"}';
    END IF;
    -- retention deletes only what the rollups hold (the materialize job
    -- keeps them a minute or two behind); without holding writers back,
    -- since this transaction goes on to take partition locks
    PERFORM metrics_ex.materialize(false);
    result := metrics_ex._prune_rows();

    PERFORM set_config('lock_timeout', metrics_ex._lock_timeout(), true);
    FOR p IN SELECT * FROM metrics_ex._expired_partitions() LOOP
        BEGIN
            counts := counts || metrics_ex._count_partition(p);
            counted := counted || p;
        EXCEPTION WHEN lock_not_available THEN
            skipped := skipped + 1;
        END;
    END LOOP;
    FOR day IN SELECT * FROM metrics_ex._partition_days_wanted() LOOP
        BEGIN
            moved := metrics_ex._create_day_partition(day);
            IF moved IS NOT NULL THEN
                created := created + 1;
                n := n + moved;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            skipped := skipped + 1;
        END;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(counted, 1), 0) LOOP
        BEGIN
            PERFORM metrics_ex._drop_partition(counted[i], counts[i]);
            dropped := dropped + 1;
            pruned := pruned + counts[i];
        EXCEPTION WHEN lock_not_available THEN
            skipped := skipped + 1;
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', old_timeout, true);

    RETURN result || jsonb_build_object('partitions_dropped', dropped, 'samples_dropped', pruned,
                                        'partitions_created', created, 'samples_moved', n,
                                        'partitions_skipped', skipped);
END
$$;
COMMENT ON FUNCTION metrics_ex.prune() IS
    'Apply raw and rollup retention, make the coming days'' partitions, move waiting samples into theirs';

REVOKE ALL ON FUNCTION metrics_ex._lock_timeout(), metrics_ex._longest_retention(),
    metrics_ex._partition_days_wanted(), metrics_ex._create_day_partition(timestamptz),
    metrics_ex._expired_partitions(), metrics_ex._count_partition(regclass),
    metrics_ex._drop_partition(regclass, bigint), metrics_ex._drop_expired_partition(regclass),
    metrics_ex._prune_rows(), metrics_ex._cut_raw(int, timestamptz) FROM PUBLIC;
