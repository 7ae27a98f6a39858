-- Charts as SVG and the HTTP endpoint's page.  The scrape endpoint's worker
-- serves GET /chart.svg as chart_svg() and GET / as dashboard_html(), each
-- one fixed statement run as metrics_ex.http_role (http_page.c), so what a
-- browser gets is exactly what these functions return in SQL.  The charts
-- follow the model of charts.sql; every text that comes from data (metric
-- names, help, units, tag values, alert labels and annotations) goes
-- through _xml() on its way into the markup.

-- Text for XML and HTML, in element content and in quoted attributes:
-- & < > " ' escaped, and the characters XML 1.0 cannot hold (controls but
-- tab, newline and carriage return; U+FFFE, U+FFFF) replaced by U+FFFD.
CREATE FUNCTION metrics_ex._xml(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN replace(replace(replace(replace(replace(
           regexp_replace(s, '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]', U&'\FFFD', 'g'),
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;');

-- A coordinate in the SVG: one decimal.
CREATE FUNCTION metrics_ex._svg_num(v float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN round(v::numeric, 1)::text;

-- The line through a run of points ("x,y x,y ..."); none for one point.
CREATE FUNCTION metrics_ex._svg_polyline(points text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN strpos(points, ' ') > 0
            THEN format('<polyline fill="none" stroke-width="1.5" points="%s"/>', points) ELSE '' END;

-- A chart drawn in SVG from time_series()-shaped arrays, width x height
-- pixels, or message in place of the data.  The geometry, which
-- test/e2e_page.sh recomputes: a top margin of 26 with heading (the title
-- drawn) else 8; a bottom margin of 22 for the time axis, plus 16 per row
-- of legend; a right margin of 12; a left margin of 10 plus 6 per
-- character of the longest value label.  A point of bucket slot i of n and
-- value v is at x = left + (i + 0.5) * plot width / n and y = top + (1 -
-- frac(v)) * plot height, rounded to one decimal.  Each group is a <g
-- class="series"> with one <circle> per point and a <polyline> through
-- each run of two or more consecutive buckets.  At most eight groups are drawn.
CREATE FUNCTION metrics_ex._chart_svg(metric text, title text, since timestamptz, until timestamptz,
                                      bucket interval, t timestamptz[], m text[], v float8[],
                                      width int, height int, heading bool, legend bool,
                                      message text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    colors CONSTANT text[] := '{#4e79a7,#f28e2b,#e15759,#59a14f,#b07aa1,#76b7b2,#edc948,#9c755f}';
    grid record;
    sc record;
    a record;
    tk record;
    p record;
    glabels text[];
    ngroups int;
    lo float8;
    hi float8;
    top int := CASE WHEN heading THEN 26 ELSE 8 END;
    bottom int := 22;
    lft int;
    pw float8;
    ph float8;
    lw int := 0;
    legend_svg text := '';
    lx int := 8;
    ly int;
    entry text;
    ew int;
    out text;
    series text := '';
    pts text;
    prev_g int;
    prev_slot int;
    x text;
    y text;
    npoints bigint;
BEGIN
    grid := metrics_ex._chart_grid(since, until, bucket);
    IF message IS NULL THEN
        SELECT max(q.g),
               min(q.value) FILTER (WHERE q.g <= 8 AND q.value NOT IN ('NaN', 'Infinity', '-Infinity')),
               max(q.value) FILTER (WHERE q.g <= 8 AND q.value NOT IN ('NaN', 'Infinity', '-Infinity')),
               count(*) FILTER (WHERE q.g <= 8 AND q.value <> 'NaN')
          INTO ngroups, lo, hi, npoints
          FROM metrics_ex._chart_points(since, until, bucket, t, m, v) q;
        IF npoints = 0 THEN
            message := 'no data in this range';
        END IF;
    END IF;

    -- the legend's rows, from the left edge, under the time axis
    IF legend AND message IS NULL THEN
        SELECT array_agg(x.label ORDER BY x.g) INTO glabels
          FROM (SELECT DISTINCT q.g, q.label FROM metrics_ex._chart_points(since, until, bucket, t, m, v) q) x;
        ly := 0;
        FOR i IN 1 .. least(ngroups, 8) + CASE WHEN ngroups > 8 THEN 1 ELSE 0 END LOOP
            entry := CASE WHEN i <= 8 THEN glabels[i] ELSE format('and %s more groups, not drawn', ngroups - 8) END;
            IF length(entry) > 40 THEN
                entry := left(entry, 39) || '…';
            END IF;
            ew := 14 + 6 * length(entry) + 16;
            IF lx > 8 AND lx + ew > width - 8 THEN
                lx := 8;
                ly := ly + 1;
            END IF;
            legend_svg := legend_svg || CASE WHEN i <= 8 THEN format(
                    '<rect x="%s" y="{Y%s}" width="10" height="10" fill="%s"/>', lx, ly, colors[i]) ELSE '' END
                || format('<text x="%s" y="{T%s}">%s</text>', lx + CASE WHEN i <= 8 THEN 14 ELSE 0 END, ly,
                          metrics_ex._xml(entry));
            lx := lx + ew;
        END LOOP;
        bottom := bottom + 16 * (ly + 1);
        -- the rows' y, now that the plot's bottom is known
        FOR i IN 0 .. ly LOOP
            legend_svg := replace(replace(legend_svg, '{Y' || i || '}', (height - 16 * (ly + 1) + 16 * i)::text),
                                  '{T' || i || '}', (height - 16 * (ly + 1) + 16 * i + 9)::text);
        END LOOP;
        legend_svg := '<g class="legend" fill="#333">' || legend_svg || '</g>';
    END IF;
    ph := height - top - bottom;

    -- the value axis and its labels
    IF message IS NULL THEN
        sc := metrics_ex._chart_scale(lo, hi, greatest(1, least(6, floor(ph / 28)::int)));
        SELECT max(length(x.label)) INTO lw FROM metrics_ex._chart_axis(sc.lo, sc.hi, sc.step) x;
    END IF;
    lft := 10 + 6 * coalesce(lw, 0);
    pw := width - lft - 12;

    out := format('<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-metric="%s" width="%s" height="%s"'
                  ' viewBox="0 0 %s %s" font-family="sans-serif" font-size="10" role="img" aria-label="%s">'
                  '<title>%s</title><rect width="%s" height="%s" fill="#ffffff"/>',
                  metrics_ex._xml(metric), width, height, width, height, metrics_ex._xml(title),
                  metrics_ex._xml(title), width, height);
    IF heading THEN
        out := out || format('<text x="%s" y="17" font-size="12" font-weight="bold" fill="#222">%s</text>',
                             lft, metrics_ex._xml(title));
    END IF;
    out := out || format('<rect class="plot" x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#d0d7de"/>',
                         lft, top, metrics_ex._svg_num(pw), metrics_ex._svg_num(ph));
    IF message IS NULL THEN
        out := out || '<g class="y-axis" fill="#57606a" text-anchor="end">';
        FOR a IN SELECT * FROM metrics_ex._chart_axis(sc.lo, sc.hi, sc.step) LOOP
            y := metrics_ex._svg_num(top + (1 - a.frac) * ph);
            out := out || format('<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#eaeef2"/><text x="%s" y="%s">%s</text>',
                                 lft, metrics_ex._svg_num(lft + pw), y, y, lft - 4,
                                 metrics_ex._svg_num(top + (1 - a.frac) * ph + 3.5), metrics_ex._xml(a.label));
        END LOOP;
        out := out || '</g>';
    END IF;
    out := out || '<g class="x-axis" fill="#57606a">';
    FOR tk IN SELECT * FROM metrics_ex._chart_ticks(grid.first, grid.first + grid.slots * bucket, pw, 6, 12) LOOP
        x := metrics_ex._svg_num(lft + tk.pos);
        out := out || format('<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="#8c959f"/><text x="%s" y="%s">%s</text>',
                             x, x, top + ph, top + ph + 4, x, top + ph + 15, metrics_ex._xml(tk.label));
    END LOOP;
    out := out || '</g>';

    IF message IS NOT NULL THEN
        RETURN out || format('<text class="empty" x="%s" y="%s" text-anchor="middle" fill="#8c959f">%s</text></svg>',
                             metrics_ex._svg_num(lft + pw / 2), metrics_ex._svg_num(top + ph / 2 + 3.5),
                             metrics_ex._xml(message));
    END IF;

    -- each group: a circle per point, a polyline per run of consecutive buckets
    FOR p IN SELECT q.g, q.label, q.slot, q.value,
                    metrics_ex._svg_num(lft + (q.slot + 0.5) * pw / grid.slots) AS px,
                    metrics_ex._svg_num(top + (1 - metrics_ex._chart_frac(q.value, sc.lo, sc.hi)) * ph) AS py
               FROM metrics_ex._chart_points(since, until, bucket, t, m, v) q
              WHERE q.g <= 8 AND q.value <> 'NaN'
              ORDER BY q.g, q.slot LOOP
        IF prev_g IS DISTINCT FROM p.g THEN
            IF prev_g IS NOT NULL THEN
                series := series || metrics_ex._svg_polyline(pts) || '</g>';
            END IF;
            series := series || format('<g class="series" data-series="%s" stroke="%s" fill="%s">',
                                       metrics_ex._xml(p.label), colors[p.g], colors[p.g]);
            pts := NULL;
        ELSIF p.slot <> prev_slot + 1 THEN
            series := series || metrics_ex._svg_polyline(pts);
            pts := NULL;
        END IF;
        series := series || format('<circle cx="%s" cy="%s" r="2" stroke="none"/>', p.px, p.py);
        pts := CASE WHEN pts IS NULL THEN '' ELSE pts || ' ' END || p.px || ',' || p.py;
        prev_g := p.g;
        prev_slot := p.slot;
    END LOOP;
    series := series || metrics_ex._svg_polyline(pts) || '</g>';
    RETURN out || series || legend_svg || '</svg>';
END
$$;

-- A timestamp argument given as text (the HTTP endpoint's since= and
-- until=), with an error that names it.
CREATE FUNCTION metrics_ex._chart_time_arg(v text, argname text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN v::timestamptz;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_time_zone_displacement_value THEN
    RAISE EXCEPTION 'invalid % "%"', argname, v USING ERRCODE = '22023',
        HINT = format('%s is a timestamp such as 2026-11-20T10:00:00Z.', argname);
END
$$;

-- chart_svg: time_series() as an SVG image, width x height pixels (120 to
-- 4000 by 60 to 2000), with its title, axes and, when group_by is given, a
-- legend.  bucket 'auto' (the default) picks the smallest of 1s, 2s, 5s,
-- ... 30d that makes at most one bucket per 3 pixels; since and until, when
-- given, win over span as in time_series().  NULL arguments take their
-- defaults.
CREATE FUNCTION metrics_ex.chart_svg(
    name text, bucket text DEFAULT 'auto', aggregation text DEFAULT 'mean',
    span text DEFAULT 'last_hour', tags jsonb DEFAULT '{}', group_by text[] DEFAULT '{}',
    width int DEFAULT 600, height int DEFAULT 240,
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w int := metrics_ex._chart_size(width, 600, 'width', 120, 4000, 'pixels', 'width is the image''s width.');
    h int := metrics_ex._chart_size(height, 240, 'height', 60, 2000, 'pixels',
                                    'height is the image''s height, the time axis and legend included.');
    c record;
BEGIN
    c := metrics_ex._chart_source(name, coalesce(bucket, 'auto'), aggregation, span, tags, group_by,
                                  since, until, (w - 60) / 3);
    RETURN metrics_ex._chart_svg(name, c.title, c.range_since, c.range_until, c.step, c.t, c.m, c.v, w, h,
                                 true, cardinality(group_by) > 0,
                                 CASE WHEN NOT c.known THEN format('no metric named %s', name) END);
END
$$;
COMMENT ON FUNCTION metrics_ex.chart_svg(text, text, text, text, jsonb, text[], int, int, timestamptz, timestamptz) IS
    'time_series() as an SVG image: axes, one line per group, a legend (what GET /chart.svg serves)';

-- What the page charts for each kind of metric: counters' rate per second,
-- gauges' mean, histograms' p95.
CREATE FUNCTION metrics_ex._dashboard_aggregation(kind text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE kind WHEN 'counter' THEN 'rate' WHEN 'histogram' THEN 'p95' ELSE 'mean' END;

-- dashboard_html: the page GET / serves.  Self-contained (no script, no
-- external style, font or image): the firing alerts, then every metric (the
-- first max_metrics by name) with its last hour per minute as a small
-- chart and its current value, the last minute's; a link to /metrics.
CREATE FUNCTION metrics_ex.dashboard_html(max_metrics int DEFAULT 100) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mt record;
    al record;
    c record;
    agg text;
    n_metrics bigint;
    n_pending bigint;
    cards text := '';
    alerts text := '';
    latest text;
BEGIN
    IF max_metrics IS NULL OR max_metrics < 1 THEN
        RAISE EXCEPTION 'max_metrics must be at least 1, not %', coalesce(max_metrics::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT count(*) INTO n_metrics FROM metrics_ex.metrics;
    FOR mt IN SELECT x.name, x.kind, x.help, x.unit FROM metrics_ex.metrics x
               ORDER BY x.name COLLATE "C" LIMIT max_metrics LOOP
        agg := metrics_ex._dashboard_aggregation(mt.kind);
        c := metrics_ex._chart_source(mt.name, 'minute', agg, 'last_hour', '{}', '{}', NULL, NULL, NULL);
        latest := CASE WHEN cardinality(c.v) > 0 THEN
                      format('<span class="value">%s</span> <span class="what">%s, %s</span>',
                             metrics_ex._xml(metrics_ex._chart_number(c.v[cardinality(c.v)]::numeric)),
                             CASE agg WHEN 'rate' THEN 'per second' WHEN 'p95' THEN 'p95' ELSE 'mean' END,
                             to_char(c.t[cardinality(c.t)], 'HH24:MI'))
                  ELSE '<span class="value none">–</span> <span class="what">no data in the last hour</span>' END;
        cards := cards || format(E'<div class="card" id="metric-%s" data-metric="%s" data-kind="%s">\n'
                                  '<div class="head"><a class="name" href="/chart.svg?name=%s&amp;aggregation=%s&amp;span=last_hour">%s</a>'
                                  '<span class="kind">%s</span></div>\n<div class="now">%s</div>\n%s\n%s</div>\n',
                                 metrics_ex._xml(mt.name), metrics_ex._xml(mt.name), metrics_ex._xml(mt.kind),
                                 metrics_ex._xml(mt.name), agg, metrics_ex._xml(mt.name),
                                 metrics_ex._xml(mt.kind || coalesce(', ' || mt.unit, '')),
                                 latest,
                                 metrics_ex._chart_svg(mt.name, c.title, c.range_since, c.range_until, c.step,
                                                       c.t, c.m, c.v, 320, 110, false, false),
                                 CASE WHEN coalesce(mt.help, '') <> ''
                                      THEN '<p class="help">' || metrics_ex._xml(mt.help) || '</p>' ELSE '' END);
    END LOOP;

    FOR al IN SELECT a.alert, a.labels, a.value, a.fired_at, a.severity, a.annotations ->> 'summary' AS summary
                FROM metrics_ex.alerts a WHERE a.state = 'firing'
               ORDER BY a.alert COLLATE "C", a.labels::text COLLATE "C" LOOP
        alerts := alerts || format(E'<tr class="alert"><td>%s</td><td class="severity">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n',
                                   metrics_ex._xml(al.alert), metrics_ex._xml(al.severity),
                                   coalesce((SELECT string_agg(format('<span class="label">%s="%s"</span>',
                                                                      metrics_ex._xml(l.key), metrics_ex._xml(l.value)),
                                                               ' ' ORDER BY l.key COLLATE "C")
                                               FROM jsonb_each_text(al.labels) l), ''),
                                   metrics_ex._xml(metrics_ex._chart_number(al.value::numeric)),
                                   metrics_ex._xml(to_char(al.fired_at, 'YYYY-MM-DD HH24:MI:SS')),
                                   metrics_ex._xml(coalesce(al.summary, '')));
    END LOOP;
    SELECT count(*) INTO n_pending FROM metrics_ex.alerts a WHERE a.state = 'pending';

    RETURN format($html$<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>metrics_ex: %1$s</title>
<style>
body{margin:0;font:14px/1.4 sans-serif;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px}
header h1{margin:0;font-size:18px}
header p{margin:2px 0 0;color:#d0d7de}
header a{color:#9cd0ff}
main{padding:4px 20px 20px}
h2{font-size:16px;margin:16px 0 8px}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.severity{font-weight:600;color:#cf222e}
.label{font-family:monospace;white-space:pre-wrap}
.none{color:#57606a}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(344px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 10px}
.card .name{font-weight:600;color:#0550ae;text-decoration:none;word-break:break-all}
.kind{margin-left:8px;font-size:12px;color:#57606a}
.now .value{font-size:20px;font-weight:600}
.now .what{font-size:12px;color:#57606a}
.help{margin:2px 0 0;font-size:12px;color:#57606a}
svg{display:block;max-width:100%%;height:auto}
.card svg{width:100%%}
</style>
</head>
<body>
<header><h1>metrics_ex</h1><p>database %1$s, %2$s metrics, as of %3$s &middot; <a href="/metrics">/metrics</a> (the Prometheus exposition)</p></header>
<main>
<section id="alerts">
<h2>Firing alerts</h2>
%4$s
</section>
<section id="metrics">
<h2>Metrics, the last hour</h2>
%5$s<div class="grid">
%6$s</div>
</section>
</main>
</body>
</html>
$html$,
        metrics_ex._xml(current_database()), n_metrics, to_char(now(), 'YYYY-MM-DD HH24:MI:SS TZ'),
        CASE WHEN alerts = '' THEN format('<p class="none">No alert is firing%s.</p>',
                                          CASE WHEN n_pending > 0 THEN format(' (%s pending)', n_pending) ELSE '' END)
             ELSE E'<table>\n<tr><th>alert</th><th>severity</th><th>labels</th><th>value</th><th>firing since</th><th>summary</th></tr>\n'
                  || alerts || '</table>'
                  || CASE WHEN n_pending > 0 THEN format('<p class="none">%s pending.</p>', n_pending) ELSE '' END END,
        CASE WHEN n_metrics > max_metrics
             THEN format(E'<p class="none">The first %s of %s metrics by name; /chart.svg?name=... draws any other.</p>\n',
                         max_metrics, n_metrics)
             ELSE '' END,
        cards);
END
$$;
COMMENT ON FUNCTION metrics_ex.dashboard_html(int) IS
    'The HTTP endpoint''s page (GET /): firing alerts, and every metric''s last hour as a small SVG chart';
