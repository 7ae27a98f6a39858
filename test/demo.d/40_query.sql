-- metrics_ex demo, part 2: querying what part 1 recorded.
\echo '== query(): mean entailment score per model over the last 24 hours'
SELECT * FROM metrics_ex.query('entailment_score', 'mean', '{model}');
\echo '   and as a chart for psql: chart() draws time_series(), one mark per group'
SELECT * FROM metrics_ex.chart('entailment_score', '15m', 'mean', '6 hours', group_by => '{model}')
\g (format=unaligned tuples_only=on)

\echo '== query_json(): the same in MetricsEx''s shape'
SELECT metrics_ex.query_json('entailment_score', 'mean', '{model}');

\echo '== rollup_json(): experiment comparison by model and dataset'
SELECT jsonb_pretty(metrics_ex.rollup_json('entailment_score', '{model,dataset}', '{mean,count,p95}'));

\echo '== time_series(): job latency p95 per hour over the last 6 hours, as Grafana would ask'
SELECT * FROM metrics_ex.time_series('job_duration_ms', '1h', 'p95', span => '6 hours');
SELECT * FROM metrics_ex.chart('job_duration_ms', '10m', 'p95', '6 hours', height => 8)
\g (format=unaligned tuples_only=on)

\echo '== time_series(): completed jobs per 30 minutes by tenant, empty buckets as zero'
SELECT * FROM metrics_ex.time_series('jobs_completed_total', '30m', 'count', span => '2 hours',
                                     group_by => '{tenant}', fill => 'zero');
\echo '   a sparkline per tenant: completed jobs per 10 minutes over 6 hours'
SELECT metric AS tenant, metrics_ex.sparkline(array_agg(value ORDER BY "time")) AS jobs_per_10m
  FROM metrics_ex.time_series('jobs_completed_total', '10m', 'count', '6 hours', group_by => '{tenant}')
 GROUP BY metric ORDER BY metric;

\echo '== rolling(): queue depth now and its 1/5/15-minute means'
SELECT * FROM metrics_ex.rolling('queue_depth');
SELECT * FROM metrics_ex.chart('queue_depth', '5m', 'mean', '6 hours', height => 8)
\g (format=unaligned tuples_only=on)

\echo '== windowed(): job latency means in 1-hour windows sliding by 30 minutes'
SELECT window_start, window_end, count, round(value::numeric, 1) AS mean_ms
  FROM metrics_ex.windowed('job_duration_ms', '1 hour', '30 minutes', since => now() - interval '3 hours');
