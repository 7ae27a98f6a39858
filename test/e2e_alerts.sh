#!/usr/bin/env bash
# Alerting end to end: the NOTIFY a listener receives at commit for each
# transition to firing or resolved (and none for pending, back to inactive,
# silenced alerts or a rolled-back evaluation), the ALERTS exposition through
# promtool, and tools/alert_relay.py posting to a stand-in Alertmanager.
# Usage: test/e2e_alerts.sh (PGHOST/PGPORT/PGUSER set)
set -euo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_alerts
am_port=$((PGPORT + 10))
work=$(mktemp -d /tmp/metrics_ex_alerts.XXXXXX)
pids=()
cleanup() {
    exec 3>&- 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q() { PGOPTIONS="-c client_min_messages=warning" psql -qXAt -d "$db" -v ON_ERROR_STOP=1 "$@"; }
body() { q -c "SELECT encode(convert_to($1, 'UTF8'), 'base64')" | base64 -d; }

failed=0 n=0
check() {  # check NAME EXPECTED ACTUAL
    n=$((n + 1))
    if [[ $2 == "$3" ]]; then echo "ok $n - $1"
    else echo "not ok $n - $1: expected [$2], got [$3]"; failed=$((failed + 1)); fi
}
check_cmd() {  # check_cmd NAME COMMAND...
    local name=$1; shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=$((failed + 1)); fi
}

# evaluation k happens at T(k) = 12:00 + (k + 1) minutes and sees minute k
q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
-- alert evaluations are made by hand here: the scheduler must not race them
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT metrics_ex.gauge('e2e_latency_seconds', v, '{"route": "/checkout"}', '2030-03-01 12:00:00+00'::timestamptz + (n - 1) * interval '1 minute')
  FROM unnest('{0.1,0.3,0.3,0.3,0.1,0.1}'::float8[]) WITH ORDINALITY x(v, n);
SELECT metrics_ex.add_alert('e2e_high', 'e2e_latency_seconds', 'max', '>', 0.2, span => '1 minute', pending_for => '1 minute',
                            group_by => '{route}', severity => 'page',
                            annotations => '{"summary": "{{ $labels.route }} at {{ $value }} s"}');
SELECT metrics_ex.add_alert('e2e_now', 'e2e_latency_seconds', 'max', '>', 0.2, span => '1 minute');
SELECT metrics_ex.add_alert('e2e_muted', 'e2e_latency_seconds', 'max', '>', 0.2, span => '1 minute', labels => '{"team": "quiet"}');
SELECT metrics_ex.add_alert('e2e_flap', 'e2e_latency_seconds', 'max', '>', 0.2, span => '1 minute', pending_for => '10 minutes');
SELECT metrics_ex.silence('{"team": "quiet"}', '2031-01-01', 'e2e: never notified');
SQL

# a stand-in Alertmanager: every POST body to /api/v2/alerts, one per line
python3 - "$am_port" "$work/am.jsonl" <<'PY' &
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "a") as f:
            f.write(self.path + " " + body.decode() + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)
ALERT_RELAY_RESEND=1 python3 tools/alert_relay.py "http://127.0.0.1:$am_port" -d "$db" 2>"$work/relay.err" &
pids+=($!)

# the listener: a psql session fed through a fifo
mkfifo "$work/in"
psql -qX -d "$db" <"$work/in" >"$work/out" 2>&1 &
listener=$!
pids+=($listener)
exec 3>"$work/in"
echo 'LISTEN metrics_ex_alerts;' >&3
sleep 1

ev() { q -c "SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-03-01 12:00:00+00'::timestamptz + ($1 + 1) * interval '1 minute')"; }
# a rolled-back evaluation notifies nobody (and changes nothing)
q -c "BEGIN" -c "SELECT count(*) FROM metrics_ex.evaluate_alerts('2030-03-01 12:02:00+00')" -c "ROLLBACK" >/dev/null
check "evaluation 0: nothing moves" 0 "$(ev 0)"
check "evaluation 1: e2e_now and e2e_muted fire, e2e_high and e2e_flap are pending" 4 "$(ev 1)"
check "evaluation 2: e2e_high fires" 1 "$(ev 2)"
sleep 1.5      # the relay re-sends firing alerts every second

# the exposition while alerts are pending and firing
body "metrics_ex.prometheus_text()" > "$work/alerts.prom"
check_cmd "promtool check metrics accepts prometheus_text() with ALERTS" \
    bash -c "promtool check metrics < '$work/alerts.prom'"
check "ALERTS of a pending alert" 'ALERTS{alertname="e2e_flap",alertstate="pending",severity="warning"} 1' \
    "$(grep '^ALERTS{alertname="e2e_flap"' "$work/alerts.prom")"
check "ALERTS of a firing alert" 'ALERTS{alertname="e2e_high",alertstate="firing",route="/checkout",severity="page"} 1' \
    "$(grep '^ALERTS{alertname="e2e_high"' "$work/alerts.prom")"
check "ALERTS_FOR_STATE holds the start of the pending state in seconds" \
    "ALERTS_FOR_STATE{alertname=\"e2e_high\",route=\"/checkout\",severity=\"page\"} $(date -u -d '2030-03-01 12:02:00' +%s)" \
    "$(grep '^ALERTS_FOR_STATE{alertname="e2e_high"' "$work/alerts.prom")"
body "metrics_ex.openmetrics_text()" > "$work/alerts.om"
awk -v ts="$(date +%s)" '/^#/ { print; next } { print $0 " " ts }' "$work/alerts.om" > "$work/stamped.om"
check_cmd "promtool tsdb create-blocks-from openmetrics accepts openmetrics_text() with ALERTS" \
    bash -c "promtool tsdb create-blocks-from openmetrics '$work/stamped.om' '$work/blocks' > '$work/blocks.log' 2>&1 || { cat '$work/blocks.log'; false; }"

check "evaluation 3: nothing moves" 0 "$(ev 3)"
check "evaluation 4: e2e_high, e2e_now and e2e_muted resolve, e2e_flap goes back to inactive" 4 "$(ev 4)"
sleep 2.5      # the relay's resend of firing alerts, every second
echo 'SELECT 1 AS flush;' >&3
sleep 1
exec 3>&-
wait "$listener" || true

# the payloads, one per line: status|alertname|labels|annotations|startsAt|endsAt
python3 - "$work/out" >"$work/decoded" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    m = re.match(r'Asynchronous notification "metrics_ex_alerts" with payload "(.*)" received from server process', line)
    if not m:
        continue
    p = json.loads(m.group(1))
    a = p["alerts"][0]
    print("|".join([p["status"], p["receiver"], p["version"], str(len(p["alerts"])), a["status"],
                    json.dumps(a["labels"], sort_keys=True), json.dumps(a["annotations"], sort_keys=True),
                    a["startsAt"], a["endsAt"]]))
PY
check "four notifications: two firing, two resolved; none for pending, inactive, silenced or rolled back" 4 "$(wc -l < "$work/decoded")"
check "firing: Alertmanager's webhook shape, labels, rendered annotations, startsAt, the zero endsAt" \
    'firing|metrics_ex|4|1|firing|{"alertname": "e2e_now", "severity": "warning"}|{}|2030-03-01T12:02:00Z|0001-01-01T00:00:00Z' \
    "$(sed -n 1p "$work/decoded")"
check "then e2e_high fires" \
    'firing|metrics_ex|4|1|firing|{"alertname": "e2e_high", "route": "/checkout", "severity": "page"}|{"summary": "/checkout at 0.3 s"}|2030-03-01T12:03:00Z|0001-01-01T00:00:00Z' \
    "$(sed -n 2p "$work/decoded")"
check "resolved: endsAt is the evaluation that found it resolved" \
    'resolved|metrics_ex|4|1|resolved|{"alertname": "e2e_high", "route": "/checkout", "severity": "page"}|{"summary": "/checkout at 0.3 s"}|2030-03-01T12:03:00Z|2030-03-01T12:05:00Z' \
    "$(grep '^resolved.*e2e_high' "$work/decoded")"
check "e2e_now resolves too" 1 "$(grep -c '^resolved.*"e2e_now".*|2030-03-01T12:02:00Z|2030-03-01T12:05:00Z$' "$work/decoded")"

# what the relay posted
python3 - "$work/am.jsonl" >"$work/posted" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    path, body = line.split(" ", 1)
    for a in json.loads(body):
        print(path, a["labels"]["alertname"], a.get("endsAt", "-"), a.get("startsAt", "-"))
PY
check "the relay posts to /api/v2/alerts" 0 "$(grep -vc '^/api/v2/alerts ' "$work/posted" || true)"
check "it forwarded the firing notification" 1 "$(grep -c '^/api/v2/alerts e2e_high 0001-01-01T00:00:00Z 2030-03-01T12:03:00Z$' "$work/posted")"
check "and the resolved one" 1 "$(grep -c '^/api/v2/alerts e2e_high 2030-03-01T12:05:00Z 2030-03-01T12:03:00Z$' "$work/posted")"
check_cmd "it re-sent the firing alerts while they fired" grep -q '^/api/v2/alerts e2e_high - 2030-03-01T12:03:00Z$' "$work/posted"
check "never a silenced alert" 0 "$(grep -c e2e_muted "$work/posted" || true)"
check "no relay errors" "" "$(cat "$work/relay.err")"

[[ -n ${KEEP:-} ]] || psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
echo "$((n - failed)) passed, $failed failed"
((failed == 0))
