-- Charts: chart() against the drawing of its time_series(), every edge case
-- and error of sparkline(), chart(), chart_svg() and dashboard_html(), and
-- the escaping of data in SVG and HTML.  (sql/charts.sql has the exact
-- drawings of fixed data.)  Samples are minutes before now(): chart() ends
-- at now(); nothing here depends on the hour or day.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT count(*) FROM (SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs) j;
SELECT plan(70);

-- two queues, one sample a minute for 20 minutes: a 10..29, b 50..69
SELECT count(*) FROM (SELECT metrics_ex.gauge('tap_depth', CASE q WHEN 'a' THEN 9 ELSE 49 END + i,
                                              jsonb_build_object('queue', q), now() - i * interval '1 minute')
                        FROM generate_series(1, 20) i, unnest('{a,b}'::text[]) q) s;
SELECT metrics_ex.gauge('tap_one', 0.25, '{}', now() - interval '90 seconds');
SELECT count(*) FROM (SELECT metrics_ex.gauge('tap_flat', 7, '{}', now() - i * interval '1 minute')
                        FROM generate_series(1, 5) i) s;
SELECT count(*) FROM (SELECT metrics_ex.gauge('tap_cold', -10 - i, '{}', now() - i * interval '1 minute')
                        FROM generate_series(1, 20) i) s;
CREATE TEMP TABLE lines AS
SELECT row_number() OVER () AS n, line FROM metrics_ex.chart('tap_depth', group_by => '{queue}') line;

-- ---- chart(): what it draws ---------------------------------------------
SELECT is(ARRAY(SELECT line FROM lines ORDER BY n),
          ARRAY(SELECT * FROM metrics_ex._chart_text('tap_depth: mean per 1m', now() - interval '1 hour', now(),
                  '1 minute',
                  (SELECT array_agg("time") FROM metrics_ex.time_series('tap_depth', 'minute', 'mean', 'last_hour', group_by => '{queue}')),
                  (SELECT array_agg(metric) FROM metrics_ex.time_series('tap_depth', 'minute', 'mean', 'last_hour', group_by => '{queue}')),
                  (SELECT array_agg(value) FROM metrics_ex.time_series('tap_depth', 'minute', 'mean', 'last_hour', group_by => '{queue}')),
                  72, 12, true)),
          'chart() is time_series() of the last hour per minute drawn');
SELECT is((SELECT count(*) FROM lines), 16::bigint, 'title, 12 rows, axis, time labels, legend');
SELECT is((SELECT line FROM lines WHERE n = 1), 'tap_depth: mean per 1m', 'the title names metric, aggregation and bucket');
SELECT is((SELECT line FROM lines WHERE n = 16), '* a   o b', 'the legend names each group''s mark');
SELECT is((SELECT max(length(line)) <= 72 FROM lines), true, 'no line is longer than width');
SELECT is((SELECT sum(length(line) - length(replace(line, '*', ''))) FROM lines WHERE n BETWEEN 2 AND 13),
          20::bigint, 'queue a: one * per minute with a sample');
SELECT is((SELECT sum(length(line) - length(replace(line, 'o', ''))) FROM lines WHERE n BETWEEN 2 AND 13),
          20::bigint, 'queue b: one o per minute with a sample');
SELECT is(ARRAY(SELECT substring(line FROM '^ *(\S+) ┤') FROM lines WHERE line ~ '┤' ORDER BY n),
          '{80,60,40,20,0}', 'value labels: 10 to 69 widened to 0..80 in steps of 20, top to bottom');
SELECT is((SELECT n FROM lines WHERE line ~ '^80 ┤'), 2::bigint, 'the top label is on the top row');
SELECT is((SELECT n FROM lines WHERE line ~ '^ 0 ┤'), 13::bigint, 'the bottom label on the bottom row');
SELECT is((SELECT line ~ '^   └[─┬]{68}$' FROM lines WHERE n = 14), true, 'the time axis spans the plot''s 68 columns');
SELECT is((SELECT line ~ '^ +([0-9]{2}:[0-9]{2} *)+$' FROM lines WHERE n = 15), true, 'times label it as HH24:MI');
SELECT is((SELECT count(*) FROM lines WHERE n = 14 AND line ~ '┬'), 1::bigint, 'with ticks under the labels');
-- the marks stand where the values are: b's row is above a's in every column
SELECT is((SELECT bool_and(strpos(line, '*') = 0 OR strpos(line, 'o') = 0) FROM lines WHERE n BETWEEN 2 AND 13),
          true, 'a (10..29) and b (50..69) never share a row');
SELECT is((SELECT max(n) FILTER (WHERE line LIKE '%o%') < min(n) FILTER (WHERE line LIKE '%*%')
             FROM lines WHERE n BETWEEN 2 AND 13), true, 'every o is above every *');

-- edge cases
SELECT is(ARRAY(SELECT * FROM metrics_ex.chart('tap_nothing_here')),
          ARRAY['tap_nothing_here: mean per 1m', '(no metric named ''tap_nothing_here'')'], 'an unknown metric says so');
SELECT is(ARRAY(SELECT * FROM metrics_ex.chart('tap_depth', span => '30 seconds')),
          ARRAY['tap_depth: mean per 1m', '(no data in this range)'], 'an empty range says so');
SELECT is((SELECT array_agg(line ~ '^0\.250 ┤ +\*$') FILTER (WHERE line LIKE '%*%' OR line LIKE '%┤%') FROM metrics_ex.chart('tap_one') line),
          '{t}', 'a single point: one mark and one label (0.250), on the same row');
SELECT is((SELECT n FROM (SELECT row_number() OVER () AS n, line FROM metrics_ex.chart('tap_one') line) x WHERE line LIKE '%*%'),
          7::bigint, '  at half height (row 6 of 12)');
SELECT is((SELECT count(*) FROM metrics_ex.chart('tap_flat') line WHERE line LIKE '%*%'), 1::bigint,
          'a constant series is one flat row');
SELECT is((SELECT line FROM metrics_ex.chart('tap_flat') line WHERE line LIKE '%*%') ~ '^7\.00 ┤ +\*{5}$', true,
          '  labelled with its value, five marks');
SELECT is(ARRAY(SELECT substring(line FROM '^ *(\S+) ┤') FROM metrics_ex.chart('tap_cold') line WHERE line ~ '┤'),
          '{-10,-15,-20,-25,-30}', 'negative values: -30..-11 on an axis from -30 to -10');
SELECT is(ARRAY(SELECT * FROM metrics_ex.chart('tap_depth', NULL, NULL, NULL, NULL, NULL, NULL, NULL)),
          ARRAY(SELECT * FROM metrics_ex.chart('tap_depth')), 'NULL arguments take their defaults');
SELECT is((SELECT max(length(line)) FROM metrics_ex.chart('tap_depth', width => 20, height => 3) line), 20,
          'width 20, height 3: every line fits');
SELECT is((SELECT count(*) FROM metrics_ex.chart('tap_depth', width => 20, height => 3)), 6::bigint,
          '  title, 3 rows, axis and labels');
SELECT is((SELECT count(*) FROM metrics_ex.chart('tap_depth', width => 1000, height => 100)), 103::bigint,
          'width 1000, height 100 are allowed');
SELECT is((SELECT line FROM metrics_ex.chart('tap_depth', '5m') line LIMIT 1), 'tap_depth: mean per 5m', 'bucket 5m');
SELECT is((SELECT line FROM metrics_ex.chart('tap_depth', 'auto', width => 40) line LIMIT 1), 'tap_depth: mean per 2m',
          'bucket auto: the smallest width with a bucket per column (30 columns, 60 minutes: 2m)');
SELECT is((SELECT line FROM metrics_ex.chart('tap_depth', 'minute', 'max', tags => '{"queue": "b"}') line
            WHERE line ~ '┤' LIMIT 1), '70 ┤', 'tags filter: only queue b, max 69, axis to 70');
SELECT is((SELECT sum(length(line) - length(replace(line, '*', ''))) || ' ' || sum(length(line) - length(replace(line, 'o', '')))
             FROM metrics_ex.chart('tap_depth', group_by => '{queue}', span => '10 minutes') line WHERE line ~ '┤|│'),
          '10 10', 'span 10 minutes: the samples of minutes 1 to 10 ([since, until) holds now() - 10 minutes)');

-- more groups than marks
SELECT count(*) FROM (SELECT metrics_ex.gauge('tap_wide', i, jsonb_build_object('k', 'g' || i), now() - interval '2 minutes')
                        FROM generate_series(1, 10) i) s;
SELECT is((SELECT line FROM metrics_ex.chart('tap_wide', group_by => '{k}', width => 200) WITH ORDINALITY c(line, n) ORDER BY n DESC LIMIT 1),
          '* g1   o g10   + g2   x g3   # g4   @ g5   % g6   & g7   (and 2 more groups, not drawn)',
          'ten groups: eight marks and a note in the legend');

-- sparkline's errors
SELECT throws_ok($$SELECT metrics_ex.sparkline('{{1,2},{3,4}}')$$, '2202E',
                 'values must be a one-dimensional array, not one of 2 dimensions', 'sparkline: a 2-D array');

-- chart()'s errors, each naming its argument
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', width => 19)$$, '22023',
                 'width must be between 20 and 1000 characters, not 19', 'width below 20');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', width => 1001)$$, '22023',
                 'width must be between 20 and 1000 characters, not 1001', 'width above 1000');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', height => 2)$$, '22023',
                 'height must be between 3 and 100 rows, not 2', 'height below 3');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', height => 101)$$, '22023',
                 'height must be between 3 and 100 rows, not 101', 'height above 100');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart(NULL)$$, '22004', 'name must not be NULL', 'no name');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', 'fortnight')$$, '22023',
                 'invalid bucket "fortnight"', 'bucket');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', aggregation => 'median')$$, '22023',
                 'unknown aggregation "median"', 'aggregation');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', span => 'soon')$$, '22023',
                 'invalid span "soon"', 'span');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', tags => '[1]')$$, '22023',
                 'tags must be a JSON object', 'tags');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', group_by => '{"a b"}')$$, '22023',
                 'invalid tag name ''a b'' in group_by', 'group_by');
SELECT throws_ok($$SELECT * FROM metrics_ex.chart('tap_depth', '1s', span => 'last_7d')$$, '54000', NULL,
                 'too many buckets');

-- ---- chart_svg(): markup, points, escaping -------------------------------
-- a tag value with every character markup gives meaning to, and a control
SELECT metrics_ex.gauge('tap_evil', 3, jsonb_build_object('who', E'<b>&"\''), now() - interval '3 minutes');
SELECT metrics_ex.gauge('tap_evil', 5, jsonb_build_object('who', E'ctl\x01'), now() - interval '3 minutes');
CREATE TEMP TABLE svg AS SELECT metrics_ex.chart_svg('tap_evil', group_by => '{who}') AS s,
                                metrics_ex.chart_svg('tap_depth', 'minute', group_by => '{queue}') AS depth;
SELECT is((SELECT xml_is_well_formed_document(s) AND xml_is_well_formed_document(depth) FROM svg), true,
          'the SVG is well-formed XML, whatever the tag values');
SELECT is((SELECT s LIKE '%data-series="&lt;b&gt;&amp;&quot;&#39;"%' AND s LIKE '%>&lt;b&gt;&amp;&quot;&#39;</text>%' FROM svg),
          true, '< > & " '' are escaped in attributes and in the legend');
SELECT is((SELECT s NOT LIKE '%<b>%' AND s NOT LIKE E'%\x01%' AND s LIKE U&'%ctl\FFFD%' FROM svg), true,
          'no raw markup from data; a control character becomes U+FFFD');
SELECT is((SELECT array_length(regexp_split_to_array(depth, '<circle'), 1) - 1 FROM svg), 40,
          'one circle per point: 2 queues x 20 minutes');
SELECT is((SELECT array_length(regexp_split_to_array(depth, '<g class="series"'), 1) - 1 FROM svg), 2, 'one group per queue');
SELECT is((SELECT depth ~ '<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-metric="tap_depth" width="600" height="240"' FROM svg),
          true, 'an SVG element of the default size');
SELECT is((SELECT array_length(regexp_split_to_array(metrics_ex.chart_svg('tap_wide', group_by => '{k}'), '<g class="series"'), 1) - 1),
          8, 'ten groups: eight drawn');
SELECT is(metrics_ex.chart_svg('tap_wide', group_by => '{k}') LIKE '%>and 2 more groups, not drawn</text>%', true,
          '  and the legend says so');
SELECT is(metrics_ex.chart_svg('tap_depth', span => '30 seconds') ~ '>no data in this range</text></svg>$', true,
          'an empty range: the frame and a message');
SELECT is(metrics_ex.chart_svg('tap_nothing_here') LIKE '%>no metric named tap_nothing_here</text></svg>', true,
          'an unknown metric: a message');
SELECT throws_ok($$SELECT metrics_ex.chart_svg('tap_depth', width => 119)$$, '22023',
                 'width must be between 120 and 4000 pixels, not 119', 'chart_svg: width below 120');
SELECT throws_ok($$SELECT metrics_ex.chart_svg('tap_depth', height => 2001)$$, '22023',
                 'height must be between 60 and 2000 pixels, not 2001', 'chart_svg: height above 2000');
SELECT throws_ok($$SELECT metrics_ex.chart_svg('tap_depth', since => now(), until => now())$$, '22023', NULL,
                 'chart_svg: an empty [since, until)');
SELECT throws_ok($$SELECT metrics_ex._chart_time_arg('soon', 'since')$$, '22023', 'invalid since "soon"',
                 'a timestamp argument names itself');

-- ---- dashboard_html(): the page ------------------------------------------
SELECT metrics_ex.define('tap_help', 'gauge', help => '<script>alert(1)</script> & more', unit => '"q"');
SELECT metrics_ex.gauge('tap_now', 41.5, '{}', now() - interval '30 seconds');
SELECT metrics_ex.add_alert('TapEvil', 'tap_evil', 'max', '>', 0, span => '1 hour', group_by => '{who}',
                            annotations => '{"summary": "{{ $labels.who }} is <high>"}');
SELECT count(*) FROM metrics_ex.evaluate_alerts(now());
CREATE TEMP TABLE page AS SELECT metrics_ex.dashboard_html() AS h;
SELECT is((SELECT array_length(regexp_split_to_array(h, '<div class="card"'), 1) - 1 FROM page),
          (SELECT count(*)::int FROM metrics_ex.metrics), 'a card per metric');
SELECT is((SELECT array_length(regexp_split_to_array(substring(h FROM 'data-metric="tap_cold".*?</svg>'), '<circle'), 1) - 1
             FROM page), 20, 'each card''s chart has a point per minute with data (tap_cold: 20)');
SELECT is((SELECT h ~ '<div class="card" id="metric-tap_now" data-metric="tap_now" data-kind="gauge">\s*<div class="head">'
                      '<a class="name" href="/chart.svg\?name=tap_now&amp;aggregation=mean&amp;span=last_hour">tap_now</a>'
                      '<span class="kind">gauge</span></div>\s*<div class="now"><span class="value">41.5</span> <span class="what">mean, [0-9]{2}:[0-9]{2}</span>'
             FROM page), true, 'the current value: the last minute''s mean, and a link to the chart');
SELECT is((SELECT h LIKE '%<a href="/metrics">/metrics</a>%' FROM page), true, 'a link to /metrics');
SELECT is((SELECT h LIKE '%&lt;script&gt;alert(1)&lt;/script&gt; &amp; more%' AND h LIKE '%<span class="kind">gauge, &quot;q&quot;</span>%' AND h NOT LIKE '%<script%'
             FROM page), true, 'help and unit are escaped');
SELECT is((SELECT h LIKE '%<td>TapEvil</td>%<span class="label">who="&lt;b&gt;&amp;&quot;&#39;"</span>%' AND h NOT LIKE '%<b>%'
             FROM page), true, 'the firing alert, its labels escaped');
SELECT is((SELECT h LIKE '%<td>&lt;b&gt;&amp;&quot;&#39; is &lt;high&gt;</td>%' FROM page), true, 'and its summary');
SELECT is((SELECT (length(h) - length(replace(h, 'http', ''))) / 4 =
                  (length(h) - length(replace(h, 'xmlns="http://www.w3.org/2000/svg"', ''))) / 34
                  AND h !~* '<(script|link|img|iframe|object)|src=|url\(|@import' FROM page), true,
          'self-contained: no script, link, image or URL but the SVG namespace');
SELECT is((SELECT array_length(regexp_split_to_array(metrics_ex.dashboard_html(2), '<div class="card"'), 1) - 1), 2,
          'max_metrics 2: two cards');
SELECT is(metrics_ex.dashboard_html(2) LIKE '%The first 2 of % metrics by name%', true, '  and a note');
SELECT throws_ok($$SELECT metrics_ex.dashboard_html(0)$$, '22023', 'max_metrics must be at least 1, not 0',
                 'dashboard_html: max_metrics');

-- ---- who may run them ----------------------------------------------------
CREATE ROLE tap_chart_reader;
GRANT USAGE ON SCHEMA metrics_ex TO tap_chart_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO tap_chart_reader;
GRANT SELECT ON page TO tap_chart_reader;
SET LOCAL ROLE tap_chart_reader;
SELECT is((SELECT h FROM page), metrics_ex.dashboard_html(), 'a role with the reader grants gets the same page');
RESET ROLE;
SELECT is(ARRAY(SELECT p.proname::text || ':' || p.provolatile::text || p.proparallel::text FROM pg_proc p
                 WHERE p.pronamespace = 'metrics_ex'::regnamespace
                   AND p.proname IN ('sparkline', 'chart', 'chart_svg', 'dashboard_html') ORDER BY 1),
          '{chart:ss,chart_svg:ss,dashboard_html:ss,sparkline:is}', 'sparkline IMMUTABLE, the others STABLE; all PARALLEL SAFE');

SELECT * FROM finish();
ROLLBACK;
