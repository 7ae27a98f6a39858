-- metrics_ex attach: record a sample for every row inserted into a user's
-- table (the SQL counterpart of MetricsEx's attach_telemetry).
--
-- attach() puts a statement-level AFTER INSERT trigger with a transition
-- table on the source, so a bulk insert records its samples with one
-- INSERT ... SELECT into metrics_ex.ingest instead of a call per row.  The
-- trigger function records as the extension's owner, on behalf of the
-- table's owner, who must be allowed to record (INSERT on metrics_ex.ingest);
-- it only acts for triggers that attach() registered.

CREATE TABLE metrics_ex.attachment_registry (
    source        regclass NOT NULL,
    name          text NOT NULL CHECK (name ~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' AND length(name) <= 200),
    kind          text NOT NULL CHECK (kind IN ('counter', 'gauge', 'histogram')),
    value_column  name,
    tag_columns   name[] NOT NULL DEFAULT '{}',
    time_column   name,
    trigger_name  name NOT NULL,
    attached_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attached_by   name NOT NULL,
    PRIMARY KEY (source, name),
    UNIQUE (source, trigger_name)
);
COMMENT ON TABLE metrics_ex.attachment_registry IS 'Tables whose inserted rows are recorded as samples; read metrics_ex.attach_events';
-- regclass columns cannot be dumped and restored by oid; keep the registry
-- out of pg_dump's data and re-attach after a restore.

CREATE VIEW metrics_ex.attach_events AS
    SELECT a.source, a.name, a.kind, a.value_column, a.tag_columns, a.time_column,
           a.trigger_name, a.attached_at, a.attached_by
      FROM metrics_ex.attachment_registry a;
COMMENT ON VIEW metrics_ex.attach_events IS 'What attach() has attached: source table, metric, columns';

CREATE FUNCTION metrics_ex.attach_events()
RETURNS SETOF metrics_ex.attach_events LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM metrics_ex.attach_events ORDER BY source::text, name;
END;
COMMENT ON FUNCTION metrics_ex.attach_events() IS 'What attach() has attached, ordered by table and metric';

-- The lineage columns that become tags whenever the source has them.
CREATE FUNCTION metrics_ex._lineage_columns() RETURNS name[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['work_id', 'trace_id', 'plan_id', 'step_id']::name[];

-- The trigger: one INSERT ... SELECT from the transition table.
CREATE FUNCTION metrics_ex._attach_trigger() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a metrics_ex.attachment_registry;
    owner oid;
    tagcols name[];
    value_sql text;
    ts_sql text;
    where_sql text := '';
BEGIN
    SELECT * INTO a FROM metrics_ex.attachment_registry r
     WHERE r.source = TG_RELID AND r.trigger_name = TG_NAME;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'trigger "%" on % was not made by metrics_ex.attach()', TG_NAME, TG_RELID::regclass
            USING ERRCODE = '42501',
                  HINT = 'Use metrics_ex.attach() to record metrics from a table.';
    END IF;
    SELECT c.relowner INTO owner FROM pg_class c WHERE c.oid = TG_RELID;
    IF NOT has_table_privilege(owner, 'metrics_ex.ingest', 'INSERT') THEN
        RAISE EXCEPTION 'the owner of % may not record metrics', TG_RELID::regclass
            USING ERRCODE = '42501',
                  HINT = 'GRANT INSERT ON metrics_ex.ingest TO the table''s owner, or metrics_ex.detach() the table.';
    END IF;

    -- tag columns, then the lineage columns the table has (now: columns may
    -- have been added since attach)
    SELECT array_agg(c ORDER BY o) INTO tagcols FROM (
        SELECT c, min(o) AS o FROM (
            SELECT t.c, t.o FROM unnest(a.tag_columns) WITH ORDINALITY t(c, o)
            UNION ALL
            SELECT att.attname, 1000 + att.attnum FROM pg_attribute att
             WHERE att.attrelid = TG_RELID AND att.attnum > 0 AND NOT att.attisdropped
               AND att.attname = ANY (metrics_ex._lineage_columns())) u
        GROUP BY c) v;

    IF a.value_column IS NULL THEN
        value_sql := '1';
    ELSE
        value_sql := format('r.%I::float8', a.value_column);
        where_sql := format(' WHERE r.%I IS NOT NULL', a.value_column);
    END IF;
    ts_sql := CASE WHEN a.time_column IS NULL THEN 'now()'
                   ELSE format('coalesce(r.%I::timestamptz, now())', a.time_column) END;

    EXECUTE format(
        'INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind) '
        'SELECT $1, %s, jsonb_object($3, ARRAY[%s]::text[])::text, %s, $2 FROM new_rows r%s',
        value_sql,
        coalesce((SELECT string_agg(format('r.%I::text', c), ', ') FROM unnest(tagcols) c), ''),
        ts_sql, where_sql)
    USING a.name, a.kind, coalesce(tagcols::text[], '{}');
    RETURN NULL;
END
$$;

-- Register an attachment whose trigger the caller has just created: only
-- someone allowed to create triggers on the table can have done that.
CREATE FUNCTION metrics_ex._attach_register(source regclass, name text, kind text,
                                            value_column name, tag_columns name[],
                                            time_column name, trigger_name name, attached_by name)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                    WHERE t.tgrelid = source AND t.tgname = trigger_name
                      AND p.oid = 'metrics_ex._attach_trigger()'::regprocedure) THEN
        RAISE EXCEPTION 'no metrics_ex trigger "%" on %', trigger_name, source USING ERRCODE = '42501',
            HINT = 'Use metrics_ex.attach().';
    END IF;
    INSERT INTO metrics_ex.attachment_registry
        (source, name, kind, value_column, tag_columns, time_column, trigger_name, attached_by)
    VALUES (source, name, kind, value_column, tag_columns, time_column, trigger_name, attached_by);
END
$$;

-- Forget attachments whose trigger is gone.
CREATE FUNCTION metrics_ex._attach_unregister(source regclass, name text)
RETURNS void LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    DELETE FROM metrics_ex.attachment_registry a
     WHERE a.source = _attach_unregister.source AND a.name = _attach_unregister.name
       AND NOT EXISTS (SELECT FROM pg_trigger t
                        WHERE t.tgrelid = a.source AND t.tgname = a.trigger_name);
END;

-- The caller must own the table (or be a member of its owner role).
CREATE FUNCTION metrics_ex._attach_check_owner(source regclass) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner oid;
    k "char";
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT c.relowner, c.relkind INTO owner, k FROM pg_class c WHERE c.oid = source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', source::oid USING ERRCODE = '42P01';
    END IF;
    IF k NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', source USING ERRCODE = '42809',
            HINT = 'attach() records rows inserted into an ordinary or partitioned table.';
    END IF;
    IF NOT pg_has_role(current_user, owner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', source USING ERRCODE = '42501',
            HINT = 'Only the table''s owner may attach metrics to it.';
    END IF;
END
$$;

CREATE FUNCTION metrics_ex.attach(source regclass, name text, kind text,
                                  value_column name DEFAULT NULL, tag_columns name[] DEFAULT '{}',
                                  time_column name DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text := lower(btrim(coalesce(kind, '')));
    tg name;
    col name;
    typ oid;
BEGIN
    PERFORM metrics_ex._attach_check_owner(source);
    PERFORM metrics_ex._check_writer();
    IF name IS NULL OR name !~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' OR length(name) > 200 THEN
        RAISE EXCEPTION 'invalid metric name "%"', coalesce(name, 'NULL') USING ERRCODE = '42602',
            HINT = 'Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be at most 200 characters, as in Prometheus.';
    END IF;
    IF k NOT IN ('counter', 'gauge', 'histogram') THEN
        RAISE EXCEPTION 'invalid kind "%"', coalesce(kind, 'NULL') USING ERRCODE = '22023',
            HINT = 'The kind is one of counter, gauge or histogram.';
    END IF;
    IF k <> 'counter' AND value_column IS NULL THEN
        RAISE EXCEPTION 'a % needs value_column', k USING ERRCODE = '22023',
            HINT = 'Name the column that holds the value; a counter without one counts rows.';
    END IF;

    -- every named column must exist; the value must be numeric, the time a timestamp
    FOREACH col IN ARRAY array_remove(ARRAY[value_column, time_column], NULL) || coalesce(tag_columns, '{}') LOOP
        SELECT a.atttypid INTO typ FROM pg_attribute a
         WHERE a.attrelid = source AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of % does not exist', col, source USING ERRCODE = '42703';
        END IF;
        IF col = value_column AND typ NOT IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                               'float4'::regtype, 'float8'::regtype, 'numeric'::regtype) THEN
            RAISE EXCEPTION 'value_column "%" of % is of type %, not a number', col, source, typ::regtype
                USING ERRCODE = '42804';
        END IF;
        IF col = time_column AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
            RAISE EXCEPTION 'time_column "%" of % is of type %, not a timestamp', col, source, typ::regtype
                USING ERRCODE = '42804';
        END IF;
    END LOOP;
    FOREACH col IN ARRAY coalesce(tag_columns, '{}') LOOP
        IF col !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' OR col ~ '^__' OR col IN ('le', 'quantile') THEN
            RAISE EXCEPTION 'column "%" cannot be a tag name', col USING ERRCODE = '22023',
                HINT = 'Tag names follow Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, not __*, le or quantile.';
        END IF;
    END LOOP;
    IF EXISTS (SELECT FROM metrics_ex.attachment_registry a
                WHERE a.source = attach.source AND a.name = attach.name) THEN
        RAISE EXCEPTION 'metric "%" is already attached to %', name, source USING ERRCODE = '42710',
            HINT = 'metrics_ex.detach() it first to change how it is recorded.';
    END IF;

    tg := CASE WHEN length('metrics_ex_' || name) < 64 THEN 'metrics_ex_' || name
               ELSE 'metrics_ex_' || md5(name) END;
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._attach_trigger()', tg, source);
    PERFORM metrics_ex._attach_register(source, name, k, value_column, coalesce(tag_columns, '{}'),
                                        time_column, tg, current_user);
END
$$;
COMMENT ON FUNCTION metrics_ex.attach(regclass, text, text, name, name[], name) IS
    'Record a sample for every row inserted into source: counter (+1 or the value column), gauge or histogram';

CREATE FUNCTION metrics_ex.detach(source regclass, name text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tg name;
BEGIN
    PERFORM metrics_ex._attach_check_owner(source);
    SELECT a.trigger_name INTO tg FROM metrics_ex.attachment_registry a
     WHERE a.source = detach.source AND a.name = detach.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'metric "%" is not attached to %', coalesce(name, 'NULL'), source USING ERRCODE = '42704',
            HINT = 'SELECT * FROM metrics_ex.attach_events lists what is attached.';
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', tg, source);
    PERFORM metrics_ex._attach_unregister(source, name);
END
$$;
COMMENT ON FUNCTION metrics_ex.detach(regclass, text) IS 'Stop recording a metric from a table''s inserts';

-- attach() and detach() run as the caller and look up what is attached.
GRANT SELECT ON metrics_ex.attachment_registry, metrics_ex.attach_events TO PUBLIC;
