-- Alert rules evaluated by hand (evaluate_alerts(at)) over data at fixed
-- timestamps: Prometheus' transitions, every, templates, anomaly, absent,
-- silences, a failing rule beside a healthy one, the exposition.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT plan(70);

-- transitions: evaluation k happens at T(k) = t0 + (k + 1) minutes and sees
-- [t0 + k min, t0 + (k + 1) min): exactly the sample of minute k
CREATE FUNCTION pg_temp.t(k numeric) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE RETURN '2030-01-01 00:00:00+00'::timestamptz + (k + 1) * interval '1 minute';
CREATE TEMP TABLE tr (k numeric, alert text, labels jsonb, from_state text, to_state text, value float8);
CREATE FUNCTION pg_temp.ev(k numeric) RETURNS bigint LANGUAGE sql AS $$
    WITH i AS (INSERT INTO tr SELECT k, e.* FROM metrics_ex.evaluate_alerts(pg_temp.t(k)) e RETURNING 1)
    SELECT count(*) FROM i $$;
-- the transitions of one rule, in order, as "k:from>to"
CREATE FUNCTION pg_temp.steps(rule text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(k || ':' || from_state || '>' || to_state, ' ' ORDER BY k, labels::text)
      FROM tr WHERE alert = rule $$;

SELECT metrics_ex.gauge('ta_errors', v, '{"route": "/a"}', '2030-01-01 00:00:00+00'::timestamptz + k * interval '1 minute')
  FROM unnest('{1,20,20,5,20,20,20,20,1,1,1}'::float8[]) WITH ORDINALITY x(v, n), LATERAL (SELECT n - 1 AS k) y;
SELECT metrics_ex.add_alert('ta_pending', 'ta_errors', 'max', '>', 10, span => '1 minute', pending_for => '2 minutes',
                            group_by => '{route}', annotations => '{"summary": "{{ $labels.route }} has {{ $value }} errors"}');
SELECT metrics_ex.add_alert('ta_keep', 'ta_errors', 'max', '>', 10, span => '1 minute', keep_firing_for => '2 minutes',
                            severity => 'page', labels => '{"team": "web"}');
SELECT metrics_ex.add_alert('ta_every2', 'ta_errors', 'max', '>=', 20, span => '1 minute', every => '2 minutes');

SELECT is((SELECT health FROM metrics_ex.alert_rules WHERE name = 'ta_pending'), 'unknown', 'a new rule has not been evaluated');
SELECT is(pg_temp.ev(0), 0::bigint, 'minute 0: nothing holds, nothing moves');
SELECT is(pg_temp.ev(1), 3::bigint, 'minute 1: three rules move');
SELECT results_eq($$SELECT alert, labels, from_state, to_state, value FROM tr WHERE k = 1 ORDER BY alert$$,
    $$VALUES ('ta_every2', '{"alertname": "ta_every2", "severity": "warning"}'::jsonb, 'inactive', 'firing', 20::float8),
             ('ta_keep', '{"alertname": "ta_keep", "severity": "page", "team": "web"}'::jsonb, 'inactive', 'firing', 20::float8),
             ('ta_pending', '{"alertname": "ta_pending", "route": "/a", "severity": "warning"}'::jsonb, 'inactive', 'pending', 20::float8)$$,
    'the label sets: group labels, severity, rule labels, alertname; without pending_for straight to firing');
SELECT results_eq($$SELECT alert, state, value, active_since, fired_at, severity, annotations, silenced
                      FROM metrics_ex.alerts ORDER BY alert$$,
    $$VALUES ('ta_every2', 'firing', 20::float8, pg_temp.t(1), pg_temp.t(1), 'warning', '{}'::jsonb, false),
             ('ta_keep', 'firing', 20::float8, pg_temp.t(1), pg_temp.t(1), 'page', '{}'::jsonb, false),
             ('ta_pending', 'pending', 20::float8, pg_temp.t(1), NULL::timestamptz, 'warning',
              '{"summary": "/a has 20 errors"}'::jsonb, false)$$,
    'the alerts view: state, value, since, rendered annotations');
SELECT is(pg_temp.ev(1.5), 0::bigint, 'half a minute later no rule is due: each runs at most once per every');
SELECT is((SELECT last_evaluation FROM metrics_ex.alert_rules WHERE name = 'ta_pending'), pg_temp.t(1), 'and none was evaluated');
SELECT is((SELECT next_evaluation FROM metrics_ex.alert_rules WHERE name = 'ta_every2'), pg_temp.t(3),
          'the next evaluation is on the every-grid');
SELECT lives_ok($$SELECT pg_temp.ev(k) FROM generate_series(2, 10) k$$, 'minutes 2 to 10');

SELECT is(pg_temp.steps('ta_pending'), '1:inactive>pending 3:pending>inactive 4:inactive>pending 6:pending>firing 8:firing>resolved',
          'pending_for: pending, back to inactive when it stops holding, firing after 2 minutes, resolved');
SELECT is(pg_temp.steps('ta_keep'), '1:inactive>firing 10:firing>resolved',
          'keep_firing_for: a gap of one evaluation keeps firing; it resolves 2 minutes after it stopped holding');
SELECT is(pg_temp.steps('ta_every2'), '1:inactive>firing 3:firing>resolved 5:inactive>firing 9:firing>resolved',
          'every => 2 minutes: evaluated at minutes 1, 3, 5, 7, 9 only');
SELECT is((SELECT value FROM tr WHERE alert = 'ta_pending' AND k = 3), 20::float8, 'pending to inactive reports the last value');
SELECT is((SELECT count(*) FROM metrics_ex.alerts), 0::bigint, 'nothing left pending or firing');
SELECT results_eq($$SELECT at, from_state, to_state, annotations ->> 'summary' FROM metrics_ex.alert_history
                     WHERE alert = 'ta_pending' ORDER BY id$$,
    $$VALUES (pg_temp.t(1), 'inactive', 'pending', '/a has 20 errors'), (pg_temp.t(3), 'pending', 'inactive', '/a has 20 errors'),
             (pg_temp.t(4), 'inactive', 'pending', '/a has 20 errors'), (pg_temp.t(6), 'pending', 'firing', '/a has 20 errors'),
             (pg_temp.t(8), 'firing', 'resolved', '/a has 20 errors')$$,
    'alert_history holds every transition with the time of its evaluation');
SELECT results_eq($$SELECT health, last_error, consecutive_errors FROM metrics_ex.alert_rules WHERE name = 'ta_keep'$$,
                  $$VALUES ('ok', NULL::text, 0)$$, 'a healthy rule');

-- the exposition: ALERTS and ALERTS_FOR_STATE as Prometheus writes them
SELECT metrics_ex.gauge('ta_errors', 50, '{"route": "/a"}', pg_temp.t(m - 1)) FROM generate_series(11, 14) m;
SELECT is(pg_temp.ev(11), 3::bigint, 'minute 11: all three hold again');
SELECT is(pg_temp.ev(12), 0::bigint, 'minute 12: nothing moves');
SELECT is(pg_temp.ev(13), 1::bigint, 'minute 13: ta_pending fires');
SELECT results_eq($$SELECT l FROM metrics_ex.prometheus_alerts() l$$,
    $$VALUES ('# HELP ALERTS Pending and firing alerts of metrics_ex alert rules'), ('# TYPE ALERTS gauge'),
             ('ALERTS{alertname="ta_every2",alertstate="firing",severity="warning"} 1'),
             ('ALERTS{alertname="ta_keep",alertstate="firing",severity="page",team="web"} 1'),
             ('ALERTS{alertname="ta_pending",alertstate="firing",route="/a",severity="warning"} 1'),
             ('# HELP ALERTS_FOR_STATE Start of the pending state of each alert, in seconds since the epoch'),
             ('# TYPE ALERTS_FOR_STATE gauge'),
             ('ALERTS_FOR_STATE{alertname="ta_every2",severity="warning"} ' || extract(epoch FROM pg_temp.t(11))::bigint),
             ('ALERTS_FOR_STATE{alertname="ta_keep",severity="page",team="web"} ' || extract(epoch FROM pg_temp.t(11))::bigint),
             ('ALERTS_FOR_STATE{alertname="ta_pending",route="/a",severity="warning"} ' || extract(epoch FROM pg_temp.t(11))::bigint)$$,
    'ALERTS per alert with alertstate, ALERTS_FOR_STATE with the start of its pending state');
SELECT ok(metrics_ex.prometheus_text() LIKE '%# TYPE ALERTS gauge%ALERTS_FOR_STATE{alertname="ta_pending",route="/a",severity="warning"}%',
          'prometheus_text() ends with the alert families');
SELECT ok(metrics_ex.openmetrics_text() ~ 'ALERTS_FOR_STATE\{alertname="ta_pending",route="/a",severity="warning"\} \d+\n# EOF\n$',
          'openmetrics_text() has them before # EOF');
SELECT ok(metrics_ex.prometheus_text('ta_errors') NOT LIKE '%ALERTS%', 'not when one metric is asked for');
SELECT ok((SELECT count(*) FROM metrics_ex.prometheus() l WHERE l LIKE 'ALERTS%') = 6, 'prometheus() too');

-- alter_alert: a new threshold counts from the next evaluation
SELECT metrics_ex.alter_alert('ta_keep', threshold => 100, keep_firing_for => '0');
SELECT is((SELECT next_evaluation FROM metrics_ex.alert_rules WHERE name = 'ta_keep'), NULL, 'an altered rule is due at the next call');
SELECT results_eq($$SELECT threshold, keep_firing_for, severity, labels FROM metrics_ex.alert_rules WHERE name = 'ta_keep'$$,
                  $$VALUES (100::float8, '0'::interval, 'page', '{"team": "web"}'::jsonb)$$, 'NULL arguments keep the rest');
SELECT is(pg_temp.ev(13.5), 1::bigint, 'evaluated at once, the others are not due');
SELECT is(pg_temp.steps('ta_keep'), '1:inactive>firing 10:firing>resolved 11:inactive>firing 13.5:firing>resolved',
          'and resolved: 50 is not over 100');

-- remove_alert: its firing alerts resolve, then it is gone
SELECT lives_ok($$SELECT metrics_ex.remove_alert('ta_pending')$$, 'remove a rule with a firing alert');
SELECT is((SELECT to_state FROM metrics_ex.alert_history WHERE alert = 'ta_pending' ORDER BY id DESC LIMIT 1), 'resolved',
          'its firing alert resolved');
SELECT is((SELECT count(*) FROM metrics_ex.alert_rules WHERE name = 'ta_pending'), 0::bigint, 'the rule is gone');
SELECT is((SELECT count(*) FROM metrics_ex.alerts WHERE alert = 'ta_pending'), 0::bigint, 'and its state');
SELECT metrics_ex.remove_alert('ta_keep');
SELECT metrics_ex.remove_alert('ta_every2');

-- templates and values as Prometheus prints them (Go's %v of a float64)
SELECT results_eq($$SELECT metrics_ex._alert_value_text(v) FROM unnest('{0.07,123456,1000000,1.5e-05,0.0001,-2.5,0,1e21,NaN,Infinity,-Infinity}'::float8[]) v$$,
    $$VALUES ('0.07'), ('123456'), ('1e+06'), ('1.5e-05'), ('0.0001'), ('-2.5'), ('0'), ('1e+21'), ('NaN'), ('+Inf'), ('-Inf')$$,
    '{{ $value }} formats like Go');
SELECT is(metrics_ex._alert_template('{{ $value }} {{$labels.x}} {{ .Labels.y }} {{.Value}} {{ humanize $value }} {{', '{"x": "1"}', 0.5),
          '0.5 1 <no value> 0.5 {{ humanize $value }} {{', '$value, $labels.x, .Value, .Labels.x; a missing label is <no value>; the rest stays');

-- anomaly: a robust z-score against the 12 spans before
SELECT setseed(0.42);
SELECT count(metrics_ex.gauge('ta_depth', 40 + 10 * (random() - 0.5) + CASE WHEN q = 'q2' AND i >= 360 THEN 30 ELSE 0 END,
                              jsonb_build_object('queue', q), '2030-01-02 00:00:00+00'::timestamptz + i * interval '10 seconds'))
  FROM generate_series(0, 389) i, unnest('{q1,q2}'::text[]) q;
SELECT metrics_ex.add_alert('ta_anomaly', 'ta_depth', 'mean', kind => 'anomaly', group_by => '{queue}', sigmas => 4,
                            annotations => '{"summary": "queue {{ $labels.queue }} at {{ $value }}"}');
SELECT is((SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-01-02 01:00:00+00')), 0::bigint,
          'quiet on the noise before the spike');
SELECT results_eq($$SELECT labels ->> 'queue', from_state, to_state, round(value::numeric, 6)
                      FROM metrics_ex.evaluate_alerts('2030-01-02 01:05:00+00')$$,
    $$SELECT 'q2', 'inactive', 'firing', round(avg(value)::numeric, 6) FROM metrics_ex.points
       WHERE name = 'ta_depth' AND tags ->> 'queue' = 'q2' AND ts >= '2030-01-02 01:00:00+00'$$,
    'the spike of q2 fires, with the current span''s mean as its value; q1 stays quiet');
SELECT is((SELECT annotations ->> 'summary' FROM metrics_ex.alerts WHERE alert = 'ta_anomaly'),
          'queue q2 at ' || metrics_ex._alert_value_text((SELECT value FROM metrics_ex.alerts WHERE alert = 'ta_anomaly')),
          'its annotation');
SELECT metrics_ex.remove_alert('ta_anomaly');
-- hour-long seeded noise, evaluated 12 times: never an anomaly
SELECT setseed(0.7);
SELECT count(metrics_ex.gauge('ta_noise', 100 + 20 * (random() - 0.5), jsonb_build_object('host', 'h' || h),
                              '2030-01-03 00:00:00+00'::timestamptz + i * interval '15 seconds'))
  FROM generate_series(0, 479) i, generate_series(1, 3) h;
SELECT metrics_ex.add_alert('ta_noise', 'ta_noise', 'mean', kind => 'anomaly', group_by => '{host}', every => '5 minutes');
SELECT is((SELECT count(*) FROM generate_series('2030-01-03 01:05:00+00'::timestamptz, '2030-01-03 02:00:00+00', '5 minutes') t,
                                 LATERAL metrics_ex.evaluate_alerts(t) e),
          0::bigint, 'seeded noise: 12 evaluations over 3 hosts, no alert');
SELECT is((SELECT last_evaluation FROM metrics_ex.alert_rules WHERE name = 'ta_noise'), '2030-01-03 02:00:00+00'::timestamptz,
          'and it was evaluated');
SELECT metrics_ex.remove_alert('ta_noise');
-- a young metric: not enough baseline yet
SELECT count(metrics_ex.gauge('ta_young', CASE WHEN i >= 48 THEN 500 ELSE 40 + i % 3 END, '{}',
                              '2030-01-04 00:00:00+00'::timestamptz + i * interval '5 minutes' / 12))
  FROM generate_series(0, 59) i;
SELECT metrics_ex.add_alert('ta_young12', 'ta_young', kind => 'anomaly');
SELECT metrics_ex.add_alert('ta_young4', 'ta_young', kind => 'anomaly', baseline_windows => 4);
SELECT is((SELECT string_agg(alert || ':' || to_state, ',') FROM metrics_ex.evaluate_alerts('2030-01-04 00:25:00+00')),
          'ta_young4:firing', 'four spans of baseline are enough for baseline_windows 4, not for 12 (which needs 6)');
SELECT metrics_ex.remove_alert('ta_young4');
SELECT metrics_ex.remove_alert('ta_young12');

-- absent
SELECT metrics_ex.gauge('ta_heartbeat', 1, jsonb_build_object('host', h), '2030-01-05 00:00:00+00'::timestamptz + m * interval '1 minute')
  FROM generate_series(0, 9) m, unnest('{h1,h2}'::text[]) h WHERE h = 'h1' OR m < 5;
SELECT metrics_ex.add_alert('ta_absent_host', 'ta_heartbeat', kind => 'absent', group_by => '{host}', span => '2 minutes');
SELECT metrics_ex.add_alert('ta_absent_metric', 'ta_heartbeat', kind => 'absent', span => '2 minutes');
SELECT metrics_ex.add_alert('ta_absent_never', 'ta_never_recorded', kind => 'absent',
                            annotations => '{"summary": "no {{ $labels.host }} since {{ $value }}"}');
SELECT results_eq($$SELECT alert, labels, to_state, value FROM metrics_ex.evaluate_alerts('2030-01-05 00:04:00+00') ORDER BY 1$$,
    $$VALUES ('ta_absent_never', '{"alertname": "ta_absent_never", "severity": "warning"}'::jsonb, 'firing', 1::float8)$$,
    'a metric never recorded is absent; both hosts report');
SELECT results_eq($$SELECT alert, labels ->> 'host', to_state FROM metrics_ex.evaluate_alerts('2030-01-05 00:08:00+00') ORDER BY 1$$,
    $$VALUES ('ta_absent_host', 'h2', 'firing')$$, 'h2 stopped reporting: absent');
SELECT results_eq($$SELECT alert, labels ->> 'host', to_state FROM metrics_ex.evaluate_alerts('2030-01-05 00:13:00+00') ORDER BY 1, 2$$,
    $$VALUES ('ta_absent_host', 'h1', 'firing'), ('ta_absent_metric', NULL, 'firing')$$,
    'then h1 too, and the metric as a whole');
SELECT metrics_ex.gauge('ta_heartbeat', 1, '{"host": "h2"}', '2030-01-05 00:13:30+00');
SELECT results_eq($$SELECT alert, labels ->> 'host', from_state, to_state FROM metrics_ex.evaluate_alerts('2030-01-05 00:14:00+00') ORDER BY 1, 2$$,
    $$VALUES ('ta_absent_host', 'h2', 'firing', 'resolved'), ('ta_absent_metric', NULL, 'firing', 'resolved')$$,
    'h2 is back: resolved, and so is the metric');
SELECT is((SELECT annotations ->> 'summary' FROM metrics_ex.alerts WHERE alert = 'ta_absent_never'), 'no <no value> since 1',
          'absent alerts have value 1');
SELECT metrics_ex.remove_alert(r) FROM unnest('{ta_absent_host,ta_absent_metric,ta_absent_never}'::text[]) r;

-- silences keep the state and mark it; they end at until, or with unsilence
SELECT metrics_ex.gauge('ta_sil', 5, jsonb_build_object('db', d), '2030-01-06 00:00:00+00') FROM unnest('{main,replica}'::text[]) d;
SELECT metrics_ex.add_alert('ta_silenced', 'ta_sil', 'max', '>', 1, span => '1 hour', group_by => '{db}', labels => '{"team": "db"}');
SELECT metrics_ex.silence('{"team": "db", "db": "main"}', '2030-01-06 00:30:00+00', 'maintenance') AS s1 \gset
SELECT results_eq($$SELECT labels ->> 'db', to_state FROM metrics_ex.evaluate_alerts('2030-01-06 00:10:00+00') ORDER BY 1$$,
    $$VALUES ('main', 'firing'), ('replica', 'firing')$$, 'a silenced alert still fires');
SELECT results_eq($$SELECT labels ->> 'db', silenced FROM metrics_ex.alerts WHERE alert = 'ta_silenced' ORDER BY 1$$,
    $$VALUES ('main', true), ('replica', false)$$, 'marked silenced where every matcher matches');
SELECT results_eq($$SELECT labels ->> 'db', silenced FROM metrics_ex.alert_history WHERE alert = 'ta_silenced' ORDER BY 1$$,
    $$VALUES ('main', true), ('replica', false)$$, 'and so in the history');
SELECT results_eq($$SELECT matchers, until, comment FROM metrics_ex.silences WHERE id = $$ || :s1,
    $$VALUES ('[{"name": "db", "value": "main", "isEqual": true, "isRegex": false}, {"name": "team", "value": "db", "isEqual": true, "isRegex": false}]'::jsonb,
              '2030-01-06 00:30:00+00'::timestamptz, 'maintenance')$$, 'matchers in Alertmanager''s form');
SELECT metrics_ex.silence('[{"name": "alertname", "value": "ta_sil.*", "isRegex": true}, {"name": "db", "value": "main", "isEqual": false}]',
                          '2030-01-06 00:30:00+00') AS s2 \gset
SELECT is((SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-01-06 00:20:00+00')), 0::bigint, 'no transition');
SELECT results_eq($$SELECT labels ->> 'db', silenced FROM metrics_ex.alerts WHERE alert = 'ta_silenced' ORDER BY 1$$,
    $$VALUES ('main', true), ('replica', true)$$, 'a regex matcher and a != matcher');
SELECT metrics_ex.unsilence(:s2);
SELECT is((SELECT count(*) FROM metrics_ex.silences WHERE id = :s2), 0::bigint, 'unsilence ends it');
SELECT is((SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-01-06 00:40:00+00')), 0::bigint, 'still firing');
SELECT results_eq($$SELECT labels ->> 'db', silenced FROM metrics_ex.alerts WHERE alert = 'ta_silenced' ORDER BY 1$$,
    $$VALUES ('main', false), ('replica', false)$$, 'after unsilence and after until, nothing is silenced');

-- a failing rule beside a healthy one: the error is recorded, its alerts stay
CREATE TABLE public.ta_src (route text, v float8);
INSERT INTO public.ta_src VALUES ('/x', 3);
SELECT metrics_ex.add_alert('ta_sql', kind => 'sql', threshold => 1,
                            sql => $$SELECT jsonb_build_object('route', route), v FROM public.ta_src$$);
SELECT metrics_ex.gauge('ta_drop', 9, '{}', '2030-01-07 00:00:00+00');
SELECT metrics_ex.add_alert('ta_dropped', 'ta_drop', 'max', '>', 1, span => '1 day');
SELECT metrics_ex.add_alert('ta_at', kind => 'sql', threshold => 0,
                            sql => $$SELECT jsonb_build_object('at', to_char($1 AT TIME ZONE 'UTC', 'HH24:MI')), 1$$);
SELECT results_eq($$SELECT alert, to_state FROM metrics_ex.evaluate_alerts('2030-01-07 00:10:00+00') WHERE alert IN ('ta_sql', 'ta_dropped') ORDER BY 1$$,
    $$VALUES ('ta_dropped', 'firing'), ('ta_sql', 'firing')$$, 'both fire');
SELECT is((SELECT labels ->> 'at' FROM metrics_ex.alerts WHERE alert = 'ta_at'), '00:10', 'an sql rule gets the evaluation time as $1');
DROP TABLE public.ta_src;
DELETE FROM metrics_ex.metrics WHERE name = 'ta_drop';
SELECT metrics_ex.gauge('ta_sil', 5, '{"db": "main"}', '2030-01-07 00:11:00+00');
SELECT is((SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-01-07 00:12:00+00') WHERE alert IN ('ta_sql', 'ta_dropped')),
          0::bigint, 'errors are not transitions');
SELECT results_eq($$SELECT name, health, last_error, consecutive_errors FROM metrics_ex.alert_rules
                     WHERE name IN ('ta_sql', 'ta_dropped', 'ta_silenced') ORDER BY name$$,
    $$VALUES ('ta_dropped', 'err', 'metric "ta_drop" does not exist', 1),
             ('ta_silenced', 'ok', NULL, 0),
             ('ta_sql', 'err', 'relation "public.ta_src" does not exist', 1)$$,
    'the errors are recorded on their rules; the healthy rule was evaluated');
SELECT is((SELECT last_evaluation FROM metrics_ex.alert_rules WHERE name = 'ta_silenced'), '2030-01-07 00:12:00+00'::timestamptz,
          'the healthy rule ran after the failing ones');
SELECT results_eq($$SELECT alert, state FROM metrics_ex.alerts WHERE alert IN ('ta_sql', 'ta_dropped') ORDER BY 1$$,
    $$VALUES ('ta_dropped', 'firing'), ('ta_sql', 'firing')$$, 'their alerts keep firing: no flapping');
CREATE TABLE public.ta_src (route text, v float8);
SELECT results_eq($$SELECT alert, to_state FROM metrics_ex.evaluate_alerts('2030-01-07 00:13:00+00') WHERE alert = 'ta_sql'$$,
    $$VALUES ('ta_sql', 'resolved')$$, 'the table is back, empty: resolved');
SELECT is((SELECT health FROM metrics_ex.alert_rules WHERE name = 'ta_sql'), 'ok', 'healthy again');
-- an sql rule changes nothing: its query runs read-only
CREATE TABLE public.ta_victim (id int);
INSERT INTO public.ta_victim VALUES (1);
SELECT metrics_ex.add_alert('ta_writer', kind => 'sql', threshold => 0,
                            sql => $$WITH d AS (DELETE FROM public.ta_victim RETURNING 1) SELECT '{}'::jsonb, count(*) FROM d$$);
SELECT is((SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-01-07 00:14:00+00') WHERE alert = 'ta_writer'), 0::bigint, 'no alert');
SELECT ok((SELECT last_error FROM metrics_ex.alert_rules WHERE name = 'ta_writer') LIKE '%is not allowed in a non-volatile function',
          'an error instead');
SELECT is((SELECT count(*) FROM public.ta_victim), 1::bigint, 'and the row is still there');

-- threshold rules that differ only in their tags filter share one query:
-- the same answers as their own query() calls
SELECT metrics_ex.gauge('ta_batch', 10 * k + j, jsonb_build_object('service', 's' || k, 'instance', 'i' || j),
                        '2030-01-08 00:00:00+00')
  FROM generate_series(0, 4) k, generate_series(0, 2) j;
SELECT metrics_ex.gauge('ta_batch', 99, '{"instance": "i0"}', '2030-01-08 00:00:00+00');     -- no service tag
SELECT metrics_ex.add_alert('ta_b' || k, 'ta_batch', 'max', '>', 20, span => '1 hour', group_by => '{instance}',
                            tags => jsonb_build_object('service', 's' || k))
  FROM generate_series(0, 5) k;
SELECT metrics_ex.add_alert('ta_bcount_' || s, 'ta_batch', 'count', '<', 1, span => '1 hour',
                            tags => jsonb_build_object('service', s))
  FROM unnest('{s1,s9}'::text[]) s;
SELECT results_eq($$SELECT alert, labels - 'alertname' - 'severity', value
                      FROM metrics_ex.evaluate_alerts('2030-01-08 00:30:00+00') WHERE alert LIKE 'ta\_b%' ORDER BY 1, 2$$,
    $$SELECT * FROM (SELECT 'ta_b' || k, q.labels, q.value
                       FROM generate_series(0, 5) k,
                            metrics_ex.query('ta_batch', 'max', '{instance}', jsonb_build_object('service', 's' || k),
                                             since => '2030-01-07 23:30:00+00', until => '2030-01-08 00:30:00+00') q
                      WHERE q.value > 20
                     UNION ALL
                     SELECT 'ta_bcount_s9', '{}'::jsonb, 0) x ORDER BY 1, 2$$,
    'one grouped query, the same alerts as each rule''s own query(); a filter without data counts 0');
SELECT is((SELECT count(*) FROM metrics_ex.alert_rules WHERE name LIKE 'ta\_b%' AND health = 'ok'
             AND last_evaluation = '2030-01-08 00:30:00+00'), 8::bigint, 'all eight evaluated, healthy');
SELECT metrics_ex.remove_alert(name) FROM metrics_ex.alert_rules WHERE name LIKE 'ta\_b%';

-- the notification payload: Alertmanager's webhook shape
SELECT results_eq($$SELECT p ->> 'version', p ->> 'status', p ->> 'receiver', p -> 'groupLabels', p -> 'commonLabels',
                           jsonb_array_length(p -> 'alerts'), p #>> '{alerts,0,status}', p #> '{alerts,0,labels}',
                           p #> '{alerts,0,annotations}', p #>> '{alerts,0,startsAt}', p #>> '{alerts,0,endsAt}'
                      FROM (SELECT metrics_ex._alert_payload('resolved', '{"alertname": "A", "severity": "page"}',
                                   '{"summary": "s"}', '2030-01-01 10:00:00+00', '2030-01-01 10:05:30.25+00')::jsonb AS p) x$$,
    $$VALUES ('4', 'resolved', 'metrics_ex', '{"alertname": "A"}'::jsonb, '{"alertname": "A", "severity": "page"}'::jsonb,
              1, 'resolved', '{"alertname": "A", "severity": "page"}'::jsonb, '{"summary": "s"}'::jsonb,
              '2030-01-01T10:00:00Z', '2030-01-01T10:05:30.25Z')$$, 'status, labels, annotations, startsAt, endsAt');
SELECT is(metrics_ex._alert_payload('firing', '{"alertname": "A"}', '{}', '2030-01-01 10:00:00+00', NULL)::jsonb #>> '{alerts,0,endsAt}',
          '0001-01-01T00:00:00Z', 'a firing alert ends at Go''s zero time, as Alertmanager sends it');
SELECT ok(octet_length(metrics_ex._alert_payload('firing', '{"alertname": "A"}', jsonb_build_object('summary', repeat('x', 9000)),
                                                  '2030-01-01 10:00:00+00', NULL)) < 8000
          AND metrics_ex._alert_payload('firing', '{"alertname": "A"}', jsonb_build_object('summary', repeat('x', 9000)),
                                        '2030-01-01 10:00:00+00', NULL)::jsonb #> '{alerts,0,annotations}' ? 'metrics_ex_truncated',
          'a payload over NOTIFY''s limit leaves its annotations out, and says so');

SELECT * FROM finish();
ROLLBACK;
