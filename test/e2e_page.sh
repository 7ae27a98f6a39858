#!/usr/bin/env bash
# The endpoint's page and charts end to end, in a real browser.  Like
# e2e_http.sh this runs a cluster of its own with the endpoint on 127.0.0.1;
# it checks GET / and GET /chart.svg with curl (status, headers, HEAD, gzip,
# the 400s naming their parameter, a timeout, a missing grant), then loads
# the page in headless Chromium: the rendered DOM has a chart per metric with
# a point per minute with data, tag values with < & and quotes come out as
# text (no element of theirs), and a screenshot is saved.  An SVG chart of
# known data is checked point by point against coordinates computed here.
# Chromium is required (test/setup.sh installs it): without it this fails.
# Usage: test/e2e_page.sh [SUITE_CLUSTER_DIR]  (the suite's cluster is not used)
# Ports: METRICS_EX_PAGE_TEST_PORT (default METRICS_EX_TEST_PORT + 20) for the
# cluster, the next one for the endpoint.
# The screenshot: METRICS_EX_PAGE_SCREENSHOT (default /tmp/metrics_ex_page.png).
set -uo pipefail
cd "$(dirname "$0")/.."
. test/tap.sh
pgport=${METRICS_EX_PAGE_TEST_PORT:-$((${METRICS_EX_TEST_PORT:-55432} + 20))}
http=$((pgport + 1))
U=http://127.0.0.1:$http
shot=${METRICS_EX_PAGE_SCREENSHOT:-/tmp/metrics_ex_page.png}
work=$(mktemp -d /tmp/metrics_ex_page.XXXXXX)
chmod 755 "$work"
cleanup() {
    bash test/cluster.sh stop "$work" || true
    [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

chromium=$(command -v chromium || true)
if [[ -z $chromium ]]; then
    tap_not_ok "chromium is installed (test/setup.sh installs Debian's chromium package)"
    tap_done
    exit 1
fi
# as root, without a sandbox; no background connections (there is no network)
browser() {
    timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$work/chrome.XXXXXX")" "$@" 2>>"$work/chromium.log"
}

bash test/cluster.sh start "$work" "$pgport" "metrics_ex.http_listen_addresses = '127.0.0.1'
metrics_ex.http_port = $http" || exit 1
export PGHOST=$work PGPORT=$pgport PGUSER=postgres PGDATABASE=postgres
. test/http_lib.sh
# answers_400 PARAMS TEXT: GET /chart.svg?PARAMS is a 400 whose body has TEXT
answers_400() { [[ $(curl -s -w '%{http_code}' "$U/chart.svg?$1") == *"$2"*400 ]]; }

tap_check "the endpoint listens once the server is up" wait_for curl -s -o /dev/null "$U/healthz"
curl -s -o "$work/r" -w '%{http_code}' "$U/" > "$work/code"
tap_check "GET / while metrics_ex.http_role is unset: the scrape's 503" \
    bash -c "grep -qx 503 '$work/code' && grep -q 'metrics_ex.http_role is not set' '$work/r'"

# -- the data: minutes before now, and five fixed minutes of a known gauge
q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT metrics_ex.set_retention(NULL, '100 years');
CREATE ROLE scraper;
GRANT USAGE ON SCHEMA metrics_ex TO scraper;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO scraper;
SELECT metrics_ex.define('page_depth', 'gauge', help => 'Jobs waiting');
SELECT metrics_ex.define('page_idle', 'gauge', help => 'Nothing recorded <yet> & "never"');
SELECT metrics_ex.define('page_latency_ms', 'histogram', help => 'Request latency', unit => 'ms');
SELECT metrics_ex.gauge('page_depth', 40 + 20 * sin(i / 5.0), jsonb_build_object('queue', 'q' || i % 2),
                        now() - i * interval '1 minute') FROM generate_series(1, 30) i;
SELECT metrics_ex.increment('page_jobs_total', 1 + i % 3, '{}', now() - i * interval '1 minute')
  FROM generate_series(1, 12) i;
SELECT metrics_ex.histogram('page_latency_ms', 100 + 10 * (i % 7) + j, '{"route": "/a"}', now() - i * interval '1 minute')
  FROM generate_series(1, 45) i, generate_series(1, 3) j;
-- a tag value with every character markup gives meaning to, in a firing alert
SELECT metrics_ex.gauge('page_evil', 7, jsonb_build_object('who', E'<b>&"\'x'), now() - interval '3 minutes');
SELECT metrics_ex.gauge('page_evil', 2, '{"who": "plain"}', now() - interval '3 minutes');
SELECT metrics_ex.add_alert('PageEvil', 'page_evil', 'max', '>', 5, span => '1 hour', group_by => '{who}',
                            annotations => '{"summary": "{{ $labels.who }} is <high>"}');
SELECT count(*) FROM metrics_ex.evaluate_alerts(now());
SELECT metrics_ex.gauge('page_known', v, '{}', '2026-11-20 10:00:00+00'::timestamptz + (i - 1) * interval '1 minute')
  FROM unnest('{10,20,50,30,NULL,40}'::float8[]) WITH ORDINALITY u(v, i) WHERE v IS NOT NULL;
SQL
set_conf metrics_ex.http_role scraper
tap_check "with http_role set: GET / is 200" wait_for status_is 200 "$U/"
# points per card: the minutes with data in the last hour (none of
# page_known's fixed minutes, none for page_idle)
declare -A points=([page_depth]=30 [page_evil]=1 [page_idle]=0 [page_jobs_total]=12 [page_known]=0 [page_latency_ms]=45)
tap_check "the database has those minutes with data in the last hour" \
    test "$(q -c "SELECT string_agg(m.name || '=' || (SELECT count(DISTINCT date_bin('1 minute', p.ts, 'epoch'))
                                                        FROM metrics_ex.points p WHERE p.name = m.name AND p.ts >= now() - interval '1 hour'),
                                    ' ' ORDER BY m.name) FROM metrics_ex.metrics m")" == \
         "page_depth=30 page_evil=1 page_idle=0 page_jobs_total=12 page_known=0 page_latency_ms=45"

# -- GET / and HEAD /
curl -s -D "$work/h" -o "$work/page.html" "$U/"
tap_check "GET /: text/html; charset=utf-8" grep -qix 'content-type: text/html; charset=utf-8'$'\r' "$work/h"
tap_check "  with a Content-Security-Policy that loads and runs nothing" \
    grep -qix "content-security-policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"$'\r' "$work/h"
# the page of one moment: as of when it was made (and its charts move when a
# minute passes between two requests, so each comparison may be made twice)
moment() { sed -E 's/as of [0-9: -]+UTC/as of T/' "$@"; }
same_page() {  # same_page CURL_ARGS...: the endpoint's page is dashboard_html()
    for _ in 1 2; do
        body 'metrics_ex.dashboard_html()' | moment > "$work/page.sql"
        curl -s "$@" "$U/" | { if [[ $* == *gzip* ]]; then gzip -dc; else cat; fi; } | moment | cmp -s - "$work/page.sql" && return 0
    done
    return 1
}
tap_check "  and what dashboard_html() returns (but for the time it was made)" same_page
tap_check "  self-contained: no script, stylesheet link, image, font or URL but the SVG namespace" \
    bash -c "! grep -qiE '<(script|link|img|iframe|object)|src=|url\(|@import|@font-face' '$work/page.html' &&
             [[ \$(grep -o 'http[s]*:[^\"]*' '$work/page.html' | sort -u) == 'http://www.w3.org/2000/svg' ]]"
tap_check "  the tag value escaped in the alert: <b>&\"' is &lt;b&gt;&amp;&quot;&#39;" \
    bash -c "grep -qF 'who=\"&lt;b&gt;&amp;&quot;&#39;x\"' '$work/page.html' && ! grep -qF '<b>' '$work/page.html'"
curl -s -I "$U/" > "$work/hh"
tap_check "HEAD /: 200, GET's Content-Length, no body" \
    bash -c "head -1 '$work/hh' | grep -q '^HTTP/1.1 200' && grep -qix \"content-length: \$(stat -c %s '$work/page.html')\"$'\r' '$work/hh' &&
             [[ \$(curl -s -I -w '%{size_download}' -o /dev/null '$U/') == 0 ]]"
curl -s -D "$work/hz" -o /dev/null -H 'Accept-Encoding: gzip' "$U/"
tap_check "Accept-Encoding: gzip: gzipped" grep -qix 'content-encoding: gzip'$'\r' "$work/hz"
tap_check "  the same page" same_page -H 'Accept-Encoding: gzip'
tap_check "POST /: 405" status_is 405 -X POST "$U/"
body 'metrics_ex.prometheus_text()' > "$work/text.sql"
tap_check "the scrape is unchanged: GET /metrics is prometheus_text()" \
    bash -c "curl -s '$U/metrics' | cmp -s - '$work/text.sql'"
curl -s -o "$work/r" -w '%{http_code}' "$U/nothing" > "$work/code"
tap_check "another path: 404 that lists the paths" \
    bash -c "grep -qx 404 '$work/code' && grep -q 'serves /, /chart.svg, /metrics and /healthz' '$work/r'"

# -- GET /chart.svg: the known chart, point by point
known="name=page_known&bucket=minute&aggregation=last&width=300&height=150&since=2026-11-20T10:00:00Z&until=2026-11-20T10:06:00Z"
curl -s -D "$work/h" -o "$work/known.svg" "$U/chart.svg?$known"
tap_check "GET /chart.svg: image/svg+xml" grep -qix 'content-type: image/svg+xml; charset=utf-8'$'\r' "$work/h"
body "metrics_ex.chart_svg('page_known', 'minute', 'last', width => 300, height => 150,
                           since => '2026-11-20 10:00+00', until => '2026-11-20 10:06+00')" > "$work/known.sql"
tap_check "  what chart_svg() returns for the same arguments" cmp -s "$work/known.svg" "$work/known.sql"
cat > "$work/known.py" <<'PY'
# Each point where the geometry of chart_svg() (src/read/page.sql) puts it,
# computed from the known values: five minutes with data out of six.
import math, sys, xml.etree.ElementTree as ET
svg = ET.parse(sys.argv[1]).getroot()
ns = {'s': 'http://www.w3.org/2000/svg'}
values = {0: 10, 1: 20, 2: 50, 3: 30, 5: 40}   # bucket slot -> value
width, height, slots = 300, 150, 6
def nice(lo, hi, n):                            # a round step: 1, 2, 2.5, 5 x 10^k
    raw = (hi - lo) / n
    p = 10 ** math.floor(math.log10(raw))
    step = p * next(m for m in (1, 2, 2.5, 5, 10) if raw <= m * p)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step
top, bottom = 26, 22                            # title above, time axis below
ph = height - top - bottom
lo, hi, step = nice(min(values.values()), max(values.values()), min(6, ph // 28))
labels = [('%g' % (lo + k * step)) for k in range(int((hi - lo) / step) + 1)]
left = 10 + 6 * max(len(l) for l in labels)
pw = width - left - 12
want = [(round(left + (i + 0.5) * pw / slots, 1), round(top + (1 - (v - lo) / (hi - lo)) * ph, 1))
        for i, v in sorted(values.items())]
fails = []
def expect(name, cond):
    print(('ok: ' if cond else 'FAILED: ') + name)
    if not cond:
        fails.append(name)
plot = svg.find("s:rect[@class='plot']", ns)
expect('the plot area is %s,%s %sx%s' % (left, top, pw, ph),
       [float(plot.get(a)) for a in ('x', 'y', 'width', 'height')] == [left, top, pw, ph])
expect('value labels %s' % labels,
       [t.text for t in svg.findall("s:g[@class='y-axis']/s:text", ns)] == labels)
got = [(float(c.get('cx')), float(c.get('cy'))) for c in svg.findall(".//s:g[@class='series']/s:circle", ns)]
for (x, y), (gx, gy) in zip(want, got + [(None, None)] * len(want)):
    expect('a point at (%s, %s)' % (x, y), gx is not None and abs(gx - x) < 0.051 and abs(gy - y) < 0.051)
expect('and no other point', len(got) == len(want))
lines = [[tuple(map(float, p.split(','))) for p in l.get('points').split()]
         for l in svg.findall(".//s:g[@class='series']/s:polyline", ns)]
expect('one line through the first four, none through the lone fifth (a gap before it)',
       len(lines) == 1 and all(abs(a - c) < 0.051 and abs(b - d) < 0.051 for (a, b), (c, d) in zip(lines[0], want[:4]))
       and len(lines[0]) == 4)
sys.exit(1 if fails else 0)
PY
tap_check "  every point where its value puts it (see the lines above)" python3 "$work/known.py" "$work/known.svg"
curl -s -o "$work/evil.svg" "$U/chart.svg?name=page_evil&group_by=who&span=last_hour"
tap_check "a legend of tag values with < & and quotes: well-formed XML, the values escaped" \
    bash -c "python3 -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' '$work/evil.svg' &&
             grep -qF '>&lt;b&gt;&amp;&quot;&#39;x</text>' '$work/evil.svg' && grep -qF 'data-series=\"&lt;b&gt;&amp;&quot;&#39;x\"' '$work/evil.svg' &&
             ! grep -qF '<b>' '$work/evil.svg'"
tap_check "HEAD /chart.svg: 200 without a body" \
    bash -c "[[ \$(curl -s -I -w '%{http_code}:%{size_download}' -o /dev/null '$U/chart.svg?$known') == 200:0 ]]"

# -- bad parameters: 400 naming the parameter
tap_check "no name=: 400" answers_400 "span=last_hour" "name= is required"
tap_check "an invalid name=: 400" answers_400 "name=a-b" 'invalid metric name "a-b" in name='
tap_check "span=soon: 400" answers_400 "name=page_depth&span=soon" 'invalid span "soon"'
tap_check "bucket=fortnight: 400" answers_400 "name=page_depth&bucket=fortnight" 'invalid bucket "fortnight"'
tap_check "aggregation=median: 400" answers_400 "name=page_depth&aggregation=median" 'unknown aggregation "median"'
tap_check "group_by=a-b: 400" answers_400 "name=page_depth&group_by=a-b" "invalid tag name 'a-b' in group_by"
tap_check "width=10: 400" answers_400 "name=page_depth&width=10" "width must be between 120 and 4000 pixels, not 10"
tap_check "height=x: 400" answers_400 "name=page_depth&height=x" 'height= must be a whole number of pixels, not "x"'
tap_check "since=yesterday-ish: 400" answers_400 "name=page_depth&since=yesterday-ish" 'invalid since "yesterday-ish"'
tap_check "until before since: 400" answers_400 "name=page_depth&since=2026-11-21&until=2026-11-20" "must be earlier than until"
tap_check "bucket=1s over 30 days: 400" answers_400 "name=page_depth&bucket=1s&span=last_30d" "buckets in this range"
tap_check "an unknown parameter: 400 listing them" answers_400 "name=page_depth&colour=red" 'unknown parameter "colour"'
tap_check "span= twice: 400" answers_400 "name=page_depth&span=1h&span=2h" "span= is given more than once"
tap_check "bad percent-encoding: 400" answers_400 "name=%zz" "not valid percent-encoding"
tap_check "a value that is not UTF-8: 400" answers_400 "name=page_depth&span=%ff" "span= is not valid UTF-8 text"
tap_check "group_by=a,b and group_by repeated are one list" \
    bash -c "cmp -s <(curl -s '$U/chart.svg?name=page_depth&group_by=queue,route') <(curl -s '$U/chart.svg?name=page_depth&group_by=queue&group_by=route')"

# -- the same role and limits as the scrape
q -c "REVOKE SELECT ON metrics_ex.samples FROM scraper"
curl -s -o "$work/r" -w '%{http_code}' "$U/" > "$work/code"
tap_check "a role without the reader grants: 503 naming the grants" \
    bash -c "grep -qx 503 '$work/code' && grep -q 'the page failed as metrics_ex.http_role \"scraper\": permission denied for table samples. The role needs the reader grants' '$work/r'"
q -c "GRANT SELECT ON metrics_ex.samples TO scraper"
hold_lock metrics_ex.metrics
curl -s -o "$work/r" -w '%{http_code}' "$U/" > "$work/code"
tap_check "a page that times out on a lock: 500 saying so" \
    bash -c "grep -qx 500 '$work/code' && grep -qx 'the page failed: canceling statement due to statement timeout' '$work/r'"
release_lock
tap_check "  the next one works" wait_for status_is 200 "$U/"

# -- the scrape's bearer token guards the page too
printf 'page-secret\n' > "$work/token"
chown postgres: "$work/token"; chmod 600 "$work/token"
set_conf metrics_ex.http_token_file "$work/token"
tap_check "with a token file: GET / without it is 401" wait_for status_is 401 "$U/"
tap_check "  and so is GET /chart.svg" status_is 401 "$U/chart.svg?name=page_depth"
tap_check "  with it, 200" status_is 200 -H 'Authorization: Bearer page-secret' "$U/"
q -c "ALTER SYSTEM RESET metrics_ex.http_token_file" -c "SELECT pg_reload_conf()" >/dev/null
tap_check "  without the file again, 200" wait_for status_is 200 "$U/"

# -- in the browser
browser --dump-dom "$U/" > "$work/dom.html"
cat > "$work/dom.py" <<'PY'
# The DOM Chromium rendered: a card per metric, each with one SVG chart and
# a circle per minute with data; the alert's tag value is text, not markup.
import sys
from html.parser import HTMLParser
want = dict(kv.split('=') for kv in sys.argv[2:])
class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cards, self.card, self.tags, self.labels, self.in_label = {}, None, {}, [], False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == 'div' and a.get('class') == 'card':
            self.card = a['data-metric']
            self.cards[self.card] = {'svg': 0, 'circle': 0}
        elif self.card and tag in ('svg', 'circle'):
            self.cards[self.card][tag] += 1
        if tag == 'span' and a.get('class') == 'label':
            self.in_label = True
    def handle_endtag(self, tag):
        if tag == 'span':
            self.in_label = False
    def handle_data(self, data):
        if self.in_label:
            self.labels.append(data)
dom = Dom()
dom.feed(open(sys.argv[1], encoding='utf-8').read())
fails = []
def expect(name, cond):
    print(('ok: ' if cond else 'FAILED: ') + name)
    if not cond:
        fails.append(name)
expect('a card per metric: %s' % sorted(want), sorted(dom.cards) == sorted(want))
for m, n in sorted(want.items()):
    got = dom.cards.get(m, {})
    expect('%s: one chart with %s points' % (m, n), got.get('svg') == 1 and got.get('circle') == int(n))
expect('the firing alert\'s label is the text who="<b>&"\'x"', 'who="<b>&"\'x"' in dom.labels)
expect('and made no <b> element', 'b' not in dom.tags)
expect('a link to /metrics', '<a href="/metrics">/metrics</a>' in open(sys.argv[1], encoding='utf-8').read())
sys.exit(1 if fails else 0)
PY
tap_check "Chromium renders the page (see the lines above)" \
    python3 "$work/dom.py" "$work/dom.html" $(for m in "${!points[@]}"; do echo "$m=${points[$m]}"; done)
browser --dump-dom "$U/chart.svg?name=page_evil&group_by=who" > "$work/evil_dom.html"
tap_check "Chromium parses the SVG with escaped tag values without an error" \
    bash -c "grep -q '<svg' '$work/evil_dom.html' && ! grep -qi 'parsererror' '$work/evil_dom.html' &&
             grep -qF '&lt;b&gt;&amp;\"'\''x</text>' '$work/evil_dom.html'"
rm -f "$shot"
browser --screenshot="$shot" --window-size=1280,900 --hide-scrollbars "$U/" > /dev/null
cat > "$work/png.py" <<'PY'
# A real picture: a 1280 x 900 PNG with many colours, not a blank page.
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
w, h = struct.unpack('>II', data[16:24])
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    if kind == b'IDAT':
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
print('%dx%d, %d distinct byte values' % (w, h, len(set(raw))))
sys.exit(0 if (w, h) == (1280, 900) and len(set(raw)) > 64 else 1)
PY
tap_check "a screenshot of the page: $shot" python3 "$work/png.py" "$shot"
tap_check "the server log has no worker crash" bash -c "! grep -E 'PANIC|terminated by signal|server process .* was terminated' '$work/server.log'"
tap_done
