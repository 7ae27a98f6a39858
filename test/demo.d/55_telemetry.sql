-- metrics_ex demo: telemetry events and training runs.  A service emits
-- named events (as :telemetry.execute would) and handlers turn them into
-- metrics; an LLM experiment's events are enriched with latency, success,
-- tokens and cost; two fine-tuning runs log their loss per step.
-- Self-contained: it starts its own experiment.
\set QUIET on
\o /dev/null
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT setseed(0.55);

-- MetricsEx's attach_telemetry: count completed jobs by tenant, and their durations
SELECT metrics_ex.attach_telemetry('work.job.completed', 'work_jobs_completed_total', 'counter', tag_keys => '{tenant}');
SELECT metrics_ex.attach_telemetry('work.job.completed', 'work_job_duration_ms', 'histogram', 'duration_ms', '{tenant}');
SELECT metrics_ex.emit('work.job.completed',
                       jsonb_build_object('duration_ms', round((20 + 200 * random() ^ 2)::numeric, 1)),
                       jsonb_build_object('tenant', (ARRAY['cns', 'crucible'])[1 + i % 2], 'work_id', 'work-' || i,
                                          'trace_id', 'trace-' || i),
                       now() - i * interval '20 seconds')
  FROM generate_series(1, 180) i;

-- an LLM experiment: 400 requests over the last hour, 2% of them failing;
-- durations are in native units (nanoseconds)
SELECT metrics_ex.start_experiment('rag_prompt_v3', 'retrieval-augmented prompt keeps p95 under 2 s',
                                   metadata => '{"dataset": "scifact"}') AS exp \gset
SELECT CASE WHEN random() + 0 * i < 0.02
            THEN metrics_ex.emit('req_llm.request.exception', '{}',
                                 jsonb_build_object('experiment_id', :'exp', 'model', m.model, 'error', 'timeout'),
                                 now() - i * interval '9 seconds')
            ELSE metrics_ex.emit('req_llm.request.stop',
                                 jsonb_build_object('duration', round((m.base + 400 * random() ^ 3) * 1e6)),
                                 jsonb_build_object('experiment_id', :'exp', 'model', m.model, 'provider', m.provider,
                                                    'trace_id', 'req-' || i,
                                                    'tokens', jsonb_build_object('prompt', 600 + (random() * 400)::int,
                                                                                 'completion', 100 + (random() * 200)::int)),
                                 now() - i * interval '9 seconds') END
  FROM generate_series(1, 400) i,
       LATERAL (SELECT (ARRAY['gpt-4', 'claude-3-sonnet'])[1 + i % 2] AS model,
                       (ARRAY['openai', 'anthropic'])[1 + i % 2] AS provider,
                       (ARRAY[900, 700])[1 + i % 2] AS base) m;

-- two fine-tuning runs of the experiment: loss per step (MetricsStore)
SELECT metrics_ex.log_step(r.run, 'loss', round((r.l0 * exp(-s / 300.0) + 0.15 + 0.05 * random())::numeric, 4), s,
                           jsonb_build_object('experiment_id', :'exp', 'epoch', 1 + s / 500),
                           now() - interval '1 hour' + s * interval '3 seconds')
  FROM (VALUES ('bert_lr_1e-4', 2.4), ('bert_lr_3e-5', 2.6)) r(run, l0), generate_series(0, 1000, 25) s;
SELECT metrics_ex.log_step(r.run, 'learning_rate', r.lr, 0, jsonb_build_object('experiment_id', :'exp'))
  FROM (VALUES ('bert_lr_1e-4', 1e-4), ('bert_lr_3e-5', 3e-5)) r(run, lr);
\o
\set QUIET off

\echo
\echo '== The standard events CrucibleTelemetry knows, by category'
SELECT category, count(*) AS events, min(event) AS for_example
  FROM metrics_ex.telemetry_events GROUP BY category ORDER BY category;
SELECT metrics_ex.event_info('crucible_train.epoch.stop');

\echo '== Handlers, and what they recorded from 180 work.job.completed events'
SELECT event, metric, kind, measurement, tag_keys, attached_by FROM metrics_ex.telemetry_handlers ORDER BY metric;
SELECT labels ->> 'tenant' AS tenant, value AS jobs FROM metrics_ex.query('work_jobs_completed_total', 'sum', '{tenant}');
SELECT labels ->> 'tenant' AS tenant, round(value::numeric, 1) AS p95_ms
  FROM metrics_ex.query('work_job_duration_ms', 'p95', '{tenant}');

\echo '== The experiment''s enriched events: counts by name, latency, reliability, cost, tokens'
SELECT jsonb_pretty(metrics_ex.calculate_metrics(:'exp') -> 'events');
SELECT key, round(value::text::numeric, 2) AS value FROM jsonb_each(metrics_ex.calculate_metrics(:'exp') -> 'latency')
 WHERE key IN ('count', 'mean', 'p50', 'p95', 'p99') ORDER BY key;
SELECT metrics_ex.calculate_metrics(:'exp') #> '{reliability,success_rate}' AS success_rate,
       round((metrics_ex.calculate_metrics(:'exp') #>> '{cost,total}')::numeric, 4) AS cost_usd,
       metrics_ex.calculate_metrics(:'exp') #> '{tokens,total}' AS tokens;
\echo '== Latency by model (the enrichment tags model and provider)'
SELECT labels ->> 'model' AS model, round(value::numeric, 1) AS p95_ms
  FROM metrics_ex.query('latency_ms', 'p95', '{model}', jsonb_build_object('experiment_id', :'exp'));

\echo '== Training runs (metrics_ex.runs) and the first steps of one'
SELECT run_id, metrics, steps, first_step, last_step, last_values FROM metrics_ex.runs
 WHERE experiment_id = :'exp' ORDER BY run_id;
SELECT metric, step, value, metadata FROM metrics_ex.run_history('bert_lr_1e-4', 'loss') LIMIT 4;
\echo '== export_run(): JSON Lines in the JSONLMetrics adapter''s shape'
SELECT line FROM metrics_ex.export_run('bert_lr_3e-5') line LIMIT 2;
