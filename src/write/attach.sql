-- metrics_ex attach: record a sample for every row inserted into a user's
-- table (the SQL counterpart of MetricsEx's attach_telemetry).
--
-- attach() puts a statement-level AFTER INSERT trigger with a transition
-- table on the source; for each inserted row it records a sample on behalf
-- of the table's owner, who must be allowed to record (INSERT on
-- metrics_ex.ingest).  The trigger reads the rows as the role that inserted
-- them and evaluates nothing of the user's as anyone else (attach.c).

CREATE TABLE metrics_ex.attachment_registry (
    source        regclass NOT NULL,
    name          text NOT NULL CHECK (name ~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' AND length(name) <= 200),
    kind          text NOT NULL CHECK (kind IN ('counter', 'gauge', 'histogram')),
    value_column  name,
    tag_columns   name[] NOT NULL DEFAULT '{}',
    time_column   name,
    trigger_name  name NOT NULL,
    attached_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attached_by   regrole NOT NULL,
    PRIMARY KEY (source, name),
    UNIQUE (source, trigger_name)
);
COMMENT ON TABLE metrics_ex.attachment_registry IS 'Tables whose inserted rows are recorded as samples; read metrics_ex.attach_events';
-- pg_dump writes source by name and pg_restore reads it back after the
-- tables exist, so the triggers it restores find their rows.
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.attachment_registry', '');

CREATE VIEW metrics_ex.attach_events AS
    SELECT a.source, a.name, a.kind, a.value_column, a.tag_columns, a.time_column,
           a.trigger_name, a.attached_at, a.attached_by
      FROM metrics_ex.attachment_registry a
     WHERE EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) a.source);
COMMENT ON VIEW metrics_ex.attach_events IS 'What attach() has attached: source table, metric, columns';

CREATE FUNCTION metrics_ex.attach_events()
RETURNS SETOF metrics_ex.attach_events LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM metrics_ex.attach_events ORDER BY source::text, name;
END;
COMMENT ON FUNCTION metrics_ex.attach_events() IS 'What attach() has attached, ordered by table and metric';

-- The trigger.  Only the trigger manager can call a trigger function, and it
-- checks that a registry row stands behind the trigger, so EXECUTE stays
-- with PUBLIC: CREATE TRIGGER (attach() and pg_restore, as the table's
-- owner) needs it.
CREATE FUNCTION metrics_ex._attach_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'metrics_ex_attach_trigger';

CREATE FUNCTION metrics_ex.attach(source regclass, name text, kind text,
                                  value_column name DEFAULT NULL, tag_columns name[] DEFAULT '{}',
                                  time_column name DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_attach';
COMMENT ON FUNCTION metrics_ex.attach(regclass, text, text, name, name[], name) IS
    'Record a sample for every row inserted into source: counter (+1 or the value column), gauge or histogram';

CREATE FUNCTION metrics_ex.detach(source regclass, name text) RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_detach';
COMMENT ON FUNCTION metrics_ex.detach(regclass, text) IS 'Stop recording a metric from a table''s inserts';

-- attach() and detach() run as the caller and look up what is attached.
GRANT SELECT ON metrics_ex.attachment_registry, metrics_ex.attach_events TO PUBLIC;
