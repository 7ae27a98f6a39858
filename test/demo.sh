#!/usr/bin/env bash
# make demo: install, build, start a private cluster, load a small realistic
# data set and show what metrics_ex does with it.  Each feature adds a step
# as test/demo.d/NN_name.sql; they run in order against database "demo".
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/setup.sh

dir=${METRICS_EX_DEMO_DIR:-/var/tmp/metrics_ex_demo}
port=${METRICS_EX_DEMO_PORT:-55433}
http_port=${METRICS_EX_DEMO_HTTP_PORT:-$((port + 100))}
bash test/cluster.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
# the scrape endpoint on loopback, serving database demo (step 65)
bash test/cluster.sh start "$dir" "$port" "metrics_ex.http_listen_addresses = '127.0.0.1'
metrics_ex.http_port = $http_port
metrics_ex.http_database = 'demo'"
export PGHOST=$dir PGPORT=$port PGUSER=postgres

psql -qX -d postgres -c "CREATE DATABASE demo" >/dev/null
for step in test/demo.d/*.sql; do
    echo
    echo "################ $(basename "$step" .sql)"
    psql -X -d demo -v ON_ERROR_STOP=1 -P pager=off -f "$step"
done

# the same store scaled out on Citus, on three nodes of its own that stop
# when it ends (METRICS_EX_DEMO_CITUS=0 skips it; the first run builds Citus)
if [[ ${METRICS_EX_DEMO_CITUS:-1} != 0 ]]; then
    echo
    echo "################ citus"
    bash test/demo_citus.sh "$((port + 200))"
fi

cat <<MSG

The demo cluster is still running.  Connect with:
    psql -h $dir -p $port -U postgres demo
and it serves its metrics over HTTP:
    curl -s http://127.0.0.1:$http_port/metrics
and a page of charts (open it in a browser): http://127.0.0.1:$http_port/
Stop it with:
    bash test/cluster.sh stop $dir
MSG
