#!/usr/bin/env bash
# The scrape endpoint end to end.  The metrics_ex.http_* settings need a
# server start, so this test runs a cluster of its own with the endpoint on
# 127.0.0.1, checks every behaviour with curl and raw sockets, then has a real
# Prometheus scrape it every second and compares what Prometheus' query API
# answers with what the database holds.
# Usage: test/e2e_http.sh [SUITE_CLUSTER_DIR]  (the suite's cluster is not used)
# Ports: METRICS_EX_HTTP_TEST_PORT (default METRICS_EX_TEST_PORT + 10) for the
# cluster, the next one for the endpoint and the one after for Prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
pgport=${METRICS_EX_HTTP_TEST_PORT:-$((${METRICS_EX_TEST_PORT:-55432} + 10))}
http=$((pgport + 1)) promport=$((pgport + 2))
U=http://127.0.0.1:$http
work=$(mktemp -d /tmp/metrics_ex_http.XXXXXX)
chmod 755 "$work"
prom_pid=
cleanup() {
    [[ -n $prom_pid ]] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
    bash test/cluster.sh stop "$work" || true
    [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

bash test/cluster.sh start "$work" "$pgport" "metrics_ex.http_listen_addresses = '127.0.0.1'
metrics_ex.http_port = $http"
export PGHOST=$work PGPORT=$pgport PGUSER=postgres PGDATABASE=postgres
. test/http_lib.sh

failed=0 n=0
check() {  # check NAME COMMAND...: one numbered result
    local name=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=$((failed + 1)); fi
}

check "the endpoint listens once the server is up" wait_for curl -s -o /dev/null "$U/healthz"
check "the five settings and their defaults" \
    bash -c "[[ \$(psql -qXAt -F '=' -c \"SELECT name, boot_val FROM pg_settings WHERE name LIKE 'metrics_ex.http%' ORDER BY name\" | paste -sd ' ') == \
              'metrics_ex.http_database=postgres metrics_ex.http_listen_addresses= metrics_ex.http_port=9187 metrics_ex.http_role= metrics_ex.http_token_file=' ]]"

# -- until metrics_ex.http_role is set: 503 saying what to set
curl -s -o "$work/r" -w '%{http_code}' "$U/metrics" > "$work/code"
check "503 while metrics_ex.http_role is unset" grep -qx 503 "$work/code"
check "  its body says what to set" grep -q "metrics_ex.http_role is not set.*GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex" "$work/r"
check "/healthz is 503 too" status_is 503 "$U/healthz"

# -- a data set with every kind; the scheduler stays out of it
q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
CREATE ROLE scraper;
GRANT USAGE ON SCHEMA metrics_ex TO scraper;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO scraper;
SELECT metrics_ex.define('jobs_completed', 'counter', help => 'Jobs completed');
SELECT metrics_ex.define('queue_depth', 'gauge', help => 'Jobs waiting');
SELECT metrics_ex.define('request_seconds', 'histogram', help => 'Request latency',
                         buckets => '{0.05,0.1,0.25,0.5,1,2.5}');
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'jobs_completed', 0.5 * (i % 7), jsonb_build_object('tenant', 't' || (i % 5), 'queue', 'q' || (i % 3))
  FROM generate_series(1, 3000) i;
INSERT INTO metrics_ex.ingest (name, value, tags, ts)
SELECT 'queue_depth', (q * 37 + i) % 101, jsonb_build_object('queue', 'q' || q), now() - i * interval '1 second'
  FROM generate_series(1, 12) q, generate_series(1, 20) i;
-- skewed latencies over two endpoints, every bucket used (2% above 2.5 s)
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'request_seconds', (i % 97) ^ 2 / 3600.0, jsonb_build_object('endpoint', CASE WHEN i % 4 = 0 THEN '/b' ELSE '/a' END)
  FROM generate_series(1, 4000) i;
SQL

set_conf metrics_ex.http_role postgres
check "a superuser http_role is refused with 503" wait_for bash -c "curl -s '$U/metrics' | grep -q 'is a superuser, and a scrape never runs as one'"
check "  and /healthz is 503" status_is 503 "$U/healthz"
set_conf metrics_ex.http_role no_such_role
check "a role that does not exist: 503 that says so" wait_for bash -c "curl -s '$U/metrics' | grep -q '\"no_such_role\" does not exist'"
set_conf metrics_ex.http_role scraper
check "with metrics_ex.http_role = scraper: 200" wait_for status_is 200 "$U/metrics"

# -- both formats, byte for byte what the SQL functions return
body "metrics_ex.prometheus_text()" > "$work/text.sql"
body "metrics_ex.openmetrics_text()" > "$work/om.sql"
curl -s -D "$work/h" -o "$work/text.http" "$U/metrics"
check "GET /metrics is prometheus_text()" cmp "$work/text.sql" "$work/text.http"
check "  served as prometheus_content_type()" \
    grep -qix "content-type: $(q -c 'SELECT metrics_ex.prometheus_content_type()')"$'\r' "$work/h"
check "  with Content-Length and Connection: close" \
    bash -c "grep -qix 'content-length: $(stat -c %s "$work/text.sql")'$'\r' '$work/h' && grep -qix 'connection: close'$'\r' '$work/h'"
prom_accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -s -D "$work/h" -o "$work/om.http" -H "Accept: $prom_accept" "$U/metrics"
check "Prometheus' Accept header gets openmetrics_text()" cmp "$work/om.sql" "$work/om.http"
check "  served as openmetrics_content_type()" \
    grep -qix "content-type: $(q -c 'SELECT metrics_ex.openmetrics_content_type()')"$'\r' "$work/h"
check "Accept: text/plain (and curl's */*) get the text format" \
    bash -c "curl -s -H 'Accept: text/plain' '$U/metrics' | cmp - '$work/text.sql' && curl -s '$U/metrics' | cmp - '$work/text.sql'"
check "OpenMetrics not wanted more than text (q=0.2 vs 1) gets text" \
    bash -c "curl -s -H 'Accept: application/openmetrics-text;q=0.2, text/plain' '$U/metrics' | cmp - '$work/text.sql'"

# -- gzip
curl -s -D "$work/h" -o "$work/text.gz" -H 'Accept-Encoding: gzip' "$U/metrics"
check "Accept-Encoding: gzip gets Content-Encoding: gzip" grep -qix 'content-encoding: gzip'$'\r' "$work/h"
check "  that decompresses to prometheus_text()" bash -c "gzip -dc '$work/text.gz' | cmp - '$work/text.sql'"
check "  and is smaller" test "$(stat -c %s "$work/text.gz")" -lt "$(stat -c %s "$work/text.sql")"
check "OpenMetrics gzipped decompresses to openmetrics_text()" \
    bash -c "curl -s -H 'Accept: $prom_accept' -H 'Accept-Encoding: deflate, gzip;q=0.8' '$U/metrics' | gzip -dc | cmp - '$work/om.sql'"
check "gzip;q=0 is not gzipped" bash -c "curl -s -H 'Accept-Encoding: gzip;q=0' '$U/metrics' | cmp - '$work/text.sql'"

# -- ?name=
body "metrics_ex.prometheus_text('jobs_completed') || metrics_ex.prometheus_text('queue_depth')" > "$work/two.sql"
body "left(metrics_ex.openmetrics_text('jobs_completed'), -6) || metrics_ex.openmetrics_text('queue_depth')" > "$work/two_om.sql"
check "?name=queue_depth&name=jobs_completed: those two, in family order" \
    bash -c "curl -s '$U/metrics?name=queue_depth&name=jobs_completed' | cmp - '$work/two.sql'"
check "  in OpenMetrics, one # EOF" \
    bash -c "curl -s -H 'Accept: $prom_accept' '$U/metrics?name=queue_depth&name=jobs_completed&name=queue_depth' | cmp - '$work/two_om.sql'"
check "  client_python's name[]= and percent-encoding work too" \
    bash -c "curl -s '$U/metrics?name%5B%5D=queue_%64epth&name=jobs_completed' | cmp - '$work/two.sql'"
check "  the same lines as the full body filtered" \
    bash -c "grep -E '^(# (HELP|TYPE) )?(jobs_completed|queue_depth)' '$work/text.sql' | cmp - '$work/two.sql'"
check "an unknown name: 200, empty body" bash -c "[[ \$(curl -s -w '%{http_code}:%{size_download}' '$U/metrics?name=nothing_here') == 200:0 ]]"
check "an invalid name: 400 that says so" \
    bash -c "[[ \$(curl -s -w '%{http_code}' '$U/metrics?name=bad-name') == 'invalid metric name \"bad-name\"'*400 ]]"
check "bad percent-encoding: 400" status_is 400 "$U/metrics?name=%zz"

# -- methods, paths, HEAD, /healthz
check "/healthz: 200 ok" bash -c "[[ \$(curl -s -w ':%{http_code}' '$U/healthz') == $'ok\n:200' ]]"
curl -s -I "$U/metrics" > "$work/h"
check "HEAD /metrics: 200, GET's Content-Length, no body" \
    bash -c "head -1 '$work/h' | grep -q '^HTTP/1.1 200' && grep -qix 'content-length: $(stat -c %s "$work/text.sql")'$'\r' '$work/h' &&
             [[ \$(curl -s -I -w '%{size_download}' -o /dev/null '$U/metrics') == 0 ]]"
curl -s -D "$work/h" -o "$work/r" -X POST "$U/metrics"
check "POST: 405 with Allow: GET, HEAD" bash -c "head -1 '$work/h' | grep -q '^HTTP/1.1 405' && grep -qix 'allow: GET, HEAD'$'\r' '$work/h'"
check "DELETE /healthz: 405" status_is 405 -X DELETE "$U/healthz"
curl -s -o "$work/r" -w '%{http_code}' "$U/nothing" > "$work/code"
check "another path: 404 that lists the paths" bash -c "grep -qx 404 '$work/code' && grep -q '/metrics and /healthz' '$work/r'"
check "/metrics/extra: 404" status_is 404 "$U/metrics/extra"

# -- raw sockets: garbage, oversized, silent and slow clients, the connection cap
cat > "$work/sock.py" <<'PY'
import socket, subprocess, sys, time, select
port, url = int(sys.argv[1]), sys.argv[2]
def conn():
    return socket.create_connection(('127.0.0.1', port), timeout=20)
def reply(s):  # everything until the server closes
    out = b''
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b
def scrape():
    return subprocess.run(['curl', '-s', '-m', '25', '-o', '/dev/null', '-w', '%{http_code}', url],
                          capture_output=True, text=True).stdout
fails = []
def expect(name, cond):
    print(('ok: ' if cond else 'FAILED: ') + name)
    if not cond:
        fails.append(name)

s = conn(); s.sendall(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage')
r = reply(s)
expect('a TLS hello: 400 at once, connection closed', r.startswith(b'HTTP/1.1 400 ') and b'not an HTTP request' in r)
s = conn(); s.sendall(b'GET /metrics\r\n\r\n')
expect('a request line without version: 400', reply(s).startswith(b'HTTP/1.1 400 '))
s = conn(); s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n')
expect('a header without colon: 400', reply(s).startswith(b'HTTP/1.1 400 '))
s = conn(); s.sendall(b'GET /metrics HTTP/2.0\r\n\r\n')
expect('HTTP/2.0: 505', reply(s).startswith(b'HTTP/1.1 505 '))
s = conn(); s.sendall(b'GET /metrics HTTP/1.1\r\nX-Big: ' + b'a' * 9000 + b'\r\n\r\n')
expect('9 KB of headers: 431', reply(s).startswith(b'HTTP/1.1 431 '))
s = conn(); s.sendall(b'GET /healthz HTTP/1.0\n\n')
expect('bare LF line ends are accepted', reply(s).startswith(b'HTTP/1.1 200 '))

# a silent client does not hold up others, and is answered 408 and closed
silent = conn()
expect('a scrape while a silent client is connected: 200', scrape() == '200')
expect('  the silent client is still waiting then', select.select([silent], [], [], 0)[0] == [])
r = reply(silent)
expect('  then it gets 408 and is closed', r.startswith(b'HTTP/1.1 408 '))
# a slow client that sends a byte a second never completes in time
slow = conn(); t0 = time.time(); closed = False
for c in b'GET /metrics HTTP/1.1\r\n\r\n':
    try:
        slow.sendall(bytes([c]))
    except OSError:
        closed = True; break
    if select.select([slow], [], [], 1)[0]:
        break
r = b'' if closed else reply(slow)
expect('a client sending a byte a second: 408 before it is done', closed or r.startswith(b'HTTP/1.1 408 '))
# more silent connections than the cap: the cap holds, the others wait
# in the backlog, every one is answered in the end, and so is a scrape
many = [conn() for _ in range(40)]
time.sleep(0.5)
code = scrape()
answers = [reply(s) for s in many]
expect('40 silent connections (cap 32): each gets 408', all(a.startswith(b'HTTP/1.1 408 ') for a in answers))
expect('  and a scrape behind them is served', code == '200')
expect('  the server still answers', scrape() == '200')
sys.exit(1 if fails else 0)
PY
check "raw socket behaviour (see the lines above)" python3 "$work/sock.py" "$http" "$U/metrics"

# -- a failing query answers 500, the next scrape works
hold_lock metrics_ex.series
curl -s -o "$work/r" -w '%{http_code}' "$U/metrics" > "$work/code"
check "a scrape that times out on a lock: 500" grep -qx 500 "$work/code"
check "  its body says what went wrong" grep -qx "the scrape failed: canceling statement due to statement timeout" "$work/r"
release_lock
check "  the next scrape works" bash -c "curl -s '$U/metrics' | cmp - '$work/text.sql'"
q -c "REVOKE SELECT ON metrics_ex.series_totals FROM scraper"
curl -s -o "$work/r" -w '%{http_code}' "$U/metrics" > "$work/code"
check "a role without the reader grants: 503 naming the grants" \
    bash -c "grep -qx 503 '$work/code' && grep -q 'permission denied for table series_totals. The role needs the reader grants' '$work/r'"
q -c "GRANT SELECT ON metrics_ex.series_totals TO scraper"
check "  granted again: 200" status_is 200 "$U/metrics"

# -- bearer token, reread on reload
printf 'first-secret\n' > "$work/token"
chown postgres: "$work/token"; chmod 600 "$work/token"
set_conf metrics_ex.http_token_file "$work/token"
check "with a token file, no Authorization: 401" wait_for status_is 401 "$U/metrics"
curl -s -D "$work/h" -o /dev/null "$U/metrics"
check "  with WWW-Authenticate: Bearer" grep -qi '^www-authenticate: Bearer' "$work/h"
check "  the file's token (without its newline): 200" status_is 200 -H 'Authorization: Bearer first-secret' "$U/metrics"
check "  a wrong token: 401" status_is 401 -H 'Authorization: Bearer first-secreT' "$U/metrics"
check "  a prefix of it: 401" status_is 401 -H 'Authorization: Bearer first' "$U/metrics"
check "  Basic auth: 401" status_is 401 -u user:first-secret "$U/metrics"
check "  /healthz needs it too" status_is 401 "$U/healthz"
check "  404 and 405 behind it" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer first-secret' '$U/x') == 404 &&
             \$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Authorization: Bearer first-secret' '$U/metrics') == 405 ]]"
printf 'second-secret' > "$work/token"
q -c "SELECT pg_reload_conf()" >/dev/null
check "after the file changes and a reload, the new token: 200" \
    wait_for status_is 200 -H 'Authorization: Bearer second-secret' "$U/metrics"
check "  the old one: 401" status_is 401 -H 'Authorization: Bearer first-secret' "$U/metrics"
auth=(-H 'Authorization: Bearer second-secret')

# -- the postmaster restarts the worker
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'metrics_ex http server'")
q -c "SELECT pg_terminate_backend($pid)" >/dev/null
check "terminated, the worker is started again and answers" \
    wait_for bash -c "[[ \$(psql -qXAt -c \"SELECT pid FROM pg_stat_activity WHERE backend_type = 'metrics_ex http server'\") =~ ^[0-9]+$ &&
                         \$(psql -qXAt -c \"SELECT pid FROM pg_stat_activity WHERE backend_type = 'metrics_ex http server'\") != $pid ]] &&
                       curl -sf -H 'Authorization: Bearer second-secret' '$U/healthz'"

# -- a real Prometheus scrapes it every second
cat > "$work/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: metrics_ex
    authorization: {credentials_file: $work/token}
    static_configs: [{targets: ["127.0.0.1:$http"]}]
  - job_name: metrics_ex_queues
    params: {name: [queue_depth]}
    authorization: {credentials_file: $work/token}
    static_configs: [{targets: ["127.0.0.1:$http"]}]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$promport" > "$work/prometheus.log" 2>&1 &
prom_pid=$!
# the final state: one more write, then a marker gauge written last
q -c "SELECT metrics_ex.increment('jobs_completed', 4, '{\"tenant\": \"t1\", \"queue\": \"q1\"}')" \
  -c "SELECT metrics_ex.gauge('e2e_marker', 1)" >/dev/null
check "Prometheus scrapes the endpoint (up == 1 for both jobs, marker seen)" \
    wait_for bash -c "curl -s --data-urlencode 'query=e2e_marker == 1 and on() up{job=\"metrics_ex\"} == 1 and on() up{job=\"metrics_ex_queues\"} == 1' 'http://127.0.0.1:$promport/api/v1/query' | grep -q '\"value\"'"

# what the database holds, from raw samples (not from the exposition)
q -c "SELECT json_agg(json_build_object('tags', tags, 'value', total)) FROM (
        SELECT tags, sum(value) AS total FROM metrics_ex.points WHERE name = 'jobs_completed' GROUP BY tags) t" > "$work/counters.json"
q -c "SELECT json_agg(json_build_object('tags', tags, 'value', value)) FROM (
        SELECT DISTINCT ON (tags) tags, value FROM metrics_ex.points WHERE name = 'queue_depth' ORDER BY tags, ts DESC) g" > "$work/gauges.json"
q -c "SELECT json_agg(json_build_object('tags', tags, 'counts', counts)) FROM (
        SELECT tags, ARRAY[count(*) FILTER (WHERE value <= 0.05), count(*) FILTER (WHERE value <= 0.1),
                           count(*) FILTER (WHERE value <= 0.25), count(*) FILTER (WHERE value <= 0.5),
                           count(*) FILTER (WHERE value <= 1), count(*) FILTER (WHERE value <= 2.5), count(*)] AS counts
          FROM metrics_ex.points WHERE name = 'request_seconds' GROUP BY tags) h" > "$work/hist.json"
cat > "$work/compare.py" <<'PY'
import json, sys, urllib.parse, urllib.request
work, port = sys.argv[1], sys.argv[2]
def query(expr):
    url = 'http://127.0.0.1:%s/api/v1/query?%s' % (port, urllib.parse.urlencode({'query': expr}))
    return json.load(urllib.request.urlopen(url))['data']['result']
def key(labels, drop=('__name__', 'job', 'instance', 'le')):
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))
def values(expr):
    return {key(r['metric']): float(r['value'][1]) for r in query(expr)}
fails = []
def expect(name, cond):
    print(('ok: ' if cond else 'FAILED: ') + name)
    if not cond:
        fails.append(name)

want = {key(c['tags']): c['value'] for c in json.load(open(work + '/counters.json'))}
expect('counter totals: %d series, each the sum of its increments' % len(want),
       len(want) == 15 and values('jobs_completed_total{job="metrics_ex"}') == want)
want = {key(g['tags']): g['value'] for g in json.load(open(work + '/gauges.json'))}
expect('gauge values: %d series, each the latest sample' % len(want),
       len(want) == 12 and values('queue_depth{job="metrics_ex"}') == want)

bounds = [0.05, 0.1, 0.25, 0.5, 1, 2.5, float('inf')]
hist = {key(h['tags']): h['counts'] for h in json.load(open(work + '/hist.json'))}
got = {}
for r in query('request_seconds_bucket{job="metrics_ex"}'):
    got.setdefault(key(r['metric']), {})[float(r['metric']['le'])] = float(r['value'][1])
expect('histogram buckets: every le of both series is the count of samples <= le',
       len(hist) == 2 and got == {k: dict(zip(bounds, c)) for k, c in hist.items()})
expect('job metrics_ex_queues (?name=queue_depth) has queue_depth alone: 12 series',
       values('count({job="metrics_ex_queues", __name__!~"up|scrape_.*"})') == {(): 12.0} and
       values('count(queue_depth{job="metrics_ex_queues"})') == {(): 12.0})

def quantile(q, counts):
    # Prometheus' histogram_quantile over cumulative bucket counts
    rank = q * counts[-1]
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if bounds[b] == float('inf'):
        return bounds[-2]
    lo, below = (0.0, 0.0) if b == 0 else (bounds[b - 1], counts[b - 1])
    return lo + (bounds[b] - lo) * (rank - below) / (counts[b] - below)
close = lambda a, b: abs(a - b) <= 1e-9 * max(1.0, abs(b))
for q in (0.5, 0.9, 0.99):
    got = values('histogram_quantile(%s, request_seconds_bucket{job="metrics_ex"})' % q)
    want = {k: quantile(q, c) for k, c in hist.items()}
    expect('histogram_quantile(%s) per series = %s, computed from the database\'s bucket counts'
           % (q, sorted(want.values())), got.keys() == want.keys() and all(close(got[k], want[k]) for k in want))
summed = [sum(c[j] for c in hist.values()) for j in range(len(bounds))]
got = values('histogram_quantile(0.75, sum by (le) (request_seconds_bucket{job="metrics_ex"}))')
expect('histogram_quantile(0.75, sum by (le) (...)) = %s' % quantile(0.75, summed),
       got.keys() == {()} and close(got[()], quantile(0.75, summed)))
sys.exit(1 if fails else 0)
PY
check "Prometheus' answers equal the database (see the lines above)" python3 "$work/compare.py" "$work" "$promport"
check "Prometheus logged no scrape error" bash -c "! grep -iE 'level=(warn|error).*(scrape|append)' '$work/prometheus.log'"
check "the server log has no worker crash" bash -c "! grep -E 'PANIC|terminated by signal|server process .* was terminated' '$work/server.log'"

echo "$((n - failed)) passed, $failed failed"
((failed == 0))
