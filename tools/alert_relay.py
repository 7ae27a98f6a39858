#!/usr/bin/env python3
"""Relay metrics_ex alert notifications to Alertmanager.

    tools/alert_relay.py ALERTMANAGER_URL [psql connection arguments...]
    tools/alert_relay.py http://localhost:9093 -h db.internal -U alerts metrics

psql LISTENs on channel metrics_ex_alerts.  Each notification (a webhook
payload in Alertmanager's shape) is posted as its "alerts" list to
ALERTMANAGER_URL/api/v2/alerts.  Every ALERT_RELAY_RESEND seconds (60) the
firing, unsilenced alerts of metrics_ex.alerts are posted again, as
Prometheus re-sends them: Alertmanager resolves an alert it has not heard of
for its resolve_timeout.  Needs python3 and psql, nothing else; run it under
a supervisor that restarts it (it exits when its connection ends).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

NOTIFICATION = re.compile(r'^Asynchronous notification "metrics_ex_alerts" with payload "(.*)" '
                          r'received from server process with PID \d+\.$')
FIRING = ("SELECT 'firing ' || coalesce(json_agg(json_build_object("
          "'labels', labels, 'annotations', annotations, "
          "'startsAt', to_char(fired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))), '[]') "
          "FROM metrics_ex.alerts WHERE state = 'firing' AND NOT silenced;\n")


def post(url, alerts):
    if not alerts:
        return
    req = urllib.request.Request(url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(req, timeout=10).close()
    except OSError as e:
        print(f"alert_relay: posting {len(alerts)} alert(s) failed: {e}", file=sys.stderr, flush=True)


def feed(psql, resend):
    """LISTEN, then keep psql busy: it prints notifications after each command."""
    try:
        psql.stdin.write("LISTEN metrics_ex_alerts;\n" + FIRING)
        psql.stdin.flush()
        last = time.monotonic()
        while psql.poll() is None:
            time.sleep(0.5)
            if time.monotonic() - last >= resend:
                psql.stdin.write(FIRING)
                last = time.monotonic()
            else:
                psql.stdin.write("SELECT WHERE false;\n")
            psql.stdin.flush()
    except BrokenPipeError:
        pass        # psql has ended; main() exits with its status


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    url = sys.argv[1].rstrip("/")
    resend = float(os.environ.get("ALERT_RELAY_RESEND", "60"))
    psql = subprocess.Popen(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", *sys.argv[2:]],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    threading.Thread(target=feed, args=(psql, resend), daemon=True).start()
    for line in psql.stdout:
        line = line.rstrip("\n")
        m = NOTIFICATION.match(line)
        if m:
            post(url, json.loads(m.group(1))["alerts"])
        elif line.startswith("firing "):
            post(url, json.loads(line[len("firing "):]))
    sys.exit(psql.wait())


if __name__ == "__main__":
    main()
