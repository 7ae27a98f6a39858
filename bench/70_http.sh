#!/usr/bin/env bash
# Issue 14 figures: the scrape endpoint.  Latency of one scrape over HTTP
# (text, OpenMetrics, gzip) for 10,000 and 100,000 series, beside
# psql -c "SELECT metrics_ex.prometheus_text()" in the same run, and scrapes
# per second with concurrent clients (wrk) beside the same query from
# pgbench.  The endpoint needs settings that take a server start, so this
# script runs a cluster of its own (ports: METRICS_EX_BENCH_HTTP_PORT,
# default PGPORT + 20, and the next one for HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_HTTP_ROUNDS:-5}
SECONDS_EACH=${BENCH_HTTP_SECONDS:-8}
pgport=${METRICS_EX_BENCH_HTTP_PORT:-$((${PGPORT:-55434} + 20))}
http=$((pgport + 1))
U=http://127.0.0.1:$http/metrics

if ! command -v wrk >/dev/null; then
    echo "bench 70: installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

dir=$(mktemp -d /tmp/metrics_ex_bench_http.XXXXXX)
chmod 755 "$dir"
trap 'bash test/cluster.sh stop "$dir" || true; rm -rf "$dir"' EXIT
bash test/cluster.sh start "$dir" "$pgport" "metrics_ex.http_listen_addresses = '127.0.0.1'
metrics_ex.http_port = $http
metrics_ex.http_role = 'bench_scraper'"
export PGHOST=$dir PGPORT=$pgport PGUSER=postgres PGDATABASE=postgres

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
ms_of() {  # the wall time of a command, in ms
    local t0 t1
    t0=$(now); "$@" >/dev/null; t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }'
}
psql_scrape() { psql -XAt -c "SELECT metrics_ex.prometheus_text()"; }
http_text() { curl -sf -o /dev/null "$U"; }
http_om() { curl -sf -o /dev/null -H 'Accept: application/openmetrics-text;version=1.0.0' "$U"; }
http_gzip() { curl -sf -o /dev/null -H 'Accept-Encoding: gzip' "$U"; }

q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
CREATE ROLE bench_scraper;
GRANT USAGE ON SCHEMA metrics_ex TO bench_scraper;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO bench_scraper;
SELECT metrics_ex.define('bench_http_requests_total', 'counter', help => 'Requests', max_series => 100000);
SELECT metrics_ex.define('bench_http_queue_depth', 'gauge', help => 'Queue depth', max_series => 100000);
SELECT metrics_ex.define('bench_http_latency_seconds', 'histogram', help => 'Latency, default buckets', max_series => 100000);
SQL
for _ in $(seq 50); do curl -sf -o /dev/null "$U" && break; sleep 0.2; done

# 10,000 series through the write path: 40% counters, 30% gauges, 30%
# histograms (11 buckets), 3 samples each, merged by materialize()
# (two minutes ago: before the rollup watermark materialize() publishes, so
# that the series totals hold them)
q -c "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
      SELECT CASE WHEN s % 10 < 4 THEN 'bench_http_requests_total'
                  WHEN s % 10 < 7 THEN 'bench_http_queue_depth'
                  ELSE 'bench_http_latency_seconds' END,
             (s * 7 + i) % 13 / 4.0,
             '{\"instance\": \"host-' || s % 100 || '\", \"shard\": \"' || s / 100 || '\"}',
             now() - interval '2 minutes'
        FROM generate_series(0, 9999) s, generate_series(1, 3) i" >/dev/null
q -c "SELECT metrics_ex.materialize()" >/dev/null
# 100,000: nine copies of each series and its totals, made in SQL (new
# series through the write path cost time in proportion to the metric's
# existing series, too slow to make 90,000 of them here)
more_series() {
    q >/dev/null <<'SQL'
CREATE TEMP TABLE src AS
SELECT s.id, s.metric_id, s.tags, t.count, t.sum, t.last_ts, t.last_value, t.buckets
  FROM metrics_ex.series s JOIN metrics_ex.series_totals t ON t.series_id = s.id;
WITH ins AS (
    INSERT INTO metrics_ex.series (metric_id, tags)
    SELECT metric_id, tags || jsonb_build_object('copy', c::text) FROM src, generate_series(1, 9) c
    RETURNING id, metric_id, tags)
INSERT INTO metrics_ex.series_totals (series_id, count, sum, last_ts, last_value, buckets)
SELECT ins.id, src.count, src.sum, src.last_ts, src.last_value, src.buckets
  FROM ins JOIN src ON src.metric_id = ins.metric_id AND src.tags = ins.tags - 'copy';
SQL
}
analyze() { q -c "VACUUM ANALYZE metrics_ex.series, metrics_ex.series_totals, metrics_ex.rollup_pending"; }

declare -A fig
measure() {  # measure LABEL: the figures of one data set
    local series=$1
    curl -s -o "$dir/body.http" "$U"
    q -c "SELECT encode(convert_to(metrics_ex.prometheus_text(), 'UTF8'), 'base64')" | base64 -d > "$dir/body.sql"
    cmp -s "$dir/body.http" "$dir/body.sql" || { echo "bench 70: the HTTP body differs from prometheus_text()" >&2; exit 1; }
    fig[$series,lines]=$(grep -vc '^#' "$dir/body.http")
    fig[$series,bytes]=$(wc -c < "$dir/body.http")
    fig[$series,gzbytes]=$(curl -s -H 'Accept-Encoding: gzip' "$U" | wc -c)
    # alternating rounds, the best of each way: load from others hits them alike
    local w d
    for w in psql text om gzip; do fig[$series,$w]=999999999; done
    for _ in $(seq "$ROUNDS"); do
        for w in psql text om gzip; do
            case $w in psql) d=$(ms_of psql_scrape) ;; *) d=$(ms_of "http_$w") ;; esac
            fig[$series,$w]=$(awk -v d="$d" -v b="${fig[$series,$w]}" 'BEGIN { print (d < b ? d : b) }')
        done
    done
}

report() {  # report LABEL: the latency table of one data set
    local k=$1
    printf "\n%-60s %12s %8s\n" "one scrape, $k series (${fig[$k,lines]} lines), best of $ROUNDS rounds" "ms" "ratio"
    printf "%-60s %12s %8s\n" "baseline: psql -c \"SELECT metrics_ex.prometheus_text()\"" "${fig[$k,psql]}" "1.00x"
    for w in "text:GET /metrics, text 0.0.4 (${fig[$k,bytes]} bytes)" "om:GET /metrics, OpenMetrics" \
             "gzip:GET /metrics, gzip (${fig[$k,gzbytes]} bytes)"; do
        awk -v l="${w#*:}" -v a="${fig[$k,${w%%:*}]}" -v b="${fig[$k,psql]}" \
            'BEGIN { printf "%-60s %12s %7.2fx\n", l, a, a / b }'
    done
}

analyze
measure 10k
report 10k

# concurrent clients on 10,000 series: wrk against pgbench running the same query
wrk_rate() {  # wrk_rate CLIENTS [wrk options]: requests per second
    local c=$1; shift
    wrk -t "$c" -c "$c" -d "${SECONDS_EACH}s" --timeout 60s "$@" "$U" 2>/dev/null | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'
}
echo "SELECT metrics_ex.prometheus_text();" > "$dir/scrape.sql"
pgb_rate() { pgbench -n -c "$1" -j "$1" -T "$SECONDS_EACH" -f "$dir/scrape.sql" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
for c in 1 4; do
    fig[wrk$c]=$(wrk_rate "$c")
    fig[wrkgz$c]=$(wrk_rate "$c" -H 'Accept-Encoding: gzip')
    fig[pgb$c]=$(pgb_rate "$c")
done
# more clients than the worker serves at once: answered late, never refused
wrk -t 4 -c 16 -d 4s --timeout 10s "$U" > "$dir/wrk16.txt" 2>&1
fig[errors]=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p; s/.*Socket errors: \(.*\)/\1/p' "$dir/wrk16.txt" | paste -sd ' ')
printf "\n%-60s %12s %12s\n" "scrapes per second, 10k series, ${SECONDS_EACH}s each" "1 client" "4 clients"
printf "%-60s %12s %12s\n" "baseline: pgbench, the same SELECT, one backend per client" "${fig[pgb1]}" "${fig[pgb4]}"
printf "%-60s %12s %12s\n" "wrk GET /metrics (one worker serves them in turn)" "${fig[wrk1]}" "${fig[wrk4]}"
printf "%-60s %12s %12s\n" "wrk GET /metrics, gzip" "${fig[wrkgz1]}" "${fig[wrkgz4]}"
awk -v a1="${fig[wrk1]}" -v b1="${fig[pgb1]}" -v a4="${fig[wrk4]}" -v b4="${fig[pgb4]}" \
    'BEGIN { printf "%-60s %11.2fx %11.2fx\n", "  ratio wrk / pgbench", a1 / b1, a4 / b4 }'
printf "%-60s %25s\n" "16 clients for 4 s: errors (non-2xx, socket)" "${fig[errors]:-none}"

more_series
analyze
ROUNDS=${BENCH_HTTP_ROUNDS_100K:-3} measure 100k
ROUNDS=${BENCH_HTTP_ROUNDS_100K:-3} report 100k
echo "The HTTP figures include curl's connection setup; one worker serves one request at a time."
