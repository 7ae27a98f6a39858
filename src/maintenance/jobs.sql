-- metrics_ex jobs: rows that the background scheduler (or run_maintenance())
-- runs.  Each run is logged in job_runs, a failure is retried with backoff,
-- and the next run is planned when a run ends, so runs never stack up.

CREATE TABLE metrics_ex.job_defs (
    job                  text PRIMARY KEY,
    kind                 text NOT NULL CHECK (kind IN ('materialize', 'retention', 'sql')),
    command              text CHECK ((kind = 'sql') = (command IS NOT NULL)),
    schedule             interval CHECK (schedule > interval '0'),  -- NULL: metrics_ex.maintenance_interval
    enabled              bool NOT NULL DEFAULT true,
    next_run             timestamptz NOT NULL,
    last_run             timestamptz,
    last_status          text,
    last_duration        interval,
    consecutive_failures int NOT NULL DEFAULT 0,
    last_error           text
);
-- first runs one interval after CREATE EXTENSION
INSERT INTO metrics_ex.job_defs (job, kind, schedule, next_run) VALUES
    ('materialize', 'materialize', '1 minute', now() + interval '1 minute'),
    ('retention', 'retention', NULL, now() + interval '5 minutes');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.job_defs', '');

CREATE TABLE metrics_ex.job_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job          text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    status       text NOT NULL,
    error        text,
    details      jsonb
);
CREATE INDEX job_runs_job ON metrics_ex.job_runs (job, id);

CREATE VIEW metrics_ex.jobs AS
    SELECT job, kind,
           coalesce(schedule, coalesce(nullif(current_setting('metrics_ex.maintenance_interval', true), ''),
                                       '5 minutes')::interval) AS schedule,
           enabled, next_run, last_run, last_status, last_duration, consecutive_failures, last_error,
           command
      FROM metrics_ex.job_defs;
COMMENT ON VIEW metrics_ex.jobs IS 'Scheduled jobs and the outcome of their last run';

-- Run one job now, log it, plan the next run.  Errors are caught and logged,
-- not raised: the scheduler runs the next job either way.
CREATE FUNCTION metrics_ex.run_job(job text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    def metrics_ex.job_defs;
    started timestamptz := clock_timestamp();
    status text := 'succeeded';
    err text;
    details jsonb;
    every interval;
BEGIN
    SELECT * INTO def FROM metrics_ex.job_defs d WHERE d.job = run_job.job FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', job USING ERRCODE = '42704',
            HINT = 'See SELECT job FROM metrics_ex.jobs.';
    END IF;
    every := coalesce(def.schedule, coalesce(nullif(current_setting('metrics_ex.maintenance_interval', true), ''),
                                             '5 minutes')::interval);
    BEGIN
        CASE def.kind
            WHEN 'materialize' THEN details := metrics_ex.materialize();
            WHEN 'retention' THEN details := metrics_ex.prune();
            ELSE EXECUTE def.command;
        END CASE;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
        status := 'failed';
    END;

    INSERT INTO metrics_ex.job_runs (job, started_at, finished_at, status, error, details)
    VALUES (def.job, started, clock_timestamp(), status, err, details);
    UPDATE metrics_ex.job_defs d SET
        last_run = started,
        last_status = status,
        last_duration = clock_timestamp() - started,
        last_error = err,
        consecutive_failures = CASE WHEN status = 'succeeded' THEN 0 ELSE d.consecutive_failures + 1 END,
        -- from the end of this run: a long run never makes runs stack up;
        -- failures back off exponentially, to at most an hour
        next_run = clock_timestamp() + CASE WHEN status = 'succeeded' THEN every
                   ELSE least(every * power(2, least(d.consecutive_failures, 16)), greatest(every, interval '1 hour')) END
     WHERE d.job = def.job;

    -- bounded history: the last 1000 runs of a job, none older than 7 days
    DELETE FROM metrics_ex.job_runs r
     WHERE r.job = def.job
       AND (r.started_at < now() - interval '7 days'
            OR r.id <= (SELECT x.id FROM metrics_ex.job_runs x WHERE x.job = def.job
                         ORDER BY x.id DESC OFFSET 1000 LIMIT 1));
    RETURN status;
END
$$;
COMMENT ON FUNCTION metrics_ex.run_job(text) IS 'Run a job now; returns succeeded or failed (see job_runs)';

CREATE FUNCTION metrics_ex.alter_job(job text, schedule interval DEFAULT NULL, enabled bool DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF schedule IS NOT NULL AND schedule <= interval '0' THEN
        RAISE EXCEPTION 'schedule must be a positive interval' USING ERRCODE = '22023';
    END IF;
    UPDATE metrics_ex.job_defs d
       SET schedule = coalesce(alter_job.schedule, d.schedule),
           enabled = coalesce(alter_job.enabled, d.enabled),
           next_run = CASE WHEN alter_job.schedule IS NOT NULL
                           THEN least(d.next_run, now() + alter_job.schedule) ELSE d.next_run END
     WHERE d.job = alter_job.job;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job "%" does not exist', job USING ERRCODE = '42704';
    END IF;
    PERFORM metrics_ex._wake_scheduler();
END
$$;

-- A job of your own: any SQL, on a schedule, with the same logging.
CREATE FUNCTION metrics_ex.add_job(job text, command text, schedule interval) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF job IS NULL OR command IS NULL OR schedule IS NULL OR schedule <= interval '0' THEN
        RAISE EXCEPTION 'job, command and a positive schedule are required' USING ERRCODE = '22023';
    END IF;
    INSERT INTO metrics_ex.job_defs (job, kind, command, schedule, next_run)
    VALUES (job, 'sql', command, schedule, now() + schedule);
    PERFORM metrics_ex._wake_scheduler();
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'job "%" already exists', job USING ERRCODE = '42710';
END
$$;

CREATE FUNCTION metrics_ex.remove_job(job text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM metrics_ex.job_defs d WHERE d.job = remove_job.job AND d.kind = 'sql';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job "%" of your own', job USING ERRCODE = '42704',
            HINT = 'Built-in jobs can be disabled with alter_job(job, enabled => false).';
    END IF;
END
$$;

-- Everything the background workers do, now, in this session: for servers
-- without shared_preload_libraries = 'metrics_ex'.
CREATE FUNCTION metrics_ex.run_maintenance() RETURNS TABLE (job text, status text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT j.job, metrics_ex.run_job(j.job) FROM metrics_ex.job_defs j
     WHERE j.enabled AND j.kind <> 'sql'
     ORDER BY j.kind = 'retention', j.job;
END;
