-- Querying: acceptance cases of MetricsEx semantics, fills, windows, and the
-- queries Grafana sends with its macros expanded.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
-- the samples below are from the past: keep them raw, so percentiles are exact
SELECT metrics_ex.set_retention(NULL, '100 years');

SELECT metrics_ex.increment('q_jobs', 10, '{"tenant": "cns"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.increment('q_jobs', 20, '{"tenant": "cns"}', '2026-11-20 10:30:00+00');
SELECT metrics_ex.increment('q_jobs', 30, '{"tenant": "crucible"}', '2026-11-20 11:10:00+00');
SELECT count(*) FROM (SELECT metrics_ex.histogram('q_rt', v, '{"endpoint": "/api"}', '2026-11-20 10:00:00+00')
                        FROM unnest('{100,200,150}'::float8[]) v) s;

-- sum by tenant: cns 30, crucible 30
SELECT * FROM metrics_ex.query('q_jobs', 'sum', '{tenant}', since => '2026-11-20', until => '2026-11-21');
SELECT metrics_ex.query_json('q_jobs', 'sum', '{tenant}', since => '2026-11-20', until => '2026-11-21');
-- histogram: count 3, sum 450, mean 150, min 100, max 200
SELECT a AS aggregation, (SELECT value FROM metrics_ex.query('q_rt', a, since => '2026-11-20', until => '2026-11-21'))
  FROM unnest('{count,sum,mean,avg,min,max,stddev,p50}'::text[]) a;
-- rate: per second over the range
SELECT value FROM metrics_ex.query('q_jobs', 'rate', since => '2026-11-20 10:00', until => '2026-11-20 11:00');
-- rollup key cns: sum 30, count 2, mean 15
SELECT * FROM metrics_ex.rollup('q_jobs', '{tenant}', '{sum,count,mean}', since => '2026-11-20', until => '2026-11-21');
SELECT metrics_ex.rollup_json('q_jobs', '{tenant}', '{sum,count,mean}', since => '2026-11-20', until => '2026-11-21');
-- without group_by, one row with key ''
SELECT * FROM metrics_ex.rollup('q_jobs', '{}', since => '2026-11-20', until => '2026-11-21');

-- percentiles interpolate like percentile_cont: 1..100 gives p50 50.5, p95 95.05, p99 99.01
SELECT count(*) FROM (SELECT metrics_ex.histogram('q_lat', v, '{}', '2026-11-20 00:00:00+00')
                        FROM generate_series(1, 100) v) s;
SELECT a AS aggregation, (SELECT value FROM metrics_ex.query('q_lat', a, since => '2026-11-20', until => '2026-11-21'))
  FROM unnest('{p50,p90,p95,p99,p999,p99.9,p0,p100}'::text[]) a;
SELECT (SELECT value FROM metrics_ex.query('q_lat', 'p95', since => '2026-11-20', until => '2026-11-21'))
     = (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM metrics_ex.points WHERE name = 'q_lat')
       AS same_as_percentile_cont;

-- an empty range: count 0, sum 0, the others NULL; an unknown metric: no rows
SELECT a AS aggregation, (SELECT value FROM metrics_ex.query('q_rt', a, since => '2020-01-01', until => '2020-01-02'))
  FROM unnest('{count,sum,mean,min,max,p95}'::text[]) a;
SELECT count(*) FROM metrics_ex.query('no_such_metric', 'count', since => '2026-11-20', until => '2026-11-21');
SELECT metrics_ex.query_json('no_such_metric', since => '2026-11-20', until => '2026-11-21');

-- tag filters (lineage ids included) and a missing tag grouping as NULL
SELECT metrics_ex.gauge('q_temp', 20, '{"room": "a", "floor": "1"}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.gauge('q_temp', 22, '{"room": "b", "floor": 1}', '2026-11-20 10:00:00+00');
SELECT metrics_ex.gauge('q_temp', 30, '{"room": "c", "trace_id": "t-7"}', '2026-11-20 10:00:00+00');
SELECT * FROM metrics_ex.query('q_temp', 'max', '{floor}', since => '2026-11-20', until => '2026-11-21');
SELECT * FROM metrics_ex.query('q_temp', 'count', tags => '{"floor": 1}', since => '2026-11-20', until => '2026-11-21');
SELECT * FROM metrics_ex.query('q_temp', 'max', tags => '{"trace_id": "t-7"}', since => '2026-11-20', until => '2026-11-21');
SELECT * FROM metrics_ex.rollup('q_temp', '{floor,room}', '{max}', since => '2026-11-20', until => '2026-11-21');

-- time_series: buckets aligned to the epoch, half-open range, fills
SELECT * FROM metrics_ex.time_series('q_jobs', 'hour', 'sum', since => '2026-11-20 09:00', until => '2026-11-20 13:00');
SELECT * FROM metrics_ex.time_series('q_jobs', '30m', 'count', fill => 'zero',
                                     since => '2026-11-20 09:00', until => '2026-11-20 12:00');
SELECT * FROM metrics_ex.time_series('q_jobs', '1h', 'sum', group_by => '{tenant}', fill => 'previous',
                                     since => '2026-11-20 09:00', until => '2026-11-20 13:00');
SELECT * FROM metrics_ex.time_series('q_jobs', '1h', 'sum', group_by => '{tenant}', fill => 'null',
                                     since => '2026-11-20 10:00', until => '2026-11-20 12:00');
-- until is exclusive: the 11:10 sample is outside [10:00, 11:10)
SELECT * FROM metrics_ex.time_series('q_jobs', 'minute', 'sum', since => '2026-11-20 10:00', until => '2026-11-20 11:10');

-- rolling: means over the last 1, 5, 15 minutes
SELECT count(*) FROM (SELECT metrics_ex.gauge('q_roll', i, '{"a": "1"}', now() - i * interval '1 minute' - interval '1 second')
                        FROM generate_series(0, 19) i) s;
SELECT * FROM metrics_ex.rolling('q_roll');
SELECT count(*) FROM metrics_ex.rolling('no_such_metric');

-- windowed: 20 events a minute apart, 5-minute windows every 5 minutes: 4 windows of 5
SELECT count(*) FROM (SELECT metrics_ex.gauge('q_events', i, '{}', '2026-11-20 00:00:00+00'::timestamptz + i * interval '1 minute')
                        FROM generate_series(0, 19) i) s;
SELECT * FROM metrics_ex.windowed('q_events', '5 minutes', '5 minutes', 'count');
SELECT * FROM metrics_ex.windowed('q_events', '5 minutes', '2 minutes', 'mean', since => '2026-11-20 00:10');
-- CrucibleTelemetry's rule for the last window: it ends where the next would
-- reach more than a step past the last sample.  Width 10, step 5: 3 windows
-- (00:00-00:10, 00:05-00:15, 00:10-00:20), not a 4th of 00:15-00:25
SELECT * FROM metrics_ex.windowed('q_events', '10 minutes', '5 minutes', 'count');
-- a zero width or step gives no windows
SELECT count(*) FROM metrics_ex.windowed('q_events', '0 minutes', '5 minutes');
SELECT count(*) FROM metrics_ex.windowed('q_events', '5 minutes', '0 minutes');

-- Grafana's PostgreSQL data source: the panel queries with macros expanded
-- ($__timeFrom() / $__timeTo() become timestamps, $__interval a duration)
SELECT "time", metric, value FROM metrics_ex.time_series('q_rt', '5m', 'p95',
    since => '2026-11-20T00:00:00Z', until => '2026-11-21T00:00:00Z', group_by => '{endpoint}');
SELECT "time", metric, value FROM metrics_ex.time_series('q_jobs', '1h', 'sum',
    since => '2026-11-20T09:00:00Z', until => '2026-11-20T12:00:00Z', group_by => '{tenant}', fill => 'zero');
SELECT floor(extract(epoch FROM ts) / 3600) * 3600 AS "time", tags ->> 'tenant' AS metric, sum(value) AS value
  FROM metrics_ex.points
 WHERE name = 'q_jobs' AND ts BETWEEN '2026-11-20T09:00:00Z' AND '2026-11-20T12:00:00Z'
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT to_timestamp(floor(extract(epoch FROM ts) / 300) * 300) AS "time", avg(value) AS value
  FROM metrics_ex.points
 WHERE name = 'q_rt' AND ts >= to_timestamp(1795132800) AND ts < to_timestamp(1795219200)
 GROUP BY 1 ORDER BY 1;

SELECT metrics_ex.set_retention(NULL, NULL);
