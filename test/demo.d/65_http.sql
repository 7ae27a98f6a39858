-- metrics_ex demo: the scrape endpoint.  test/demo.sh started this cluster
-- with metrics_ex.http_listen_addresses = '127.0.0.1' and
-- metrics_ex.http_database = 'demo': a background worker serves /metrics.
SELECT current_setting('metrics_ex.http_port') AS http_port \gset
\setenv METRICS_EX_HTTP_PORT :http_port
-- the worker connects to demo once that database exists (it retries every 5 s)
DO $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT FROM pg_stat_activity
                           WHERE backend_type = 'metrics_ex http server' AND datname = 'demo');
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;

\echo '== until metrics_ex.http_role is set, the endpoint says what to set (503)'
\! curl -s -w '(HTTP %{http_code})\n' http://127.0.0.1:$METRICS_EX_HTTP_PORT/metrics

\echo '== a role with the reader grants (it needs no LOGIN), then a reload'
CREATE ROLE demo_scraper;
GRANT USAGE ON SCHEMA metrics_ex TO demo_scraper;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO demo_scraper;
ALTER SYSTEM SET metrics_ex.http_role = 'demo_scraper';
SELECT pg_reload_conf();
\! for i in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$METRICS_EX_HTTP_PORT/healthz)" = 200 ] && break; sleep 0.1; done

\echo '== GET /metrics?name=...: what Prometheus scrapes, headers and body'
\! curl -s -i 'http://127.0.0.1:'$METRICS_EX_HTTP_PORT'/metrics?name=jobs_completed_total&name=queue_depth'

\echo '== OpenMetrics when the Accept header asks for it, as Prometheus does'
\! curl -s -H 'Accept: application/openmetrics-text;version=1.0.0' 'http://127.0.0.1:'$METRICS_EX_HTTP_PORT'/metrics?name=queue_depth'

\echo '== the whole body: bytes as text and gzipped, and /healthz'
\! curl -s -o /dev/null -w 'text: %{size_download} bytes\n' http://127.0.0.1:$METRICS_EX_HTTP_PORT/metrics
\! curl -s -o /dev/null -H 'Accept-Encoding: gzip' -w 'gzip: %{size_download} bytes\n' http://127.0.0.1:$METRICS_EX_HTTP_PORT/metrics
\! curl -s -w '(HTTP %{http_code})\n' http://127.0.0.1:$METRICS_EX_HTTP_PORT/healthz

\echo '== the page for a browser: GET / (every metric''s last hour as a chart, the firing alerts) and GET /chart.svg'
\! curl -s -o /dev/null -w 'GET /: %{http_code} %{content_type}, %{size_download} bytes\n' http://127.0.0.1:$METRICS_EX_HTTP_PORT/
\! curl -s -o /dev/null -w 'GET /chart.svg?name=queue_depth: %{http_code} %{content_type}, %{size_download} bytes\n' 'http://127.0.0.1:'$METRICS_EX_HTTP_PORT'/chart.svg?name=queue_depth&span=6h'
\! curl -s -w ' (HTTP %{http_code})\n' 'http://127.0.0.1:'$METRICS_EX_HTTP_PORT'/chart.svg?name=queue_depth&span=soon'

\echo '== the same body as the SQL function (md5 of both)'
\! curl -s http://127.0.0.1:$METRICS_EX_HTTP_PORT/metrics | md5sum | cut -c1-32
SELECT md5(metrics_ex.prometheus_text());
