-- metrics_ex training runs: CrucibleTelemetry's MetricsStore port.  A run
-- logs metric values at training steps (log_step), reads them back in step
-- order (run_history), is listed in metrics_ex.runs and exports as JSON
-- Lines in the JSONLMetrics adapter's shape.
--
-- Steps are rows of their own table, not samples: a step number and
-- per-step metadata are what a run is read by, and a run is kept until it is
-- deleted (no retention, no rollups).  A step whose metadata holds an
-- experiment_id belongs to that experiment's runs (the Grafana panel of loss
-- against step); it is not subject to the paused-experiment gate, since
-- MetricsStore has no lifecycle.
--
-- Writers log steps with their own rights: row-level security lets a role
-- insert only when it may record metrics (INSERT on metrics_ex.ingest), as
-- itself.  Reading needs SELECT, like every other table.

CREATE TABLE metrics_ex.run_steps (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         text NOT NULL CHECK (run_id OPERATOR(pg_catalog.<>) '' AND length(run_id) <= 200),
    metric         text NOT NULL CHECK (metric OPERATOR(pg_catalog.<>) '' AND length(metric) <= 200),
    step           bigint NOT NULL CHECK (step >= 0),
    value          float8 NOT NULL CHECK (value > '-infinity' AND value < 'infinity'),
    ts             timestamptz NOT NULL DEFAULT pg_catalog.now(),
    metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    experiment_id  text GENERATED ALWAYS AS (metadata OPERATOR(pg_catalog.->>) 'experiment_id') STORED,
    recorded_by    name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE metrics_ex.run_steps IS
    'Training runs: a metric value per run and step, with metadata; write with log_step(), read with run_history()';
CREATE INDEX run_steps_run ON metrics_ex.run_steps (run_id, metric, step);
CREATE INDEX run_steps_experiment ON metrics_ex.run_steps (experiment_id) WHERE experiment_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.run_steps', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.run_steps_id_seq', '');

ALTER TABLE metrics_ex.run_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY run_steps_read ON metrics_ex.run_steps FOR SELECT USING (true);
CREATE POLICY run_steps_log ON metrics_ex.run_steps FOR INSERT
    WITH CHECK (metrics_ex._writer_row(recorded_by));
GRANT INSERT ON metrics_ex.run_steps TO PUBLIC;

-- MetricsStore.record(adapter, run_id, metric, value, step: step, metadata: metadata)
CREATE FUNCTION metrics_ex.log_step(run_id text, metric text, value float8, step bigint,
                                    metadata jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM metrics_ex._check_writer();
    IF run_id IS NULL OR run_id = '' OR length(run_id) > 200 THEN
        RAISE EXCEPTION 'invalid run_id "%"', coalesce(run_id, 'NULL') USING ERRCODE = '22023',
            HINT = 'Name the run with 1 to 200 characters, for example ''run_123''.';
    END IF;
    IF metric IS NULL OR metric = '' OR length(metric) > 200 THEN
        RAISE EXCEPTION 'invalid metric "%"', coalesce(metric, 'NULL') USING ERRCODE = '22023',
            HINT = 'Name the metric with 1 to 200 characters, for example ''loss''.';
    END IF;
    IF value IS NULL OR value = 'NaN' OR value IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'value must be a finite number, not %', coalesce(value::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'NaN and infinity cannot be logged.';
    END IF;
    IF step IS NULL OR step < 0 THEN
        RAISE EXCEPTION 'step must be a non-negative integer, not %', coalesce(step::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Steps count training steps (or epochs) from 0.';
    END IF;
    IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, not %', jsonb_typeof(metadata) USING ERRCODE = '22023',
            HINT = 'Pass metadata as an object, for example ''{"epoch": 1}''.';
    END IF;
    PERFORM metrics_ex._check_ts(ts);
    INSERT INTO metrics_ex.run_steps (run_id, metric, value, step, ts, metadata)
    VALUES (run_id, metric, value, step, ts, coalesce(metadata, '{}'));
END
$$;
COMMENT ON FUNCTION metrics_ex.log_step(text, text, float8, bigint, jsonb, timestamptz) IS
    'Log a training metric at a step of a run (MetricsStore.record)';

-- A timestamp a sample may have: not NULL, between the years 1 and 9999.
CREATE FUNCTION metrics_ex._check_ts(ts timestamptz) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ts IS NULL OR NOT isfinite(ts) OR ts < '0001-01-01 00:00:00+00' OR ts >= '10000-01-01 00:00:00+00' THEN
        RAISE EXCEPTION 'ts must lie between the years 1 and 9999, not %', coalesce(ts::text, 'NULL')
            USING ERRCODE = '22008', HINT = 'Pass a finite timestamp, or omit it for now().';
    END IF;
END
$$;

-- MetricsStore.read: a run's values in step order (then in the order they
-- were logged), for one metric or all.
CREATE FUNCTION metrics_ex.run_history(run_id text, metric text DEFAULT NULL)
RETURNS TABLE (metric text, step bigint, value float8, ts timestamptz, metadata jsonb)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT r.metric, r.step, r.value, r.ts, r.metadata
      FROM metrics_ex.run_steps r
     WHERE r.run_id = run_history.run_id
       AND (run_history.metric IS NULL OR r.metric = run_history.metric)
     ORDER BY r.step, r.metric, r.id;
END;
COMMENT ON FUNCTION metrics_ex.run_history(text, text) IS
    'A training run''s logged values (one metric or all) in step order';

-- One row per run: its metrics, steps, time span and the value of each
-- metric at its last step.
CREATE VIEW metrics_ex.runs AS
    SELECT r.run_id, r.experiment_id, r.metrics, r.steps, r.first_step, r.last_step,
           r.started_at, r.updated_at, l.last_values
      FROM (SELECT s.run_id,
                   pg_catalog.max(s.experiment_id) AS experiment_id,
                   pg_catalog.array_agg(DISTINCT s.metric ORDER BY s.metric) AS metrics,
                   pg_catalog.count(*) AS steps,
                   pg_catalog.min(s.step) AS first_step, pg_catalog.max(s.step) AS last_step,
                   pg_catalog.min(s.ts) AS started_at, pg_catalog.max(s.ts) AS updated_at
              FROM metrics_ex.run_steps s GROUP BY s.run_id) r
      CROSS JOIN LATERAL (
            SELECT pg_catalog.jsonb_object_agg(x.metric, x.value) AS last_values
              FROM (SELECT DISTINCT ON (s.metric) s.metric, s.value
                      FROM metrics_ex.run_steps s
                     WHERE s.run_id OPERATOR(pg_catalog.=) r.run_id
                     ORDER BY s.metric, s.step DESC, s.id DESC) x) l;
COMMENT ON VIEW metrics_ex.runs IS
    'Training runs: experiment, metrics, rows logged, first and last step, each metric''s value at its last step';

-- The JSONLMetrics adapter's lines: {"run_id", "metric", "value", "step",
-- "timestamp", "metadata"}, in step order; timestamps ISO 8601 in UTC.
CREATE FUNCTION metrics_ex.export_run(run_id text) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
BEGIN ATOMIC
    SELECT json_build_object(
               'run_id', export_run.run_id, 'metric', h.metric, 'value', h.value, 'step', h.step,
               'timestamp', to_char(h.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'metadata', h.metadata)::text
      FROM metrics_ex.run_history(export_run.run_id) h;
END;
COMMENT ON FUNCTION metrics_ex.export_run(text) IS
    'A training run as JSON Lines in CrucibleTelemetry''s JSONLMetrics shape';
