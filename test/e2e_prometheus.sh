#!/usr/bin/env bash
# Prometheus exposition end to end: a realistic data set (every kind, many
# series, label values and help text that need escaping), checked by
# Prometheus' own promtool and by what promtool does not verify.
# Usage: test/e2e_prometheus.sh (PGHOST/PGPORT/PGUSER set)
set -euo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_prometheus
work=$(mktemp -d /tmp/metrics_ex_prom.XXXXXX)
trap '[[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT
PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q() { PGOPTIONS="-c client_min_messages=warning" psql -qXAt -d "$db" -v ON_ERROR_STOP=1 "$@"; }
# the exact bytes of a text result (psql would add a newline of its own)
body() { q -c "SELECT encode(convert_to($1, 'UTF8'), 'base64')" | base64 -d; }

failed=0 n=0
check() {  # check NAME COMMAND...: one numbered result
    local name=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=$((failed + 1)); fi
}

q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
-- this test merges and prunes by hand: the scheduler must not race it
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT setseed(0.42);
SELECT metrics_ex.define('http_requests', 'counter', help => 'HTTP requests served, by method, code and path');
SELECT metrics_ex.define('jobs_completed_total', 'counter', help => E'Jobs completed\nper tenant \\ queue');
SELECT metrics_ex.define('queue_depth', 'gauge', help => 'Jobs waiting in a queue');
SELECT metrics_ex.define('temperature_celsius', 'gauge', help => 'Sensor "temperature", may be negative');
SELECT metrics_ex.define('request_duration_seconds', 'histogram', help => 'Request latency (default buckets)');
SELECT metrics_ex.define('response_size_bytes', 'histogram', help => 'Response size',
                         buckets => '{100,1000,10000,100000,1000000}');
SELECT metrics_ex.define('idle_workers', 'gauge', help => 'Defined, nothing recorded yet');
-- 4 x 5 x 10 counter series, some paths needing escapes, over three days
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'http_requests', 1 + floor(random() * 5),
       jsonb_build_object('method', m, 'code', c::text,
                          'path', CASE WHEN p = 0 THEN E'/quote"back\\slash\nnewline' ELSE '/api/v' || p END,
                          'trace_id', 'tr-' || i),
       now() - (i % 72) * interval '1 hour'
  FROM unnest('{GET,POST,PUT,DELETE}'::text[]) m, unnest('{200,201,400,404,500}'::int[]) c,
       generate_series(0, 9) p, generate_series(1, 20) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'jobs_completed_total', 1, jsonb_build_object('tenant', 't' || t, 'queue', 'q' || (i % 3)),
       now() - (i % 60) * interval '1 hour'
  FROM generate_series(1, 20) t, generate_series(1, 30) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'queue_depth', floor(random() * 100), jsonb_build_object('queue', 'q' || q),
       now() - i * interval '1 minute'
  FROM generate_series(1, 50) q, generate_series(1, 10) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'temperature_celsius', round((random() * 60 - 20)::numeric, 3)::float8 + 1e-9,
       jsonb_build_object('sensor', 's' || s, 'room', E'r\\' || (s % 4)),
       now() - i * interval '1 minute'
  FROM generate_series(1, 30) s, generate_series(1, 5) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'request_duration_seconds', random() * random() * 12, jsonb_build_object('endpoint', '/e' || e),
       now() - (i % 50) * interval '1 hour'
  FROM generate_series(1, 100) e, generate_series(1, 40) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'response_size_bytes', floor(random() * 2000000), jsonb_build_object('route', 'r' || r),
       now() - (i % 50) * interval '1 hour'
  FROM generate_series(1, 20) r, generate_series(1, 40) i;
SQL

body "metrics_ex.prometheus_text()" > "$work/before.prom"
q -c "SELECT metrics_ex.materialize()" >/dev/null
# the samples wait in the default partition: move them into their days'
q -c "SELECT metrics_ex.set_retention(NULL, '30 days')" -c "SELECT metrics_ex.prune()" >/dev/null
body "metrics_ex.prometheus_text()" > "$work/merged.prom"

check "promtool check metrics accepts prometheus_text()" \
    bash -c "promtool check metrics < '$work/merged.prom'"
check "body ends in exactly one newline" \
    bash -c "[[ \$(tail -c 1 '$work/merged.prom' | od -An -c | tr -d ' ') == '\n' && \$(tail -c 2 '$work/merged.prom' | od -An -c | tr -d ' ') != '\n\n' ]]"
# float sums are added up in another order once merged: equal to rounding
cat > "$work/same.py" <<'PY'
import sys
a, b = (open(p).read().split('\n') for p in sys.argv[1:3])
bad = len(a) != len(b)
for x, y in zip(a, b):
    if x == y:
        continue
    kx, _, vx = x.rpartition(' ')
    ky, _, vy = y.rpartition(' ')
    if kx != ky or not kx.split('{')[0].endswith('_sum') or abs(float(vx) - float(vy)) > 1e-12 * abs(float(vx)):
        print('differs:', x, '|', y); bad = True
sys.exit(1 if bad else 0)
PY
check "same body before and after materialize() (sums to rounding)" python3 "$work/same.py" "$work/before.prom" "$work/merged.prom"
check "no duplicate series lines" \
    bash -c "grep -v '^#' '$work/merged.prom' | sed 's/ [^ ]*\$//' | sort | uniq -d | wc -l | grep -qx 0"
check "every series of the data set is there (200 + 20x3 + 50 + 30 + 100x14 + 20x8)" \
    bash -c "grep -vc '^#' '$work/merged.prom' | grep -qx $((200 + 60 + 50 + 30 + 1400 + 160))"
check "lineage ids are not labels" bash -c "! grep -q trace_id '$work/merged.prom'"
check "a defined metric without series has HELP and TYPE only" \
    bash -c "grep -A2 '^# HELP idle_workers' '$work/merged.prom' | sed -n 2p | grep -qx '# TYPE idle_workers gauge'"
check "escapes in help and label values" \
    bash -c "grep -qF '# HELP jobs_completed_total Jobs completed\\nper tenant \\\\ queue' '$work/merged.prom' &&
             grep -qF 'path=\"/quote\\\"back\\\\slash\\nnewline\"' '$work/merged.prom'"

# histograms: le ascending ending in +Inf, counts cumulative, +Inf = _count
cat > "$work/hist.py" <<'PY'
import re, sys
buckets, counts, bad = {}, {}, 0
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
for line in open(sys.argv[1]):
    if line.startswith('#'):
        continue
    m = line_re.match(line.rstrip('\n'))
    if not m:
        print('unparsable:', line); bad += 1; continue
    name, labels, value = m.group(1), m.group(2) or '', m.group(3)
    if name.endswith('_bucket'):
        le = re.search(r'(?:^|,)le="([^"]*)"', labels).group(1)
        rest = re.sub(r'(?:^|,)le="[^"]*"', '', labels).lstrip(',')
        buckets.setdefault((name[:-7], rest), []).append((float(le), int(value)))
    elif name.endswith('_count'):
        counts[(name[:-6], labels)] = int(value)
for key, bs in buckets.items():
    les = [b[0] for b in bs]
    cs = [b[1] for b in bs]
    if les != sorted(les) or len(set(les)) != len(les) or les[-1] != float('inf'):
        print('le not ascending or not ending in +Inf:', key); bad += 1
    if cs != sorted(cs):
        print('buckets not cumulative:', key, cs); bad += 1
    if counts.get(key) != cs[-1]:
        print('+Inf bucket differs from _count:', key, cs[-1], counts.get(key)); bad += 1
if len(buckets) != 120:
    print('expected 120 histogram series, got', len(buckets)); bad += 1
sys.exit(1 if bad else 0)
PY
check "histogram buckets ordered, cumulative, +Inf equals _count" python3 "$work/hist.py" "$work/merged.prom"

# retention: drop the old raw partitions; counters and histogram counts stay
# (how many day partitions the data spans depends on the hour: count them
# in the same transaction, so with the same now(), as prune() runs)
q -c "SELECT metrics_ex.set_retention(NULL, '1 hour')" >/dev/null
read -r expected pruned < <(q -F ' ' -c "BEGIN" \
    -c "SELECT count(*) FROM metrics_ex.partitions() WHERE upper_bound <= now() - interval '1 hour'" \
    -c "SELECT metrics_ex.prune()->>'partitions_dropped'" -c "COMMIT" | paste -sd ' ')
check "retention dropped every old raw partition ($pruned of $expected, at least 1)" \
    test "$pruned" -eq "$expected" -a "$expected" -ge 1
body "metrics_ex.prometheus_text()" > "$work/pruned.prom"
q -c "SELECT metrics_ex.increment('http_requests', 3, '{\"method\": \"GET\", \"code\": \"200\", \"path\": \"/api/v1\"}')" >/dev/null
body "metrics_ex.prometheus_text()" > "$work/after.prom"
cat > "$work/mono.py" <<'PY'
import sys
def values(path):
    out = {}
    for line in open(path):
        if not line.startswith('#'):
            key, _, v = line.rstrip('\n').rpartition(' ')
            out[key] = float(v)
    return out
a, b, c = (values(p) for p in sys.argv[1:4])
bad = 0
for key, v in a.items():
    if key.split('{')[0].endswith(('_total', '_bucket', '_count', '_sum')) and not key.startswith('temperature'):
        if b.get(key) != v:
            print('changed by retention:', key, v, b.get(key)); bad += 1
        if c.get(key, -1) < v:
            print('decreased:', key, v, c.get(key)); bad += 1
k = 'http_requests_total{code="200",method="GET",path="/api/v1"}'
if c[k] != a[k] + 3:
    print('new increment not added:', a[k], c[k]); bad += 1
sys.exit(1 if bad else 0)
PY
check "counters and histograms unchanged by retention, never decrease" \
    python3 "$work/mono.py" "$work/merged.prom" "$work/pruned.prom" "$work/after.prom"
check "promtool check metrics accepts the body after retention" \
    bash -c "promtool check metrics < '$work/after.prom'"

# a reader role (SELECT on the tables) can scrape
q >/dev/null <<'SQL'
DROP ROLE IF EXISTS metrics_ex_prom_reader;
CREATE ROLE metrics_ex_prom_reader;
GRANT USAGE ON SCHEMA metrics_ex TO metrics_ex_prom_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO metrics_ex_prom_reader;
SQL
check "a reader role scrapes the same body" \
    bash -c "diff <(psql -qXAt -d $db -c 'SET ROLE metrics_ex_prom_reader' -c \"SELECT encode(convert_to(metrics_ex.prometheus_text(), 'UTF8'), 'base64')\" | base64 -d) '$work/after.prom'"

# OpenMetrics: ends in # EOF; promtool builds TSDB blocks from it once each
# sample has a timestamp (it requires them; the exposition has none)
body "metrics_ex.openmetrics_text()" > "$work/body.om"
check "openmetrics_text() ends in '# EOF\\n'" bash -c "tail -c 6 '$work/body.om' | grep -qx '# EOF'"
check "OpenMetrics families are named without _total" \
    bash -c "grep -qx '# TYPE http_requests counter' '$work/body.om' && grep -q '^http_requests_total{' '$work/body.om'"
now=$(date +%s)
awk -v ts="$now" '/^#/ { print; next } { print $0 " " ts }' "$work/body.om" > "$work/stamped.om"
check "promtool tsdb create-blocks-from openmetrics accepts it" \
    bash -c "promtool tsdb create-blocks-from openmetrics '$work/stamped.om' '$work/blocks' > '$work/blocks.log' 2>&1 || { cat '$work/blocks.log'; false; }"
check "the blocks hold every sample" \
    bash -c "promtool tsdb list '$work/blocks' 2>/dev/null | awk 'NR > 1 { s += \$5 } END { exit !(s == $(grep -vc '^#' "$work/stamped.om")) }' || { promtool tsdb list -r '$work/blocks'; false; }"

q -c "DROP OWNED BY metrics_ex_prom_reader" -c "DROP ROLE metrics_ex_prom_reader" >/dev/null
[[ -n ${KEEP:-} ]] || psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
echo "$((n - failed)) passed, $failed failed"
((failed == 0))
