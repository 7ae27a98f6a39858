-- metrics_ex experiments: start/stop/pause/resume, the experiments view,
-- calculate_metrics() and compare_experiments() (Welch's t-test).
--
-- A sample belongs to an experiment when its tags hold experiment_id = the
-- experiment's uuid (as text).  While an experiment is paused or stopped,
-- the write path (src/experiments.c) drops its samples and counts them in
-- samples_rejected, once per transaction.

CREATE TABLE metrics_ex.experiment_registry (
    id               uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name             text NOT NULL CHECK (name OPERATOR(pg_catalog.<>) ''),
    hypothesis       text,
    condition        text DEFAULT 'default',
    tags             text[] NOT NULL DEFAULT '{}',
    metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    sample_size      int CHECK (sample_size OPERATOR(pg_catalog.>) 0),
    status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'paused', 'stopped')),
    started_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    stopped_at       timestamptz,
    paused_at        timestamptz,
    pause_count      int NOT NULL DEFAULT 0,
    samples_rejected bigint NOT NULL DEFAULT 0,
    created_by       name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE metrics_ex.experiment_registry IS
    'Experiments and their lifecycle; read metrics_ex.experiments';

-- Writers cache the ids of experiments that are not running.  A change of
-- status (not the rejected-sample counter the write path updates) tells every
-- backend to rebuild that cache.
CREATE TRIGGER experiment_registry_invalidate
    AFTER INSERT OR UPDATE OF status OR DELETE OR TRUNCATE ON metrics_ex.experiment_registry
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._invalidate_cache();

-- An experiment's series, found without scanning every series.
CREATE INDEX series_experiment_id ON metrics_ex.series ((tags OPERATOR(pg_catalog.->>) 'experiment_id'))
    WHERE tags OPERATOR(pg_catalog.?) 'experiment_id';

SELECT pg_catalog.pg_extension_config_dump('metrics_ex.experiment_registry', '');

-- Every sample of an experiment: ts, metric name, kind, tags (with lineage
-- ids), value.  (PL/pgSQL: Citus cannot plan the parameterized statement of
-- an SQL function over its tables.)
CREATE FUNCTION metrics_ex._experiment_samples(id uuid)
RETURNS TABLE (ts timestamptz, name text, kind text, tags jsonb, value float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.ts, m.name, m.kind,
           CASE WHEN s.lineage IS NULL THEN se.tags ELSE se.tags || s.lineage END,
           s.value
      FROM metrics_ex.series se
      JOIN metrics_ex.metrics m ON m.id = se.metric_id
      JOIN metrics_ex.samples s ON s.series_id = se.id
     WHERE se.tags ? 'experiment_id'
       AND (se.tags ->> 'experiment_id') = _experiment_samples.id::text;
END
$$;

CREATE VIEW metrics_ex.experiments AS
    SELECT e.id, e.name, e.hypothesis, e.condition, e.tags, e.metadata, e.status,
           e.started_at, e.stopped_at, e.paused_at, e.pause_count,
           coalesce(c.samples, 0) AS samples,
           e.samples_rejected, e.sample_size, e.created_by
      FROM metrics_ex.experiment_registry e
      LEFT JOIN (SELECT se.tags OPERATOR(pg_catalog.->>) 'experiment_id' AS experiment_id,
                        pg_catalog.count(*) AS samples
                   FROM metrics_ex.series se
                   JOIN metrics_ex.samples s ON s.series_id OPERATOR(pg_catalog.=) se.id
                  WHERE se.tags OPERATOR(pg_catalog.?) 'experiment_id'
                  GROUP BY 1) c
        ON c.experiment_id OPERATOR(pg_catalog.=) e.id::text;
COMMENT ON VIEW metrics_ex.experiments IS
    'Experiments: lifecycle, samples stored, samples rejected while paused or stopped';

-- Experiment functions write the registry as its owner through
-- _experiment_call (C), which first checks, as the write API does, that the
-- caller may record metrics (INSERT on metrics_ex.ingest).
CREATE FUNCTION metrics_ex._experiment_call(action text, id uuid, name text DEFAULT NULL,
                                            hypothesis text DEFAULT NULL, condition text DEFAULT NULL,
                                            tags text[] DEFAULT NULL, sample_size int DEFAULT NULL,
                                            metadata jsonb DEFAULT NULL, keep_data bool DEFAULT NULL)
RETURNS uuid LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_experiment_call';

CREATE FUNCTION metrics_ex._check_writer() RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT has_table_privilege('metrics_ex.ingest', 'INSERT') THEN
        RAISE EXCEPTION 'permission denied to manage experiments' USING ERRCODE = '42501',
            HINT = 'Experiments need INSERT on metrics_ex.ingest: GRANT INSERT ON metrics_ex.ingest TO the writer role.';
    END IF;
END
$$;

-- Row-level security of tables writers fill by hand (telemetry handlers,
-- training steps): a row in the caller's own name, from a role that may
-- record metrics.
CREATE FUNCTION metrics_ex._writer_row(who name) RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN who = current_user AND has_table_privilege('metrics_ex.ingest', 'INSERT');

CREATE FUNCTION metrics_ex.start_experiment(
    name text, hypothesis text DEFAULT NULL, condition text DEFAULT 'default',
    tags text[] DEFAULT '{}', sample_size int DEFAULT NULL, metadata jsonb DEFAULT '{}')
RETURNS uuid LANGUAGE plpgsql VOLATILE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._check_writer();
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION 'experiment name must not be empty' USING ERRCODE = '22023',
            HINT = 'Name the experiment, for example ''bert_finetuning''.';
    END IF;
    IF sample_size IS NOT NULL AND sample_size <= 0 THEN
        RAISE EXCEPTION 'sample_size must be positive, not %', sample_size USING ERRCODE = '22023',
            HINT = 'Omit sample_size (NULL) when the experiment has no planned size.';
    END IF;
    IF tags IS NOT NULL AND array_position(tags, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'tags must not contain NULL' USING ERRCODE = '22004';
    END IF;
    IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, not %', jsonb_typeof(metadata) USING ERRCODE = '22023',
            HINT = 'Pass additional context as an object, for example ''{"sampling_rate": 0.5}''.';
    END IF;
    RETURN metrics_ex._experiment_call('start', NULL, name, hypothesis, coalesce(condition, 'default'),
                                       coalesce(tags, '{}'), sample_size, coalesce(metadata, '{}'));
END
$$;
COMMENT ON FUNCTION metrics_ex.start_experiment(text, text, text, text[], int, jsonb) IS
    'Start an experiment; tag its samples with experiment_id = the returned uuid';

-- created_by is the role that called start_experiment (this runs as the
-- registry's owner): it may delete the experiment's data.
CREATE FUNCTION metrics_ex._experiment_insert(name text, hypothesis text, condition text,
                                              tags text[], sample_size int, metadata jsonb,
                                              created_by name)
RETURNS uuid LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO metrics_ex.experiment_registry (name, hypothesis, condition, tags, sample_size,
                                                metadata, created_by)
    VALUES (name, hypothesis, condition, tags, sample_size, metadata, created_by)
    RETURNING id;
END;
REVOKE ALL ON FUNCTION metrics_ex._experiment_insert(text, text, text, text[], int, jsonb, name) FROM PUBLIC;

-- One lifecycle step: 'stop', 'pause' or 'resume'.  Pause only from
-- running, resume only from paused, stop from either.
CREATE FUNCTION metrics_ex._experiment_transition(id uuid, action text)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur text;
    allowed text[];
    target text;
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'experiment id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT e.status INTO cur FROM metrics_ex.experiment_registry e
     WHERE e.id = _experiment_transition.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment % does not exist', id USING ERRCODE = '42704',
            HINT = 'List experiments with SELECT id, name, status FROM metrics_ex.experiments.';
    END IF;
    CASE action
        WHEN 'pause' THEN allowed := '{running}'; target := 'paused';
        WHEN 'resume' THEN allowed := '{paused}'; target := 'running';
        WHEN 'stop' THEN allowed := '{running,paused}'; target := 'stopped';
    END CASE;
    IF NOT cur = ANY (allowed) THEN
        RAISE EXCEPTION 'cannot % experiment %: it is %', action, id, cur
            USING ERRCODE = '55000',
                  HINT = CASE action
                      WHEN 'pause' THEN 'Only a running experiment can be paused.'
                      WHEN 'resume' THEN 'Only a paused experiment can be resumed.'
                      ELSE 'A stopped experiment stays stopped; start a new one.' END;
    END IF;
    UPDATE metrics_ex.experiment_registry e
       SET status = target,
           stopped_at = CASE WHEN target = 'stopped' THEN now() ELSE e.stopped_at END,
           paused_at = CASE WHEN target = 'paused' THEN now()
                            WHEN target = 'running' THEN NULL ELSE e.paused_at END,
           pause_count = e.pause_count + (target = 'paused')::int
     WHERE e.id = _experiment_transition.id;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._experiment_transition(uuid, text) FROM PUBLIC;

CREATE FUNCTION metrics_ex.stop_experiment(id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._experiment_call('stop', id);
END
$$;
COMMENT ON FUNCTION metrics_ex.stop_experiment(uuid) IS
    'Stop a running or paused experiment; its later samples are dropped and counted';

CREATE FUNCTION metrics_ex.pause_experiment(id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._experiment_call('pause', id);
END
$$;
COMMENT ON FUNCTION metrics_ex.pause_experiment(uuid) IS
    'Pause a running experiment: its samples are dropped and counted until resumed';

CREATE FUNCTION metrics_ex.resume_experiment(id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._experiment_call('resume', id);
END
$$;
COMMENT ON FUNCTION metrics_ex.resume_experiment(uuid) IS 'Resume a paused experiment';

-- The status of an experiment (running, paused, stopped), NULL for an
-- unknown id.  Writers need it without SELECT on the registry: emit() asks
-- whether an event's experiment_id is an experiment.  SECURITY DEFINER is
-- safe here: one fixed lookup by primary key, no user expression.
CREATE FUNCTION metrics_ex.experiment_status(id uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT e.status FROM metrics_ex.experiment_registry e WHERE e.id = experiment_status.id;
END;
COMMENT ON FUNCTION metrics_ex.experiment_status(uuid) IS
    'running, paused or stopped; NULL for an unknown experiment id';

-- As CrucibleTelemetry's paused?/1: false for an unknown id, too.
CREATE FUNCTION metrics_ex.experiment_paused(id uuid) RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(metrics_ex.experiment_status(id) = 'paused', false);
COMMENT ON FUNCTION metrics_ex.experiment_paused(uuid) IS
    'True while the experiment is paused; false when it is running, stopped or unknown';

CREATE FUNCTION metrics_ex._experiment_must_exist(id uuid) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'experiment id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT FROM metrics_ex.experiment_registry e WHERE e.id = _experiment_must_exist.id) THEN
        RAISE EXCEPTION 'experiment % does not exist', id USING ERRCODE = '42704',
            HINT = 'List experiments with SELECT id, name, status FROM metrics_ex.experiments.';
    END IF;
END
$$;

-- CrucibleTelemetry's cleanup: forget an experiment and, unless keep_data,
-- delete its samples, their rollups and totals, and its series.  Only the
-- role that started the experiment (or a member of it, or a superuser) may:
-- the data goes with it.  Runs as the tables' owner through _experiment_call
-- after the writer check; caller is the role that called it.
CREATE FUNCTION metrics_ex._experiment_delete(id uuid, keep_data bool, caller name)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    creator name;
    ids bigint[];
BEGIN
    IF id IS NULL THEN
        RAISE EXCEPTION 'experiment id must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT e.created_by INTO creator FROM metrics_ex.experiment_registry e
     WHERE e.id = _experiment_delete.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment % does not exist', id USING ERRCODE = '42704',
            HINT = 'List experiments with SELECT id, name, status FROM metrics_ex.experiments.';
    END IF;
    IF caller <> creator AND NOT EXISTS (
           SELECT FROM pg_roles r
            WHERE r.rolname = caller
              AND (r.rolsuper OR EXISTS (SELECT FROM pg_roles c WHERE c.rolname = creator
                                            AND pg_has_role(r.oid, c.oid, 'USAGE')))) THEN
        RAISE EXCEPTION 'permission denied to delete experiment %', id USING ERRCODE = '42501',
            HINT = format('Only its creator (%s), a member of that role or a superuser may delete an experiment.', creator);
    END IF;
    IF NOT coalesce(keep_data, false) THEN
        ids := ARRAY(SELECT se.id FROM metrics_ex.series se
                      WHERE se.tags ? 'experiment_id'
                        AND (se.tags ->> 'experiment_id') = _experiment_delete.id::text);
        IF cardinality(ids) > 0 THEN
            DELETE FROM metrics_ex.samples s WHERE s.series_id = ANY (ids);
            DELETE FROM metrics_ex.rollup_pending r WHERE r.series_id = ANY (ids);
            DELETE FROM metrics_ex.rollup_minute r WHERE r.series_id = ANY (ids);
            DELETE FROM metrics_ex.rollup_hour r WHERE r.series_id = ANY (ids);
            DELETE FROM metrics_ex.rollup_day r WHERE r.series_id = ANY (ids);
            DELETE FROM metrics_ex.series_totals t WHERE t.series_id = ANY (ids);
            DELETE FROM metrics_ex.series se WHERE se.id = ANY (ids);
        END IF;
    END IF;
    DELETE FROM metrics_ex.experiment_registry e WHERE e.id = _experiment_delete.id;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._experiment_delete(uuid, bool, name) FROM PUBLIC;

CREATE FUNCTION metrics_ex.delete_experiment(id uuid, keep_data bool DEFAULT false) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._experiment_call('delete', id, keep_data => coalesce(keep_data, false));
END
$$;
COMMENT ON FUNCTION metrics_ex.delete_experiment(uuid, bool) IS
    'Forget an experiment and, unless keep_data, delete its samples, rollups and series (its creator only)';

-- CrucibleTelemetry's calculate_metrics over the experiment's samples.
-- Sections read these metrics (by convention; emit() records them):
--   events       experiment_events_total       count per event name (tag "event")
--   latency      latency_ms                    count, mean, median, std_dev (population),
--                                              min, max, p50, p90, p95, p99 (linear interpolation)
--   cost         cost_usd (one sample per      total, count, mean_per_request, median,
--                request)                      cost_per_1k_requests, cost_per_1m_requests
--   reliability  success (1 success, 0 fail)   successes, failures, success_rate,
--                                              failure_rate, sla_99, sla_999, sla_9999
--   tokens       tokens_prompt, tokens_completion, tokens_total (else prompt + completion);
--                count: requests with token counts (the most samples of the three)
--   summary      total_events (the events counted), total_samples, time_range,
--                duration_seconds (over every sample)
-- Sums and means are exact (xsum.sql); beyond the float8 range they are Infinity or NaN,
-- which JSON shows as the strings "Infinity", "-Infinity" and "NaN".
CREATE FUNCTION metrics_ex.calculate_metrics(id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    PERFORM metrics_ex._experiment_must_exist(id);
    WITH s AS MATERIALIZED (
        SELECT x.name, x.value, x.ts, x.tags FROM metrics_ex._experiment_samples(id) x),
    summ AS (
        SELECT count(*) AS n, min(s.ts) AS first, max(s.ts) AS last FROM s),
    ev AS (
        SELECT coalesce(jsonb_object_agg(e.event, jsonb_build_object('count', e.n)), '{}') AS events,
               coalesce(sum(e.n), 0) AS n
          FROM (SELECT s.tags ->> 'event' AS event, sum(s.value)::bigint AS n
                  FROM s WHERE s.name = 'experiment_events_total' AND s.tags ? 'event'
                 GROUP BY 1) e),
    lat AS (
        SELECT count(*) AS n, metrics_ex.xavg(s.value) AS mean, metrics_ex.fstddev_pop(s.value) AS sd,
               min(s.value) AS lo, max(s.value) AS hi,
               percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.value) AS q
          FROM s WHERE s.name = 'latency_ms'),
    cst AS (
        SELECT count(*) AS n, coalesce(metrics_ex.xsum(s.value), 0) AS total, metrics_ex.xavg(s.value) AS mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY s.value) AS median
          FROM s WHERE s.name = 'cost_usd'),
    rel AS (
        SELECT count(*) AS n, count(*) FILTER (WHERE s.value > 0) AS ok,
               (count(*) FILTER (WHERE s.value > 0))::float8 / nullif(count(*), 0) AS rate
          FROM s WHERE s.name = 'success'),
    tok AS (
        SELECT coalesce(metrics_ex.xsum(s.value) FILTER (WHERE s.name = 'tokens_prompt'), 0) AS prompt,
               coalesce(metrics_ex.xsum(s.value) FILTER (WHERE s.name = 'tokens_completion'), 0) AS completion,
               count(*) FILTER (WHERE s.name = 'tokens_total') AS n_total,
               greatest(count(*) FILTER (WHERE s.name = 'tokens_prompt'),
                        count(*) FILTER (WHERE s.name = 'tokens_completion'),
                        count(*) FILTER (WHERE s.name = 'tokens_total')) AS requests,
               metrics_ex.xsum(s.value) FILTER (WHERE s.name = 'tokens_total') AS total,
               metrics_ex.xavg(s.value) FILTER (WHERE s.name = 'tokens_prompt') AS mean_prompt,
               metrics_ex.xavg(s.value) FILTER (WHERE s.name = 'tokens_completion') AS mean_completion,
               metrics_ex.xavg(s.value) FILTER (WHERE s.name = 'tokens_total') AS mean_total,
               count(*) AS n
          FROM s WHERE s.name IN ('tokens_prompt', 'tokens_completion', 'tokens_total'))
    SELECT jsonb_build_object(
        'summary', jsonb_build_object(
            'experiment_id', e.id, 'name', e.name, 'status', e.status,
            'total_events', ev.n, 'total_samples', summ.n, 'samples_rejected', e.samples_rejected,
            'time_range', jsonb_build_object('start', summ.first, 'end', summ.last),
            'duration_seconds', coalesce(extract(epoch FROM summ.last - summ.first)::float8, 0)),
        'events', ev.events,
        'latency', jsonb_build_object(
            'count', lat.n, 'mean', lat.mean, 'median', lat.q[1], 'std_dev', lat.sd,
            'min', lat.lo, 'max', lat.hi,
            'p50', lat.q[1], 'p90', lat.q[2], 'p95', lat.q[3], 'p99', lat.q[4]),
        'cost', jsonb_build_object(
            'total', cst.total, 'count', cst.n, 'mean_per_request', cst.mean, 'median', cst.median,
            'cost_per_1k_requests', metrics_ex.fmul(cst.mean, 1000),
            'cost_per_1m_requests', metrics_ex.fmul(cst.mean, 1000000)),
        'reliability', jsonb_build_object(
            'count', rel.n, 'successes', rel.ok, 'failures', rel.n - rel.ok,
            'success_rate', rel.rate, 'failure_rate', 1 - rel.rate,
            'sla_99', rel.rate >= 0.99, 'sla_999', rel.rate >= 0.999, 'sla_9999', rel.rate >= 0.9999),
        'tokens', jsonb_build_object(
            'count', tok.requests,
            'total_prompt', tok.prompt, 'total_completion', tok.completion,
            'total', CASE WHEN tok.n_total > 0 THEN tok.total ELSE metrics_ex.fadd(tok.prompt, tok.completion) END,
            'mean_prompt', tok.mean_prompt, 'mean_completion', tok.mean_completion,
            'mean_total', CASE WHEN tok.n_total > 0 THEN tok.mean_total
                               WHEN tok.n > 0 THEN metrics_ex.fadd(coalesce(tok.mean_prompt, 0),
                                                                   coalesce(tok.mean_completion, 0)) END))
      INTO result
      FROM metrics_ex.experiment_registry e, summ, ev, lat, cst, rel, tok
     WHERE e.id = calculate_metrics.id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION metrics_ex.calculate_metrics(uuid) IS
    'CrucibleTelemetry calculate_metrics: summary, events (experiment_events_total), latency (latency_ms), cost (cost_usd), reliability (success), tokens';

-- Student's t distribution: P(T <= t) with df degrees of freedom (df > 0,
-- not necessarily an integer, as Welch's test needs).
CREATE FUNCTION metrics_ex.student_t_cdf(t float8, df float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'metrics_ex_student_t_cdf'
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_ex.student_t_cdf(float8, float8) IS
    'Cumulative distribution function of Student''s t with df (> 0) degrees of freedom';

-- The first id is the baseline; one row per other experiment, comparing the
-- metric's samples: difference of means (experiment - baseline), percent
-- change, Welch's t statistic and degrees of freedom, the two-sided p-value
-- and Cohen's d (pooled sample standard deviation).  Statistics that are
-- undefined (fewer than two samples on a side, no variance) or beyond the
-- float8 range are NULL; means and deviations beyond it are +-Infinity or
-- NaN.
CREATE FUNCTION metrics_ex.compare_experiments(ids uuid[], metric text DEFAULT 'latency_ms')
RETURNS TABLE (experiment_id uuid, name text, n bigint, mean float8, std_dev float8,
               baseline_id uuid, baseline_n bigint, baseline_mean float8, baseline_std_dev float8,
               difference float8, percent_change float8, t_statistic float8,
               degrees_of_freedom float8, p_value float8, cohens_d float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
    x record;
    se2 float8;
    pooled float8;
BEGIN
    IF ids IS NULL OR cardinality(ids) < 2 THEN
        RAISE EXCEPTION 'ids must hold at least two experiment ids' USING ERRCODE = '22023',
            HINT = 'The first id is the baseline; each other experiment is compared with it.';
    END IF;
    IF metric IS NULL THEN
        RAISE EXCEPTION 'metric must not be NULL' USING ERRCODE = '22004',
            HINT = 'Name the metric to compare, such as latency_ms.';
    END IF;
    FOR i IN 1 .. cardinality(ids) LOOP
        PERFORM metrics_ex._experiment_must_exist(ids[i]);
    END LOOP;

    SELECT count(*) AS n, metrics_ex.xavg(s.value) AS mean, metrics_ex.fstddev_samp(s.value) AS sd
      INTO b FROM metrics_ex._experiment_samples(ids[1]) s WHERE s.name = metric;

    FOR i IN 2 .. cardinality(ids) LOOP
        SELECT count(*) AS n, metrics_ex.xavg(s.value) AS mean, metrics_ex.fstddev_samp(s.value) AS sd
          INTO x FROM metrics_ex._experiment_samples(ids[i]) s WHERE s.name = metric;
        experiment_id := ids[i];
        SELECT e.name INTO name FROM metrics_ex.experiment_registry e WHERE e.id = ids[i];
        n := x.n; mean := x.mean; std_dev := x.sd;
        baseline_id := ids[1]; baseline_n := b.n; baseline_mean := b.mean; baseline_std_dev := b.sd;
        difference := metrics_ex.fadd(x.mean, -b.mean);
        percent_change := NULL; t_statistic := NULL; degrees_of_freedom := NULL; p_value := NULL;
        cohens_d := NULL;
        -- Values near the ends of the float8 range can take a statistic
        -- beyond it (22003: overflow or underflow); that statistic is NULL.
        BEGIN
            percent_change := CASE WHEN b.mean <> 0 THEN difference / abs(b.mean) * 100 END;
        EXCEPTION WHEN numeric_value_out_of_range THEN
            percent_change := NULL;
        END;
        IF x.n >= 2 AND b.n >= 2 THEN
            BEGIN
                se2 := x.sd ^ 2 / x.n + b.sd ^ 2 / b.n;
                -- (NaN is above Infinity in PostgreSQL's order)
                IF se2 > 0 AND se2 < 'Infinity' THEN
                    t_statistic := difference / sqrt(se2);
                    degrees_of_freedom := se2 ^ 2 / ((x.sd ^ 2 / x.n) ^ 2 / (x.n - 1)
                                                     + (b.sd ^ 2 / b.n) ^ 2 / (b.n - 1));
                    p_value := least(1.0, 2 * metrics_ex.student_t_cdf(-abs(t_statistic), degrees_of_freedom));
                END IF;
            EXCEPTION WHEN numeric_value_out_of_range THEN
                t_statistic := NULL; degrees_of_freedom := NULL; p_value := NULL;
            END;
            BEGIN
                pooled := sqrt(((x.n - 1) * x.sd ^ 2 + (b.n - 1) * b.sd ^ 2) / (x.n + b.n - 2));
                IF pooled > 0 AND pooled < 'Infinity' THEN
                    cohens_d := difference / pooled;
                END IF;
            EXCEPTION WHEN numeric_value_out_of_range THEN
                cohens_d := NULL;
            END;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION metrics_ex.compare_experiments(uuid[], text) IS
    'Compare experiments with the first (baseline): difference, percent change, Welch''s t-test, Cohen''s d';

-- get_stats() with the samples dropped for paused or stopped experiments
-- under recorder.samples_rejected.  The definition made by the earlier
-- files is kept under another name and extended, so that its keys stay
-- whatever it reports.
ALTER FUNCTION metrics_ex.get_stats() RENAME TO _get_stats_base;
CREATE FUNCTION metrics_ex.get_stats()
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_set(b, '{recorder,samples_rejected}',
                     to_jsonb((SELECT coalesce(sum(e.samples_rejected), 0)
                                 FROM metrics_ex.experiment_registry e)))
      FROM metrics_ex._get_stats_base() b;
END;
COMMENT ON FUNCTION metrics_ex.get_stats() IS
    'Storage and recorder statistics, as MetricsEx''s get_stats; recorder.samples_rejected counts samples of paused or stopped experiments';
