-- Bad input to the query functions: errors that say what is allowed.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(16);
SELECT metrics_ex.gauge('qe', 1, '{"a": "x"}', '2026-11-20 10:00:00+00');

SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', 'median')$$, '22023',
                 'unknown aggregation "median"', 'unknown aggregation');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', 'p101')$$, '22023', NULL, 'percentile above 100');
SELECT throws_ok($$SELECT * FROM metrics_ex.rollup('qe', '{a}', '{mean,bogus}')$$, '22023', NULL, 'unknown aggregation in rollup');
SELECT throws_ok($$SELECT * FROM metrics_ex.rollup('qe', '{a}', '{}')$$, '22023', NULL, 'no aggregations');
SELECT throws_ok($$SELECT * FROM metrics_ex.time_series('qe', 'fortnight')$$, '22023',
                 'invalid bucket "fortnight"', 'unknown bucket');
SELECT throws_ok($$SELECT * FROM metrics_ex.time_series('qe', '1 month')$$, '22023', NULL, 'bucket with months');
SELECT throws_ok($$SELECT * FROM metrics_ex.time_series('qe', '1s', span => 'last_7d')$$, '54000',
                 NULL, 'over 100000 buckets');
SELECT throws_ok($$SELECT * FROM metrics_ex.time_series('qe', 'hour', fill => 'linear')$$, '22023',
                 'invalid fill "linear"', 'unknown fill');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', since => '2026-11-21', until => '2026-11-20')$$, '22023',
                 NULL, 'since after until');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', since => '2026-11-20', until => '2026-11-20')$$, '22023',
                 NULL, 'since equal to until');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', span => 'yesterday-ish')$$, '22023',
                 'invalid span "yesterday-ish"', 'unknown span');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', 'mean', '{a,NULL}')$$, '22023', NULL, 'NULL in group_by');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', 'mean', '{"a b"}')$$, '22023', NULL, 'group_by element that is no tag name');
SELECT throws_ok($$SELECT * FROM metrics_ex.query('qe', tags => '[1]')$$, '22023', 'tags must be a JSON object', 'tags not an object');
SELECT throws_ok($$SELECT * FROM metrics_ex.windowed('qe', '-5 minutes', '1 minute')$$, '22023',
                 'width must not be negative', 'negative width');
SELECT throws_ok($$SELECT * FROM metrics_ex.windowed('qe', '5 minutes', '-1 minute')$$, '22023',
                 'step must not be negative', 'negative step');

SELECT * FROM finish();
ROLLBACK;
