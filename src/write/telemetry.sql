-- metrics_ex telemetry events: emit() is the SQL counterpart of
-- :telemetry.execute/3.  An event is a dotted name with measurements and
-- metadata; handlers (attach_telemetry, MetricsEx's attach_telemetry) turn
-- it into samples, and an event whose metadata carries the experiment_id of
-- an experiment is recorded for it with CrucibleTelemetry's enrichment
-- (latency_ms, success, tokens, cost_usd, the event counted by name).
--
-- emit() runs as its caller and records through metrics_ex.ingest, so it
-- has every check of the write API and needs what any writer needs (INSERT
-- on metrics_ex.ingest).  Handlers are rows, not code: attaching one never
-- lets its author run anything as someone else; it only tells every
-- writer's emit() to record one more sample, as that writer.

-- CrucibleTelemetry.Events: the standard events, their category and the
-- fields its handler extracts for the event's category (enriched_fields).
CREATE VIEW metrics_ex.telemetry_events AS
    SELECT e.event, e.category, e.description,
           CASE e.category
               WHEN 'training' THEN '{epoch,batch,loss,accuracy,learning_rate,gradient_norm,checkpoint_path}'
               WHEN 'deployment' THEN '{model_name,model_version,input_size,output_size,batch_size}'
               WHEN 'framework' THEN '{pipeline_id,stage_name,stage_index}'
               ELSE '{}' END::text[] AS enriched_fields
      FROM (VALUES
        (1, 'req_llm.request.start', 'llm', 'LLM request started'),
        (2, 'req_llm.request.stop', 'llm', 'LLM request completed'),
        (3, 'req_llm.request.exception', 'llm', 'LLM request failed with exception'),
        (4, 'ensemble.prediction.start', 'ensemble', 'Ensemble prediction started'),
        (5, 'ensemble.prediction.stop', 'ensemble', 'Ensemble prediction completed'),
        (6, 'ensemble.vote.completed', 'ensemble', 'Ensemble voting completed'),
        (7, 'hedging.request.start', 'hedging', 'Hedging request started'),
        (8, 'hedging.request.duplicated', 'hedging', 'Request duplicated for hedging'),
        (9, 'hedging.request.stop', 'hedging', 'Hedging request completed'),
        (10, 'crucible_train.training.start', 'training', 'Training job started'),
        (11, 'crucible_train.training.stop', 'training', 'Training job completed'),
        (12, 'crucible_train.epoch.start', 'training', 'Epoch started'),
        (13, 'crucible_train.epoch.stop', 'training', 'Epoch completed with metrics'),
        (14, 'crucible_train.batch.stop', 'training', 'Batch completed with loss'),
        (15, 'crucible_train.checkpoint.saved', 'training', 'Model checkpoint saved'),
        (16, 'crucible_deployment.inference.start', 'deployment', 'Inference request started'),
        (17, 'crucible_deployment.inference.stop', 'deployment', 'Inference request completed'),
        (18, 'crucible_deployment.inference.exception', 'deployment', 'Inference request failed'),
        (19, 'crucible_framework.pipeline.start', 'framework', 'Pipeline execution started'),
        (20, 'crucible_framework.pipeline.stop', 'framework', 'Pipeline execution completed'),
        (21, 'crucible_framework.stage.start', 'framework', 'Stage execution started'),
        (22, 'crucible_framework.stage.stop', 'framework', 'Stage execution completed'),
        (23, 'causal_trace.event.created', 'trace', 'Causal reasoning event created'),
        (24, 'altar.tool.start', 'tools', 'Tool invocation started'),
        (25, 'altar.tool.stop', 'tools', 'Tool invocation completed'))
        AS e(ord, event, category, description)
     ORDER BY e.ord;
COMMENT ON VIEW metrics_ex.telemetry_events IS
    'CrucibleTelemetry''s standard telemetry events: category, description, enriched fields';
GRANT SELECT ON metrics_ex.telemetry_events TO PUBLIC;

CREATE FUNCTION metrics_ex.standard_events() RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT e.event FROM metrics_ex.telemetry_events e;
END;
COMMENT ON FUNCTION metrics_ex.standard_events() IS 'Every standard telemetry event name, as CrucibleTelemetry.Events.standard_events/0';

CREATE FUNCTION metrics_ex.events_by_category() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_object_agg(c.category, c.events)
      FROM (SELECT e.category, jsonb_agg(e.event ORDER BY e.o) AS events
              FROM (SELECT v.category, v.event, row_number() OVER () AS o
                      FROM metrics_ex.telemetry_events v) e
             GROUP BY e.category) c;
END;
COMMENT ON FUNCTION metrics_ex.events_by_category() IS
    '{"llm": [...], "training": [...], ...}: the standard events by category';

CREATE FUNCTION metrics_ex.event_info(event text) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_build_object('category', e.category, 'description', e.description,
                              'enriched_fields', to_jsonb(e.enriched_fields))
      FROM metrics_ex.telemetry_events e WHERE e.event = event_info.event;
END;
COMMENT ON FUNCTION metrics_ex.event_info(text) IS
    '{"category", "description", "enriched_fields"} of a standard event; NULL for any other';

-- Prices per million tokens, for cost_usd of events that carry token counts
-- and a model but no cost.  Model '*' is the price of any other model
-- (CrucibleTelemetry's fallback); delete it to record no cost for unknown
-- models.  Only the extension's owner may change prices, unless it grants
-- INSERT, UPDATE, DELETE on the table: a writer cannot change what another
-- writer's events cost.
CREATE TABLE metrics_ex.model_prices (
    model          text PRIMARY KEY CHECK (model OPERATOR(pg_catalog.<>) ''),
    input_per_1m   float8 NOT NULL CHECK (input_per_1m >= 0 AND input_per_1m < 'infinity'),
    output_per_1m  float8 NOT NULL CHECK (output_per_1m >= 0 AND output_per_1m < 'infinity'),
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE metrics_ex.model_prices IS
    'USD per million prompt (input) and completion (output) tokens; model ''*'' prices every other model';

-- Inserting a model that is there replaces its prices.  This is what lets
-- pg_restore load the dumped table over the rows CREATE EXTENSION put in.
CREATE FUNCTION metrics_ex._model_prices_upsert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_at := now();
    IF TG_OP = 'INSERT' THEN
        UPDATE metrics_ex.model_prices p
           SET input_per_1m = NEW.input_per_1m, output_per_1m = NEW.output_per_1m,
               updated_at = NEW.updated_at
         WHERE p.model = NEW.model;
        IF FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._model_prices_upsert() FROM PUBLIC;
CREATE TRIGGER model_prices_upsert BEFORE INSERT OR UPDATE ON metrics_ex.model_prices
    FOR EACH ROW EXECUTE FUNCTION metrics_ex._model_prices_upsert();

-- CrucibleTelemetry's example rates (USD per 1M tokens)
INSERT INTO metrics_ex.model_prices (model, input_per_1m, output_per_1m) VALUES
    ('gemini-2.0-flash-exp', 0.075, 0.30),
    ('gpt-4', 30.0, 60.0),
    ('gpt-4-turbo', 10.0, 30.0),
    ('gpt-3.5-turbo', 0.5, 1.5),
    ('claude-3-opus', 15.0, 75.0),
    ('claude-3-sonnet', 3.0, 15.0),
    ('*', 1.0, 2.0);
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.model_prices', '');
GRANT SELECT ON metrics_ex.model_prices TO PUBLIC;

-- Handlers: while one is attached, every emit() of its event records one
-- sample of its metric.  Any writer may attach; only the role that attached
-- a handler (or a member of it) may detach it.  Row-level security enforces
-- both, so attach_telemetry() and detach_telemetry() need no extra rights.
CREATE TABLE metrics_ex.telemetry_handlers (
    event        text NOT NULL
                 CHECK (event ~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$' AND length(event) <= 200),
    metric       text NOT NULL
                 CHECK (metric ~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' AND length(metric) <= 200),
    kind         text NOT NULL CHECK (kind IN ('counter', 'gauge', 'histogram')),
    measurement  text CHECK (measurement OPERATOR(pg_catalog.<>) ''),
    tag_keys     text[] NOT NULL DEFAULT '{}'
                 CHECK (pg_catalog.array_position(tag_keys, NULL) IS NULL),
    attached_by  name NOT NULL DEFAULT current_user,
    attached_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (event, metric)
);
COMMENT ON TABLE metrics_ex.telemetry_handlers IS
    'Telemetry handlers: each emit() of event records metric (kind, measurement, metadata tag_keys as tags)';
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.telemetry_handlers', '');

ALTER TABLE metrics_ex.telemetry_handlers ENABLE ROW LEVEL SECURITY;
CREATE POLICY handlers_read ON metrics_ex.telemetry_handlers FOR SELECT USING (true);
CREATE POLICY handlers_attach ON metrics_ex.telemetry_handlers FOR INSERT
    WITH CHECK (metrics_ex._writer_row(attached_by));
CREATE POLICY handlers_detach ON metrics_ex.telemetry_handlers FOR DELETE
    USING (attached_by = current_user
           OR coalesce(pg_catalog.pg_has_role((SELECT r.oid FROM pg_catalog.pg_roles r
                                                WHERE r.rolname = attached_by), 'USAGE'), false));
GRANT SELECT, INSERT, DELETE ON metrics_ex.telemetry_handlers TO PUBLIC;

-- An event name: its path joined by dots.
CREATE FUNCTION metrics_ex._check_event(event text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF event IS NULL OR event !~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$' OR length(event) > 200 THEN
        RAISE EXCEPTION 'invalid event name "%"', coalesce(event, 'NULL') USING ERRCODE = '22023',
            HINT = 'An event is its path joined by dots, such as ''req_llm.request.stop'' (letters, digits, _; at most 200 characters).';
    END IF;
END
$$;

CREATE FUNCTION metrics_ex.attach_telemetry(event text, metric text, kind text,
                                            measurement text DEFAULT NULL, tag_keys text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text := lower(btrim(coalesce(kind, '')));
    key text;
    holder name;
BEGIN
    PERFORM metrics_ex._check_writer();
    PERFORM metrics_ex._check_event(event);
    IF metric IS NULL OR metric !~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' OR length(metric) > 200 THEN
        RAISE EXCEPTION 'invalid metric name "%"', coalesce(metric, 'NULL') USING ERRCODE = '42602',
            HINT = 'Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be at most 200 characters, as in Prometheus.';
    END IF;
    IF k NOT IN ('counter', 'gauge', 'histogram') THEN
        RAISE EXCEPTION 'invalid kind "%"', coalesce(kind, 'NULL') USING ERRCODE = '22023',
            HINT = 'The kind is one of counter, gauge or histogram.';
    END IF;
    IF measurement IS NOT NULL AND btrim(measurement) = '' THEN
        RAISE EXCEPTION 'measurement must not be empty' USING ERRCODE = '22023',
            HINT = 'Name a key of the events'' measurements, or pass NULL.';
    END IF;
    FOREACH key IN ARRAY coalesce(tag_keys, '{}') LOOP
        IF key IS NULL OR key !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' OR key ~ '^__' OR key IN ('le', 'quantile') THEN
            RAISE EXCEPTION 'tag key "%" cannot be a tag name', coalesce(key, 'NULL') USING ERRCODE = '22023',
                HINT = 'Tag names follow Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, not __*, le or quantile.';
        END IF;
    END LOOP;
    SELECT h.attached_by INTO holder FROM metrics_ex.telemetry_handlers h
     WHERE h.event = attach_telemetry.event AND h.metric = attach_telemetry.metric;
    IF FOUND THEN
        RAISE EXCEPTION 'metric "%" is already attached to event "%" (by %)', metric, event, holder
            USING ERRCODE = '42710',
                  HINT = 'metrics_ex.detach_telemetry() it first to change how it is recorded.';
    END IF;
    INSERT INTO metrics_ex.telemetry_handlers (event, metric, kind, measurement, tag_keys)
    VALUES (event, metric, k, measurement, coalesce(tag_keys, '{}'));
END
$$;
COMMENT ON FUNCTION metrics_ex.attach_telemetry(text, text, text, text, text[]) IS
    'Record metric for every emit() of event: a counter counts events (or adds the measurement), a gauge or histogram records the measurement';

CREATE FUNCTION metrics_ex.detach_telemetry(event text, metric text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    holder name;
BEGIN
    SELECT h.attached_by INTO holder FROM metrics_ex.telemetry_handlers h
     WHERE h.event = detach_telemetry.event AND h.metric = detach_telemetry.metric;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'metric "%" is not attached to event "%"', coalesce(metric, 'NULL'), coalesce(event, 'NULL')
            USING ERRCODE = '42704', HINT = 'SELECT * FROM metrics_ex.telemetry_handlers lists what is attached.';
    END IF;
    DELETE FROM metrics_ex.telemetry_handlers h
     WHERE h.event = detach_telemetry.event AND h.metric = detach_telemetry.metric;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'permission denied to detach metric "%" from event "%"', metric, event
            USING ERRCODE = '42501',
                  HINT = format('Only %s, who attached it, a member of that role or a superuser may detach it.', holder);
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_ex.detach_telemetry(text, text) IS 'Stop recording a metric from an event';

-- A number from measurements or metadata, NULL when the key is missing or
-- null; anything else is an error naming the key.
CREATE FUNCTION metrics_ex._event_number(obj jsonb, key text, event text, what text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(obj -> key) = 'number' THEN
        RETURN (obj ->> key)::float8;
    ELSIF coalesce(jsonb_typeof(obj -> key), 'null') = 'null' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% "%" of event "%" is not a number: %', what, key, event, obj -> key
        USING ERRCODE = '22023',
              HINT = 'Values that become samples (durations, costs, token counts, handler measurements) must be JSON numbers.';
END
$$;

-- The first of these keys whose value is a number (MetricsEx's value rules).
CREATE FUNCTION metrics_ex._event_first_number(obj jsonb, keys text[]) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT (obj ->> k)::float8 FROM unnest(keys) WITH ORDINALITY u(k, o)
         WHERE jsonb_typeof(obj -> k) = 'number' ORDER BY o LIMIT 1);

CREATE FUNCTION metrics_ex.emit(event text, measurements jsonb DEFAULT '{}', metadata jsonb DEFAULT '{}',
                                ts timestamptz DEFAULT now())
RETURNS int LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m jsonb := coalesce(measurements, '{}');
    md jsonb := coalesce(metadata, '{}');
    lineage jsonb;
    samples metrics_ex.ingest[] := '{}';   -- (name, value, tags, ts, kind)
    h record;
    v float8;
    tags jsonb;
    exp_id uuid;
    base jsonb;
    tokens jsonb;
    prompt float8;
    completion float8;
    total float8;
    cost float8;
    price record;
    ok float8;
    field text;
    fields text[];
BEGIN
    PERFORM metrics_ex._check_writer();
    PERFORM metrics_ex._check_event(event);
    IF jsonb_typeof(m) <> 'object' THEN
        RAISE EXCEPTION 'measurements must be a JSON object, not %', jsonb_typeof(m) USING ERRCODE = '22023',
            HINT = 'Pass measurements as an object, for example ''{"duration": 150000000}''.';
    END IF;
    IF jsonb_typeof(md) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object, not %', jsonb_typeof(md) USING ERRCODE = '22023',
            HINT = 'Pass metadata as an object, for example ''{"model": "gpt-4"}''.';
    END IF;
    IF ts IS NULL THEN
        RAISE EXCEPTION 'ts must not be NULL' USING ERRCODE = '22004';
    END IF;

    -- lineage ids travel with every sample of the event (the write path
    -- keeps them per sample, not as series tags)
    lineage := jsonb_strip_nulls(jsonb_build_object('work_id', md -> 'work_id', 'trace_id', md -> 'trace_id',
                                                    'plan_id', md -> 'plan_id', 'step_id', md -> 'step_id'));

    -- MetricsEx's handlers
    FOR h IN SELECT * FROM metrics_ex.telemetry_handlers th
              WHERE th.event = emit.event ORDER BY th.metric LOOP
        IF h.measurement IS NOT NULL THEN
            v := metrics_ex._event_number(m, h.measurement, event, 'measurement');
        ELSIF h.kind = 'counter' THEN
            v := 1;
        ELSIF h.kind = 'gauge' THEN
            v := metrics_ex._event_first_number(m, '{value,size,depth,active}');
        ELSE
            v := metrics_ex._event_first_number(m, '{duration,latency,time,value}');
        END IF;
        CONTINUE WHEN v IS NULL;
        tags := '{}';
        IF cardinality(h.tag_keys) > 0 THEN
            SELECT coalesce(jsonb_object_agg(k, md -> k), '{}') INTO tags
              FROM unnest(h.tag_keys) k WHERE md -> k <> 'null';
        END IF;
        samples := samples || ROW(h.metric, v, (tags || lineage)::text, ts, h.kind)::metrics_ex.ingest;
    END LOOP;

    -- CrucibleTelemetry's enrichment, for an event of a known experiment
    -- (the write path drops and counts the samples of a paused or stopped one)
    IF jsonb_typeof(md -> 'experiment_id') = 'string'
       AND (md ->> 'experiment_id') ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' THEN
        exp_id := (md ->> 'experiment_id')::uuid;
    END IF;
    IF exp_id IS NOT NULL AND metrics_ex.experiment_status(exp_id) IS NOT NULL THEN
        fields := coalesce((SELECT te.enriched_fields FROM metrics_ex.telemetry_events te
                             WHERE te.event = emit.event), '{}');
        -- model and provider, and the text fields a standard event enriches, become tags
        SELECT coalesce(jsonb_object_agg(k, md -> k), '{}') INTO base
          FROM unnest('{model,provider}' || fields) k
         WHERE jsonb_typeof(md -> k) = 'string';
        base := base || jsonb_build_object('experiment_id', exp_id::text, 'event', event) || lineage;

        samples := samples || ROW('experiment_events_total', 1, base::text, ts, 'counter')::metrics_ex.ingest;

        -- latency_ms: measurements.duration (or stop - start) in native time
        -- units, taken as nanoseconds (the BEAM's native unit on Linux, and
        -- what CrucibleTelemetry assumes)
        v := metrics_ex._event_number(m, 'duration', event, 'measurement');
        IF v IS NULL AND m ? 'start' AND m ? 'stop' THEN
            v := metrics_ex._event_number(m, 'stop', event, 'measurement')
                 - metrics_ex._event_number(m, 'start', event, 'measurement');
        END IF;
        IF v IS NOT NULL THEN
            samples := samples || ROW('latency_ms', (v / 1000000), base::text, ts, 'histogram')::metrics_ex.ingest;
        END IF;

        -- success: 0 for errors and exception events, 1 for an ok status, a
        -- response or a completed span (*.stop); otherwise unknown
        ok := CASE
            WHEN md -> 'error' NOT IN ('null', 'false') THEN 0
            WHEN md -> 'exception' NOT IN ('null', 'false') THEN 0
            WHEN event ~ '\.exception$' THEN 0
            WHEN m ->> 'status' = 'error' THEN 0
            WHEN m ->> 'status' = 'ok' THEN 1
            WHEN md -> 'response' <> 'null' THEN 1
            WHEN event ~ '\.stop$' THEN 1 END;
        IF ok IS NOT NULL THEN
            samples := samples || ROW('success', ok, base::text, ts, 'gauge')::metrics_ex.ingest;
        END IF;

        -- tokens: a "tokens" object ({prompt, completion, total}) in metadata
        -- or measurements, or measurements prompt_tokens, completion_tokens,
        -- total_tokens
        tokens := CASE WHEN jsonb_typeof(md -> 'tokens') = 'object' THEN md -> 'tokens'
                       WHEN jsonb_typeof(m -> 'tokens') = 'object' THEN m -> 'tokens' END;
        IF tokens IS NOT NULL THEN
            prompt := metrics_ex._event_number(tokens, 'prompt', event, 'tokens');
            completion := metrics_ex._event_number(tokens, 'completion', event, 'tokens');
            total := metrics_ex._event_number(tokens, 'total', event, 'tokens');
        ELSE
            prompt := metrics_ex._event_number(m, 'prompt_tokens', event, 'measurement');
            completion := metrics_ex._event_number(m, 'completion_tokens', event, 'measurement');
            total := metrics_ex._event_number(m, 'total_tokens', event, 'measurement');
        END IF;
        IF total IS NULL AND (prompt IS NOT NULL OR completion IS NOT NULL) THEN
            total := coalesce(prompt, 0) + coalesce(completion, 0);
        END IF;
        IF prompt IS NOT NULL THEN
            samples := samples || ROW('tokens_prompt', prompt, base::text, ts, 'histogram')::metrics_ex.ingest;
        END IF;
        IF completion IS NOT NULL THEN
            samples := samples || ROW('tokens_completion', completion, base::text, ts, 'histogram')::metrics_ex.ingest;
        END IF;
        IF total IS NOT NULL THEN
            samples := samples || ROW('tokens_total', total, base::text, ts, 'histogram')::metrics_ex.ingest;
        END IF;

        -- cost_usd: metadata.cost, else tokens priced by metadata.model, else
        -- measurements.cost
        cost := metrics_ex._event_number(md, 'cost', event, 'metadata');
        IF cost IS NULL AND (prompt IS NOT NULL OR completion IS NOT NULL)
           AND jsonb_typeof(md -> 'model') = 'string' THEN
            SELECT p.input_per_1m, p.output_per_1m INTO price FROM metrics_ex.model_prices p
             WHERE p.model IN (md ->> 'model', '*')
             ORDER BY p.model = '*' LIMIT 1;
            IF FOUND THEN
                cost := (coalesce(prompt, 0) * price.input_per_1m
                         + coalesce(completion, 0) * price.output_per_1m) / 1000000;
            END IF;
        END IF;
        IF cost IS NULL THEN
            cost := metrics_ex._event_number(m, 'cost', event, 'measurement');
        END IF;
        IF cost IS NOT NULL THEN
            samples := samples || ROW('cost_usd', cost, base::text, ts, 'histogram')::metrics_ex.ingest;
        END IF;

        -- the numeric fields a standard event enriches (epoch, loss, ...),
        -- from metadata or measurements, as gauges
        FOREACH field IN ARRAY fields LOOP
            v := CASE WHEN jsonb_typeof(md -> field) = 'number' THEN (md ->> field)::float8
                      WHEN jsonb_typeof(m -> field) = 'number' THEN (m ->> field)::float8 END;
            IF v IS NOT NULL THEN
                samples := samples || ROW(field, v, base::text, ts, 'gauge')::metrics_ex.ingest;
            END IF;
        END LOOP;
    END IF;

    IF cardinality(samples) > 0 THEN
        INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
        SELECT u.name, u.value, u.tags, u.ts, u.kind FROM unnest(samples) u;
    END IF;
    RETURN cardinality(samples);
END
$$;
COMMENT ON FUNCTION metrics_ex.emit(text, jsonb, jsonb, timestamptz) IS
    ':telemetry.execute/3: run the attached handlers and, for an experiment''s event, record latency_ms, success, tokens, cost_usd and the event count';
