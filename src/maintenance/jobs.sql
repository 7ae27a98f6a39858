-- metrics_ex jobs: rows that the background scheduler (or run_job() and
-- run_maintenance() by hand) runs.  Each run is logged in job_runs, a
-- failure is retried with backoff, and the next run is planned when a run
-- ends, so runs never stack up.  The functions that change and run jobs are
-- in C (jobs.c): they record the calling role as a job's owner, let only
-- the owner (or a superuser) change it, and run its SQL as the owner.

CREATE TABLE metrics_ex.job_defs (
    job                  text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 200),
    kind                 text NOT NULL CHECK (kind IN ('materialize', 'retention', 'alerts', 'sql')),
    command              text CHECK ((kind = 'sql') = (command IS NOT NULL)),
    -- who runs it: the role that added it; built-in jobs run as the
    -- extension's owner (NULL here)
    owner                regrole CHECK ((kind = 'sql') = (owner IS NOT NULL)),
    schedule             interval CHECK (schedule > interval '0'),  -- NULL: metrics_ex.maintenance_interval
    timeout              interval CHECK (timeout > interval '0'),   -- NULL: metrics_ex.job_timeout
    enabled              bool NOT NULL DEFAULT true,
    next_run             timestamptz NOT NULL,
    last_run             timestamptz,
    last_status          text,
    last_duration        interval,
    consecutive_failures int NOT NULL DEFAULT 0,
    last_error           text,
    -- set while the scheduler runs the job: still set when a scheduler
    -- starts, the run did not finish (the server crashed or stopped)
    running_since        timestamptz
);
-- materialize first runs a minute after CREATE EXTENSION; retention at
-- once, to make the day partitions (until then samples go to the default
-- partition); alerts every second (evaluate_alerts() decides which rules
-- are due)
INSERT INTO metrics_ex.job_defs (job, kind, schedule, next_run) VALUES
    ('materialize', 'materialize', '1 minute', now() + interval '1 minute'),
    ('retention', 'retention', NULL, now()),
    ('alerts', 'alerts', '1 second', now());
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.job_defs', '');

-- pg_restore loads job_defs after CREATE EXTENSION has seeded the built-in
-- jobs: a restored built-in job replaces its seed, keeping the user's
-- schedule and state (ALWAYS: also under session_replication_role = replica).
CREATE FUNCTION metrics_ex._job_defs_restore() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.kind <> 'sql' THEN
        DELETE FROM metrics_ex.job_defs d WHERE d.job = NEW.job AND d.kind = NEW.kind;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._job_defs_restore() FROM PUBLIC;
CREATE TRIGGER job_defs_restore BEFORE INSERT ON metrics_ex.job_defs
    FOR EACH ROW EXECUTE FUNCTION metrics_ex._job_defs_restore();
ALTER TABLE metrics_ex.job_defs ENABLE ALWAYS TRIGGER job_defs_restore;

CREATE TABLE metrics_ex.job_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job          text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    status       text NOT NULL,             -- succeeded, failed, crashed
    error        text,
    details      jsonb
);
CREATE INDEX job_runs_job ON metrics_ex.job_runs (job, id);

CREATE VIEW metrics_ex.jobs AS
    SELECT job, kind,
           coalesce(schedule, coalesce(nullif(current_setting('metrics_ex.maintenance_interval', true), ''),
                                       '5 minutes')::interval) AS schedule,
           enabled, next_run, last_run, last_status, last_duration, consecutive_failures, last_error,
           command,
           coalesce(owner, (SELECT c.relowner::regrole FROM pg_catalog.pg_class c
                             WHERE c.oid = 'metrics_ex.samples'::regclass)) AS owner,
           coalesce(timeout, coalesce(nullif(current_setting('metrics_ex.job_timeout', true), ''),
                                      '1 hour')::interval) AS timeout,
           running_since
      FROM metrics_ex.job_defs;
COMMENT ON VIEW metrics_ex.jobs IS 'Scheduled jobs, their owner and the outcome of their last run';

-- Run one job now, in this transaction: log it, plan the next run.  The
-- job's own errors are caught and logged, not raised.  Its owner (or a
-- superuser; for built-in jobs the extension's owner) may.
CREATE FUNCTION metrics_ex.run_job(job text) RETURNS text
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_run_job';
COMMENT ON FUNCTION metrics_ex.run_job(text) IS 'Run a job now; returns succeeded or failed (see job_runs)';

CREATE FUNCTION metrics_ex.alter_job(job text, schedule interval DEFAULT NULL, enabled bool DEFAULT NULL,
                                     timeout interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_alter_job';
COMMENT ON FUNCTION metrics_ex.alter_job(text, interval, bool, interval) IS
    'Change a job''s schedule, enabled flag or timeout (its owner or a superuser)';

-- A job of your own: any SQL, on a schedule, run as you.  Not for PUBLIC:
-- GRANT EXECUTE on it to the roles that may schedule SQL.
CREATE FUNCTION metrics_ex.add_job(job text, command text, schedule interval, timeout interval DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_add_job';
REVOKE ALL ON FUNCTION metrics_ex.add_job(text, text, interval, interval) FROM PUBLIC;
COMMENT ON FUNCTION metrics_ex.add_job(text, text, interval, interval) IS
    'Schedule SQL of your own; it runs as you (GRANT EXECUTE to allow a role)';

CREATE FUNCTION metrics_ex.remove_job(job text) RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_remove_job';
COMMENT ON FUNCTION metrics_ex.remove_job(text) IS 'Remove a job of your own (its owner or a superuser)';

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

-- ---- bookkeeping, for jobs.c (as the extension's owner) --------------------

-- The scheduler is about to run a due job: mark it running.  No row when it
-- is not due any more (disabled, run by hand meanwhile, running).
CREATE FUNCTION metrics_ex._job_start(job text)
RETURNS TABLE (kind text, command text, owner oid, timeout_ms float8)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE metrics_ex.job_defs d SET running_since = clock_timestamp()
     WHERE d.job = _job_start.job AND d.enabled AND d.running_since IS NULL
       AND d.next_run <= clock_timestamp()
    RETURNING d.kind, d.command, d.owner::oid,
              extract(epoch FROM coalesce(d.timeout,
                  coalesce(nullif(current_setting('metrics_ex.job_timeout', true), ''), '1 hour')::interval)) * 1000;
END;

-- A run ended (status succeeded, failed or crashed): log it and plan the
-- next one from now, so runs never stack up.  Failures back off
-- exponentially to at most an hour; a run that did not finish (crashed)
-- waits four times longer, up to a day.  retry_soon: part of the work was
-- skipped (a lock was busy), so come back within 30 seconds.
CREATE FUNCTION metrics_ex._job_finish(job text, started timestamptz, status text, err text,
                                       details jsonb, retry_soon bool DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    every interval;
    failures int;
BEGIN
    SELECT coalesce(d.schedule, coalesce(nullif(current_setting('metrics_ex.maintenance_interval', true), ''),
                                         '5 minutes')::interval),
           least(d.consecutive_failures, 16)
      INTO every, failures
      FROM metrics_ex.job_defs d WHERE d.job = _job_finish.job;
    IF NOT FOUND THEN
        RETURN;                     -- removed while it ran
    END IF;
    INSERT INTO metrics_ex.job_runs (job, started_at, finished_at, status, error, details)
    VALUES (_job_finish.job, started, clock_timestamp(), status, err, details);
    UPDATE metrics_ex.job_defs d SET
        last_run = started,
        last_status = status,
        last_duration = clock_timestamp() - started,
        last_error = err,
        running_since = NULL,
        consecutive_failures = CASE WHEN status = 'succeeded' THEN 0 ELSE d.consecutive_failures + 1 END,
        next_run = clock_timestamp() + CASE
            WHEN status = 'succeeded' AND retry_soon THEN least(every, interval '30 seconds')
            WHEN status = 'succeeded' THEN every
            WHEN status = 'failed' THEN least(every * power(2, failures), greatest(every, interval '1 hour'))
            ELSE least(greatest(every, interval '1 minute') * 4 * power(2, failures), interval '1 day') END
     WHERE d.job = _job_finish.job;
    -- bounded history: the last 1000 runs of a job, none older than 7 days
    DELETE FROM metrics_ex.job_runs r
     WHERE r.job = _job_finish.job
       AND (r.started_at < now() - interval '7 days'
            OR r.id <= (SELECT x.id FROM metrics_ex.job_runs x WHERE x.job = _job_finish.job
                         ORDER BY x.id DESC OFFSET 1000 LIMIT 1));
END
$$;

-- A scheduler starts: runs its predecessor left unfinished crashed.
CREATE FUNCTION metrics_ex._job_recover() RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    n int := 0;
BEGIN
    FOR j IN SELECT d.job, d.running_since FROM metrics_ex.job_defs d
              WHERE d.running_since IS NOT NULL FOR UPDATE LOOP
        PERFORM metrics_ex._job_finish(j.job, j.running_since, 'crashed',
            'the run did not finish: the server crashed or stopped, or its scheduler was killed', NULL);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

REVOKE ALL ON FUNCTION metrics_ex._job_start(text),
    metrics_ex._job_finish(text, timestamptz, text, text, jsonb, bool), metrics_ex._job_recover() FROM PUBLIC;
