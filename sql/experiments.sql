-- Experiments: lifecycle, the gate of paused/stopped experiments, the
-- CrucibleTelemetry acceptance numbers, compare_experiments against a
-- hand-computed Welch test, export (CSV quoting, JSON Lines) and attach.
-- Experiment ids are random uuids: they are kept in psql variables and
-- replaced by names in the output.
SET timezone = 'UTC';
\set VERBOSITY terse

SELECT metrics_ex.start_experiment('latency_1_100', 'p95 is 95.05', 'control', '{acceptance}') AS e1 \gset
SELECT metrics_ex.start_experiment('latency_100_1000', condition => 'treatment', sample_size => 10) AS e2 \gset
SELECT name, hypothesis, condition, tags, status, pause_count, samples, samples_rejected, sample_size
  FROM metrics_ex.experiments WHERE id IN (:'e1', :'e2') ORDER BY name;

-- latencies 1..100 and 100, 200, ... 1000; costs, successes and tokens
SELECT count(metrics_ex.histogram('latency_ms', i, jsonb_build_object('experiment_id', :'e1'),
                                  '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second'))
  FROM generate_series(1, 100) i;
SELECT count(metrics_ex.histogram('latency_ms', i * 100, jsonb_build_object('experiment_id', :'e2'),
                                  '2026-11-20 11:00:00+00'::timestamptz + i * interval '1 second'))
  FROM generate_series(1, 10) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'cost_usd', 0.002, jsonb_build_object('experiment_id', :'e1'), '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second', 'histogram'
  FROM generate_series(1, 100) i
UNION ALL
SELECT 'success', CASE WHEN i <= 99 THEN 1 ELSE 0 END, jsonb_build_object('experiment_id', :'e1'), '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second', 'gauge'
  FROM generate_series(1, 100) i
UNION ALL
SELECT 'tokens_prompt', 100 + i, jsonb_build_object('experiment_id', :'e1'), '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second', 'histogram'
  FROM generate_series(1, 100) i
UNION ALL
SELECT 'tokens_completion', 50, jsonb_build_object('experiment_id', :'e1'), '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 second', 'histogram'
  FROM generate_series(1, 100) i;

-- Latencies 1..100: p50 50.5, p95 95.05, p99 99.01 (percentile_cont)
SELECT key, value FROM jsonb_each(metrics_ex.calculate_metrics(:'e1') -> 'latency') ORDER BY key;
-- Latencies 100..1000: mean 550, median 550
SELECT metrics_ex.calculate_metrics(:'e2') -> 'latency' ->> 'mean' AS mean,
       metrics_ex.calculate_metrics(:'e2') -> 'latency' ->> 'median' AS median;
SELECT jsonb_pretty(metrics_ex.calculate_metrics(:'e1') #- '{summary,experiment_id}' #- '{latency}');

-- Pause: samples are dropped and counted; resume: stored again
SELECT metrics_ex.pause_experiment(:'e2');
SELECT metrics_ex.experiment_paused(:'e2') AS paused;
SELECT metrics_ex.histogram('latency_ms', 1, jsonb_build_object('experiment_id', :'e2'));
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'latency_ms', 5, jsonb_build_object('experiment_id', :'e2', 'trace_id', 't' || i)
  FROM generate_series(1, 4) i;
-- a sample of another experiment in the same statement is stored
INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES
  ('latency_ms', 5, jsonb_build_object('experiment_id', :'e2')::text, '2026-11-20 11:00:30+00'),
  ('latency_ms', 150, jsonb_build_object('experiment_id', :'e1')::text, '2026-11-20 10:05:00+00');
SELECT name, status, pause_count, samples, samples_rejected FROM metrics_ex.experiments
 WHERE id IN (:'e1', :'e2') ORDER BY name;
SELECT (metrics_ex.get_stats() -> 'recorder' ->> 'samples_rejected')::int >= 6 AS rejected_in_stats;
SELECT metrics_ex.resume_experiment(:'e2');
SELECT metrics_ex.experiment_paused(:'e2') AS paused;
SELECT metrics_ex.histogram('latency_ms', 550, jsonb_build_object('experiment_id', :'e2'), '2026-11-20 11:00:11+00');
SELECT metrics_ex.stop_experiment(:'e2');
SELECT metrics_ex.histogram('latency_ms', 1, jsonb_build_object('experiment_id', :'e2'));
SELECT name, status, stopped_at IS NOT NULL AS stopped, pause_count, samples, samples_rejected
  FROM metrics_ex.experiments WHERE id = :'e2';

-- Lifecycle errors (the SQLSTATE and message, with the id replaced)
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || regexp_replace(msg, '[0-9a-f]{8}-[0-9a-f-]{27}', '<id>') || ' / ' || hint;
END
$$;
SELECT pg_temp.try(format('SELECT metrics_ex.pause_experiment(%L)', :'e2'));
SELECT pg_temp.try(format('SELECT metrics_ex.resume_experiment(%L)', :'e1'));
SELECT pg_temp.try(format('SELECT metrics_ex.stop_experiment(%L)', :'e2'));
SELECT pg_temp.try(format('SELECT metrics_ex.pause_experiment(%L)', :'e1'));
SELECT pg_temp.try(format('SELECT metrics_ex.pause_experiment(%L)', :'e1'));
SELECT pg_temp.try(format('SELECT metrics_ex.stop_experiment(%L)', :'e1'));
SELECT pg_temp.try('SELECT metrics_ex.stop_experiment(''00000000-0000-4000-8000-000000000000'')');
SELECT pg_temp.try('SELECT metrics_ex.start_experiment('''')');

-- Welch's t-test, by hand: A = {1, 2, 3}, B = {4, 5, 6}: means 2 and 5,
-- sample variances 1 and 1, se^2 = 1/3 + 1/3, t = 3 / sqrt(2/3) = 3.6742346,
-- df = (2/3)^2 / (2 (1/3)^2 / 2) = 4; two-sided p = 2 (1 - F_4(t)) with
-- F_4(t) = 1/2 + (3/8) u (1 - u^2 / 12), u = t / sqrt(1 + t^2 / 4): p = 0.0213116;
-- Cohen's d = 3 / 1 = 3; percent change = 3 / 2 = 150%.
SELECT metrics_ex.start_experiment('welch_a') AS wa \gset
SELECT metrics_ex.start_experiment('welch_b') AS wb \gset
SELECT count(metrics_ex.gauge('welch_metric', v, jsonb_build_object('experiment_id', :'wa'))) FROM unnest('{1,2,3}'::float8[]) v;
SELECT count(metrics_ex.gauge('welch_metric', v, jsonb_build_object('experiment_id', :'wb'))) FROM unnest('{4,5,6}'::float8[]) v;
SELECT name, n, mean, baseline_n, baseline_mean, difference, percent_change,
       round(t_statistic::numeric, 7) AS t, round(degrees_of_freedom::numeric, 7) AS df,
       round(p_value::numeric, 7) AS p, cohens_d
  FROM metrics_ex.compare_experiments(ARRAY[:'wa', :'wb']::uuid[], 'welch_metric');

-- Student's t CDF against closed forms: df 1 (Cauchy) F(1) = 3/4;
-- df 2: F(1) = 1/2 + 1/(2 sqrt 3) = 0.7886751; df 3: F(sqrt 3) = 1/2 + (1/2 + pi/4)/pi = 0.9091549
SELECT round(metrics_ex.student_t_cdf(1, 1)::numeric, 10) AS cauchy,
       round(metrics_ex.student_t_cdf(-1, 1)::numeric, 10) AS cauchy_left,
       round(metrics_ex.student_t_cdf(1, 2)::numeric, 10) AS df2,
       round(metrics_ex.student_t_cdf(sqrt(3), 3)::numeric, 10) AS df3,
       metrics_ex.student_t_cdf(0, 7.5) AS centre;

-- Export: RFC 4180 quoting of commas, quotes and newlines
SELECT metrics_ex.start_experiment('export_me') AS ex \gset
SELECT metrics_ex.gauge('export_metric', v, jsonb_build_object('experiment_id', :'ex', 'note', note, 'trace_id', 'tr-' || v),
                        '2026-11-20 12:00:00+00'::timestamptz + v * interval '1 second')
  FROM (VALUES (1, 'plain'), (2, 'a,b'), (3, 'say "hi"'), (4, E'two\nlines'), (5, NULL)) x(v, note);
SELECT replace(line, :'ex', '<id>') AS csv FROM metrics_ex.export(:'ex', 'csv') line;
SELECT replace(line, :'ex', '<id>') AS jsonl FROM metrics_ex.export(:'ex', 'jsonl') line;
SELECT * FROM metrics_ex.export(:'ex', 'parquet');

-- Attach: a table with a quoted, mixed-case name and columns
CREATE TABLE "Job Events" (id int, "Tenant" text, "Duration ms" float8, trace_id text, "At" timestamptz);
SELECT metrics_ex.attach('"Job Events"', 'attached_jobs_total', 'counter', tag_columns => '{Tenant}');
SELECT metrics_ex.attach('"Job Events"', 'attached_job_ms', 'histogram', 'Duration ms', '{Tenant}', 'At');
INSERT INTO "Job Events" VALUES (1, 'a', 5, 't1', '2026-11-20 13:00:00+00'),
                                (2, 'b', NULL, NULL, '2026-11-20 13:00:01+00'),
                                (3, 'a', 7.5, 't3', '2026-11-20 13:00:02+00');
SELECT name, kind, tags, value FROM metrics_ex.points
 WHERE name IN ('attached_jobs_total', 'attached_job_ms') ORDER BY name, value, tags::text;
SELECT source, name, kind, value_column, tag_columns, time_column, trigger_name FROM metrics_ex.attach_events();
SELECT metrics_ex.detach('"Job Events"', 'attached_jobs_total');
INSERT INTO "Job Events" VALUES (4, 'c', 1, NULL, '2026-11-20 13:00:03+00');
SELECT name, count(*) FROM metrics_ex.points
 WHERE name IN ('attached_jobs_total', 'attached_job_ms') GROUP BY name ORDER BY name;
SELECT metrics_ex.detach('"Job Events"', 'attached_job_ms');
SELECT count(*) FROM metrics_ex.attach_events WHERE source = '"Job Events"'::regclass;
DROP TABLE "Job Events";

-- Leave the shared regression database as we found it: other tests count
-- every sample and metric.
DELETE FROM metrics_ex.samples WHERE series_id IN (
    SELECT s.id FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
     WHERE m.name IN ('latency_ms', 'cost_usd', 'success', 'tokens_prompt', 'tokens_completion',
                      'welch_metric', 'export_metric', 'attached_jobs_total', 'attached_job_ms'));
DELETE FROM metrics_ex.metrics
 WHERE name IN ('latency_ms', 'cost_usd', 'success', 'tokens_prompt', 'tokens_completion',
                'welch_metric', 'export_metric', 'attached_jobs_total', 'attached_job_ms');
DELETE FROM metrics_ex.experiment_registry WHERE id IN (:'e1', :'e2', :'wa', :'wb', :'ex');
SELECT (SELECT count(*) FROM metrics_ex.experiments) AS experiments_left,
       metrics_ex.get_stats() -> 'recorder' -> 'samples_rejected' AS rejected_left;
