-- metrics_ex demo: Prometheus exposition of what the earlier steps recorded.
-- A scrape reads the per-series totals plus the deltas not merged yet, so it
-- is exact right after a write and never scans raw samples.
\echo '== prometheus(): the first 30 lines of the exposition (text format 0.0.4)'
SELECT line FROM metrics_ex.prometheus() AS line LIMIT 30;

\echo '== one histogram series: cumulative buckets ending in +Inf = _count, then _sum'
SELECT line FROM metrics_ex.prometheus('job_duration_ms') AS line LIMIT 16;
SELECT line FROM metrics_ex.prometheus('queue_depth') AS line;

\echo '== one metric as the body an HTTP endpoint serves, with its content type'
SELECT metrics_ex.prometheus_content_type();
SELECT metrics_ex.prometheus_text('jobs_completed_total');

\echo '== OpenMetrics: families without _total, ending in # EOF'
SELECT metrics_ex.openmetrics_content_type();
SELECT metrics_ex.openmetrics_text('jobs_completed_total');
