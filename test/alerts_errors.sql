-- Alert rules: bad input (errors name the argument, with their SQLSTATEs)
-- and privileges (who owns a rule, what it can read, who sees what).
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT plan(69);

SELECT metrics_ex.gauge('te_secret', 42, '{"vault": "v1"}', '2030-02-01 00:00:00+00');

-- bad input
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', 'median', threshold => 1)$$, '22023',
                 'unknown aggregation "median"', 'unknown aggregation');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', op => '=>', threshold => 1)$$, '22023',
                 'invalid op ''=>''', 'unknown op');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, kind => 'forecast')$$, '22023',
                 'invalid kind ''forecast''', 'unknown kind');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret')$$, '22023',
                 'a rule of kind threshold needs a threshold', 'a threshold rule without threshold');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', sql => 'SELECT ''{}''::jsonb, 1')$$, '22023',
                 'a rule of kind sql needs a threshold', 'an sql rule without threshold');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, every => '500 milliseconds')$$, '22023',
                 'every must be at least 1 second, not 00:00:00.5', 'every under 1 second');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, every => '1 month')$$, '22023',
                 NULL, 'every with months');
SELECT throws_ok($$SELECT metrics_ex.add_alert('', 'te_secret', threshold => 1)$$, '22023',
                 'invalid name '''': not a valid label value', 'an empty name');
SELECT throws_ok($$SELECT metrics_ex.add_alert(E'two\nlines', 'te_secret', threshold => 1)$$, '22023',
                 NULL, 'a name with a control character');
SELECT throws_ok($$SELECT metrics_ex.add_alert(NULL, 'te_secret', threshold => 1)$$, '22023',
                 'invalid name NULL: not a valid label value', 'a NULL name');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, severity => '')$$, '22023',
                 NULL, 'an empty severity');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'bad name', threshold => 1)$$, '42602',
                 'invalid metric name "bad name"', 'an invalid metric name');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', threshold => 1)$$, '22023',
                 'a rule of kind threshold needs a metric', 'no metric');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 'NaN')$$, '22023',
                 'threshold must be a number, not NaN', 'a NaN threshold');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, span => '0')$$, '22023',
                 'span must be a positive interval, not 00:00:00', 'span 0');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, pending_for => '-1 minute')$$, '22023',
                 'pending_for must not be negative', 'negative pending_for');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, keep_firing_for => '-1 minute')$$, '22023',
                 'keep_firing_for must not be negative', 'negative keep_firing_for');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, tags => '[1]')$$, '22023',
                 'tags must be a JSON object', 'tags not an object');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, group_by => '{"a b"}')$$, '22023',
                 NULL, 'group_by not tag names');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, labels => '{"alertname": "x"}')$$, '22023',
                 'labels must not set alertname', 'labels setting alertname');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, labels => '{"bad-name": "x"}')$$, '22023',
                 'invalid name ''bad-name'' in labels', 'a label name that is none');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, annotations => '"text"')$$, '22023',
                 'annotations must be a JSON object, not "text"', 'annotations not an object');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, annotations => '{"a": {"b": 1}}')$$, '22023',
                 NULL, 'an annotation that is not a string');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', kind => 'anomaly', baseline_windows => 2)$$, '22023',
                 'baseline_windows must be between 3 and 1000, not 2', 'baseline_windows 2');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', kind => 'anomaly', sigmas => 0)$$, '22023',
                 'sigmas must be a positive number, not 0', 'sigmas 0');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', kind => 'absent', group_by => '{trace_id}')$$, '22023',
                 NULL, 'an absent rule grouped by a lineage id');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', 'te_secret', threshold => 1, sql => 'SELECT ''{}''::jsonb, 1')$$, '22023',
                 'sql is only used by rules of kind sql, not threshold', 'sql on a threshold rule');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', threshold => 1, sql => 'SELEC 1')$$, '42601',
                 NULL, 'sql with a syntax error');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', threshold => 1, sql => 'SELECT 1')$$, '42804',
                 'the sql of an alert rule must return two columns (labels jsonb, value float8), not 1', 'sql with one column');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', threshold => 1, sql => 'SELECT 1, 2')$$, '42804',
                 'the first column of an alert rule''s sql must be jsonb (the labels), not integer', 'labels not jsonb');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', threshold => 1, sql => 'SELECT ''{}''::jsonb, ''x''::text')$$, '42804',
                 NULL, 'value not a number');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', threshold => 1, sql => 'CREATE TABLE x (a int)')$$, '22023',
                 'the sql of an alert rule must be one SELECT', 'sql that is not a SELECT');
SELECT throws_ok($$SELECT metrics_ex.add_alert('e', kind => 'sql', threshold => 1, sql => 'SELECT ''{}''::jsonb, 1; SELECT ''{}''::jsonb, 2')$$,
                 '22023', 'the sql of an alert rule must be one SELECT', 'two statements');
SELECT lives_ok($$SELECT metrics_ex.add_alert('te_rule', 'te_secret', threshold => 1)$$, 'a good rule');
SELECT throws_ok($$SELECT metrics_ex.add_alert('te_rule', 'te_secret', threshold => 1)$$, '42710',
                 'alert rule "te_rule" already exists', 'a duplicate name');
SELECT throws_ok($$SELECT metrics_ex.alter_alert('te_nope', threshold => 1)$$, '42704',
                 'alert rule "te_nope" does not exist', 'alter an unknown rule');
SELECT throws_ok($$SELECT metrics_ex.alter_alert('te_rule', op => '<>')$$, '22023', NULL, 'alter checks too');
SELECT throws_ok($$SELECT metrics_ex.remove_alert('te_nope')$$, '42704', NULL, 'remove an unknown rule');
SELECT throws_ok($$SELECT metrics_ex.silence(NULL, '2030-01-01')$$, '22023', NULL, 'NULL matchers');
SELECT throws_ok($$SELECT metrics_ex.silence('{}', '2030-01-01')$$, '22023',
                 'matchers must have at least one matcher', 'no matchers');
SELECT throws_ok($$SELECT metrics_ex.silence('{"alertname": "x"}', NULL)$$, '22004', 'until must not be NULL', 'no until');
SELECT throws_ok($$SELECT metrics_ex.silence('[{"name": "alertname", "value": "(", "isRegex": true}]', '2030-01-01')$$, '2201B',
                 NULL, 'a bad regular expression');
SELECT throws_ok($$SELECT metrics_ex.silence('[{"name": "alertname"}]', '2030-01-01')$$, '22023', NULL, 'a matcher without value');
SELECT throws_ok($$SELECT metrics_ex.unsilence(-1)$$, '42704', 'silence -1 does not exist', 'unsilence an unknown silence');
SELECT throws_ok($$SELECT * FROM metrics_ex.evaluate_alerts(NULL)$$, '22004', 'at must not be NULL', 'evaluate at NULL');
SELECT throws_ok($$SELECT * FROM metrics_ex.evaluate_alerts('infinity')$$, '22023', 'at must be a finite time', 'evaluate at infinity');

-- privileges
CREATE ROLE mx_al_writer;      -- may record, may not read
CREATE ROLE mx_al_reader;      -- may record and read
CREATE ROLE mx_al_nobody;
GRANT USAGE ON SCHEMA metrics_ex TO mx_al_writer, mx_al_reader, mx_al_nobody;
GRANT INSERT ON metrics_ex.ingest TO mx_al_writer, mx_al_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO mx_al_reader;

SET LOCAL ROLE mx_al_nobody;
SELECT throws_ok($$SELECT metrics_ex.add_alert('te_nobody', 'te_secret', threshold => 1)$$, '42501',
                 'permission denied to manage alert rules', 'a role that may not record metrics may not add rules');
SELECT throws_ok($$SELECT * FROM metrics_ex.evaluate_alerts()$$, '42501', NULL, 'nor evaluate them');
SELECT throws_ok($$SELECT metrics_ex._alert_define(10, false, 'x', 'te_secret', 'mean', '>', 1, '5 minutes', '0', '0', '{}', '{}',
                                                'warning', '{}', '{}', 'threshold', NULL, 12, 3, '1 minute')$$,
                 '42501', NULL, 'nor call the internal function with an owner of its choice');
RESET ROLE;
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
            WHERE p.pronamespace = 'metrics_ex'::regnamespace AND p.proname ~ '^_alert'
              AND has_function_privilege('mx_al_nobody', p.oid, 'EXECUTE')),
          NULL, 'no internal alert function is executable by PUBLIC');

-- the writer's rules run as the writer, whoever evaluates them: they cannot read the data
SET LOCAL ROLE mx_al_writer;
SELECT metrics_ex.add_alert('te_w_threshold', 'te_secret', 'max', '>', 0, span => '1 hour', group_by => '{vault}');
SELECT metrics_ex.add_alert('te_w_absent', 'te_secret', kind => 'absent', span => '1 hour');
SELECT metrics_ex.add_alert('te_w_anomaly', 'te_secret', kind => 'anomaly');
SELECT metrics_ex.add_alert('te_w_sql', kind => 'sql', threshold => -1,
                            sql => $$SELECT jsonb_build_object('n', count(*)::text), count(*) FROM metrics_ex.samples$$);
SELECT metrics_ex.add_alert('te_w_who', kind => 'sql', threshold => 0,
                            sql => $$SELECT jsonb_build_object('user', current_user::text), 1$$);
SELECT metrics_ex.silence('{"alertname": "te_r_threshold"}', '2030-03-01', 'not mine') AS w_silence \gset
RESET ROLE;
SET LOCAL ROLE mx_al_reader;
SELECT metrics_ex.add_alert('te_r_threshold', 'te_secret', 'max', '>', 0, span => '1 hour', group_by => '{vault}');
SELECT metrics_ex.silence('{"alertname": "te_w_who"}', '2030-03-01', 'not mine either') AS r_silence \gset
RESET ROLE;
SELECT results_eq($$SELECT name, owner::text FROM metrics_ex.alert_rules WHERE name ~ '^te_[wr]_' ORDER BY name$$,
    $$VALUES ('te_r_threshold', 'mx_al_reader'), ('te_w_absent', 'mx_al_writer'), ('te_w_anomaly', 'mx_al_writer'),
             ('te_w_sql', 'mx_al_writer'), ('te_w_threshold', 'mx_al_writer'), ('te_w_who', 'mx_al_writer')$$,
    'each rule is owned by the role that added it');

SELECT results_eq($$SELECT alert, labels FROM metrics_ex.evaluate_alerts('2030-02-01 00:30:00+00') WHERE alert ~ '^te_[wr]_' ORDER BY alert$$,
    $$VALUES ('te_r_threshold', '{"alertname": "te_r_threshold", "severity": "warning", "vault": "v1"}'::jsonb),
             ('te_w_who', '{"alertname": "te_w_who", "severity": "warning", "user": "mx_al_writer"}'::jsonb)$$,
    'evaluated by a superuser: the reader''s rule reads the data, the writer''s sql runs as the writer');
SELECT results_eq($$SELECT name, health, last_error FROM metrics_ex.alert_rules
                     WHERE name ~ '^te_w_(threshold|absent|anomaly|sql)' ORDER BY name$$,
    $$VALUES ('te_w_absent', 'err', 'permission denied for table series'),
             ('te_w_anomaly', 'err', 'permission denied for table metrics'),
             ('te_w_sql', 'err', 'permission denied for table samples'),
             ('te_w_threshold', 'err', 'permission denied for table metrics')$$,
    'a role without SELECT on the data cannot read it through a rule of any kind');
SELECT results_eq($$SELECT alert, silenced FROM metrics_ex.alerts WHERE alert ~ '^te_[wr]_' ORDER BY alert$$,
    $$VALUES ('te_r_threshold', false), ('te_w_who', false)$$,
    'a silence mutes only the rules of the roles whose privileges its creator has');

SET LOCAL ROLE mx_al_writer;
SELECT results_eq($$SELECT name FROM metrics_ex.alert_rules ORDER BY name$$,
    $$VALUES ('te_w_absent'), ('te_w_anomaly'), ('te_w_sql'), ('te_w_threshold'), ('te_w_who')$$,
    'alert_rules shows a role its own rules only (no sql of others)');
SELECT results_eq($$SELECT alert FROM metrics_ex.alerts$$, $$VALUES ('te_w_who')$$, 'alerts too');
SELECT results_eq($$SELECT alert, to_state FROM metrics_ex.alert_history$$, $$VALUES ('te_w_who', 'firing')$$, 'and the history');
SELECT results_eq($$SELECT comment FROM metrics_ex.silences$$, $$VALUES ('not mine')$$, 'and silences');
SELECT is((SELECT count(*) FROM metrics_ex.prometheus_alerts() l WHERE l LIKE 'ALERTS{%'), 1::bigint,
          'and the ALERTS exposition');
SELECT throws_ok($$SELECT metrics_ex.alter_alert('te_r_threshold', threshold => 100)$$, '42501',
                 'permission denied to change alert rule "te_r_threshold"', 'another role''s rule cannot be altered');
SELECT throws_ok($$SELECT metrics_ex.remove_alert('te_r_threshold')$$, '42501', NULL, 'nor removed');
SELECT throws_ok(format('SELECT metrics_ex.unsilence(%s)', :r_silence), '42501', NULL, 'nor another role''s silence ended');
SELECT throws_ok($$SELECT count(*) FROM metrics_ex.alert_defs$$, '42501', NULL, 'the tables are not readable');
SELECT is((SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-02-01 00:31:00+00')), 0::bigint, 'evaluating...');
RESET ROLE;
SELECT results_eq($$SELECT name FROM metrics_ex.alert_rules WHERE last_evaluation = '2030-02-01 00:31:00+00' ORDER BY name$$,
    $$VALUES ('te_w_absent'), ('te_w_anomaly'), ('te_w_sql'), ('te_w_threshold'), ('te_w_who')$$,
    '...a role evaluates only its own rules');
SET LOCAL ROLE mx_al_reader;
SELECT is((SELECT count(*) FROM metrics_ex.alert_rules WHERE name ~ '^te_'), 7::bigint,
          'a reader with SELECT on the tables sees every rule');
SELECT lives_ok($$SELECT metrics_ex.alter_alert('te_r_threshold', threshold => 100)$$, 'the owner alters its rule');
RESET ROLE;
SELECT lives_ok($$SELECT metrics_ex.remove_alert('te_w_who')$$, 'a superuser removes any rule');
SELECT is((SELECT count(*) FROM metrics_ex.alert_rules WHERE name = 'te_w_who'), 0::bigint, 'gone');

SELECT * FROM finish();
ROLLBACK;
