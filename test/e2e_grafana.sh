#!/usr/bin/env bash
# Every query of grafana/dashboards/*.json, with the macros expanded the way
# Grafana's PostgreSQL data source expands them and each dashboard variable
# set to the first value its own query offers, runs against the demo data
# set and returns rows.  Usage: test/e2e_grafana.sh (PGHOST/PGPORT/PGUSER set)
set -euo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_grafana
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
# the alerts panel reads what the alerting step of the demo leaves firing
for step in test/demo.d/10_ingest.sql test/demo.d/55_telemetry.sql test/demo.d/70_alerts.sql; do
    psql -qX -d "$db" -v ON_ERROR_STOP=1 -f "$step" >/dev/null
done

# dashboard variables: NAME=first value (the __value column if there is one)
declare -A vars=()
while IFS= read -r -d '' name && IFS= read -r -d '' query; do
    value=$(psql -qXA -P footer=off -F $'\t' -d "$db" -v ON_ERROR_STOP=1 -c "$query" | perl -F'\t' -lane '
        if ($. == 1) { ($col) = grep { $F[$_] eq "__value" } 0..$#F; $col //= 0; next }
        if ($. == 2) { print $F[$col]; exit }')
    if [[ -z $value ]]; then
        echo "not ok - variable \$$name: its query offers no value:"; echo "$query"; exit 1
    fi
    vars[$name]=$value
done < <(perl -MJSON::PP -0777 -e '
    for my $f (@ARGV) {
        open my $fh, "<", $f or die; local $/; my $d = decode_json(<$fh>);
        for my $v (@{$d->{templating}{list} // []}) {
            print $v->{name}, "\0", $v->{query}, "\0" if ($v->{type} // "") eq "query";
        }
    }' grafana/dashboards/*.json)

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
    for name in "${!vars[@]}"; do
        expanded=${expanded//"\${$name}"/${vars[$name]}}
        expanded=${expanded//"\$$name"/${vars[$name]}}
    done
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
