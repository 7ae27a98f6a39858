-- metrics_ex demo, part 1: recording.  An ML experiment compares two models
-- on two datasets, and a job queue reports throughput, depth and latency.
\set QUIET on
\o /dev/null
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT setseed(0.2026);

SELECT metrics_ex.define('entailment_score', 'histogram', 'Entailment score of a model answer', 'ratio');
SELECT metrics_ex.define('job_duration_ms', 'histogram', 'Job run time', 'milliseconds',
                         buckets => '{10, 50, 100, 250, 500, 1000}');

-- 600 experiment results over the last 6 hours, with lineage ids per sample
SELECT metrics_ex.record('entailment_score', jsonb_build_object(
           'value', round((CASE model WHEN 'llama-3.1' THEN 0.72 ELSE 0.66 END
                           + (random() - 0.5) * 0.3)::numeric, 3),
           'experiment_id', 'exp_123',
           'ts', now() - (i * interval '36 seconds'),
           'tags', jsonb_build_object('model', model, 'dataset', dataset,
                                      'trace_id', 'trace-' || i, 'work_id', 'work-' || (i / 10))))
  FROM generate_series(1, 600) i,
       LATERAL (SELECT (ARRAY['llama-3.1', 'qwen'])[1 + i % 2] AS model,
                       (ARRAY['scifact', 'fever'])[1 + (i / 2) % 2] AS dataset) m;

-- the job queue: bulk-loaded through the ingest view, as a service would COPY it
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'jobs_completed_total', 1, jsonb_build_object('tenant', (ARRAY['cns', 'crucible'])[1 + i % 2]),
       now() - i * interval '10 seconds', 'counter'
  FROM generate_series(1, 2000) i
UNION ALL
SELECT 'job_duration_ms', round((20 + 400 * random() ^ 3)::numeric, 1),
       jsonb_build_object('queue', 'sno_validation'), now() - i * interval '10 seconds', 'histogram'
  FROM generate_series(1, 2000) i
UNION ALL
SELECT 'queue_depth', greatest(0, 40 + 30 * sin(i / 50.0) + 5 * random())::int,
       '{"queue": "sno_validation"}', now() - i * interval '1 minute', 'gauge'
  FROM generate_series(1, 360) i;

-- and a timed statement
SELECT metrics_ex.measure('database_query', 'SELECT count(*) FROM pg_class', '{"query": "catalog_scan"}') IS NOT NULL AS measured;
\o
\set QUIET off

\echo
\echo '== What is stored (metrics_ex.get_stats())'
SELECT key, value FROM jsonb_each(metrics_ex.get_stats() -> 'storage') ORDER BY key;

\echo '== Metrics and their kinds (metrics_ex.metrics)'
SELECT m.name, m.kind, m.unit, count(s.id) AS series
  FROM metrics_ex.metrics m LEFT JOIN metrics_ex.series s ON s.metric_id = m.id
 GROUP BY m.id ORDER BY m.name;

\echo '== Mean entailment score by model and dataset, straight from metrics_ex.points'
SELECT tags ->> 'model' AS model, tags ->> 'dataset' AS dataset,
       count(*), round(avg(value)::numeric, 3) AS mean
  FROM metrics_ex.points WHERE name = 'entailment_score'
 GROUP BY 1, 2 ORDER BY 1, 2;

\echo '== Lineage ids are per sample, yet filter like tags: one trace'
SELECT ts, tags, value FROM metrics_ex.points
 WHERE name = 'entailment_score' AND tags @> '{"trace_id": "trace-42"}';

\echo '== The latest two completed jobs of tenant cns (metrics_ex.get_metrics())'
SELECT jsonb_pretty(metrics_ex.get_metrics(name => 'jobs_completed_total', "limit" => 2,
                                           tags => '{"tenant": "cns"}') -> 'metrics');
