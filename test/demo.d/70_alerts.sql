-- metrics_ex demo: alerting.  With the library preloaded the scheduler
-- evaluates the rules; here evaluate_alerts(at) is called by hand to replay
-- the last half hour minute by minute: a latency rule goes pending, firing
-- and resolved, and an anomaly rule catches a sudden queue backlog.
\set QUIET on
\o /dev/null
-- the replay evaluates past times: keep the scheduler's own evaluations out
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT date_trunc('minute', now()) AS t_end \gset
SELECT setseed(0.7);

-- checkout latency every 15 s for two hours, ~120 ms; an incident on /pay
-- from 25 to 15 minutes ago
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'checkout_latency_ms',
       round((CASE WHEN r = '/pay' AND ts >= :'t_end'::timestamptz - interval '25 minutes'
                        AND ts < :'t_end'::timestamptz - interval '15 minutes'
                   THEN 450 ELSE 120 END * (0.8 + 0.4 * random()))::numeric, 1),
       jsonb_build_object('route', r), ts, 'histogram'
  FROM generate_series(:'t_end'::timestamptz - interval '2 hours', now(), '15 seconds') ts,
       unnest('{/cart,/pay}'::text[]) r;
-- payment queue depth every 15 s, 40 +- 5; a backlog in the last 4 minutes
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'payment_queue_depth',
       round(40 + 10 * (random() - 0.5)) + CASE WHEN ts >= :'t_end'::timestamptz - interval '4 minutes' THEN 35 ELSE 0 END,
       '{"queue": "payments"}', ts, 'gauge'
  FROM generate_series(:'t_end'::timestamptz - interval '2 hours', now(), '15 seconds') ts;

SELECT metrics_ex.add_alert('CheckoutSlow', 'checkout_latency_ms', 'p95', '>', 300,
                            span => '5 minutes', pending_for => '3 minutes', group_by => '{route}',
                            severity => 'page', labels => '{"team": "checkout"}',
                            annotations => '{"summary": "{{ $labels.route }}: p95 {{ $value }} ms over 5 minutes"}');
SELECT metrics_ex.add_alert('PaymentQueueAnomaly', 'payment_queue_depth', 'mean', kind => 'anomaly',
                            span => '5 minutes', baseline_windows => 12, sigmas => 4, group_by => '{queue}',
                            annotations => '{"summary": "queue {{ $labels.queue }} averages {{ $value }} jobs, unlike its last hour"}');
\o
\set QUIET off

\echo
\echo '== Two rules (metrics_ex.alert_rules)'
SELECT name, kind, metric, aggregation, op, threshold, span, pending_for, group_by, severity
  FROM metrics_ex.alert_rules ORDER BY name;

\echo '== The last 30 minutes replayed: evaluate_alerts(at) once a minute; only transitions are returned'
\echo '   (a transition to firing or resolved also sends a NOTIFY on channel metrics_ex_alerts, printed below)'
LISTEN metrics_ex_alerts;
SELECT to_char(t, 'HH24:MI') AS at, e.alert, e.labels ->> 'route' AS route, e.labels ->> 'queue' AS queue,
       e.from_state, e.to_state, round(e.value::numeric, 1) AS value
  FROM generate_series(:'t_end'::timestamptz - interval '30 minutes', :'t_end', '1 minute') t,
       LATERAL metrics_ex.evaluate_alerts(t) e;
UNLISTEN metrics_ex_alerts;
\echo '== The incident as a chart: checkout p95 per minute by route over the last hour'
SELECT * FROM metrics_ex.chart('checkout_latency_ms', 'minute', 'p95', 'last_hour', group_by => '{route}')
\g (format=unaligned tuples_only=on)

\echo '== What is pending or firing now (metrics_ex.alerts), annotations rendered'
SELECT alert, state, round(value::numeric, 1) AS value, to_char(active_since, 'HH24:MI') AS active_since,
       to_char(fired_at, 'HH24:MI') AS fired_at, annotations ->> 'summary' AS summary
  FROM metrics_ex.alerts ORDER BY alert;

\echo '== Every transition (metrics_ex.alert_history)'
SELECT to_char(at, 'HH24:MI') AS at, alert, labels ->> 'route' AS route, from_state, to_state,
       annotations ->> 'summary' AS summary
  FROM metrics_ex.alert_history ORDER BY id;

\echo '== ALERTS and ALERTS_FOR_STATE in the exposition, as Prometheus exposes its alerts'
SELECT line FROM metrics_ex.prometheus() AS line WHERE line LIKE 'ALERTS%' OR line LIKE '# TYPE ALERTS%';

\echo '== Rule health'
SELECT name, health, last_error, to_char(last_evaluation, 'HH24:MI') AS last_evaluation, evaluation_time
  FROM metrics_ex.alert_rules ORDER BY name;

-- the scheduler takes over again
\o /dev/null
SELECT metrics_ex.alter_job(job, enabled => true) FROM metrics_ex.jobs;
\o
