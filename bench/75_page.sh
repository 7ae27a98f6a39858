#!/usr/bin/env bash
# Issue 16 figures: what drawing costs beside the data it draws.  100
# metrics (counters, gauges, histograms) with a sample every 10 s over the
# last hour; each figure is the median of ROUNDS runs, beside time_series()
# over the same data in the same run: the dashboard (dashboard_html() in
# psql, GET / over HTTP) against the 100 time_series() calls it makes, and
# one chart() / chart_svg() against its one time_series().  The endpoint
# needs settings that take a server start, so this script runs a cluster of
# its own (ports: METRICS_EX_BENCH_PAGE_PORT, default PGPORT + 30, and the
# next one for HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_PAGE_ROUNDS:-5}
pgport=${METRICS_EX_BENCH_PAGE_PORT:-$((${PGPORT:-55434} + 30))}
http=$((pgport + 1))

dir=$(mktemp -d /tmp/metrics_ex_bench_page.XXXXXX)
chmod 755 "$dir"
trap 'bash test/cluster.sh stop "$dir" || true; rm -rf "$dir"' EXIT
bash test/cluster.sh start "$dir" "$pgport" "metrics_ex.http_listen_addresses = '127.0.0.1'
metrics_ex.http_port = $http
metrics_ex.http_role = 'bench_page'"
export PGHOST=$dir PGPORT=$pgport PGUSER=postgres PGDATABASE=postgres

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
median_ms() {  # median wall time of ROUNDS runs of a command, in ms
    local t0 t1
    for _ in $(seq "$ROUNDS"); do
        t0=$(now); "$@" >/dev/null; t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
CREATE ROLE bench_page;
GRANT USAGE ON SCHEMA metrics_ex TO bench_page;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO bench_page;
INSERT INTO metrics_ex.ingest (name, value, tags, ts, kind)
SELECT 'bench_page_' || m || CASE m % 3 WHEN 0 THEN '_total' ELSE '' END,
       (m * 7 + i) % 50, jsonb_build_object('host', 'h' || (i % 4)),
       now() - i * interval '10 seconds', (ARRAY['counter', 'gauge', 'histogram'])[1 + m % 3]
  FROM generate_series(1, 100) m, generate_series(1, 360) i;
ANALYZE;
SQL
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$http/healthz" && break; sleep 0.2; done

all_series() { q -c "SELECT count(*) FROM metrics_ex.metrics m,
                       metrics_ex.time_series(m.name, 'minute', metrics_ex._dashboard_aggregation(m.kind), 'last_hour')"; }
page_sql() { q -c "SELECT length(metrics_ex.dashboard_html())"; }
page_http() { curl -sf -o /dev/null "http://127.0.0.1:$http/"; }
one_series() { q -c "SELECT count(*) FROM metrics_ex.time_series('bench_page_1', 'minute', 'mean', 'last_hour', group_by => '{host}')"; }
one_chart() { q -c "SELECT count(*) FROM metrics_ex.chart('bench_page_1', group_by => '{host}')"; }
one_svg() { q -c "SELECT length(metrics_ex.chart_svg('bench_page_1', 'minute', group_by => '{host}'))"; }

base=$(median_ms all_series)
sql=$(median_ms page_sql)
web=$(median_ms page_http)
one=$(median_ms one_series)
txt=$(median_ms one_chart)
svg=$(median_ms one_svg)
bytes=$(curl -s "http://127.0.0.1:$http/" | wc -c)
gz=$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$http/" | wc -c)
printf '%-58s %10s %8s\n' "100 metrics x 360 samples, median of $ROUNDS" "ms" "ratio"
printf '%-58s %10s %8s\n' "baseline: time_series() of every metric (psql)" "$base" "1.00"
printf '%-58s %10s %8.2f\n' "dashboard_html() (psql)" "$sql" "$(awk -v a="$sql" -v b="$base" 'BEGIN { print a / b }')"
printf '%-58s %10s %8.2f\n' "GET / over HTTP ($bytes bytes, $gz gzipped)" "$web" "$(awk -v a="$web" -v b="$base" 'BEGIN { print a / b }')"
printf '%-58s %10s %8s\n' "baseline: one time_series(), 4 groups (psql)" "$one" "1.00"
printf '%-58s %10s %8.2f\n' "chart(), the same 4 groups" "$txt" "$(awk -v a="$txt" -v b="$one" 'BEGIN { print a / b }')"
printf '%-58s %10s %8.2f\n' "chart_svg(), the same 4 groups" "$svg" "$(awk -v a="$svg" -v b="$one" 'BEGIN { print a / b }')"
