-- Partitions and retention by hand (prune()): the default partition, moving
-- its samples into day partitions, and counting every pruned sample once.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(14);
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
CREATE TEMP TABLE day0 AS SELECT date_bin('1 day', now(), '1970-01-01') AS d;
CREATE TEMP TABLE pruned0 AS
    SELECT coalesce(sum(value), 0)::bigint AS n FROM metrics_ex.totals WHERE key = 'samples_pruned';

-- samples of days without a partition wait in the default partition
SELECT metrics_ex.gauge('rt_wait', i, '{}', (SELECT d FROM day0) - interval '5 days' + i * interval '1 hour')
  FROM generate_series(0, 47) i;
SELECT is((SELECT count(*) FROM ONLY metrics_ex.samples_default s JOIN metrics_ex.series se ON se.id = s.series_id
            JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = 'rt_wait'), 48::bigint,
          'samples of days without a partition are stored in the default partition');
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name = 'rt_wait'), 48::bigint, 'and read as usual');

-- prune() makes the coming days and moves the waiting samples of kept days
SELECT metrics_ex.set_retention(NULL, '30 days');
SELECT ok((p->>'samples_moved')::int >= 48 AND (p->>'partitions_skipped')::int = 0, 'prune() moves them')
  FROM metrics_ex.prune() p;
SELECT is((SELECT count(*) FROM metrics_ex.samples WHERE tableoid = 'metrics_ex.samples_default'::regclass), 0::bigint,
          'the default partition is empty');
SELECT is((SELECT array_agg(tableoid::regclass::text ORDER BY tableoid::regclass::text) FROM
            (SELECT DISTINCT s.tableoid FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id
              JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = 'rt_wait') t),
          ARRAY['metrics_ex.samples_p' || to_char((SELECT d FROM day0) - interval '5 days', 'YYYYMMDD'),
                'metrics_ex.samples_p' || to_char((SELECT d FROM day0) - interval '4 days', 'YYYYMMDD')],
          'into their UTC days');
SELECT ok((SELECT count(*) FROM metrics_ex.partitions() WHERE lower_bound >= (SELECT d FROM day0)
            AND lower_bound <= (SELECT d FROM day0) + interval '3 days') = 4, 'today and the next 3 days have partitions');
SELECT ok(NOT EXISTS (SELECT 1 FROM metrics_ex.partitions() p
                       JOIN pg_index i ON i.indrelid = p.partition
                      GROUP BY p.partition HAVING count(*) <> 1)
          AND (SELECT bool_and(c.relam = (SELECT oid FROM pg_am WHERE amname = 'brin'))
                 FROM metrics_ex.partitions() p JOIN pg_index i ON i.indrelid = p.partition
                 JOIN pg_class c ON c.oid = i.indexrelid),
          'each partition has its one BRIN index');
SELECT ok(NOT EXISTS (SELECT 1 FROM metrics_ex.partitions() p JOIN pg_constraint c ON c.conrelid = p.partition
                       WHERE c.contype = 'c'), 'and no CHECK constraint is left over');

-- a metric kept shorter loses rows by DELETE; later its partition goes
-- with the other metrics' samples: every sample is counted once
SELECT metrics_ex.gauge('rt_short', i, '{}', (SELECT d FROM day0) - interval '10 days' + i * interval '1 hour')
  FROM generate_series(1, 10) i;
SELECT metrics_ex.gauge('rt_long', i, '{}', (SELECT d FROM day0) - interval '10 days' + i * interval '1 hour')
  FROM generate_series(1, 7) i;
SELECT metrics_ex.set_retention('rt_short', '1 day');
SELECT is((metrics_ex.prune()->>'samples_deleted')::int, 10, 'samples past their metric''s retention are deleted');
SELECT metrics_ex.set_retention(NULL, '8 days');
SELECT is((p->>'samples_dropped')::int || '/' || (p->>'partitions_dropped'), '7/1',
          'the others go with their partition') FROM metrics_ex.prune() p;
SELECT is((SELECT sum(value)::bigint FROM metrics_ex.totals WHERE key = 'samples_pruned') - (SELECT n FROM pruned0),
          17::bigint, 'each pruned sample is counted once');
SELECT is((metrics_ex.get_stats()->'storage'->>'metrics_pruned')::bigint - (SELECT n FROM pruned0), 17::bigint,
          'and get_stats() says so');

-- expired samples waiting in the default partition are deleted and counted
SELECT metrics_ex.gauge('rt_stale', 1, '{}', (SELECT d FROM day0) - interval '400 days');
SELECT is((metrics_ex.prune()->>'samples_deleted')::int, 1, 'an expired sample in the default partition is deleted');
SELECT is((SELECT sum(value)::bigint FROM metrics_ex.totals WHERE key = 'samples_pruned') - (SELECT n FROM pruned0),
          18::bigint, 'and counted');

SELECT * FROM finish();
ROLLBACK;
