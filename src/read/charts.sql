-- Charts in psql: sparkline() and chart().  The parts every chart shares
-- (the bucket grid, the points of each group, the axis labels and ticks) are
-- here too; page.sql draws the same charts as SVG for the HTTP page.
--
-- One model for every chart: the range [since, until) is cut into buckets
-- aligned to the UTC epoch (the grid starts at the bucket holding since);
-- a point sits in the middle of its bucket's slot.  The value axis runs
-- from the smallest to the largest finite value drawn, widened to multiples
-- of a round step (1, 2, 2.5 or 5 times a power of ten), the labels being
-- those multiples.  A constant series (or a single point) is drawn at half
-- height with one label.  +Infinity is drawn at the top, -Infinity at the
-- bottom, NaN and NULL not at all (a gap).  Scales are computed in numeric,
-- so that no range of float8 values can overflow.

-- Where v lies between lo and hi, 0 to 1 (0.5 when lo = hi or there is no
-- finite value); NULL for NaN and NULL.
CREATE FUNCTION metrics_ex._chart_frac(v float8, lo numeric, hi numeric) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN v IS NULL OR v = 'NaN' THEN NULL
            WHEN v = 'Infinity' THEN 1
            WHEN v = '-Infinity' THEN 0
            WHEN lo IS NULL OR hi IS NULL OR lo = hi THEN 0.5
            ELSE greatest(0, least(1, ((v::numeric - lo) / (hi - lo))::float8)) END;

-- The value axis of finite values from vmin to vmax cut into about intervals
-- steps: the round step, and lo and hi widened to multiples of it.  lo = hi
-- and a NULL step for a constant series; 0 and 0 when there is no value.
CREATE FUNCTION metrics_ex._chart_scale(vmin float8, vmax float8, intervals int,
                                        OUT lo numeric, OUT hi numeric, OUT step numeric)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a numeric := coalesce(vmin::numeric, 0);
    b numeric := coalesce(vmax::numeric, 0);
    raw numeric;
    p numeric;
BEGIN
    IF a >= b THEN
        lo := a;
        hi := a;
        RETURN;
    END IF;
    raw := (b - a) / greatest(intervals, 1);
    p := power(10::numeric, floor(log(raw)));
    step := p * CASE WHEN raw <= p THEN 1 WHEN raw <= 2 * p THEN 2 WHEN raw <= 2.5 * p THEN 2.5
                     WHEN raw <= 5 * p THEN 5 ELSE 10 END;
    lo := floor(a / step) * step;
    hi := ceil(b / step) * step;
END
$$;

-- A number as a label: every label of an axis has the unit (M, G, T, P
-- from a million up) that mag, its largest magnitude, asks for and the
-- decimals its step needs; without a step, three significant digits.
-- Magnitudes below 0.001 or from 1e18 are in scientific notation.
CREATE FUNCTION metrics_ex._chart_number(v numeric, step numeric DEFAULT NULL, mag numeric DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m numeric;
    unit numeric;
    suffix text;
    d int;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    ELSIF v = 'NaN' THEN
        RETURN 'NaN';
    ELSIF v = 'Infinity' THEN
        RETURN '+Inf';
    ELSIF v = '-Infinity' THEN
        RETURN '-Inf';
    END IF;
    m := greatest(abs(v), coalesce(mag, 0));
    IF m = 0 THEN
        RETURN '0';
    ELSIF m < 0.001 OR m >= 1e18 THEN
        RETURN CASE WHEN v = 0 THEN '0' ELSE btrim(to_char(v, '9.99EEEE')) END;
    END IF;
    unit := CASE WHEN m >= 1e15 THEN 1e15 WHEN m >= 1e12 THEN 1e12 WHEN m >= 1e9 THEN 1e9
                 WHEN m >= 1e6 THEN 1e6 ELSE 1 END;
    suffix := CASE unit WHEN 1e15 THEN 'P' WHEN 1e12 THEN 'T' WHEN 1e9 THEN 'G' WHEN 1e6 THEN 'M' ELSE '' END;
    d := CASE WHEN step IS NULL OR step = 0 THEN 2 - floor(log(m / unit))::int
              ELSE scale(trim_scale(step / unit)) END;
    RETURN round(v / unit, greatest(0, least(10, d)))::text || suffix;
END
$$;

-- The labels of a value axis made by _chart_scale(), at their fractions of
-- the height (0 is the bottom): one per step, or one at 0.5 for a constant.
CREATE FUNCTION metrics_ex._chart_axis(lo numeric, hi numeric, step numeric)
RETURNS TABLE (frac float8, label text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT ((x - lo) / (hi - lo))::float8, metrics_ex._chart_number(x, step, greatest(abs(lo), abs(hi)))
      FROM generate_series(lo, hi, step) x
     WHERE step IS NOT NULL
    UNION ALL
    SELECT 0.5, metrics_ex._chart_number(lo)
     WHERE step IS NULL
    ORDER BY 1;
END;

-- sparkline: one block character per element, ▁ for the smallest finite
-- value to █ for the largest (eight levels, rounded); NULL and NaN are a
-- space, +-Infinity the top and bottom block, a constant series ▅▅▅.
CREATE FUNCTION metrics_ex.sparkline("values" float8[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lo numeric;
    hi numeric;
BEGIN
    IF array_ndims("values") > 1 THEN
        RAISE EXCEPTION 'values must be a one-dimensional array, not one of % dimensions', array_ndims("values")
            USING ERRCODE = '2202E', HINT = 'Pass a list of numbers, e.g. array_agg(value ORDER BY "time").';
    END IF;
    SELECT min(x)::numeric, max(x)::numeric INTO lo, hi
      FROM unnest("values") x WHERE x NOT IN ('NaN', 'Infinity', '-Infinity');
    RETURN coalesce((SELECT string_agg(coalesce(substr('▁▂▃▄▅▆▇█',
                                                       1 + floor(metrics_ex._chart_frac(x, lo, hi) * 7 + 0.5)::int, 1),
                                                ' '), '' ORDER BY o)
                       FROM unnest("values") WITH ORDINALITY u(x, o)), '');
END
$$;
COMMENT ON FUNCTION metrics_ex.sparkline(float8[]) IS
    'One line of block characters (▁▂▃▄▅▆▇█) scaled between the smallest and largest value; NULLs are gaps';

-- A bucket width as short text: 500ms, 30s, 5m, 1h, 1d, 1w.
CREATE FUNCTION metrics_ex._chart_duration(d interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE WHEN s % 604800 = 0 THEN (s / 604800)::bigint || 'w'
                    WHEN s % 86400 = 0 THEN (s / 86400)::bigint || 'd'
                    WHEN s % 3600 = 0 THEN (s / 3600)::bigint || 'h'
                    WHEN s % 60 = 0 THEN (s / 60)::bigint || 'm'
                    WHEN s % 1 = 0 THEN s::bigint || 's'
                    WHEN (s * 1000) % 1 = 0 THEN (s * 1000)::bigint || 'ms'
                    ELSE trim_scale(s) || 's' END
          FROM (SELECT extract(epoch FROM d) AS s) x);

-- The widths 'auto' chooses from: the smallest that makes at most slots
-- buckets of [since, until).
CREATE FUNCTION metrics_ex._chart_steps() RETURNS interval[]
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN '{1s,2s,5s,10s,15s,30s,1min,2min,5min,10min,15min,30min,1h,2h,3h,6h,12h,1d,2d,7d,30d}'::interval[];

-- A chart's bucket width: bucket as time_series() takes it, or 'auto'.
CREATE FUNCTION metrics_ex._chart_bucket(bucket text, since timestamptz, until timestamptz, slots int)
RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN lower(btrim(bucket)) = 'auto'
            THEN coalesce((SELECT min(w) FROM unnest(metrics_ex._chart_steps()) w
                            WHERE extract(epoch FROM until - since) / extract(epoch FROM w) <= greatest(slots, 1)),
                          '30 days')
            ELSE metrics_ex._bucket_width(bucket) END;

-- The bucket grid over [since, until): the start of the bucket holding
-- since, and how many buckets reach until.
CREATE FUNCTION metrics_ex._chart_grid(since timestamptz, until timestamptz, bucket interval,
                                       OUT first timestamptz, OUT slots int)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT f, greatest(1, ceil(extract(epoch FROM until - f) / extract(epoch FROM bucket))::int)
      FROM (SELECT date_bin(bucket, since, '1970-01-01 00:00:00+00'::timestamptz) AS f) x;
END;

-- The points of a chart, from time_series()-shaped arrays ("time", metric,
-- value): g numbers the groups (metric labels) 1, 2, ... in label order
-- (bytewise); slot is the bucket's place in the grid.  Points outside the
-- grid and NULL values are left out.
CREATE FUNCTION metrics_ex._chart_points(since timestamptz, until timestamptz, bucket interval,
                                         t timestamptz[], m text[], v float8[])
RETURNS TABLE (g int, label text, slot int, value float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dense_rank() OVER (ORDER BY coalesce(p.m, '') COLLATE "C")::int, coalesce(p.m, ''), p.slot, p.v
      FROM (SELECT u.m, u.v,
                   floor(extract(epoch FROM u.t - grid.first) / extract(epoch FROM bucket))::int AS slot, grid.slots
              FROM unnest(t, m, v) u(t, m, v), metrics_ex._chart_grid(since, until, bucket) grid
             WHERE u.t IS NOT NULL AND u.v IS NOT NULL) p
     WHERE p.slot >= 0 AND p.slot < p.slots
     ORDER BY 1, 3;
END;

-- The time axis of [first, last) drawn room units wide (characters or
-- pixels), a label char_w units per character: ticks at multiples of the
-- smallest step (since the UTC epoch) whose labels, gap units apart, fit.
-- pos is where a tick and the start of its label are.  Labels show
-- HH24:MI:SS for steps under a minute, MM-DD from a day, MM-DD HH24:MI over
-- more than a day, else HH24:MI, in the session's time zone.
CREATE FUNCTION metrics_ex._chart_ticks(first timestamptz, last timestamptz, room float8,
                                        char_w float8, gap float8)
RETURNS TABLE (pos float8, label text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    range_s float8 := extract(epoch FROM last - first);
    step interval;
    fmt text;
    tick timestamptz;
    next_free float8 := 0;
BEGIN
    FOREACH step IN ARRAY metrics_ex._chart_steps() LOOP
        fmt := CASE WHEN step < interval '1 minute' THEN 'HH24:MI:SS'
                    WHEN step >= interval '1 day' THEN 'MM-DD'
                    WHEN last - first > interval '1 day' THEN 'MM-DD HH24:MI'
                    ELSE 'HH24:MI' END;
        EXIT WHEN extract(epoch FROM step) / range_s * room >= length(to_char(first, fmt)) * char_w + gap;
    END LOOP;
    tick := date_bin(step, first, '1970-01-01 00:00:00+00');
    IF tick < first THEN
        tick := tick + step;
    END IF;
    WHILE tick < last LOOP
        pos := extract(epoch FROM tick - first) / range_s * room;
        label := to_char(tick, fmt);
        IF pos >= next_free AND pos + length(label) * char_w <= room THEN
            next_free := pos + length(label) * char_w + gap;
            RETURN NEXT;
        END IF;
        tick := tick + step;
    END LOOP;
END
$$;

-- A size argument of a chart: its default when NULL, else lo to hi.
CREATE FUNCTION metrics_ex._chart_size(v int, dflt int, argname text, lo int, hi int, unit text, hint text)
RETURNS int
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    v := coalesce(v, dflt);
    IF v NOT BETWEEN lo AND hi THEN
        RAISE EXCEPTION '% must be between % and % %, not %', argname, lo, hi, unit, v
            USING ERRCODE = '22023', HINT = hint;
    END IF;
    RETURN v;
END
$$;

-- Where a chart's data comes from: the range, the bucket width and the
-- time_series() rows, as arrays.  NULL arguments take their defaults (but
-- name).  known is false for a metric that does not exist.
CREATE FUNCTION metrics_ex._chart_source(name text, bucket text, aggregation text, span text, tags jsonb,
                                         group_by text[], since timestamptz, until timestamptz, slots int,
                                         OUT title text, OUT range_since timestamptz, OUT range_until timestamptz,
                                         OUT step interval, OUT t timestamptz[], OUT m text[], OUT v float8[],
                                         OUT known bool)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    agg text := lower(btrim(coalesce(aggregation, 'mean')));
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'name must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the name of a metric, e.g. chart(''queue_depth'').';
    END IF;
    r := metrics_ex._time_range(coalesce(span, 'last_hour'), since, until);
    range_since := r.range_since;
    range_until := r.range_until;
    step := metrics_ex._chart_bucket(coalesce(bucket, 'minute'), range_since, range_until, slots);
    SELECT array_agg(s."time"), array_agg(s.metric), array_agg(s.value)
      INTO t, m, v
      FROM metrics_ex.time_series(name, CASE WHEN lower(btrim(coalesce(bucket, 'minute'))) = 'auto' THEN step::text
                                             ELSE coalesce(bucket, 'minute') END,
                                  agg, NULL, coalesce(tags, '{}'), coalesce(group_by, '{}'),
                                  'none', range_since, range_until) s;
    known := metrics_ex._metric_id(name) IS NOT NULL;
    title := format('%s: %s per %s', name, agg, metrics_ex._chart_duration(step));
END
$$;

-- A chart drawn in text from time_series()-shaped arrays: the title, height
-- rows of plot with value labels on the left, the time axis and its labels,
-- and with legend one line (or more) naming each group's mark.  At most
-- eight groups are drawn, the first in label order.
CREATE FUNCTION metrics_ex._chart_text(title text, since timestamptz, until timestamptz, bucket interval,
                                       t timestamptz[], m text[], v float8[], width int, height int,
                                       legend bool)
RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    marks CONSTANT text := '*o+x#@%&';
    grid record;
    pg int[];
    pslot int[];
    pv float8[];
    glabels text[];
    ngroups int;
    lo float8;
    hi float8;
    sc record;
    labels text[];
    a record;
    lw int := 0;
    pc int;
    cells text[];
    row_i int;
    col int;
    axis text;
    xlabels text := '';
    tk record;
    entry text;
    line text := '';
BEGIN
    RETURN NEXT left(title, width);
    grid := metrics_ex._chart_grid(since, until, bucket);
    SELECT array_agg(p.g ORDER BY p.g, p.slot) FILTER (WHERE p.g <= 8 AND p.value <> 'NaN'),
           array_agg(p.slot ORDER BY p.g, p.slot) FILTER (WHERE p.g <= 8 AND p.value <> 'NaN'),
           array_agg(p.value ORDER BY p.g, p.slot) FILTER (WHERE p.g <= 8 AND p.value <> 'NaN'),
           max(p.g),
           min(p.value) FILTER (WHERE p.g <= 8 AND p.value NOT IN ('NaN', 'Infinity', '-Infinity')),
           max(p.value) FILTER (WHERE p.g <= 8 AND p.value NOT IN ('NaN', 'Infinity', '-Infinity'))
      INTO pg, pslot, pv, ngroups, lo, hi
      FROM metrics_ex._chart_points(since, until, bucket, t, m, v) p;
    IF pg IS NULL THEN
        RETURN NEXT '(no data in this range)';
        RETURN;
    END IF;
    SELECT array_agg(x.label ORDER BY x.g) INTO glabels
      FROM (SELECT DISTINCT p.g, p.label FROM metrics_ex._chart_points(since, until, bucket, t, m, v) p) x;
    sc := metrics_ex._chart_scale(lo, hi, least(5, height - 1));
    -- a label on the row nearest to each step of the axis
    labels := array_fill(NULL::text, ARRAY[height]);
    FOR a IN SELECT * FROM metrics_ex._chart_axis(sc.lo, sc.hi, sc.step) LOOP
        row_i := 1 + floor(a.frac * (height - 1) + 0.5)::int;
        IF labels[row_i] IS NULL THEN
            labels[row_i] := a.label;
            lw := greatest(lw, length(a.label));
        END IF;
    END LOOP;
    pc := greatest(width - lw - 2, 8);

    cells := array_fill(repeat(' ', pc), ARRAY[height]);
    FOR i IN 1 .. cardinality(pg) LOOP
        col := floor((pslot[i] + 0.5) * pc / grid.slots)::int;
        row_i := 1 + floor(metrics_ex._chart_frac(pv[i], sc.lo, sc.hi) * (height - 1) + 0.5)::int;
        cells[row_i] := overlay(cells[row_i] PLACING substr(marks, pg[i], 1) FROM col + 1 FOR 1);
    END LOOP;
    FOR r IN REVERSE height .. 1 LOOP
        RETURN NEXT rtrim(lpad(coalesce(labels[r], ''), lw) || ' '
                          || CASE WHEN labels[r] IS NULL THEN '│' ELSE '┤' END || cells[r]);
    END LOOP;

    axis := repeat('─', pc);
    FOR tk IN SELECT * FROM metrics_ex._chart_ticks(grid.first, grid.first + grid.slots * bucket, pc, 1, 2) LOOP
        col := floor(tk.pos)::int;
        axis := overlay(axis PLACING '┬' FROM col + 1 FOR 1);
        xlabels := rpad(xlabels, col) || tk.label;
    END LOOP;
    RETURN NEXT repeat(' ', lw + 1) || '└' || axis;
    RETURN NEXT rtrim(repeat(' ', lw + 2) || xlabels);

    IF legend THEN
        FOR i IN 1 .. least(ngroups, 8) LOOP
            entry := left(substr(marks, i, 1) || ' ' || regexp_replace(glabels[i], '[[:cntrl:]]', '?', 'g'), width);
            IF line <> '' AND length(line) + 3 + length(entry) > width THEN
                RETURN NEXT line;
                line := '';
            END IF;
            line := CASE WHEN line = '' THEN entry ELSE line || '   ' || entry END;
        END LOOP;
        IF ngroups > 8 THEN
            entry := format('(and %s more groups, not drawn)', ngroups - 8);
            IF length(line) + 3 + length(entry) > width THEN
                RETURN NEXT line;
                line := entry;
            ELSE
                line := line || '   ' || entry;
            END IF;
        END IF;
        RETURN NEXT line;
    END IF;
END
$$;

-- chart: time_series() drawn in text for psql: a y axis with values, an x
-- axis with times, one mark per group (*, o, +, x, #, @, %, &) with a
-- legend when group_by is given.  width is the length of every line (20 to
-- 1000 characters), height the rows of the plot (3 to 100); NULL arguments
-- take their defaults.  bucket may also be 'auto': the smallest of 1s, 2s,
-- 5s, ... 30d that fits the plot's columns.
CREATE FUNCTION metrics_ex.chart(
    name text, bucket text DEFAULT 'minute', aggregation text DEFAULT 'mean',
    span text DEFAULT 'last_hour', tags jsonb DEFAULT '{}', group_by text[] DEFAULT '{}',
    width int DEFAULT 72, height int DEFAULT 12)
RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w int := metrics_ex._chart_size(width, 72, 'width', 20, 1000, 'characters',
                                    'width is the length of each line of the chart, e.g. 72 or the terminal''s width.');
    h int := metrics_ex._chart_size(height, 12, 'height', 3, 100, 'rows',
                                    'height is the number of rows of the plot, without the title, axis and legend.');
    c record;
BEGIN
    c := metrics_ex._chart_source(name, bucket, aggregation, span, tags, group_by, NULL, NULL, w - 10);
    IF NOT c.known THEN
        RETURN NEXT left(c.title, w);
        RETURN NEXT format('(no metric named %s)', quote_literal(name));
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM metrics_ex._chart_text(c.title, c.range_since, c.range_until, c.step,
                                                      c.t, c.m, c.v, w, h, cardinality(group_by) > 0);
END
$$;
COMMENT ON FUNCTION metrics_ex.chart(text, text, text, text, jsonb, text[], int, int) IS
    'time_series() as a text chart for psql: value axis, time axis, one mark per group and a legend';
