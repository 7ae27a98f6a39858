-- metrics_ex write API: define, record, increment, gauge, histogram,
-- measure and the bulk view metrics_ex.ingest.

CREATE FUNCTION metrics_ex.define(
    name text, kind text, help text DEFAULT NULL, unit text DEFAULT NULL,
    buckets float8[] DEFAULT NULL, max_series int DEFAULT NULL, minute_rollups bool DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_define';
COMMENT ON FUNCTION metrics_ex.define(text, text, text, text, float8[], int, bool) IS
    'Create or update a metric''s definition; NULL arguments keep what is defined';

CREATE FUNCTION metrics_ex.record(name text, payload jsonb)
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_record';
COMMENT ON FUNCTION metrics_ex.record(text, jsonb) IS
    'MetricsEx record/2: value (default 1), tags, ts; other payload keys become tags';

CREATE FUNCTION metrics_ex.increment(name text, amount float8 DEFAULT 1,
                                     tags jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_increment';
COMMENT ON FUNCTION metrics_ex.increment(text, float8, jsonb, timestamptz) IS
    'Add amount (>= 0) to a counter';

CREATE FUNCTION metrics_ex.gauge(name text, value float8,
                                 tags jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_gauge';
COMMENT ON FUNCTION metrics_ex.gauge(text, float8, jsonb, timestamptz) IS
    'Record a point-in-time value';

CREATE FUNCTION metrics_ex.histogram(name text, value float8,
                                     tags jsonb DEFAULT '{}', ts timestamptz DEFAULT now())
RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_histogram';
COMMENT ON FUNCTION metrics_ex.histogram(text, float8, jsonb, timestamptz) IS
    'Record one observation of a distribution';

-- Runs the statement as the caller, with the caller's search_path (measure.c).
CREATE FUNCTION metrics_ex.measure(name text, statement text, tags jsonb DEFAULT '{}')
RETURNS float8 LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_measure';
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

-- Trigger functions: the trigger manager calls them (it checks no EXECUTE
-- privilege when a trigger fires), nobody else needs to.
CREATE FUNCTION metrics_ex._ingest_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'metrics_ex_ingest_trigger';
REVOKE ALL ON FUNCTION metrics_ex._ingest_trigger() FROM PUBLIC;
CREATE TRIGGER ingest_insert INSTEAD OF INSERT ON metrics_ex.ingest
    FOR EACH ROW EXECUTE FUNCTION metrics_ex._ingest_trigger();
-- a statement's rows are buffered and written with multi-inserts
CREATE FUNCTION metrics_ex._ingest_statement() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'metrics_ex_ingest_statement';
REVOKE ALL ON FUNCTION metrics_ex._ingest_statement() FROM PUBLIC;
CREATE TRIGGER ingest_bulk BEFORE INSERT ON metrics_ex.ingest
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._ingest_statement();
