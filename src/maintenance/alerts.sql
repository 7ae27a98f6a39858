-- metrics_ex alerting: Prometheus-style alert rules evaluated inside the
-- database (see alert_define.c and alert_eval.c).
--
-- A rule is a condition over the metrics; each evaluation finds the label
-- sets for which it holds, and each label set moves through Prometheus'
-- states: inactive -> pending -> firing -> (resolved, back to inactive).
-- Transitions to firing and resolved send a NOTIFY on channel
-- metrics_ex_alerts at commit, shaped like Alertmanager's webhook.
--
-- Who runs what:
--  * add_alert(), alter_alert(), remove_alert(), silence() and unsilence()
--    are C functions: they take the calling role from GetUserId() and call
--    the _alert_* functions below as the extension's owner with that role as
--    their first argument.  No one else can call those (not PUBLIC).
--  * evaluate_alerts() reads each rule's data as the rule's owner (never as
--    the caller or the extension's owner) and writes the state tables as the
--    extension's owner through _alert_apply() / _alert_failed().
--  * The tables are readable by no one but the extension's owner; the views
--    show a role the rules, alerts, history and silences of the roles whose
--    privileges it has, and everything to a role with SELECT on the table
--    behind the view (a reader granted SELECT ON ALL TABLES IN SCHEMA
--    metrics_ex, or a superuser).

CREATE TABLE metrics_ex.alert_defs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text NOT NULL UNIQUE,
    owner              regrole NOT NULL,        -- the role that called add_alert()
    kind               text NOT NULL CHECK (kind IN ('threshold', 'sql', 'anomaly', 'absent')),
    metric             text CHECK ((kind = 'sql') OR (metric IS NOT NULL)),
    aggregation        text NOT NULL,
    op                 text NOT NULL CHECK (op IN ('>', '>=', '<', '<=', '=', '!=')),
    threshold          float8 CHECK ((kind NOT IN ('threshold', 'sql')) OR (threshold IS NOT NULL)),
    span               interval NOT NULL CHECK (span > interval '0'),
    pending_for        interval NOT NULL CHECK (pending_for >= interval '0'),
    keep_firing_for    interval NOT NULL CHECK (keep_firing_for >= interval '0'),
    tags               jsonb NOT NULL,
    group_by           text[] NOT NULL,
    severity           text NOT NULL,
    labels             jsonb NOT NULL,
    annotations        jsonb NOT NULL,
    sql                text CHECK ((kind = 'sql') = (sql IS NOT NULL)),
    baseline_windows   int NOT NULL CHECK (baseline_windows BETWEEN 3 AND 1000),
    sigmas             float8 NOT NULL CHECK (sigmas > 0),
    every              interval NOT NULL CHECK (every >= interval '1 second'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- evaluation: due when next_eval <= at (NULL: at the next call)
    next_eval          timestamptz,
    last_eval          timestamptz,
    last_duration      interval,
    last_error         text,
    consecutive_errors int NOT NULL DEFAULT 0
) WITH (fillfactor = 50);     -- every evaluation updates its row: room for HOT updates
COMMENT ON TABLE metrics_ex.alert_defs IS 'Alert rules; read metrics_ex.alert_rules';

-- The pending and firing alerts: one row per rule and label set.  A label
-- set that is inactive (never held, back from pending, resolved) has no row.
CREATE TABLE metrics_ex.alert_state (
    rule_id            bigint NOT NULL REFERENCES metrics_ex.alert_defs (id) ON DELETE CASCADE,
    labels             jsonb NOT NULL,          -- group labels, severity, rule labels, alertname
    state              text NOT NULL CHECK (state IN ('pending', 'firing')),
    value              float8,
    active_since       timestamptz NOT NULL,    -- Prometheus' ActiveAt
    fired_at           timestamptz,
    keep_firing_since  timestamptz,             -- first evaluation it did not hold while firing
    annotations        jsonb NOT NULL,          -- rendered at the last evaluation
    silenced           bool NOT NULL DEFAULT false,
    PRIMARY KEY (rule_id, labels)
) WITH (fillfactor = 50);     -- updated at each evaluation where it holds
COMMENT ON TABLE metrics_ex.alert_state IS 'Pending and firing alerts; read metrics_ex.alerts';

-- Every transition, bounded: the last 1000 per rule, none older than 7 days
-- before the latest evaluation.
CREATE TABLE metrics_ex.alert_log (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id            bigint NOT NULL,         -- no foreign key: history outlives the rule
    alert              text NOT NULL,
    owner              regrole NOT NULL,
    labels             jsonb NOT NULL,
    from_state         text NOT NULL,
    to_state           text NOT NULL,
    value              float8,
    at                 timestamptz NOT NULL,
    silenced           bool NOT NULL,
    annotations        jsonb
);
CREATE INDEX alert_log_rule ON metrics_ex.alert_log (rule_id, id);
CREATE INDEX alert_log_at ON metrics_ex.alert_log (at);
COMMENT ON TABLE metrics_ex.alert_log IS 'Alert transitions; read metrics_ex.alert_history';

-- Silences: matchers in Alertmanager's form, [{name, value, isRegex, isEqual}].
CREATE TABLE metrics_ex.alert_silences (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers           jsonb NOT NULL CHECK (jsonb_typeof(matchers) = 'array'),
    until              timestamptz NOT NULL,
    comment            text,
    created_by         regrole NOT NULL,        -- the role that called silence()
    created_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE metrics_ex.alert_silences IS 'Alert silences; read metrics_ex.silences';

SELECT pg_catalog.pg_extension_config_dump('metrics_ex.alert_defs', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.alert_state', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.alert_log', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_ex.alert_silences', '');
-- and their ids' sequences, so that restored rows keep their ids unique
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('metrics_ex.alert_defs', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('metrics_ex.alert_log', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('metrics_ex.alert_silences', 'id')::regclass, '');

-- The views.  security_barrier: a caller's leaky function in a WHERE clause
-- never sees the rows the policy leaves out.
CREATE VIEW metrics_ex.alert_rules WITH (security_barrier) AS
    SELECT d.name, d.owner, d.kind, d.metric, d.aggregation, d.op, d.threshold, d.span,
           d.pending_for, d.keep_firing_for, d.tags, d.group_by, d.severity, d.labels,
           d.annotations, d.sql, d.baseline_windows, d.sigmas, d.every, d.created_at,
           CASE WHEN d.last_eval IS NULL THEN 'unknown'
                WHEN d.last_error IS NULL THEN 'ok' ELSE 'err' END AS health,
           d.last_error, d.last_eval AS last_evaluation, d.last_duration AS evaluation_time,
           d.next_eval AS next_evaluation, d.consecutive_errors
      FROM metrics_ex.alert_defs d
     WHERE pg_catalog.pg_has_role(d.owner::oid, 'USAGE')
        OR pg_catalog.has_table_privilege('metrics_ex.alert_defs', 'SELECT');
COMMENT ON VIEW metrics_ex.alert_rules IS
    'Alert rules with their health (ok, err, unknown), last error and last evaluation';

CREATE VIEW metrics_ex.alerts WITH (security_barrier) AS
    SELECT d.name AS alert, s.labels, s.state, s.value, s.active_since, s.fired_at,
           d.severity, s.annotations, s.silenced
      FROM metrics_ex.alert_state s
      JOIN metrics_ex.alert_defs d ON d.id = s.rule_id
     WHERE pg_catalog.pg_has_role(d.owner::oid, 'USAGE')
        OR pg_catalog.has_table_privilege('metrics_ex.alert_state', 'SELECT');
COMMENT ON VIEW metrics_ex.alerts IS
    'The pending and firing alerts, as of the last evaluation of their rules';

CREATE VIEW metrics_ex.alert_history WITH (security_barrier) AS
    SELECT l.id, l.at, l.alert, l.labels, l.from_state, l.to_state, l.value, l.silenced, l.annotations
      FROM metrics_ex.alert_log l
     WHERE pg_catalog.pg_has_role(l.owner::oid, 'USAGE')
        OR pg_catalog.has_table_privilege('metrics_ex.alert_log', 'SELECT');
COMMENT ON VIEW metrics_ex.alert_history IS
    'Every alert transition: the last 1000 per rule, 7 days at most';

CREATE VIEW metrics_ex.silences WITH (security_barrier) AS
    SELECT s.id, s.matchers, s.until, s.comment, s.created_by, s.created_at
      FROM metrics_ex.alert_silences s
     WHERE pg_catalog.pg_has_role(s.created_by::oid, 'USAGE')
        OR pg_catalog.has_table_privilege('metrics_ex.alert_silences', 'SELECT');
COMMENT ON VIEW metrics_ex.silences IS 'Silences: matching alerts keep their state but send no notification';

GRANT SELECT ON metrics_ex.alert_rules, metrics_ex.alerts, metrics_ex.alert_history, metrics_ex.silences TO PUBLIC;

-- A label value of ours (alertname, severity): 1 to 200 characters, no
-- control characters.
CREATE FUNCTION metrics_ex._alert_check_label_value(v text, argname text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF v IS NULL OR v = '' OR length(v) > 200 OR v ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'invalid % %: not a valid label value', argname, coalesce(quote_literal(v), 'NULL')
            USING ERRCODE = '22023',
                  HINT = format('The %s is 1 to 200 characters without control characters, for example %L.',
                                argname, CASE argname WHEN 'name' THEN 'HighErrorRate' ELSE 'critical' END);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_check_label_value(text, text) FROM PUBLIC;

-- A JSON object of label names to strings (numbers and booleans become
-- strings, nulls are dropped): a rule's labels or annotations (what names
-- the argument), or the labels of a result row.
CREATE FUNCTION metrics_ex._alert_string_map(o jsonb, what text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
    out jsonb := '{}';
BEGIN
    IF o IS NULL THEN
        RETURN out;
    END IF;
    IF jsonb_typeof(o) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, not %', what, left(o::text, 200) USING ERRCODE = '22023',
            HINT = CASE what WHEN 'labels' THEN 'For example ''{"team": "payments"}''.'
                             WHEN 'annotations' THEN 'For example ''{"summary": "{{ $labels.route }} is slow: {{ $value }} ms"}''.'
                             ELSE 'The labels of a result are a JSON object such as ''{"route": "/pay"}''.' END;
    END IF;
    FOR e IN SELECT key, value FROM jsonb_each(o) LOOP
        IF e.key !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' OR e.key LIKE '\_\_%' THEN
            RAISE EXCEPTION 'invalid name % in %', quote_literal(e.key), what USING ERRCODE = '22023',
                HINT = 'Names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with __, as Prometheus label names.';
        END IF;
        IF what = 'labels' AND e.key IN ('alertname', 'alertstate', 'severity') THEN
            RAISE EXCEPTION 'labels must not set %', e.key USING ERRCODE = '22023',
                HINT = 'alertname is the rule''s name, severity its severity argument, alertstate its state.';
        END IF;
        IF jsonb_typeof(e.value) IN ('object', 'array') THEN
            RAISE EXCEPTION '% must map names to strings; % is %', what, quote_literal(e.key), jsonb_typeof(e.value)
                USING ERRCODE = '22023';
        END IF;
        CONTINUE WHEN jsonb_typeof(e.value) = 'null';
        out := out || jsonb_build_object(e.key, e.value #>> '{}');
    END LOOP;
    RETURN out;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_string_map(jsonb, text) FROM PUBLIC;

-- A rule with every argument checked (the errors name the argument) and
-- normalized.  Evaluates nothing a user wrote.
CREATE FUNCTION metrics_ex._alert_checked(d metrics_ex.alert_defs) RETURNS metrics_ex.alert_defs
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lineage text[] := '{work_id,trace_id,plan_id,step_id}';
BEGIN
    PERFORM metrics_ex._alert_check_label_value(d.name, 'name');
    d.kind := lower(btrim(d.kind));
    IF d.kind IS NULL OR d.kind NOT IN ('threshold', 'sql', 'anomaly', 'absent') THEN
        RAISE EXCEPTION 'invalid kind %', coalesce(quote_literal(d.kind), 'NULL') USING ERRCODE = '22023',
            HINT = 'kind is threshold, sql, anomaly or absent.';
    END IF;
    IF d.kind = 'sql' THEN
        IF d.sql IS NULL OR btrim(d.sql) = '' THEN
            RAISE EXCEPTION 'a rule of kind sql needs sql' USING ERRCODE = '22023',
                HINT = 'sql is a query returning (labels jsonb, value float8).';
        END IF;
    ELSE
        IF d.sql IS NOT NULL THEN
            RAISE EXCEPTION 'sql is only used by rules of kind sql, not %', d.kind USING ERRCODE = '22023',
                HINT = 'Pass kind => ''sql'' with it.';
        END IF;
        IF d.metric IS NULL THEN
            RAISE EXCEPTION 'a rule of kind % needs a metric', d.kind USING ERRCODE = '22023';
        END IF;
        IF d.metric !~ '^[a-zA-Z_:][a-zA-Z0-9_:]*$' OR length(d.metric) > 200 THEN
            RAISE EXCEPTION 'invalid metric name "%"', d.metric USING ERRCODE = '42602',
                HINT = 'Metric names match [a-zA-Z_:][a-zA-Z0-9_:]* (at most 200 characters).';
        END IF;
        IF d.aggregation IS NULL THEN
            RAISE EXCEPTION 'aggregation must not be NULL' USING ERRCODE = '22004';
        END IF;
        PERFORM metrics_ex._aggregate_sql(d.aggregation, '1');
        d.aggregation := lower(btrim(d.aggregation));
        IF d.span IS NULL OR d.span <= interval '0' THEN
            RAISE EXCEPTION 'span must be a positive interval, not %', coalesce(d.span::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'For example ''5 minutes''.';
        END IF;
        d.tags := coalesce(d.tags, '{}');
        PERFORM metrics_ex._split_filter(d.tags);
        d.group_by := coalesce(d.group_by, '{}');
        PERFORM metrics_ex._group_sql(d.group_by);
        IF d.kind = 'absent' AND (d.group_by && lineage OR d.tags ?| lineage) THEN
            RAISE EXCEPTION 'an absent rule cannot filter or group by lineage ids (work_id, trace_id, plan_id, step_id)'
                USING ERRCODE = '22023', HINT = 'Absent groups come from the series catalog, which has no lineage ids.';
        END IF;
    END IF;
    -- sql rules keep these for show; threshold and sql rules compare with op
    d.aggregation := coalesce(d.aggregation, 'mean');
    d.span := coalesce(d.span, interval '5 minutes');
    d.tags := coalesce(d.tags, '{}');
    d.group_by := coalesce(d.group_by, '{}');
    IF d.op IS NULL OR d.op NOT IN ('>', '>=', '<', '<=', '=', '!=') THEN
        RAISE EXCEPTION 'invalid op %', coalesce(quote_literal(d.op), 'NULL') USING ERRCODE = '22023',
            HINT = 'op is one of >, >=, <, <=, =, !=.';
    END IF;
    IF d.kind IN ('threshold', 'sql') AND d.threshold IS NULL THEN
        RAISE EXCEPTION 'a rule of kind % needs a threshold', d.kind USING ERRCODE = '22023',
            HINT = 'For example threshold => 0.05 with op => ''>''.';
    END IF;
    IF d.threshold = 'NaN'::float8 THEN
        RAISE EXCEPTION 'threshold must be a number, not NaN' USING ERRCODE = '22023';
    END IF;
    d.pending_for := coalesce(d.pending_for, interval '0');
    d.keep_firing_for := coalesce(d.keep_firing_for, interval '0');
    IF d.pending_for < interval '0' THEN
        RAISE EXCEPTION 'pending_for must not be negative' USING ERRCODE = '22023';
    END IF;
    IF d.keep_firing_for < interval '0' THEN
        RAISE EXCEPTION 'keep_firing_for must not be negative' USING ERRCODE = '22023';
    END IF;
    PERFORM metrics_ex._alert_check_label_value(d.severity, 'severity');
    d.labels := metrics_ex._alert_string_map(d.labels, 'labels');
    d.annotations := metrics_ex._alert_string_map(d.annotations, 'annotations');
    IF d.baseline_windows IS NULL OR d.baseline_windows NOT BETWEEN 3 AND 1000 THEN
        RAISE EXCEPTION 'baseline_windows must be between 3 and 1000, not %', coalesce(d.baseline_windows::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF d.sigmas IS NULL OR d.sigmas <= 0 OR d.sigmas IN ('NaN', 'Infinity') THEN
        RAISE EXCEPTION 'sigmas must be a positive number, not %', coalesce(d.sigmas::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'For example 3: fire beyond three robust standard deviations.';
    END IF;
    IF d.every IS NULL OR d.every < interval '1 second' THEN
        RAISE EXCEPTION 'every must be at least 1 second, not %', coalesce(d.every::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'For example ''1 minute''.';
    END IF;
    IF extract(month FROM d.every) <> 0 OR extract(year FROM d.every) <> 0 THEN
        RAISE EXCEPTION 'every must not contain months or years, not %', d.every
            USING ERRCODE = '22023', HINT = 'Use days instead, for example ''30 days''.';
    END IF;
    RETURN d;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_checked(metrics_ex.alert_defs) FROM PUBLIC;

-- May role (the caller of the definition functions) change rows owned by
-- owner?  The owner, a role with its privileges, or a superuser.
CREATE FUNCTION metrics_ex._alert_check_owner(role oid, owner regrole, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_has_role(role, owner::oid, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to change %', what USING ERRCODE = '42501',
            HINT = format('Only %s (or a role with its privileges, or a superuser) can change it.', owner);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_check_owner(oid, regrole, text) FROM PUBLIC;

-- The rule called name, locked, after checking that caller may change it.
CREATE FUNCTION metrics_ex._alert_rule_for_change(caller oid, name text) RETURNS metrics_ex.alert_defs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d metrics_ex.alert_defs;
BEGIN
    SELECT * INTO d FROM metrics_ex.alert_defs x WHERE x.name = _alert_rule_for_change.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'alert rule "%" does not exist', name USING ERRCODE = '42704',
            HINT = 'See SELECT name FROM metrics_ex.alert_rules.';
    END IF;
    PERFORM metrics_ex._alert_check_owner(caller, d.owner, format('alert rule "%s"', d.name));
    RETURN d;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_rule_for_change(oid, text) FROM PUBLIC;

-- add_alert (alter false) and alter_alert (true).  alter_alert starts from
-- the rule, so that NULL arguments keep what it has; add_alert from nothing.
-- An altered rule is evaluated again at the next call of evaluate_alerts().
CREATE FUNCTION metrics_ex._alert_define(
    caller oid, alter bool, name text, metric text, aggregation text, op text, threshold float8,
    span interval, pending_for interval, keep_firing_for interval, tags jsonb, group_by text[],
    severity text, labels jsonb, annotations jsonb, kind text, sql text, baseline_windows int,
    sigmas float8, every interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d metrics_ex.alert_defs;
    new_kind text;
BEGIN
    IF alter THEN
        d := metrics_ex._alert_rule_for_change(caller, name);
    ELSE
        d.name := name;
        d.owner := caller::regrole;
    END IF;
    new_kind := lower(btrim(coalesce(kind, d.kind)));
    d.metric := coalesce(metric, d.metric);
    d.aggregation := coalesce(aggregation, d.aggregation);
    d.op := coalesce(op, d.op);
    d.threshold := coalesce(threshold, d.threshold);
    d.span := coalesce(span, d.span);
    d.pending_for := coalesce(pending_for, d.pending_for);
    d.keep_firing_for := coalesce(keep_firing_for, d.keep_firing_for);
    d.tags := coalesce(tags, d.tags);
    d.group_by := coalesce(group_by, d.group_by);
    d.severity := coalesce(severity, d.severity);
    d.labels := coalesce(labels, d.labels);
    d.annotations := coalesce(annotations, d.annotations);
    -- a rule that stops being of kind sql drops its sql
    d.sql := CASE WHEN new_kind = 'sql' THEN coalesce(sql, d.sql) ELSE sql END;
    d.kind := new_kind;
    d.baseline_windows := coalesce(baseline_windows, d.baseline_windows);
    d.sigmas := coalesce(sigmas, d.sigmas);
    d.every := coalesce(every, d.every);
    d := metrics_ex._alert_checked(d);
    IF alter THEN
        UPDATE metrics_ex.alert_defs x
           SET kind = d.kind, metric = d.metric, aggregation = d.aggregation, op = d.op,
               threshold = d.threshold, span = d.span, pending_for = d.pending_for,
               keep_firing_for = d.keep_firing_for, tags = d.tags, group_by = d.group_by,
               severity = d.severity, labels = d.labels, annotations = d.annotations, sql = d.sql,
               baseline_windows = d.baseline_windows, sigmas = d.sigmas, every = d.every,
               next_eval = NULL
         WHERE x.id = d.id;
        RETURN;
    END IF;
    INSERT INTO metrics_ex.alert_defs (name, owner, kind, metric, aggregation, op, threshold, span,
                                       pending_for, keep_firing_for, tags, group_by, severity, labels,
                                       annotations, sql, baseline_windows, sigmas, every)
    VALUES (d.name, d.owner, d.kind, d.metric, d.aggregation, d.op, d.threshold, d.span,
            d.pending_for, d.keep_firing_for, d.tags, d.group_by, d.severity, d.labels,
            d.annotations, d.sql, d.baseline_windows, d.sigmas, d.every);
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'alert rule "%" already exists', d.name USING ERRCODE = '42710',
        HINT = 'Change it with alter_alert() or remove it with remove_alert().';
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_define(oid, bool, text, text, text, text, float8, interval, interval,
    interval, jsonb, text[], text, jsonb, jsonb, text, text, int, float8, interval) FROM PUBLIC;

-- A time as Alertmanager writes it (RFC 3339, UTC, no trailing zeros in the
-- fraction); NULL is Go's zero time, the endsAt of a firing alert.
CREATE FUNCTION metrics_ex._alert_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN t IS NULL THEN '0001-01-01T00:00:00Z'
            ELSE regexp_replace(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '\.?0*$', '') || 'Z' END;
REVOKE ALL ON FUNCTION metrics_ex._alert_time(timestamptz) FROM PUBLIC;

-- One notification in Alertmanager's webhook shape.  NOTIFY payloads are
-- limited to 8000 bytes: past that the annotations, then all labels but
-- alertname and severity, are left out (and it says so).
CREATE FUNCTION metrics_ex._alert_payload(status text, labels jsonb, annotations jsonb,
                                          starts_at timestamptz, ends_at timestamptz)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p text;
    cut text := 'left out: the notification would exceed the 8000 bytes of a NOTIFY; see metrics_ex.alerts';
BEGIN
    FOR attempt IN 1..3 LOOP
        p := jsonb_build_object(
            'version', '4',
            'groupKey', '{}:{alertname=' || to_jsonb(labels ->> 'alertname')::text || '}',
            'truncatedAlerts', 0,
            'status', status,
            'receiver', 'metrics_ex',
            'groupLabels', jsonb_build_object('alertname', labels ->> 'alertname'),
            'commonLabels', labels,
            'commonAnnotations', annotations,
            'externalURL', '',
            'alerts', jsonb_build_array(jsonb_build_object(
                'status', status,
                'labels', labels,
                'annotations', annotations,
                'startsAt', metrics_ex._alert_time(starts_at),
                'endsAt', metrics_ex._alert_time(ends_at),
                'generatorURL', '',
                'fingerprint', left(md5(labels::text), 16))))::text;
        EXIT WHEN octet_length(p) < 8000;
        IF attempt = 1 THEN
            annotations := jsonb_build_object('metrics_ex_truncated', 'annotations ' || cut);
        ELSE
            labels := jsonb_build_object('alertname', left(labels ->> 'alertname', 200),
                                         'severity', left(labels ->> 'severity', 200));
            annotations := jsonb_build_object('metrics_ex_truncated', 'labels and annotations ' || cut);
        END IF;
    END LOOP;
    RETURN p;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_payload(text, jsonb, jsonb, timestamptz, timestamptz) FROM PUBLIC;

-- Record a transition; to firing or resolved, notify unless silenced.
CREATE FUNCTION metrics_ex._alert_transition(d metrics_ex.alert_defs, labels jsonb, from_state text,
                                             to_state text, value float8, at timestamptz,
                                             silenced bool, annotations jsonb, fired_at timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO metrics_ex.alert_log (rule_id, alert, owner, labels, from_state, to_state, value, at, silenced, annotations)
    VALUES (d.id, d.name, d.owner, labels, from_state, to_state, value, at, silenced, annotations);
    IF to_state IN ('firing', 'resolved') AND NOT silenced THEN
        PERFORM pg_notify('metrics_ex_alerts',
                          metrics_ex._alert_payload(to_state, labels, annotations, fired_at,
                                                    CASE WHEN to_state = 'resolved' THEN at END));
    END IF;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_transition(metrics_ex.alert_defs, jsonb, text, text, float8,
    timestamptz, bool, jsonb, timestamptz) FROM PUBLIC;

-- remove_alert: its firing alerts resolve (and notify), its pending ones go
-- back to inactive, then the rule and its state are gone.
CREATE FUNCTION metrics_ex._alert_remove(caller oid, name text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d metrics_ex.alert_defs := metrics_ex._alert_rule_for_change(caller, name);
    s metrics_ex.alert_state;
BEGIN
    FOR s IN SELECT * FROM metrics_ex.alert_state x WHERE x.rule_id = d.id ORDER BY x.labels LOOP
        PERFORM metrics_ex._alert_transition(d, s.labels, s.state,
                                             CASE s.state WHEN 'firing' THEN 'resolved' ELSE 'inactive' END,
                                             s.value, now(), s.silenced, s.annotations, s.fired_at);
    END LOOP;
    DELETE FROM metrics_ex.alert_defs x WHERE x.id = d.id;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_remove(oid, text) FROM PUBLIC;

-- silence(matchers, until, comment): matchers are {"label": "value", ...}
-- (all equal) or Alertmanager's [{"name", "value", "isRegex", "isEqual"}].
-- A regex matches the whole label value; a missing label is "".
CREATE FUNCTION metrics_ex._alert_silence(caller oid, matchers jsonb, until timestamptz, comment text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m jsonb;
    norm jsonb := '[]';
    id bigint;
BEGIN
    IF until IS NULL THEN
        RAISE EXCEPTION 'until must not be NULL' USING ERRCODE = '22004',
            HINT = 'A silence mutes the alerts it matches in evaluations before until.';
    END IF;
    IF matchers IS NULL OR jsonb_typeof(matchers) NOT IN ('object', 'array') THEN
        RAISE EXCEPTION 'matchers must be a JSON object or array' USING ERRCODE = '22023',
            HINT = 'For example ''{"alertname": "HighLatency", "route": "/checkout"}''.';
    END IF;
    FOR m IN SELECT e FROM jsonb_array_elements(CASE jsonb_typeof(matchers) WHEN 'array' THEN matchers
                   ELSE (SELECT coalesce(jsonb_agg(jsonb_build_object('name', key, 'value', value) ORDER BY key), '[]')
                           FROM jsonb_each(matchers)) END) e
    LOOP
        IF jsonb_typeof(m) <> 'object' OR jsonb_typeof(m -> 'name') IS DISTINCT FROM 'string'
           OR coalesce(jsonb_typeof(m -> 'value'), 'missing') NOT IN ('string', 'number', 'boolean')
           OR coalesce(jsonb_typeof(m -> 'isRegex'), 'boolean') <> 'boolean'
           OR coalesce(jsonb_typeof(m -> 'isEqual'), 'boolean') <> 'boolean' THEN
            RAISE EXCEPTION 'invalid matcher % in matchers', m USING ERRCODE = '22023',
                HINT = 'A matcher is {"name": "label", "value": "text", "isRegex": false, "isEqual": true}, or use an object of label values.';
        END IF;
        IF (m ->> 'name') !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' THEN
            RAISE EXCEPTION 'invalid label name % in matchers', quote_literal(m ->> 'name') USING ERRCODE = '22023';
        END IF;
        m := jsonb_build_object('name', m ->> 'name', 'value', m ->> 'value',
                                'isRegex', coalesce((m ->> 'isRegex')::bool, false),
                                'isEqual', coalesce((m ->> 'isEqual')::bool, true));
        IF (m ->> 'isRegex')::bool THEN
            BEGIN
                PERFORM '' ~ ('^(?:' || (m ->> 'value') || ')$');
            EXCEPTION WHEN invalid_regular_expression THEN
                RAISE EXCEPTION 'invalid regular expression % in matchers', quote_literal(m ->> 'value')
                    USING ERRCODE = '2201B';
            END;
        END IF;
        norm := norm || jsonb_build_array(m);
    END LOOP;
    IF jsonb_array_length(norm) = 0 THEN
        RAISE EXCEPTION 'matchers must have at least one matcher' USING ERRCODE = '22023',
            HINT = 'For example ''{"alertname": "HighLatency"}''.';
    END IF;
    INSERT INTO metrics_ex.alert_silences (matchers, until, comment, created_by)
    VALUES (norm, until, comment, caller::regrole)
    RETURNING alert_silences.id INTO id;
    RETURN id;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_silence(oid, jsonb, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION metrics_ex._alert_unsilence(caller oid, id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s metrics_ex.alert_silences;
BEGIN
    SELECT * INTO s FROM metrics_ex.alert_silences x WHERE x.id = _alert_unsilence.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'silence % does not exist', coalesce(id::text, 'NULL') USING ERRCODE = '42704',
            HINT = 'See SELECT id FROM metrics_ex.silences.';
    END IF;
    PERFORM metrics_ex._alert_check_owner(caller, s.created_by, format('silence %s', s.id));
    DELETE FROM metrics_ex.alert_silences x WHERE x.id = s.id;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_unsilence(oid, bigint) FROM PUBLIC;

-- Is an alert of a rule owned by owner, with these labels, silenced at at?
-- A silence applies to the rules of the roles whose privileges its creator
-- has (a superuser's silences to every rule).
CREATE FUNCTION metrics_ex._alert_silenced(owner regrole, labels jsonb, at timestamptz) RETURNS bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT EXISTS (
        SELECT 1 FROM metrics_ex.alert_silences s
         WHERE s.until > _alert_silenced.at
           AND pg_has_role(s.created_by::oid, _alert_silenced.owner::oid, 'USAGE')
           AND NOT EXISTS (
               SELECT 1 FROM jsonb_array_elements(s.matchers) m
                WHERE (CASE WHEN (m ->> 'isRegex')::bool
                            THEN coalesce(_alert_silenced.labels ->> (m ->> 'name'), '') ~ ('^(?:' || (m ->> 'value') || ')$')
                            ELSE coalesce(_alert_silenced.labels ->> (m ->> 'name'), '') = (m ->> 'value') END)
                      IS DISTINCT FROM (m ->> 'isEqual')::bool));
END;
REVOKE ALL ON FUNCTION metrics_ex._alert_silenced(regrole, jsonb, timestamptz) FROM PUBLIC;

-- {{ $value }} as Go's text/template prints a float64 (%v): the shortest
-- digits that read back exactly, in exponent form below 1e-4 and from 1e6 on
-- (0.07, 123456, 1e+06, 1.5e-05).
CREATE FUNCTION metrics_ex._alert_value_text(v float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    m text[];
    digits text;
    nz int;
    e int;
    neg bool := v < 0;
BEGIN
    IF v IS NULL THEN
        RETURN '<no value>';
    ELSIF v = 'NaN'::float8 THEN
        RETURN 'NaN';
    ELSIF v = 'Infinity'::float8 THEN
        RETURN '+Inf';
    ELSIF v = '-Infinity'::float8 THEN
        RETURN '-Inf';
    ELSIF v = 0 THEN
        RETURN CASE WHEN v::text LIKE '-%' THEN '-0' ELSE '0' END;
    END IF;
    -- float8 text is the shortest round-trip form: digits, point, exponent
    m := regexp_match(abs(v)::text, '^([0-9]*)\.?([0-9]*)(?:e([-+][0-9]+))?$');
    digits := m[1] || m[2];
    nz := length(digits) - length(ltrim(digits, '0'));
    digits := rtrim(ltrim(digits, '0'), '0');
    e := length(m[1]) + coalesce(m[3]::int, 0) - nz - 1;    -- exponent of the first digit
    RETURN CASE WHEN neg THEN '-' ELSE '' END ||
        CASE WHEN e < -4 OR e >= 6 THEN
                 left(digits, 1) || CASE WHEN length(digits) > 1 THEN '.' || substr(digits, 2) ELSE '' END
                 || 'e' || CASE WHEN e < 0 THEN '-' ELSE '+' END || lpad(abs(e)::text, 2, '0')
             WHEN e < 0 THEN '0.' || repeat('0', -e - 1) || digits
             WHEN length(digits) > e + 1 THEN left(digits, e + 1) || '.' || substr(digits, e + 2)
             ELSE rpad(digits, e + 1, '0') END;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_value_text(float8) FROM PUBLIC;

-- An annotation template: {{ $value }} / {{ .Value }} and
-- {{ $labels.name }} / {{ .Labels.name }} (the result's labels, "<no value>"
-- when missing), as Prometheus renders them.  Anything else between braces
-- is kept as written.
CREATE FUNCTION metrics_ex._alert_template(t text, labels jsonb, value float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rest text := t;
    out text := '';
    i int;
    j int;
    inner_text text;
BEGIN
    LOOP
        i := strpos(rest, '{{');
        EXIT WHEN i = 0;
        j := strpos(substr(rest, i + 2), '}}');
        EXIT WHEN j = 0;
        inner_text := btrim(substr(rest, i + 2, j - 1), E' \t\n\r');
        out := out || left(rest, i - 1) ||
            CASE WHEN inner_text IN ('$value', '.Value') THEN metrics_ex._alert_value_text(value)
                 WHEN inner_text ~ '^(\$labels|\.Labels)\.[a-zA-Z_][a-zA-Z0-9_]*$'
                 THEN coalesce(labels ->> regexp_replace(inner_text, '^.*\.', ''), '<no value>')
                 ELSE substr(rest, i, j + 3) END;
        rest := substr(rest, i + j + 3);
    END LOOP;
    RETURN out || rest;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_template(text, jsonb, float8) FROM PUBLIC;

-- The full label set of one result row: its labels (empty values dropped,
-- as Prometheus drops empty labels; alertstate is ours), then severity, the
-- rule's labels and alertname, each overriding what came before.
CREATE FUNCTION metrics_ex._alert_labels(d metrics_ex.alert_defs, g jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_object_agg(e.key, e.value) FILTER (WHERE e.value <> '""'), '{}')
          FROM jsonb_each(metrics_ex._alert_string_map(g, 'the labels of a result') - 'alertstate') e)
       || jsonb_build_object('severity', d.severity) || d.labels || jsonb_build_object('alertname', d.name);
REVOKE ALL ON FUNCTION metrics_ex._alert_labels(metrics_ex.alert_defs, jsonb) FROM PUBLIC;

-- The next evaluation of a rule evaluated at at: the next point of its
-- every-grid (aligned to the UTC epoch), so evaluations do not drift.
CREATE FUNCTION metrics_ex._alert_next(every interval, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN date_bin(every, at, '1970-01-01 00:00:00+00') + every;
REVOKE ALL ON FUNCTION metrics_ex._alert_next(interval, timestamptz) FROM PUBLIC;

-- The start of an evaluation: history older than 7 days goes, and the due
-- rules of the roles whose privileges caller has, locked (a concurrent
-- evaluation skips them), in name order.
CREATE FUNCTION metrics_ex._alerts_due(at timestamptz, caller oid) RETURNS SETOF metrics_ex.alert_defs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM metrics_ex.alert_log l WHERE l.at < _alerts_due.at - interval '7 days';
    RETURN QUERY
        SELECT * FROM metrics_ex.alert_defs d
         WHERE (d.next_eval IS NULL OR d.next_eval <= _alerts_due.at)
           AND pg_has_role(caller, d.owner::oid, 'USAGE')
         ORDER BY d.name
           FOR UPDATE SKIP LOCKED;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alerts_due(timestamptz, oid) FROM PUBLIC;

-- Rules evaluated at at without an error, each in eval_ms (evaluate_alerts()
-- records the rules where nothing happened all at once).
CREATE FUNCTION metrics_ex._alerts_evaluated(rules bigint[], at timestamptz, eval_ms float8[])
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE metrics_ex.alert_defs x
       SET last_eval = _alerts_evaluated.at, next_eval = metrics_ex._alert_next(x.every, _alerts_evaluated.at),
           last_duration = q.ms * interval '1 millisecond', last_error = NULL, consecutive_errors = 0
      FROM unnest(_alerts_evaluated.rules, _alerts_evaluated.eval_ms) q(id, ms)
     WHERE x.id = q.id;
END;
REVOKE ALL ON FUNCTION metrics_ex._alerts_evaluated(bigint[], timestamptz, float8[]) FROM PUBLIC;

-- One evaluation of one rule, as Prometheus' AlertingRule.Eval: results
-- are the label sets (group labels) and values for which the condition
-- holds.  Returns the transitions.
CREATE FUNCTION metrics_ex._alert_apply(rule bigint, at timestamptz, results jsonb[], vals float8[],
                                        eval_ms float8)
RETURNS TABLE (alert text, labels jsonb, from_state text, to_state text, value float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d metrics_ex.alert_defs;
    h record;
    s metrics_ex.alert_state;
    held jsonb[];
    muted bool;
    ann jsonb;
    next_state text;
    changed bool := false;
BEGIN
    SELECT * INTO STRICT d FROM metrics_ex.alert_defs x WHERE x.id = rule;
    SELECT array_agg(metrics_ex._alert_labels(d, r.g) ORDER BY r.i) INTO held
      FROM unnest(results) WITH ORDINALITY r(g, i);
    held := coalesce(held, '{}');
    IF (SELECT count(DISTINCT x) <> count(*) FROM unnest(held) x) THEN
        RAISE EXCEPTION 'two results of alert rule "%" have the same labels', d.name USING ERRCODE = '21000',
            HINT = 'Each result needs labels of its own: group by more tags, or return distinct labels from the sql.';
    END IF;

    -- label sets for which the condition holds: new ones become pending (or
    -- firing at once without pending_for), pending ones fire once they have
    -- held for pending_for
    FOR h IN SELECT l, r.g, v FROM unnest(held, results, vals) r(l, g, v) ORDER BY l LOOP
        muted := metrics_ex._alert_silenced(d.owner, h.l, at);
        ann := (SELECT coalesce(jsonb_object_agg(e.key, metrics_ex._alert_template(e.value, h.g, h.v)), '{}')
                  FROM jsonb_each_text(d.annotations) e);
        SELECT * INTO s FROM metrics_ex.alert_state x WHERE x.rule_id = rule AND x.labels = h.l;
        IF NOT FOUND THEN
            next_state := CASE WHEN d.pending_for <= interval '0' THEN 'firing' ELSE 'pending' END;
            INSERT INTO metrics_ex.alert_state (rule_id, labels, state, value, active_since, fired_at, annotations, silenced)
            VALUES (rule, h.l, next_state, h.v, at, CASE WHEN next_state = 'firing' THEN at END, ann, muted);
            PERFORM metrics_ex._alert_transition(d, h.l, 'inactive', next_state, h.v, at, muted, ann, at);
            changed := true;
            RETURN QUERY SELECT d.name, h.l, 'inactive', next_state, h.v;
            CONTINUE;
        END IF;
        next_state := CASE WHEN s.state = 'pending' AND at - s.active_since >= d.pending_for
                           THEN 'firing' ELSE s.state END;
        UPDATE metrics_ex.alert_state x
           SET value = h.v, annotations = ann, keep_firing_since = NULL, silenced = muted,
               state = next_state,
               fired_at = CASE WHEN next_state <> s.state THEN at ELSE x.fired_at END
         WHERE x.rule_id = rule AND x.labels = h.l;
        IF next_state <> s.state THEN
            PERFORM metrics_ex._alert_transition(d, h.l, s.state, next_state, h.v, at, muted, ann, at);
            changed := true;
            RETURN QUERY SELECT d.name, h.l, s.state, next_state, h.v;
        ELSIF s.state = 'firing' AND s.silenced AND NOT muted THEN
            -- its silence ended while it fires: the receivers hear of it now
            PERFORM pg_notify('metrics_ex_alerts', metrics_ex._alert_payload('firing', h.l, ann, s.fired_at, NULL));
        END IF;
    END LOOP;

    -- label sets for which it no longer holds: pending ones go back to
    -- inactive; firing ones resolve, unless keep_firing_for keeps them firing
    -- for that long after the first evaluation that did not hold
    FOR s IN SELECT * FROM metrics_ex.alert_state x
              WHERE x.rule_id = rule AND NOT EXISTS (SELECT 1 FROM unnest(held) y WHERE y = x.labels)
              ORDER BY x.labels LOOP
        muted := metrics_ex._alert_silenced(d.owner, s.labels, at);
        IF s.state = 'firing' AND at - coalesce(s.keep_firing_since, at) < d.keep_firing_for THEN
            UPDATE metrics_ex.alert_state x
               SET keep_firing_since = coalesce(x.keep_firing_since, at), silenced = muted
             WHERE x.rule_id = rule AND x.labels = s.labels;
            IF s.silenced AND NOT muted THEN
                PERFORM pg_notify('metrics_ex_alerts',
                                  metrics_ex._alert_payload('firing', s.labels, s.annotations, s.fired_at, NULL));
            END IF;
            CONTINUE;
        END IF;
        DELETE FROM metrics_ex.alert_state x WHERE x.rule_id = rule AND x.labels = s.labels;
        next_state := CASE s.state WHEN 'pending' THEN 'inactive' ELSE 'resolved' END;
        PERFORM metrics_ex._alert_transition(d, s.labels, s.state, next_state, s.value, at, muted,
                                             s.annotations, s.fired_at);
        changed := true;
        RETURN QUERY SELECT d.name, s.labels, s.state, next_state, s.value;
    END LOOP;

    PERFORM metrics_ex._alerts_evaluated(ARRAY[rule], at, ARRAY[eval_ms]);
    IF changed THEN
        -- bounded history: the last 1000 transitions of a rule
        DELETE FROM metrics_ex.alert_log l
         WHERE l.rule_id = rule
           AND l.id <= (SELECT y.id FROM metrics_ex.alert_log y WHERE y.rule_id = rule
                         ORDER BY y.id DESC OFFSET 1000 LIMIT 1);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION metrics_ex._alert_apply(bigint, timestamptz, jsonb[], float8[], float8) FROM PUBLIC;

-- A failed evaluation: the error is recorded, the alerts stay as they were.
CREATE FUNCTION metrics_ex._alert_failed(rule bigint, at timestamptz, error text, eval_ms float8)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE metrics_ex.alert_defs x
       SET last_eval = _alert_failed.at, next_eval = metrics_ex._alert_next(x.every, _alert_failed.at),
           last_duration = _alert_failed.eval_ms * interval '1 millisecond',
           last_error = _alert_failed.error, consecutive_errors = x.consecutive_errors + 1
     WHERE x.id = _alert_failed.rule;
END;
REVOKE ALL ON FUNCTION metrics_ex._alert_failed(bigint, timestamptz, text, float8) FROM PUBLIC;

-- The API.  These C functions record the calling role and call the _alert_*
-- functions above as the extension's owner; managing alerts needs INSERT on
-- metrics_ex.ingest (the writer privilege), as experiments do.
CREATE FUNCTION metrics_ex.add_alert(
    name text, metric text DEFAULT NULL, aggregation text DEFAULT 'mean', op text DEFAULT '>',
    threshold float8 DEFAULT NULL, span interval DEFAULT '5 minutes', pending_for interval DEFAULT '0',
    keep_firing_for interval DEFAULT '0', tags jsonb DEFAULT '{}', group_by text[] DEFAULT '{}',
    severity text DEFAULT 'warning', labels jsonb DEFAULT '{}', annotations jsonb DEFAULT '{}',
    kind text DEFAULT 'threshold', sql text DEFAULT NULL, baseline_windows int DEFAULT 12,
    sigmas float8 DEFAULT 3, every interval DEFAULT '1 minute')
RETURNS void
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_alert_api';
COMMENT ON FUNCTION metrics_ex.add_alert(text, text, text, text, float8, interval, interval, interval,
    jsonb, text[], text, jsonb, jsonb, text, text, int, float8, interval) IS
    'Add an alert rule (threshold, sql, anomaly or absent) owned by the calling role';

CREATE FUNCTION metrics_ex.alter_alert(
    name text, metric text DEFAULT NULL, aggregation text DEFAULT NULL, op text DEFAULT NULL,
    threshold float8 DEFAULT NULL, span interval DEFAULT NULL, pending_for interval DEFAULT NULL,
    keep_firing_for interval DEFAULT NULL, tags jsonb DEFAULT NULL, group_by text[] DEFAULT NULL,
    severity text DEFAULT NULL, labels jsonb DEFAULT NULL, annotations jsonb DEFAULT NULL,
    kind text DEFAULT NULL, sql text DEFAULT NULL, baseline_windows int DEFAULT NULL,
    sigmas float8 DEFAULT NULL, every interval DEFAULT NULL)
RETURNS void
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_alert_api';
COMMENT ON FUNCTION metrics_ex.alter_alert(text, text, text, text, float8, interval, interval, interval,
    jsonb, text[], text, jsonb, jsonb, text, text, int, float8, interval) IS
    'Change an alert rule; NULL arguments keep what it has';

CREATE FUNCTION metrics_ex.remove_alert(name text) RETURNS void
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_alert_api';
COMMENT ON FUNCTION metrics_ex.remove_alert(text) IS
    'Remove an alert rule; its firing alerts resolve';

CREATE FUNCTION metrics_ex.silence(matchers jsonb, until timestamptz, comment text DEFAULT NULL)
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_alert_api';
COMMENT ON FUNCTION metrics_ex.silence(jsonb, timestamptz, text) IS
    'Silence matching alerts until a time: they keep their state but send no notification';

CREATE FUNCTION metrics_ex.unsilence(id bigint) RETURNS void
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_alert_api';
COMMENT ON FUNCTION metrics_ex.unsilence(bigint) IS 'End a silence';

CREATE FUNCTION metrics_ex.evaluate_alerts(at timestamptz DEFAULT now())
RETURNS TABLE (alert text, labels jsonb, from_state text, to_state text, value float8)
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'metrics_ex_evaluate_alerts';
COMMENT ON FUNCTION metrics_ex.evaluate_alerts(timestamptz) IS
    'Evaluate every due alert rule (of the roles whose privileges the caller has) as of at; returns the transitions';

-- ALERTS and ALERTS_FOR_STATE, as Prometheus exposes its alerts: one line
-- per pending or firing alert the caller may see (metrics_ex.alerts).
-- prometheus(), prometheus_text() and openmetrics_text() end with them.
-- A metric of ours exposed under either family name wins; these are left out.
CREATE FUNCTION metrics_ex.prometheus_alerts(openmetrics boolean DEFAULT false) RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- (two statements: a reference to the table needs the privilege even
    -- where the test would skip it)
    IF has_table_privilege('metrics_ex.metrics', 'SELECT') THEN
        IF EXISTS (SELECT 1 FROM metrics_ex.metrics m
                    WHERE metrics_ex._prom_family(m.name, m.kind) IN ('ALERTS', 'ALERTS_FOR_STATE')) THEN
            RETURN;
        END IF;
    END IF;
    RETURN QUERY
    WITH a AS (
        SELECT x.labels, x.state, x.active_since,
               (SELECT string_agg(e.key || '="' || metrics_ex._prom_label_value(e.value) || '"', ','
                                  ORDER BY e.key COLLATE "C")
                  FROM jsonb_each_text(x.labels || jsonb_build_object('alertstate', x.state)) e) AS with_state,
               (SELECT string_agg(e.key || '="' || metrics_ex._prom_label_value(e.value) || '"', ','
                                  ORDER BY e.key COLLATE "C")
                  FROM jsonb_each_text(x.labels) e) AS without_state
          FROM metrics_ex.alerts x
    ), lines AS (
        SELECT 1 AS family, 0 AS part, '' AS k,
               '# HELP ALERTS Pending and firing alerts of metrics_ex alert rules' AS line
        UNION ALL SELECT 1, 1, '', '# TYPE ALERTS gauge'
        UNION ALL SELECT 1, 2, a.with_state, 'ALERTS{' || a.with_state || '} 1' FROM a
        UNION ALL SELECT 2, 0, '', '# HELP ALERTS_FOR_STATE Start of the pending state of each alert, in seconds since the epoch'
        UNION ALL SELECT 2, 1, '', '# TYPE ALERTS_FOR_STATE gauge'
        UNION ALL SELECT 2, 2, a.without_state,
                         'ALERTS_FOR_STATE{' || a.without_state || '} ' || floor(extract(epoch FROM a.active_since))::bigint
                    FROM a
    )
    SELECT l.line FROM lines l
     WHERE EXISTS (SELECT 1 FROM a)
     ORDER BY l.family, l.part, l.k COLLATE "C";
END
$$;
COMMENT ON FUNCTION metrics_ex.prometheus_alerts(boolean) IS
    'ALERTS{alertname, alertstate, ...} 1 and ALERTS_FOR_STATE{...} <active since>, as Prometheus exposes alerts';
