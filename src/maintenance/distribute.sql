-- metrics_ex on Citus: distribute() turns the storage into Citus tables, and
-- the rollup build that the shards then run (README: Scaling out with Citus).
--
-- Samples, rollups, totals and late deltas are distributed by series_id and
-- colocated, so that everything of one series is on one shard: rollups,
-- totals and retention are statements that each shard runs on its own rows.
-- The small tables that reads join or consult (metrics, series, the
-- watermark, the raw horizon, the settings) are reference tables, a copy on
-- every node.  Everything else (jobs, alerts, experiments, attachments,
-- telemetry) stays on the coordinator, where the write path, maintenance
-- and the reads run.

-- The rollup rows (series_id, bucket, then a _rollup_row's fields) of the
-- raw samples of [$1, $2) per series and bucket of width, of every series
-- or only of the metrics with minute rollups: an aggregate per group, which
-- Citus runs on each shard (grouped by the distribution column).  Samples
-- of series that are gone are rolled up too, as on one node.
CREATE FUNCTION metrics_ex._raw_rows_sql(width interval, minute_only bool) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($f$SELECT q.series_id, q.bucket, (q.r).* FROM (
    SELECT s.series_id, date_bin(%L::interval, s.ts, '1970-01-01 00:00:00+00') AS bucket,
           metrics_ex._rollup_agg(s.ts, s.value, s.ctid,
               CASE WHEN m.kind = 'histogram' THEN coalesce(m.buckets, metrics_ex._default_buckets()) END) AS r
      FROM metrics_ex.samples s
      LEFT JOIN metrics_ex.series se ON se.id = s.series_id
      LEFT JOIN metrics_ex.metrics m ON m.id = se.metric_id
     WHERE s.ts >= $1 AND s.ts < $2%s
     GROUP BY 1, 2) q$f$,
    width, CASE WHEN minute_only THEN ' AND m.minute_rollups_from IS NOT NULL' ELSE '' END);

-- The late deltas a run merges: buckets before $1 (of the metrics with
-- minute rollups from then on, for minute rows).
CREATE FUNCTION metrics_ex._late_rows_sql(minute_only bool) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN minute_only
            THEN 'SELECT p.* FROM metrics_ex.rollup_pending p
                    JOIN metrics_ex.series se ON se.id = p.series_id
                    JOIN metrics_ex.metrics m ON m.id = se.metric_id
                   WHERE p.bucket < $1 AND p.bucket >= m.minute_rollups_from'
            ELSE 'SELECT p.* FROM metrics_ex.rollup_pending p WHERE p.bucket < $1' END;

-- An upsert of _merge_upsert_sql() whose rows stay on the shards.
CREATE FUNCTION metrics_ex._shard_upsert_sql(upsert text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN regexp_replace(upsert, '\s+RETURNING 1$', '');

-- _build_rollups() on Citus: the same rows, made by statements that each
-- shard runs on its own samples and deltas (grouped by series), so that no
-- sample leaves its node.  Citus gives each statement, on each shard, a
-- snapshot of its own, where _build_rollups() relies on one: so late
-- writers (the only ones that write before the watermark, see watermark.c)
-- wait until this transaction ends, and every statement sees the same late
-- samples and deltas.  Raw samples are read twice (hour rows, totals), and
-- a third time for minute rows where a metric has them.
-- One connection per worker: each statement joins colocated shards that an
-- earlier one modified, and Citus cannot run a task over placements that
-- were modified over several connections (materialize() by hand builds
-- twice in one transaction; a slow build makes Citus open more connections).
CREATE FUNCTION metrics_ex._build_rollups_distributed(since timestamptz, until timestamptz) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET citus.max_adaptive_executor_pool_size = 1
SET citus.force_max_query_parallelization = off
AS $$
DECLARE
    day_from timestamptz := CASE WHEN since = '-infinity' THEN since
                                 ELSE date_bin('1 day', since, '1970-01-01 00:00:00+00') END;
    day_to timestamptz := date_bin('1 day', until, '1970-01-01 00:00:00+00');
    old_timeout text := current_setting('lock_timeout');
    by_hour text := metrics_ex._raw_rows_sql('1 hour', false);
    by_minute text;
    n_samples bigint;
    n_late bigint;
    n_deleted bigint;
    n_minutes bigint := 0;
    n_hours bigint;
    n_days bigint := 0;
    n_series bigint;
BEGIN
    PERFORM set_config('lock_timeout', '30s', true);
    LOCK TABLE metrics_ex.rollup_pending IN EXCLUSIVE MODE;
    PERFORM set_config('lock_timeout', old_timeout, true);
    SELECT count(*) INTO n_late FROM metrics_ex.rollup_pending p WHERE p.bucket < since;
    SELECT count(*) INTO n_samples FROM metrics_ex.samples s WHERE s.ts >= since AND s.ts < until;

    IF n_late > 0 THEN
        by_hour := metrics_ex._merge_select_sql(
            format('(%s UNION ALL %s) x', by_hour, metrics_ex._late_rows_sql(false)),
            $b$date_bin('1 hour', bucket, '1970-01-01 00:00:00+00')$b$);
    END IF;
    EXECUTE metrics_ex._shard_upsert_sql(metrics_ex._merge_upsert_sql('rollup_hour', format('(%s) y', by_hour)))
      USING since, until;
    GET DIAGNOSTICS n_hours = ROW_COUNT;
    EXECUTE metrics_ex._shard_upsert_sql(metrics_ex._totals_upsert_sql(
                format('(%s) t', metrics_ex._by_series_sql(format('(%s) h', by_hour)))))
      USING since, until;
    GET DIAGNOSTICS n_series = ROW_COUNT;

    IF EXISTS (SELECT 1 FROM metrics_ex.metrics m WHERE m.minute_rollups_from IS NOT NULL) THEN
        by_minute := metrics_ex._raw_rows_sql('1 minute', true);
        IF n_late > 0 THEN
            by_minute := metrics_ex._merge_select_sql(
                format('(%s UNION ALL %s) x', by_minute, metrics_ex._late_rows_sql(true)), 'bucket');
        END IF;
        EXECUTE metrics_ex._shard_upsert_sql(metrics_ex._merge_upsert_sql('rollup_minute', format('(%s) y', by_minute)))
          USING since, until;
        GET DIAGNOSTICS n_minutes = ROW_COUNT;
    END IF;

    IF n_late > 0 THEN
        -- late deltas of days that were complete before this run: their day rows
        EXECUTE metrics_ex._shard_upsert_sql(metrics_ex._merge_upsert_sql('rollup_day', format('(%s) y',
                    metrics_ex._merge_select_sql('(SELECT * FROM metrics_ex.rollup_pending WHERE bucket < $1) x',
                                                 $b$date_bin('1 day', bucket, '1970-01-01 00:00:00+00')$b$))))
          USING day_from;
        GET DIAGNOSTICS n_days = ROW_COUNT;
        DELETE FROM metrics_ex.rollup_pending p WHERE p.bucket < until;
    ELSE
        -- the raw samples hold these
        DELETE FROM metrics_ex.rollup_pending p WHERE p.bucket >= since AND p.bucket < until;
    END IF;
    GET DIAGNOSTICS n_deleted = ROW_COUNT;
    EXECUTE metrics_ex._done_upsert_sql() USING since, until;

    IF day_to > day_from THEN
        n_days := n_days + metrics_ex._roll_days(day_from, day_to);
    END IF;
    RETURN jsonb_build_object('samples', n_samples, 'late', n_late, 'late_in_raw', n_deleted - n_late,
                              'minutes', n_minutes, 'hours', n_hours, 'days', n_days, 'series', n_series);
END
$$;

-- ---- distribute() ----------------------------------------------------------

-- The tables distribute() makes Citus tables: distributed by series_id and
-- colocated with samples (the first), and reference tables.
CREATE FUNCTION metrics_ex._distributed_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{samples,rollup_minute,rollup_hour,rollup_day,rollup_pending,series_totals}'::text[];

CREATE FUNCTION metrics_ex._reference_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{metrics,series,rollup_state,raw_horizon,settings}'::text[];

-- What distribute() asks every worker, by run_command_on_workers() (each in
-- a session of its own): its metrics_ex version, then whether it holds
-- metrics_ex storage rows of its own, which the distributed tables would
-- hide.
CREATE FUNCTION metrics_ex._check_workers() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ours text := (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'metrics_ex');
    w record;
BEGIN
    FOR w IN SELECT * FROM run_command_on_workers(
                 $c$SELECT coalesce((SELECT extversion FROM pg_catalog.pg_extension
                                      WHERE extname = 'metrics_ex'), 'none')$c$) LOOP
        IF NOT w.success OR w.result IS DISTINCT FROM ours THEN
            RAISE EXCEPTION '%', CASE WHEN NOT w.success
                                      THEN format('could not ask Citus worker %s:%s for its metrics_ex: %s',
                                                  w.nodename, w.nodeport, w.result)
                                      WHEN w.result = 'none'
                                      THEN format('Citus worker %s:%s does not have metrics_ex', w.nodename, w.nodeport)
                                      ELSE format('Citus worker %s:%s has metrics_ex %s, the coordinator %s',
                                                  w.nodename, w.nodeport, w.result, ours) END
                USING ERRCODE = '55000',
                      HINT = format('Every node needs metrics_ex %s: install the library there and CREATE EXTENSION metrics_ex (on the coordinator, Citus creates it on the workers that have it).', ours);
        END IF;
    END LOOP;
    FOR w IN SELECT * FROM run_command_on_workers(
                 $c$SELECT (SELECT count(*) FROM metrics_ex.samples) + (SELECT count(*) FROM metrics_ex.series)
                         + (SELECT count(*) FROM metrics_ex.metrics) + (SELECT count(*) FROM metrics_ex.rollup_hour)
                         + (SELECT count(*) FROM metrics_ex.rollup_pending)
                         + (SELECT count(*) FROM metrics_ex.series_totals)$c$) LOOP
        IF NOT w.success OR w.result <> '0' THEN
            RAISE EXCEPTION 'Citus worker %:% holds metrics of its own', w.nodename, w.nodeport
                USING ERRCODE = '55000',
                      DETAIL = CASE WHEN w.success THEN w.result || ' rows in its metrics_ex tables'
                                    ELSE 'could not count them: ' || w.result END,
                      HINT = 'distribute() would hide them behind the distributed tables: record into the coordinator only, and empty the worker''s metrics_ex tables (or drop and create the extension there) first.';
        END IF;
    END LOOP;
END
$$;

-- Make metrics_ex's storage Citus tables, on the coordinator.  See the
-- README (Scaling out with Citus) for the set-up it expects.  Samples
-- already stored are moved into the shards.
CREATE FUNCTION metrics_ex.distribute(shard_count int DEFAULT 32) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Citus' notices of each table's copy hint at a clean-up that distribute() does
SET client_min_messages = warning
AS $$
DECLARE
    old_timeout text := current_setting('lock_timeout');
    t text;
    nsamples bigint;
    r record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'citus') THEN
        RAISE EXCEPTION 'Citus is not installed in this database' USING ERRCODE = '55000',
            HINT = 'On every node: shared_preload_libraries = ''citus,metrics_ex'', CREATE EXTENSION citus and metrics_ex; on the coordinator citus_set_coordinator_host() and citus_add_node() for each worker; then distribute() there.';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 OR shard_count > 64000 THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000, not %', coalesce(shard_count::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'A few shards per worker core: 32 (the default) suits up to 16 cores.';
    END IF;
    IF metrics_ex._distributed() THEN
        RAISE EXCEPTION 'metrics_ex is distributed already in this database' USING ERRCODE = '55000',
            HINT = 'Add workers with citus_add_node() and move shards with citus_rebalance_start().';
    END IF;
    IF metrics_ex._citus_worker() THEN
        RAISE EXCEPTION 'distribute() runs on the Citus coordinator, and this node is a worker'
            USING ERRCODE = '55000', HINT = 'Connect to the coordinator.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid = 0 AND n.noderole = 'primary') THEN
        RAISE EXCEPTION 'the coordinator is not in the Citus metadata' USING ERRCODE = '55000',
            HINT = 'SELECT citus_set_coordinator_host(host, port) first: metrics and series become reference tables with a copy here, which the write path reads.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid <> 0 AND n.noderole = 'primary' AND n.isactive) THEN
        RAISE EXCEPTION 'the Citus cluster has no worker' USING ERRCODE = '55000',
            HINT = 'Add the workers with citus_add_node(host, port) first.';
    END IF;
    IF NOT 'metrics_ex' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
        RAISE EXCEPTION 'metrics_ex is not in shared_preload_libraries' USING ERRCODE = '55000',
            HINT = 'shared_preload_libraries = ''citus,metrics_ex'' on the coordinator: once distributed, the catalog tables have no triggers, and only the preloaded library sees every session''s deletes of series.';
    END IF;
    PERFORM metrics_ex._check_workers();

    -- no writer may insert below the executor while the tables change hands
    PERFORM set_config('lock_timeout', '30s', true);
    PERFORM metrics_ex._stop_writers();
    PERFORM set_config('lock_timeout', old_timeout, true);
    nsamples := (SELECT count(*) FROM metrics_ex.samples);

    -- The workers' own day partitions (their schedulers may have made them
    -- before they joined; they are empty, checked above) would collide with
    -- the ones Citus makes there, and their triggers with the coordinator's
    -- definition.  run_command_on_workers() commits on its own: if this
    -- transaction fails later, the workers have lost only these.
    FOR r IN SELECT * FROM run_command_on_workers($c$DO $d$
                 DECLARE p regclass;
                 BEGIN
                     FOR p IN SELECT partition FROM metrics_ex.partitions() LOOP
                         EXECUTE format('DROP TABLE %s', p);
                     END LOOP;
                     DROP TRIGGER IF EXISTS metrics_invalidate ON metrics_ex.metrics;
                     DROP TRIGGER IF EXISTS series_invalidate ON metrics_ex.series;
                 END
             $d$ $c$) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'could not prepare Citus worker %:%: %', r.nodename, r.nodeport, r.result
                USING ERRCODE = '55000';
        END IF;
    END LOOP;

    -- Citus takes no table with triggers; the hooks see those changes now
    -- (catalog_watch.c).  The foreign key from series to metrics goes too:
    -- Citus refuses to modify a reference table that a key refers to after
    -- a parallel query in the same transaction (a read, or the write path's
    -- own flush of samples), so no new metric could be made then; and
    -- making metrics a reference table while series still refers to it
    -- would turn series into a Citus local table, which an extension's
    -- table cannot become.  Its ON DELETE CASCADE is done by the hooks
    -- instead (distributed_cascade()).  The workers' copies of the
    -- extension have the key as well: the DROP below reaches them.
    DROP TRIGGER IF EXISTS metrics_invalidate ON metrics_ex.metrics;
    DROP TRIGGER IF EXISTS series_invalidate ON metrics_ex.series;
    ALTER TABLE metrics_ex.series DROP CONSTRAINT series_metric_id_fkey;
    FOREACH t IN ARRAY metrics_ex._reference_tables() LOOP
        PERFORM create_reference_table(format('metrics_ex.%I', t)::regclass);
    END LOOP;
    ALTER TABLE metrics_ex.series DROP CONSTRAINT IF EXISTS series_metric_id_fkey;

    PERFORM create_distributed_table('metrics_ex.samples', 'series_id', shard_count => shard_count);
    FOREACH t IN ARRAY (metrics_ex._distributed_tables())[2:] LOOP
        PERFORM create_distributed_table(format('metrics_ex.%I', t)::regclass, 'series_id',
                                         colocate_with => 'metrics_ex.samples');
    END LOOP;
    -- Citus copied the rows into the shards and left the coordinator's on
    -- disk, unseen; they must go: ATTACH PARTITION (retention) checks the
    -- default partition's rows here
    FOR r IN SELECT p.logicalrelid AS rel FROM pg_dist_partition p
              WHERE p.logicalrelid::regclass::text LIKE 'metrics\_ex.%'
                AND NOT EXISTS (SELECT 1 FROM pg_partitioned_table pt WHERE pt.partrelid = p.logicalrelid) LOOP
        PERFORM truncate_local_data_after_distributing_table(r.rel);
    END LOOP;
    RETURN jsonb_build_object('shard_count', shard_count, 'samples', nsamples,
                              'distributed', to_jsonb(metrics_ex._distributed_tables()),
                              'reference', to_jsonb(metrics_ex._reference_tables()));
END
$$;
COMMENT ON FUNCTION metrics_ex.distribute(int) IS
    'On a Citus coordinator: distribute samples, rollups and totals by series, the catalog as reference tables';

REVOKE ALL ON FUNCTION metrics_ex._raw_rows_sql(interval, bool), metrics_ex._late_rows_sql(bool),
    metrics_ex._shard_upsert_sql(text), metrics_ex._build_rollups_distributed(timestamptz, timestamptz),
    metrics_ex._distributed_tables(), metrics_ex._reference_tables(), metrics_ex._check_workers(),
    metrics_ex.distribute(int) FROM PUBLIC;
