-- metrics_ex demo: rollups behind a watermark, late data, the monitoring shape.
\echo '== a scrape: 2,000 node series, one sample each, in one COPY (raw samples only, no rollup work)'
SELECT metrics_ex.define('node_load1', 'gauge', help => 'One-minute load average', max_series => 100000);
COPY (SELECT 'node_load1', (i % 97) / 10.0, jsonb_build_object('instance', 'node-' || i, 'rack', 'r' || i % 20), now()
        FROM generate_series(0, 1999) i) TO '/tmp/metrics_ex_demo_scrape.tsv';
\timing on
COPY metrics_ex.ingest (name, value, tags, ts) FROM '/tmp/metrics_ex_demo_scrape.tsv';
\timing off

\echo '== the rollup watermark: rollups hold every sample before "done"; samples after it are read raw'
SELECT * FROM metrics_ex.watermarks();
\echo '   what the scrape costs to read right away: exact, from raw samples after the watermark'
SELECT * FROM metrics_ex.query('node_load1', 'count', '{rack}', span => '5 minutes') ORDER BY labels LIMIT 3;

\echo '== materialize(): roll raw samples up to the watermark, in one pass (the scheduler runs it every minute)'
SELECT metrics_ex.materialize() - 'watermark' AS run;
SELECT * FROM metrics_ex.watermarks();

\echo '== a late sample (older than the watermark): it also leaves a delta of its own series and minute'
SELECT metrics_ex.gauge('node_load1', 42, '{"instance": "node-7", "rack": "r7"}', now() - interval '3 hours');
SELECT s.tags, p.bucket, p.count, p.max FROM metrics_ex.rollup_pending p
  JOIN metrics_ex.series s ON s.id = p.series_id;
\echo '   queries see it at once; the next run merges it into that hour alone'
SELECT * FROM metrics_ex.query('node_load1', 'max', since => now() - interval '4 hours', until => now() - interval '2 hours');
SELECT metrics_ex.materialize() ->> 'late' AS late_deltas_merged;

\echo '== rollup levels: hour rows for every metric, day rows for complete days, minute rows where asked'
SELECT metrics_ex.define('checkout_latency_seconds', 'histogram', minute_rollups => true);
SELECT name, kind, minute_rollups_from IS NOT NULL AS minute_rollups FROM metrics_ex.metrics
 WHERE name IN ('node_load1', 'checkout_latency_seconds') ORDER BY name;
SELECT 'rollup_hour' AS level, count(*) AS rows FROM metrics_ex.rollup_hour
UNION ALL SELECT 'rollup_day', count(*) FROM metrics_ex.rollup_day
UNION ALL SELECT 'rollup_minute', count(*) FROM metrics_ex.rollup_minute;
