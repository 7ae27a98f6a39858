-- metrics_ex demo: series ids shared by every session.  A monitoring scrape
-- is one row per series; a new connection (a pooler, a cron job) finds the
-- ids in the shared dictionary instead of asking the catalog for each.
SET client_min_messages = warning;

\echo '== a scrape of 1,000 series, twice from one session: its second write publishes the new series'
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'demo_node_load', round((random() * 4)::numeric, 2), '{"instance": "host-' || i || '", "job": "node"}'
  FROM generate_series(1, 1000) i;
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'demo_node_load', round((random() * 4)::numeric, 2), '{"instance": "host-' || i || '", "job": "node"}'
  FROM generate_series(1, 1000) i;
SELECT enabled, entries >= 2000 AS holds_the_tags_and_their_text,
       pg_size_pretty(bytes_used) AS used, pg_size_pretty(bytes_limit) AS may_use
  FROM metrics_ex.series_dictionary();

\echo '== a new session writes the scrape without reading metrics_ex.series once'
\connect
SET client_min_messages = warning;
BEGIN;
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'demo_node_load', round((random() * 4)::numeric, 2), '{"instance": "host-' || i || '", "job": "node"}'
  FROM generate_series(1, 1000) i;
SELECT seq_scan + idx_scan AS scans_of_series_in_this_transaction
  FROM pg_stat_xact_user_tables WHERE relid = 'metrics_ex.series'::regclass;
COMMIT;
SELECT count(*) AS samples, count(DISTINCT tags) AS series
  FROM metrics_ex.points WHERE name = 'demo_node_load';

\echo '== deleting series moves the dictionary to its next generation: nobody writes into a deleted id'
SELECT generation AS before FROM metrics_ex.series_dictionary();
DELETE FROM metrics_ex.metrics WHERE name = 'demo_node_load';
SELECT generation AS after FROM metrics_ex.series_dictionary();
SELECT metrics_ex.gauge('demo_node_load', 1.5, '{"instance": "host-1", "job": "node"}');
SELECT count(*) AS samples, count(DISTINCT tags) AS series
  FROM metrics_ex.points WHERE name = 'demo_node_load';
