-- Charts: sparkline(), text charts and SVG charts of known data, drawn
-- exactly (the expected output is the picture).  chart() itself ends its
-- range at now(), so test/charts.sql checks it against the same drawing of
-- time_series(); here the drawing is given fixed ranges.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- sparkline: eight levels from the smallest to the largest value, rounded
-- half up; NULL and NaN are gaps, infinities the end blocks
SELECT metrics_ex.sparkline('{1,2,3,4,5,6,7,8}') AS eight_levels,
       metrics_ex.sparkline('{0,7,14}') AS rounded_half_up,
       metrics_ex.sparkline('{1,NULL,3,NULL,NULL,2}') AS null_gaps,
       metrics_ex.sparkline('{5,5,5,5}') AS constant,
       metrics_ex.sparkline('{42}') AS single,
       metrics_ex.sparkline('{-3,-1,1,3}') AS negatives;
SELECT metrics_ex.sparkline('{}') = '' AS empty_is_empty,
       metrics_ex.sparkline('{NULL,NULL}') = '  ' AS all_null_is_gaps,
       metrics_ex.sparkline(NULL) IS NULL AS null_is_null,
       metrics_ex.sparkline('{1,NaN,Infinity,-Infinity,2}') AS special_values,
       metrics_ex.sparkline('{-1e308,0,1e308}') AS whole_float8_range,
       metrics_ex.sparkline('{5e-324,1e-323}') AS denormals;

-- the README's idiom over time_series(): one line per group
SELECT count(*) FROM (SELECT metrics_ex.gauge('chart_depth', (ARRAY[3,5,8,6,2,0,4,9,7,1])[1 + (i % 10)],
                                              jsonb_build_object('queue', CASE WHEN i < 10 THEN 'a' ELSE 'b' END),
                                              '2026-11-20 10:00:00+00'::timestamptz + (i % 10) * interval '1 minute')
                        FROM generate_series(0, 19) i) s;
SELECT metrics_ex.gauge('chart_depth', 4, '{"queue": "b"}', '2026-11-20 10:03:30+00');
SELECT metric, metrics_ex.sparkline(array_agg(value ORDER BY "time"))
  FROM metrics_ex.time_series('chart_depth', 'minute', 'mean', group_by => '{queue}',
                              since => '2026-11-20 10:00', until => '2026-11-20 10:10')
 GROUP BY metric ORDER BY metric;

-- Axis labels: the round step (1, 2, 2.5, 5 times a power of ten) gives
-- the decimals; a million and more get a unit; tiny and huge magnitudes
-- are scientific
SELECT v.vmin::float8, v.vmax::float8, v.n AS intervals,
       (SELECT string_agg(a.label, ' ' ORDER BY a.frac) FROM metrics_ex._chart_axis(s.lo, s.hi, s.step) a) AS labels
  FROM (VALUES (0, 100, 5), (3, 97, 5), (-10, 10, 4), (0.1, 0.9, 4), (12, 12, 5), (0, 23000, 5),
               (1.2e6, 3.9e6, 3), (0, 0.0004, 2), (-1e308, 1e308, 2)) v(vmin, vmax, n),
       LATERAL metrics_ex._chart_scale(v.vmin, v.vmax, v.n) s;
SELECT metrics_ex._chart_number(v) AS three_digits
  FROM unnest('{0,43,0.0166666,12345678,-0.00001,2.5e20,NaN,Infinity,-Infinity}'::numeric[]) v;

-- A text chart: 12 five-minute buckets, the value going up by 10 per
-- bucket from 0 with one bucket missing (a gap), labels every 20
SELECT * FROM metrics_ex._chart_text('ramp: mean per 5m', '2026-11-20 10:00+00', '2026-11-20 11:00+00', '5 minutes',
    (SELECT array_agg('2026-11-20 10:00+00'::timestamptz + i * interval '5 minutes') FROM generate_series(0, 11) i WHERE i <> 7),
    array_fill('ramp'::text, ARRAY[11]),
    (SELECT array_agg(10.0 * i) FROM generate_series(0, 11) i WHERE i <> 7), 40, 6, false) AS chart;
-- two groups with a legend, negative values, a NaN (not drawn), and a point
-- outside the range (left out)
SELECT * FROM metrics_ex._chart_text('temp: mean per 10m', '2026-11-20 00:00+00', '2026-11-20 02:00+00', '10 minutes',
    '{2026-11-20 00:00+00,2026-11-20 00:00+00,2026-11-20 00:30+00,2026-11-20 00:30+00,2026-11-20 01:00+00,2026-11-20 01:30+00,2026-11-20 01:50+00,2026-11-20 03:00+00}',
    '{north,south,north,south,north,south,north,north}',
    '{-5,3,-2,NaN,1,7,-4,100}', 36, 5, true) AS chart;
-- a single point: one label, at half height; a constant series likewise
SELECT * FROM metrics_ex._chart_text('one: last per 1m', '2026-11-20 10:00+00', '2026-11-20 10:30+00', '1 minute',
    '{2026-11-20 10:12+00}', '{one}', '{0.25}', 30, 3, false) AS chart;
SELECT * FROM metrics_ex._chart_text('flat: mean per 1h', '2026-11-18 00:00+00', '2026-11-20 00:00+00', '1 hour',
    (SELECT array_agg('2026-11-18 00:00+00'::timestamptz + i * interval '1 hour') FROM generate_series(0, 47, 4) i),
    array_fill('flat'::text, ARRAY[12]), array_fill(1e9::float8, ARRAY[12]), 60, 3, false) AS chart;
-- nothing in the range
SELECT * FROM metrics_ex._chart_text('none: mean per 1m', '2026-11-20 10:00+00', '2026-11-20 11:00+00', '1 minute',
    '{}', '{}', '{}', 40, 5, false) AS chart;
-- more groups than marks: the first eight are drawn
SELECT * FROM metrics_ex._chart_text('many: count per 1m', '2026-11-20 10:00+00', '2026-11-20 10:10+00', '1 minute',
    (SELECT array_agg('2026-11-20 10:00+00'::timestamptz + i * interval '1 minute') FROM generate_series(0, 9) i),
    (SELECT array_agg('g' || i) FROM generate_series(0, 9) i),
    (SELECT array_agg(i::float8) FROM generate_series(0, 9) i), 44, 10, true) AS chart;

-- An SVG chart of known data: five minutes of a gauge with a missing one
-- (two polylines), 300 x 150 pixels.  Plot: left 22 (two-character labels),
-- top 26, 266 x 102; slot i at x = 22 + (i + 0.5) * 266 / 6; the axis runs
-- 0 to 60, so y = 26 + (1 - v / 60) * 102: 10 -> 111.0, 20 -> 94.0, 50 ->
-- 43.0, 30 -> 77.0, 40 -> 60.0
SELECT count(*) FROM (SELECT metrics_ex.gauge('chart_known', v, '{}', '2026-11-20 10:00:00+00'::timestamptz + i * interval '1 minute')
                        FROM unnest('{10,20,50,30,NULL,40}'::float8[]) WITH ORDINALITY u(v, i0), LATERAL (SELECT i0 - 1 AS i) x
                       WHERE v IS NOT NULL) s;
SELECT regexp_split_to_table(replace(metrics_ex.chart_svg('chart_known', 'minute', 'last', width => 300, height => 150,
                                                          since => '2026-11-20 10:00', until => '2026-11-20 10:06'),
                                     '><', E'>\n<'), E'\n') AS svg;
-- the same as a text chart
SELECT * FROM metrics_ex._chart_text('chart_known: last per 1m', '2026-11-20 10:00+00', '2026-11-20 10:06+00', '1 minute',
    (SELECT array_agg("time") FROM metrics_ex.time_series('chart_known', 'minute', 'last', since => '2026-11-20 10:00', until => '2026-11-20 10:06')),
    (SELECT array_agg(metric) FROM metrics_ex.time_series('chart_known', 'minute', 'last', since => '2026-11-20 10:00', until => '2026-11-20 10:06')),
    (SELECT array_agg(value) FROM metrics_ex.time_series('chart_known', 'minute', 'last', since => '2026-11-20 10:00', until => '2026-11-20 10:06')),
    30, 6, false) AS chart;

-- Leave the shared regression database as we found it: other tests count
-- every metric.
DELETE FROM metrics_ex.samples WHERE series_id IN (
    SELECT s.id FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id
     WHERE m.name IN ('chart_depth', 'chart_known'));
DELETE FROM metrics_ex.metrics WHERE name IN ('chart_depth', 'chart_known');
