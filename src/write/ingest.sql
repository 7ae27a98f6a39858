-- metrics_ex write API: define, record, increment, gauge, histogram,
-- measure and the bulk view metrics_ex.ingest.

CREATE FUNCTION metrics_ex.define(
    name text, kind text, help text DEFAULT NULL, unit text DEFAULT NULL,
    buckets float8[] DEFAULT NULL, max_series int DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_define';
COMMENT ON FUNCTION metrics_ex.define(text, text, text, text, float8[], int) IS
    'Create or update a metric''s definition; NULL arguments keep what is defined';

CREATE FUNCTION metrics_ex.record(name text, payload jsonb)
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_record';
COMMENT ON FUNCTION metrics_ex.record(text, jsonb) IS
    'MetricsEx record/2: value (default 1), tags, ts; other payload keys become tags';

CREATE FUNCTION metrics_ex._record_kind(name text, value float8, tags jsonb,
                                        ts timestamptz, kind text)
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_record_kind';

CREATE FUNCTION metrics_ex.increment(name text, amount float8 DEFAULT 1,
                                     tags jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE PARALLEL UNSAFE
BEGIN ATOMIC
    SELECT metrics_ex._record_kind(name, amount, tags, ts, 'counter');
END;
COMMENT ON FUNCTION metrics_ex.increment(text, float8, jsonb, timestamptz) IS
    'Add amount (>= 0) to a counter';

CREATE FUNCTION metrics_ex.gauge(name text, value float8,
                                 tags jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE PARALLEL UNSAFE
BEGIN ATOMIC
    SELECT metrics_ex._record_kind(name, value, tags, ts, 'gauge');
END;
COMMENT ON FUNCTION metrics_ex.gauge(text, float8, jsonb, timestamptz) IS
    'Record a point-in-time value';

CREATE FUNCTION metrics_ex.histogram(name text, value float8,
                                     tags jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE sql VOLATILE PARALLEL UNSAFE
BEGIN ATOMIC
    SELECT metrics_ex._record_kind(name, value, tags, ts, 'histogram');
END;
COMMENT ON FUNCTION metrics_ex.histogram(text, float8, jsonb, timestamptz) IS
    'Record one observation of a distribution';

CREATE FUNCTION metrics_ex._defer_sample(name text, value float8, tags jsonb,
                                         ts timestamptz, kind text)
RETURNS bool LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_defer_sample';

-- Runs the statement as the caller (no SET search_path: the statement is
-- the caller's), so everything here is schema-qualified.  A failing
-- statement's sample cannot be written in the transaction that the re-raised
-- error rolls back: it waits in the session and the next write stores it.
CREATE FUNCTION metrics_ex.measure(name text, statement text, tags jsonb DEFAULT '{}')
RETURNS float8 LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    started timestamptz;
    ms float8;
BEGIN
    IF statement IS NULL THEN
        RAISE EXCEPTION 'statement must not be NULL' USING ERRCODE = '22004';
    END IF;
    started := pg_catalog.clock_timestamp();
    BEGIN
        EXECUTE statement;
    EXCEPTION WHEN OTHERS THEN
        ms := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started) OPERATOR(pg_catalog.*) 1000;
        PERFORM metrics_ex._defer_sample(name, ms,
            COALESCE(tags, '{}'::jsonb) OPERATOR(pg_catalog.||) '{"status": "error"}'::jsonb,
            pg_catalog.now(), 'histogram');
        RAISE;
    END;
    ms := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started) OPERATOR(pg_catalog.*) 1000;
    PERFORM metrics_ex.histogram(name, ms, tags);
    RETURN ms;
END
$$;
COMMENT ON FUNCTION metrics_ex.measure(text, text, jsonb) IS
    'Run a statement, record its wall time in ms as a histogram (status=error if it fails), return the ms';

-- Bulk writes: INSERT INTO / COPY metrics_ex.ingest.  Reading it returns
-- nothing; read metrics_ex.points.  tags is the text of a JSON object (jsonb
-- values convert on INSERT): the write path recognises a tag set it has seen
-- by its text and skips parsing it again.
CREATE VIEW metrics_ex.ingest AS
    SELECT NULL::text AS name, NULL::float8 AS value, NULL::text AS tags,
           NULL::timestamptz AS ts, NULL::text AS kind
    WHERE false;
ALTER VIEW metrics_ex.ingest ALTER COLUMN value SET DEFAULT 1;
ALTER VIEW metrics_ex.ingest ALTER COLUMN tags SET DEFAULT '{}';
ALTER VIEW metrics_ex.ingest ALTER COLUMN ts SET DEFAULT now();
COMMENT ON VIEW metrics_ex.ingest IS
    'Write-only: INSERT or COPY (name, value, tags, ts, kind) to record samples in bulk';

CREATE FUNCTION metrics_ex._ingest_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'metrics_ex_ingest_trigger';
CREATE TRIGGER ingest_insert INSTEAD OF INSERT ON metrics_ex.ingest
    FOR EACH ROW EXECUTE FUNCTION metrics_ex._ingest_trigger();
