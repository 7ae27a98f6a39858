#!/usr/bin/env bash
# Every query of grafana/dashboards/*.json, with the macros expanded the way
# Grafana's PostgreSQL data source expands them, runs against the demo data
# set and returns rows.  Usage: test/e2e_grafana.sh (PGHOST/PGPORT/PGUSER set)
set -euo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_grafana
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -qX -d "$db" -v ON_ERROR_STOP=1 -f test/demo.d/10_ingest.sql >/dev/null
# the alerts panel reads what the alerting step of the demo leaves firing
psql -qX -d "$db" -v ON_ERROR_STOP=1 -f test/demo.d/70_alerts.sql >/dev/null

from=$(date -u -d '-6 hours' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)
failed=0 n=0
while IFS= read -r -d '' sql; do
    n=$((n + 1))
    expanded=$(FROM="$from" TO="$to" perl -0pe '
        s/\$__timeFilter\(([^)]+)\)/$1 BETWEEN \x27$ENV{FROM}\x27 AND \x27$ENV{TO}\x27/g;
        s/\$__timeFrom\(\)/\x27$ENV{FROM}\x27/g;
        s/\$__timeTo\(\)/\x27$ENV{TO}\x27/g;
        s/\$__interval_ms/300000/g;
        s/\$__interval/5m/g;' <<<"$sql")
    if rows=$(psql -qXAt -d "$db" -v ON_ERROR_STOP=1 -c "$expanded" 2>&1) && [[ -n $rows ]]; then
        echo "ok $n - $(head -c 70 <<<"$expanded" | tr '\n' ' ')"
    else
        echo "not ok $n - query returned no rows or failed:"; echo "$expanded"; echo "$rows"
        failed=$((failed + 1))
    fi
done < <(perl -MJSON::PP -0777 -e '
    for my $f (@ARGV) {
        open my $fh, "<", $f or die; local $/; my $d = decode_json(<$fh>);
        for my $p (@{$d->{panels}}) { print $_->{rawSql}, "\0" for @{$p->{targets}} }
    }' grafana/dashboards/*.json)

psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
echo "$((n - failed)) passed, $failed failed"
((failed == 0 && n > 0))
