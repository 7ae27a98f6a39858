#!/usr/bin/env bash
# Issue 13 figures: one evaluation cycle of 1,000 threshold rules over a
# metric of 10,000 series (each rule: mean over 5 minutes of one service's 10
# instances, grouped by instance), beside the same 1,000 query() calls made
# directly and beside the one grouped query() the cycle shares among them,
# all in the same run.  What the cycle adds to that query is alerting's own
# cost: per rule a subtransaction, the switch to its owner and the state.
set -euo pipefail
ROUNDS=${BENCH_ALERT_ROUNDS:-3}      # cycles after the first
RULES=${BENCH_ALERT_RULES:-1000}

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }

# 1,000 services x 10 instances, one sample a minute for 15 minutes; a few
# services run hot, so some rules fire
q >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT setseed(0.13);
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'bench_alert_latency_ms', CASE WHEN s % 100 = 7 THEN 200 ELSE 100 END * (0.8 + 0.4 * random()),
       jsonb_build_object('service', 's' || s, 'instance', 'i' || i),
       date_trunc('minute', now()) - m * interval '1 minute', 'gauge'
  FROM generate_series(0, 999) s, generate_series(0, 9) i, generate_series(1, 15) m;
SELECT metrics_ex.materialize();
VACUUM ANALYZE metrics_ex.series, metrics_ex.rollup_minute, metrics_ex.rollup_pending;
SELECT metrics_ex.add_alert('bench_rule_' || s, 'bench_alert_latency_ms', 'mean', '>', 150,
                            span => '5 minutes', tags => jsonb_build_object('service', 's' || s),
                            group_by => '{instance}', every => '1 second')
  FROM generate_series(0, $RULES - 1) s;
SQL

series=$(q -c "SELECT count(*) FROM metrics_ex.series se JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = 'bench_alert_latency_ms'")
samples=$(q -c "SELECT count(*) FROM metrics_ex.points WHERE name = 'bench_alert_latency_ms'")

# one session: each round evaluates every rule at a new second (each rule is
# due once per second); the first round also makes 100 alerts fire
res=$(q <<SQL
CREATE FUNCTION pg_temp.ms(statement text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz := clock_timestamp();
BEGIN
    EXECUTE statement;
    RETURN extract(epoch FROM clock_timestamp() - t) * 1000;
END \$\$;
SELECT date_trunc('minute', now()) AS t_end \gset
CREATE TEMP TABLE r AS
SELECT i, pg_temp.ms(format('SELECT count(*) FROM metrics_ex.evaluate_alerts(%L)',
                            :'t_end'::timestamptz + i * interval '1 second')) AS eval_ms,
       pg_temp.ms(format(\$f\$SELECT count(*) FROM metrics_ex.query('bench_alert_latency_ms', 'mean', '{instance,service}',
                                                             since => %L::timestamptz - interval '5 minutes', until => %L)\$f\$,
                         :'t_end'::timestamptz + i * interval '1 second', :'t_end'::timestamptz + i * interval '1 second')) AS one_ms
  FROM generate_series(0, $ROUNDS) i;
-- the same $RULES query() calls, one by one, once (they take long)
SELECT pg_temp.ms(format(\$f\$SELECT count(*) FROM generate_series(0, $RULES - 1) s,
                          LATERAL metrics_ex.query('bench_alert_latency_ms', 'mean', '{instance}',
                                                   jsonb_build_object('service', 's' || s),
                                                   since => %L::timestamptz - interval '5 minutes', until => %L)\$f\$,
                         :'t_end', :'t_end')) AS calls_ms \gset
SELECT round((SELECT eval_ms FROM r WHERE i = 0)::numeric, 1), round(min(eval_ms)::numeric, 1),
       round(:calls_ms::numeric, 1), round(min(one_ms)::numeric, 1),
       round((min(eval_ms) / :calls_ms)::numeric, 4), round((min(eval_ms) / min(one_ms))::numeric, 2),
       round(((min(eval_ms) - min(one_ms)) / $RULES * 1000)::numeric, 0),
       (SELECT count(*) FROM metrics_ex.alerts WHERE alert LIKE 'bench_rule_%'),
       (SELECT count(*) FROM metrics_ex.alert_rules WHERE name LIKE 'bench_rule_%' AND health = 'ok')
  FROM r WHERE i > 0;
SQL
)
IFS='|' read -r first_ms eval_ms calls_ms one_ms ratio_calls ratio_one per_rule_us firing healthy <<<"$res"

printf "\n%-74s %14s\n" "figure ($RULES threshold rules, $series series, $samples samples)" "value"
printf "%-74s %12sms\n" "evaluate_alerts(): first cycle (every rule, 100 alerts start firing)" "$first_ms"
printf "%-74s %12sms\n" "evaluate_alerts(): one cycle of every rule (best of $ROUNDS)" "$eval_ms"
printf "%-74s %12sms\n" "baseline: the same $RULES query() calls made directly (1 run)" "$calls_ms"
printf "%-74s %12sms\n" "baseline: one query() grouped by instance and service (best of $((ROUNDS + 1)))" "$one_ms"
printf "%-74s %13sx\n" "ratio cycle / $RULES query() calls" "$ratio_calls"
printf "%-74s %13sx\n" "ratio cycle / one grouped query()" "$ratio_one"
printf "%-74s %12sus\n" "alerting per rule beyond the shared query (subtransaction, owner, state)" "$per_rule_us"
printf "%-74s %14s\n" "alerts firing / rules healthy after the cycles" "$firing / $healthy"
echo "The rules differ only in their tags filter, so evaluate_alerts() answers them with one"
echo "query() grouped by the filter's keys (the same values per group); query() alone scans"
echo "the span's rollups and the metric's series once per call."

q >/dev/null <<SQL
SELECT metrics_ex.remove_alert(name) FROM metrics_ex.alert_rules WHERE name LIKE 'bench_rule_%';
DELETE FROM metrics_ex.metrics WHERE name = 'bench_alert_latency_ms';
TRUNCATE metrics_ex.samples, metrics_ex.rollup_pending, metrics_ex.rollup_minute,
         metrics_ex.rollup_hour, metrics_ex.rollup_day, metrics_ex.series_totals, metrics_ex.alert_log;
SQL
