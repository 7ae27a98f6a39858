#!/usr/bin/env bash
# make demo, last part: metrics_ex scaled out on Citus.  A coordinator and
# two workers on loopback (ports PORT+1..PORT+3), a day of scrapes of 500
# series written on the coordinator, distribute() moving them into 8
# shards, and the reads: the same answers as before, each shard aggregating
# its own rows.  Builds Citus from test/vendor/ first when it is missing
# (about 2.5 minutes, once).  Stops its three nodes when it ends.
# Usage: test/demo_citus.sh PORT
set -euo pipefail
cd "$(dirname "$0")/.."
base=$1
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
bash test/citus_build.sh

work=$(mktemp -d /tmp/metrics_ex_demo_citus.XXXXXX)
chmod 755 "$work"
nodes=(c w1 w2)
declare -A port=([c]=$((base + 1)) [w1]=$((base + 2)) [w2]=$((base + 3)))
cleanup() { for n in "${nodes[@]}"; do bash test/cluster.sh stop "$work/$n" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
for n in "${nodes[@]}"; do
    bash test/cluster.sh start "$work/$n" "${port[$n]}" "shared_preload_libraries = 'citus,metrics_ex'" \
        "max_prepared_transactions = 20"
    "$bindir/psql" -qX -h 127.0.0.1 -p "${port[$n]}" -U postgres -d postgres \
        -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" -c "CREATE EXTENSION metrics_ex"
done

"$bindir/psql" -X -h 127.0.0.1 -p "${port[c]}" -U postgres -d postgres -v ON_ERROR_STOP=1 -P pager=off \
    -v w1="${port[w1]}" -v w2="${port[w2]}" -v c="${port[c]}" <<'SQL'
\pset footer off
-- Scale out: a coordinator and two workers.  (On one machine this shows
-- how it works, not how fast: the three share the same cores.)
SELECT citus_set_coordinator_host('127.0.0.1', :c) IS NOT NULL AS coordinator_set;
SELECT citus_add_node('127.0.0.1', :w1) > 0 AND citus_add_node('127.0.0.1', :w2) > 0 AS workers_added;
SELECT nodename, nodeport, CASE WHEN groupid = 0 THEN 'coordinator' ELSE 'worker' END AS role
  FROM pg_dist_node ORDER BY nodeport;
SELECT count(*) AS jobs_turned_off FROM (SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs) j;

-- a day of scrapes (500 series, every 5 minutes), written before distribute()
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'http_request_duration_seconds', 0.02 + 0.3 * power(((i * 7919 + k * 104729) % 1000) / 1000.0, 3),
       jsonb_build_object('instance', 'web-' || i, 'region', 'r' || i % 4),
       '2026-11-10 00:00+00'::timestamptz + k * interval '5 minutes'
  FROM generate_series(0, 287) k, generate_series(1, 500) i;
SELECT metrics_ex.materialize() - 'watermark' AS rolled_up;

CREATE TEMP TABLE before AS
SELECT * FROM metrics_ex.rollup('http_request_duration_seconds', '{region}', '{count,mean,p95,p99}',
                                since => '2026-11-10', until => '2026-11-11');

-- distribute(): samples, rollups and totals by series (8 shards), the catalog
-- as reference tables
SELECT metrics_ex.distribute(8) - 'distributed' - 'reference' AS distribute;
SELECT p.logicalrelid AS "table", CASE p.partmethod WHEN 'h' THEN 'distributed by series_id' ELSE 'reference' END AS "as",
       p.colocationid AS colocated_group, (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid) AS shards
  FROM pg_dist_partition p
 WHERE p.logicalrelid::text LIKE 'metrics\_ex.%' AND p.logicalrelid::text !~ '^metrics_ex\.samples_(p|default)'
 ORDER BY 2, 1::text;
SELECT n.nodeport AS worker, count(*) AS shards_of_samples
  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
 WHERE s.logicalrelid = 'metrics_ex.samples'::regclass GROUP BY 1 ORDER BY 1;

-- writes on the coordinator go to the shard of their series
SELECT count(metrics_ex.increment('demo_requests_total', 1, jsonb_build_object('instance', 'web-' || i))) AS increments
  FROM generate_series(1, 3) i;
SELECT count(*) AS samples_in_the_shards FROM metrics_ex.samples;

-- the same answers after distribute() (percentiles from the same sketches)
SELECT r.key, r.stats, r.stats = b.stats AS same_as_one_node
  FROM metrics_ex.rollup('http_request_duration_seconds', '{region}', '{count,mean,p95,p99}',
                         since => '2026-11-10', until => '2026-11-11') r
  JOIN before b USING (key) ORDER BY r.key;
SELECT "time", metric, round(value::numeric, 4) AS p95
  FROM metrics_ex.time_series('http_request_duration_seconds', '6 hours', 'p95',
                              since => '2026-11-10', until => '2026-11-11', group_by => '{region}')
 WHERE metric IN ('r0', 'r1') ORDER BY 1, 2;

-- each shard aggregates its own rows; the coordinator combines the states
-- (worker_partial_agg on the shards, coord_combine_agg here)
EXPLAIN (COSTS OFF)
SELECT tags ->> 'region' AS region, metrics_ex.percentile(value, 0.95) AS p95
  FROM metrics_ex.points WHERE name = 'http_request_duration_seconds' GROUP BY 1;
SQL
