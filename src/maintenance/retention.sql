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

-- Drop what retention says is old: whole partitions when every metric in
-- them has expired, DELETE for metrics kept shorter than the longest; make
-- partitions for today and tomorrow; apply rollup retention.
CREATE FUNCTION metrics_ex.prune() RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    default_keep interval := metrics_ex.default_retention();
    longest interval;
    p record;
    m record;
    lvl record;
    n bigint;
    dropped int := 0;
    pruned bigint := 0;
    deleted bigint := 0;
    rollups_deleted bigint := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('metrics_ex.prune')) THEN
        RETURN '{"skipped": "another prune() is running"}';
    END IF;
    -- counts of dropped samples come from the rollups: merge what is pending
    PERFORM metrics_ex.materialize();
    SELECT greatest(default_keep, max(retention)) INTO longest FROM metrics_ex.metrics;

    FOR p IN SELECT * FROM metrics_ex.partitions() WHERE upper_bound <= now() - longest LOOP
        SELECT coalesce(sum(count), 0) INTO n FROM metrics_ex.rollup_hour
         WHERE bucket >= p.lower_bound AND bucket < p.upper_bound;
        IF n = 0 THEN
            EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO n;
        END IF;
        EXECUTE format('DROP TABLE %s', p.partition);
        dropped := dropped + 1;
        pruned := pruned + n;
    END LOOP;

    -- metrics kept shorter than the partitions are
    FOR m IN SELECT id, coalesce(retention, default_keep) AS keep FROM metrics_ex.metrics
              WHERE coalesce(retention, default_keep) < longest LOOP
        DELETE FROM metrics_ex.samples s
         USING metrics_ex.series se
         WHERE se.metric_id = m.id AND s.series_id = se.id AND s.ts < now() - m.keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
    END LOOP;

    UPDATE metrics_ex.totals SET value = value + pruned + deleted WHERE key = 'samples_pruned';

    -- partitions ahead of time, so writers rarely wait for DDL
    PERFORM metrics_ex._create_day_partitions(now());

    FOR lvl IN SELECT level, keep FROM metrics_ex.rollup_levels WHERE keep IS NOT NULL LOOP
        EXECUTE format('DELETE FROM metrics_ex.%I WHERE bucket < now() - $1', 'rollup_' || lvl.level)
          USING lvl.keep;
        GET DIAGNOSTICS n = ROW_COUNT;
        rollups_deleted := rollups_deleted + n;
    END LOOP;

    RETURN jsonb_build_object('partitions_dropped', dropped, 'samples_dropped', pruned,
                              'samples_deleted', deleted, 'rollup_rows_deleted', rollups_deleted);
END
$$;
COMMENT ON FUNCTION metrics_ex.prune() IS
    'Apply raw and rollup retention and create the coming partitions';
