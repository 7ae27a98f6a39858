-- Bad input gets an error that names the argument, with a SQLSTATE; nothing
-- of a failing statement is stored.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(40);

-- names
SELECT throws_ok($$SELECT metrics_ex.increment(NULL)$$, '22004', 'metric name must not be NULL', 'NULL name');
SELECT throws_ok($$SELECT metrics_ex.record(NULL, '{}')$$, '22004', NULL, 'NULL name in record');
SELECT throws_ok($$SELECT metrics_ex.gauge('1abc', 1)$$, '42602', NULL, 'name starting with a digit');
SELECT throws_ok($$SELECT metrics_ex.gauge('a-b', 1)$$, '42602', NULL, 'name with a dash');
SELECT throws_ok($$SELECT metrics_ex.gauge('', 1)$$, '42602', NULL, 'empty name');
SELECT throws_ok($$SELECT metrics_ex.gauge(repeat('a', 201), 1)$$, '42602', NULL, 'name too long');
SELECT lives_ok($$SELECT metrics_ex.gauge('ns:sub_name', 1)$$, 'colons are allowed');

-- tags
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '[1]')$$, '22023', 'tags must be a JSON object', 'tags array');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '"x"')$$, '22023', 'tags must be a JSON object', 'tags scalar');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '{"a": {"b": 1}}')$$, '22023',
                 'tag "a" in tags has a nested value', 'nested tag value');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '{"a-b": "x"}')$$, '22023',
                 'invalid tag name "a-b" in tags', 'label name Prometheus rejects');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '{"__name__": "x"}')$$, '22023', NULL, 'reserved __ label');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '{"le": "x"}')$$, '22023', NULL, 'reserved le label');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, jsonb_build_object('a', repeat('x', 1025)))$$, '22001', NULL, 'tag value too long');
SELECT throws_ok($$SELECT metrics_ex.record('r', '{"value": 1, "x": [1]}')$$, '22023',
                 'tag "x" in payload has a nested value', 'nested promoted key');

-- values
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 'NaN')$$, '22023', 'value must be a finite number', 'NaN');
SELECT throws_ok($$SELECT metrics_ex.histogram('h', 'Infinity')$$, '22023', 'value must be a finite number', 'infinity');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', NULL)$$, '22004', 'value must not be NULL', 'NULL value');
SELECT throws_ok($$SELECT metrics_ex.increment('c_total', -1)$$, '22023',
                 'counter increment must not be negative: -1', 'negative increment');
SELECT throws_ok($$SELECT metrics_ex.record('c_total', '{"value": -2}')$$, '22023', NULL, 'negative counter via record');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '{}', '10000-01-01')$$, '22008', 'ts is out of range for a sample', 'ts too late');
SELECT throws_ok($$SELECT metrics_ex.gauge('g', 1, '{}', 'infinity')$$, '22008', NULL, 'infinite ts');

-- payloads
SELECT throws_ok($$SELECT metrics_ex.record('r', '[1]')$$, '22023', 'payload must be a JSON object', 'payload array');
SELECT throws_ok($$SELECT metrics_ex.record('r', NULL)$$, '22004', 'payload must not be NULL', 'NULL payload');
SELECT throws_ok($$SELECT metrics_ex.record('r', '{"value": "1"}')$$, '22023', 'payload "value" must be a JSON number', 'string value');
SELECT throws_ok($$SELECT metrics_ex.record('r', '{"tags": [1]}')$$, '22023', 'payload "tags" must be a JSON object', 'tags array in payload');
SELECT throws_ok($$SELECT metrics_ex.record('r', '{"ts": 5}')$$, '22023', NULL, 'numeric ts');
SELECT throws_ok($$SELECT metrics_ex.record('r', '{"ts": "yesterday-ish"}')$$, '22007', NULL, 'unparsable ts');

-- kinds
SELECT metrics_ex.gauge('kind_clash', 1);
SELECT throws_ok($$SELECT metrics_ex.histogram('kind_clash', 1)$$, '42809',
                 'metric "kind_clash" is a gauge, not a histogram', 'kind conflicts with the definition');
SELECT throws_ok($$INSERT INTO metrics_ex.ingest (name, value, kind) VALUES ('kind_clash', 1, 'counter')$$, '42809', NULL, 'kind conflict in bulk');
SELECT throws_ok($$INSERT INTO metrics_ex.ingest (name, value, kind) VALUES ('k', 1, 'summary')$$, '22023', 'invalid kind "summary"', 'unknown kind');
SELECT throws_ok($$SELECT metrics_ex.define('kind_clash', 'counter')$$, '42809', NULL, 'define cannot change the kind of a metric with series');
SELECT throws_ok($$SELECT metrics_ex.define('d', 'gauge', buckets => '{1,2}')$$, '22023', 'buckets are only for histograms', 'buckets on a gauge');
SELECT throws_ok($$SELECT metrics_ex.define('d', 'histogram', buckets => '{2,1}')$$, '22023', 'buckets must be strictly increasing', 'unsorted buckets');
SELECT throws_ok($$SELECT metrics_ex.define('d', 'histogram', buckets => '{1,Infinity}')$$, '22023', NULL, 'infinite bucket');
SELECT throws_ok($$SELECT metrics_ex.define('d', 'histogram', max_series => 0)$$, '22023', 'max_series must be positive', 'max_series 0');

-- reads and measure
SELECT throws_ok($$SELECT metrics_ex.get_metrics("limit" => -1)$$, '22023', NULL, 'negative limit');
SELECT throws_ok($$SELECT metrics_ex.get_metrics(kind => 'summary')$$, '22023', NULL, 'unknown kind in get_metrics');
SELECT throws_ok($$SELECT metrics_ex.measure('m', NULL)$$, '22004', NULL, 'NULL statement');

-- nothing of the failing statements was stored
SELECT is((SELECT count(*) FROM metrics_ex.points WHERE name NOT IN ('ns:sub_name', 'kind_clash')), 0::bigint,
          'failed writes stored nothing');

SELECT * FROM finish();
ROLLBACK;
