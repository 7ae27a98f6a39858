-- metrics_ex demo: experiments.  Two prompt strategies run side by side as
-- an A/B test; each records latency, cost and success per request, tagged
-- with its experiment's id.  Self-contained: it starts its own experiments.
\set QUIET on
\o /dev/null
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT setseed(0.5);
SELECT metrics_ex.start_experiment('prompt_v1', 'baseline prompt', 'control', '{ab_test}') AS control \gset
SELECT metrics_ex.start_experiment('prompt_v2', 'shorter prompt is faster', 'treatment', '{ab_test}') AS treatment \gset

-- 300 requests each over the last hour, through the bulk ingest view
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT m.name, m.value, jsonb_build_object('experiment_id', e.id, 'model', 'llama-3.1', 'trace_id', 'req-' || e.c || '-' || i),
       now() - i * interval '12 seconds', m.kind
  FROM (VALUES (:'control', 'v1', 220.0), (:'treatment', 'v2', 190.0)) e(id, c, base),
       generate_series(1, 300) i,
       LATERAL (VALUES ('latency_ms', round((e.base + 0 * i + 60 * (random() + random() + random() - 1.5))::numeric, 1)::float8, 'histogram'),
                       ('cost_usd', round((0.0004 + 0 * i + 0.0002 * random())::numeric, 6)::float8, 'histogram'),
                       ('success', CASE WHEN random() + 0 * i < 0.995 THEN 1 ELSE 0 END, 'gauge')) m(name, value, kind);

-- pausing the treatment drops (and counts) what is recorded meanwhile
SELECT metrics_ex.pause_experiment(:'treatment');
SELECT metrics_ex.histogram('latency_ms', 999, jsonb_build_object('experiment_id', :'treatment'));
SELECT metrics_ex.resume_experiment(:'treatment');
\o
\set QUIET off

\echo
\echo '== Experiments (metrics_ex.experiments)'
SELECT name, condition, status, pause_count, samples, samples_rejected FROM metrics_ex.experiments
 WHERE id IN (:'control', :'treatment') ORDER BY name;

\echo '== calculate_metrics(treatment): latency and reliability'
SELECT jsonb_pretty(metrics_ex.calculate_metrics(:'treatment') -> 'latency');
SELECT jsonb_pretty(metrics_ex.calculate_metrics(:'treatment') -> 'reliability');

\echo '== Is the treatment faster? compare_experiments (Welch''s t-test)'
SELECT name, n, round(mean::numeric, 1) AS mean_ms, round(baseline_mean::numeric, 1) AS baseline_ms,
       round(percent_change::numeric, 1) AS pct_change, round(t_statistic::numeric, 2) AS t,
       round(degrees_of_freedom::numeric, 1) AS df, p_value, round(cohens_d::numeric, 2) AS cohens_d
  FROM metrics_ex.compare_experiments(ARRAY[:'control', :'treatment']::uuid[]);

\echo '== Export for pandas: the first lines of the CSV'
SELECT line FROM metrics_ex.export(:'treatment', 'csv') line LIMIT 4;

SELECT metrics_ex.stop_experiment(:'control');
SELECT metrics_ex.stop_experiment(:'treatment');
