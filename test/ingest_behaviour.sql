-- Behaviour that needs transactions, roles and catalog changes.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(22);

-- series limit: GUC default and per-metric override
SET LOCAL metrics_ex.max_series_per_metric = 3;
SELECT metrics_ex.gauge('limited', 1, jsonb_build_object('i', i)) FROM generate_series(1, 3) i;
SELECT throws_ok($$SELECT metrics_ex.gauge('limited', 1, '{"i": 4}')$$, '54000', NULL,
                 'the fourth tag set is refused under max_series_per_metric = 3');
SELECT lives_ok($$SELECT metrics_ex.gauge('limited', 2, '{"i": 1}')$$, 'existing series keep recording');
SELECT lives_ok($$SELECT metrics_ex.define('limited', 'gauge', max_series => 4)$$, 'raise the limit per metric');
SELECT lives_ok($$SELECT metrics_ex.gauge('limited', 1, '{"i": 4}')$$, 'then the fourth series is made');
SELECT is((SELECT count(*) FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
            WHERE m.name = 'limited'), 4::bigint, 'four series');
RESET metrics_ex.max_series_per_metric;

-- a deleted metric is forgotten by the cache and made anew
SELECT metrics_ex.increment('recycled_total', 1, ts => '2026-11-20 10:00:00+00');
DELETE FROM metrics_ex.metrics WHERE name = 'recycled_total';
SELECT lives_ok($$SELECT metrics_ex.increment('recycled_total', 2, ts => '2026-11-20 10:00:01+00')$$,
                'record after the metric was deleted');
SELECT results_eq($$SELECT value FROM metrics_ex.points WHERE name = 'recycled_total'$$,
                  $$VALUES (2::float8)$$, 'only the new sample is visible');

-- define after use changes help but keeps the kind
SELECT metrics_ex.define('recycled_total', 'counter', 'Recycled things');
SELECT is((SELECT help FROM metrics_ex.metrics WHERE name = 'recycled_total'), 'Recycled things', 'help set');

-- DDL on a partition later in the same transaction as writes
SELECT metrics_ex._create_day_partition('2019-06-01 00:00:00+00');
SELECT metrics_ex.gauge('ddl_after_write', 1, ts => '2019-06-01 10:00:00+00');
SELECT lives_ok($$DROP TABLE metrics_ex.samples_p20190601$$, 'a written partition can be dropped in the same transaction');
SELECT lives_ok($$SELECT metrics_ex.gauge('ddl_after_write', 2, ts => '2019-06-01 11:00:00+00')$$,
                'and the next write of that day goes to the default partition');

-- a partition made in a rolled-back subtransaction is not used afterwards
DO $$
BEGIN
    PERFORM metrics_ex._create_day_partition('2018-03-03 00:00:00+00');
    PERFORM metrics_ex.gauge('subxact', 1, ts => '2018-03-03 00:00:00+00');
    RAISE EXCEPTION 'roll back';
EXCEPTION WHEN raise_exception THEN NULL;
END $$;
SELECT lives_ok($$SELECT metrics_ex.gauge('subxact', 2, ts => '2018-03-03 00:00:00+00')$$,
                'write after the partition''s creation was rolled back');
SELECT results_eq($$SELECT value FROM metrics_ex.points WHERE name = 'subxact'$$,
                  $$VALUES (2::float8)$$, 'only the surviving sample is there');

-- privileges: nothing without grants; writer and reader roles as documented
CREATE ROLE mx_nobody;
CREATE ROLE mx_writer;
CREATE ROLE mx_reader;
GRANT USAGE ON SCHEMA metrics_ex TO mx_writer, mx_reader;
GRANT INSERT ON metrics_ex.ingest TO mx_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO mx_reader;

SET LOCAL ROLE mx_nobody;
SELECT throws_ok($$SELECT metrics_ex.increment('priv_total')$$, '42501', NULL, 'no grants: cannot write');
SELECT throws_ok($$SELECT count(*) FROM metrics_ex.points$$, '42501', NULL, 'no grants: cannot read');
RESET ROLE;

SET LOCAL ROLE mx_writer;
SELECT lives_ok($$SELECT metrics_ex.increment('priv_total', 1, '{"who": "writer"}')$$, 'writer records');
SELECT lives_ok($$INSERT INTO metrics_ex.ingest (name, value) VALUES ('priv_total', 2)$$, 'writer bulk-inserts');
SELECT throws_ok($$SELECT count(*) FROM metrics_ex.points$$, '42501', NULL, 'writer cannot read');
RESET ROLE;

SET LOCAL ROLE mx_reader;
SELECT is((SELECT sum(value) FROM metrics_ex.points WHERE name = 'priv_total'), 3::float8, 'reader reads');
SELECT throws_ok($$SELECT metrics_ex.increment('priv_total')$$, '42501', NULL, 'reader cannot write');
RESET ROLE;

-- the BRIN index stays right through bulk loads into summarized ranges
SELECT metrics_ex._create_day_partition('2017-05-05 00:00:00+00');
COPY (SELECT 'brin_check', i, '{}', '2017-05-05 00:00:00+00'::timestamptz + i * interval '1 second'
        FROM generate_series(1, 20000) i) TO '/tmp/metrics_ex_brin_a.txt';
COPY (SELECT 'brin_check', i, '{}', '2017-05-05 12:00:00+00'::timestamptz + i * interval '1 second'
        FROM generate_series(1, 300) i) TO '/tmp/metrics_ex_brin_b.txt';
COPY metrics_ex.ingest (name, value, tags, ts) FROM '/tmp/metrics_ex_brin_a.txt';
SELECT brin_summarize_new_values('metrics_ex.samples_p20170505_ts_brin');
COPY metrics_ex.ingest (name, value, tags, ts) FROM '/tmp/metrics_ex_brin_b.txt';
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM metrics_ex.samples_p20170505 WHERE ts >= '2017-05-05 12:00:00+00'),
          300::bigint, 'rows loaded into a summarized range are found through the index');
SELECT is((SELECT count(*) FROM metrics_ex.samples_p20170505 WHERE ts < '2017-05-05 01:00:00+00'),
          3599::bigint, 'and the earlier rows too');
RESET enable_seqscan;

-- a read-only transaction records nothing
SET TRANSACTION READ ONLY;
SELECT throws_ok($$SELECT metrics_ex.increment('priv_total')$$, '25006', NULL, 'no writes in a read-only transaction');

SELECT * FROM finish();
ROLLBACK;
