-- metrics_ex querying: query(), time_series(), rollup(), rolling(), windowed()
-- and their JSON forms.  Each builds one SQL statement over samples joined to
-- the metric's series (filtered first, so the join is a small hash) and lets
-- the planner do the rest; time ranges are half-open [since, until) and
-- buckets align to the UTC epoch.

-- The [since, until) of a call: since/until win over span; span is
-- last_hour, last_24h, last_7d, last_30d or any interval, ending now.
CREATE FUNCTION metrics_ex._time_range(span text, since timestamptz, until timestamptz,
                                       OUT range_since timestamptz, OUT range_until timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    width interval;
BEGIN
    range_until := coalesce(until, now());
    IF since IS NOT NULL THEN
        range_since := since;
    ELSE
        width := CASE lower(coalesce(span, 'last_24h'))
                     WHEN 'last_hour' THEN interval '1 hour'
                     WHEN 'last_24h' THEN interval '24 hours'
                     WHEN 'last_7d' THEN interval '7 days'
                     WHEN 'last_30d' THEN interval '30 days'
                 END;
        IF width IS NULL THEN
            BEGIN
                width := span::interval;
            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
                RAISE EXCEPTION 'invalid span "%"', span USING ERRCODE = '22023',
                    HINT = 'Use last_hour, last_24h, last_7d, last_30d or an interval such as ''15 minutes''.';
            END;
            IF width <= interval '0' THEN
                RAISE EXCEPTION 'span must be a positive interval, not "%"', span USING ERRCODE = '22023';
            END IF;
        END IF;
        range_since := range_until - width;
    END IF;
    IF range_since >= range_until THEN
        RAISE EXCEPTION 'since (%) must be earlier than until (%)', range_since, range_until
            USING ERRCODE = '22023', HINT = 'Time ranges are half-open: [since, until).';
    END IF;
END
$$;

-- A bucket width: minute, hour, day, Grafana durations (500ms, 30s, 5m, 1h,
-- 1d, 1w) or any interval without months.
CREATE FUNCTION metrics_ex._bucket_width(bucket text) RETURNS interval
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m text[];
    width interval;
BEGIN
    IF bucket IS NULL THEN
        RAISE EXCEPTION 'bucket must not be NULL' USING ERRCODE = '22004';
    END IF;
    m := regexp_match(bucket, '^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$');
    IF m IS NOT NULL THEN
        width := m[1]::numeric * CASE m[2] WHEN 'ms' THEN interval '1 millisecond'
                                          WHEN 's' THEN interval '1 second'
                                          WHEN 'm' THEN interval '1 minute'
                                          WHEN 'h' THEN interval '1 hour'
                                          WHEN 'd' THEN interval '1 day'
                                          WHEN 'w' THEN interval '7 days' END;
    ELSIF lower(bucket) IN ('second', 'minute', 'hour', 'day', 'week') THEN
        width := ('1 ' || lower(bucket))::interval;
    ELSE
        BEGIN
            width := bucket::interval;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            width := NULL;
        END;
    END IF;
    IF width IS NULL OR width <= interval '0' OR extract(month FROM width) <> 0
       OR extract(year FROM width) <> 0 THEN
        RAISE EXCEPTION 'invalid bucket "%"', bucket USING ERRCODE = '22023',
            HINT = 'Use minute, hour, day, week, a Grafana duration (30s, 5m, 1h, 1d) or a positive interval without months.';
    END IF;
    RETURN width;
END
$$;

-- A sample standard deviation whose sums overflowed the float8 range: equal
-- values deviate by nothing, and otherwise a NaN (Infinity minus Infinity on
-- the way) means beyond the range, as for every source and split of them.
CREATE FUNCTION metrics_ex._stddev_fix(sd float8, mn float8, mx float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN sd IS NULL THEN NULL
            WHEN mn = mx THEN 0
            WHEN sd = 'NaN'::float8 THEN 'Infinity'::float8
            ELSE sd END;

-- The SQL expression of an aggregation.  mode 'raw' aggregates samples x
-- (value, ts); mode 'unified' aggregates rows u of partial state (c count,
-- s sum, mn, mx, lts/lv latest, m2, sk ddsketch) from rollups, late deltas
-- and raw samples grouped.  seconds is an SQL expression for the length of the group's time
-- span (used by rate).  Sums and means use xsum() and xavg() (xsum.sql):
-- the same bits however the rows are split (parallel workers, Citus shards)
-- and in whatever order they come; a sum beyond the float8 range is
-- +-Infinity (or NaN), never an error.
CREATE FUNCTION metrics_ex._aggregate_sql(aggregation text, seconds text, mode text DEFAULT 'raw')
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a text := lower(btrim(coalesce(aggregation, '')));
    q numeric := metrics_ex._percentile_q(aggregation);
    raw bool := mode = 'raw';
BEGIN
    IF q IS NOT NULL THEN
        RETURN CASE WHEN raw THEN format('metrics_ex.percentile(x.value, %s)', q)
                    ELSE format('metrics_ex.quantile(metrics_ex.ddsketch(metrics_ex._sketch_of(u.c, u.s, u.sk)), %s)', q) END;
    END IF;
    CASE a
        -- counts add as float8 (exact below 2^53): sum(bigint) would add numerics
        WHEN 'count' THEN RETURN CASE WHEN raw THEN 'count(*)::float8' ELSE 'coalesce(sum(u.c::float8), 0)' END;
        WHEN 'sum' THEN RETURN CASE WHEN raw THEN 'coalesce(metrics_ex.xsum(x.value), 0)'
                                    ELSE 'coalesce(metrics_ex.xsum(u.s), 0)' END;
        WHEN 'mean', 'avg' THEN RETURN CASE WHEN raw THEN 'metrics_ex.xavg(x.value)'
                                            ELSE 'metrics_ex.fdiv(metrics_ex.xsum(u.s), nullif(sum(u.c::float8), 0))' END;
        WHEN 'min' THEN RETURN CASE WHEN raw THEN 'min(x.value)' ELSE 'min(u.mn)' END;
        WHEN 'max' THEN RETURN CASE WHEN raw THEN 'max(x.value)' ELSE 'max(u.mx)' END;
        -- a tie of ts goes to the sample written later (the later row)
        WHEN 'last' THEN RETURN CASE WHEN raw THEN '(array_agg(x.value ORDER BY x.ts DESC, x.ctid DESC))[1]'
                                     ELSE '(array_agg(u.lv ORDER BY u.lts DESC))[1]' END;
        WHEN 'stddev' THEN RETURN CASE WHEN raw THEN 'metrics_ex._stddev_fix(metrics_ex.fstddev_samp(x.value), min(x.value), max(x.value))'
                                       ELSE 'metrics_ex._stddev_fix(metrics_ex._stddev_merge(u.c, u.s, u.m2), min(u.mn), max(u.mx))' END;
        WHEN 'rate' THEN RETURN format('metrics_ex.fdiv(coalesce(metrics_ex.xsum(%s), 0), %s)',
                                       CASE WHEN raw THEN 'x.value' ELSE 'u.s' END, seconds);
        ELSE NULL;
    END CASE;
    RAISE EXCEPTION 'unknown aggregation "%"', aggregation USING ERRCODE = '22023',
        HINT = 'Use count, sum, mean (avg), min, max, last, stddev, rate, or a percentile p50, p90, p95, p99, p999, pNN.N.';
END
$$;

-- The fraction of a percentile aggregation (p95 -> 0.95, p999 -> 0.999,
-- p99.9 -> 0.999), NULL for other aggregations.
CREATE FUNCTION metrics_ex._percentile_q(aggregation text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m text[] := regexp_match(lower(btrim(coalesce(aggregation, ''))), '^p(\d+)(\.\d+)?$');
    q numeric;
BEGIN
    IF m IS NULL THEN
        RETURN NULL;
    ELSIF m[2] IS NOT NULL THEN
        q := (m[1] || m[2])::numeric / 100;
    ELSIF m[1]::numeric <= 100 THEN
        q := m[1]::numeric / 100;           -- p50, p95, p100
    ELSIF m[1] ~ '^9+$' THEN
        q := ('0.' || m[1])::numeric;       -- p999 = 0.999, p9999 = 0.9999
    END IF;
    IF q IS NULL OR q < 0 OR q > 1 THEN
        RAISE EXCEPTION 'unknown aggregation "%"', aggregation USING ERRCODE = '22023',
            HINT = 'Percentiles are p0 to p100, p999 (99.9th) or pNN.N.';
    END IF;
    RETURN q;
END
$$;

-- FROM/WHERE over the samples of one metric in [since, until) whose tags
-- (lineage ids included) contain filter.  $1 metric id, $2 since, $3 until,
-- $4 series-tag filter, $5 lineage filter.
CREATE FUNCTION metrics_ex._samples_sql() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'FROM metrics_ex.samples x
        JOIN (SELECT id, tags FROM metrics_ex.series
               WHERE metric_id = $1 AND ($4 IS NULL OR tags @> $4)) s ON s.id = x.series_id
        WHERE x.ts >= $2 AND x.ts < $3 AND ($5 IS NULL OR x.lineage @> $5)';

-- Where a query reads a metric's data for [since, until).
--
-- Raw samples alone (mode raw) when lineage ids filter or group, when a
-- percentile is asked and raw samples still cover the range (percentiles
-- are then exact), and when the range starts after the rollup watermark.
-- Otherwise (mode unified) the range is cut into pieces, each read from the
-- coarsest source that holds it whole:
--   - before the watermark (rollups hold every sample there, the deltas of
--     late samples not merged yet are added): day, hour and (for metrics
--     with minute rollups) minute rows for the whole level-buckets inside
--     the range that the bucket width allows and retention still keeps; the
--     hour (minute) row holding the watermark holds exactly what came before
--     it, and day rows exist for complete days only;
--   - edges no level covers: raw samples while raw retention keeps them,
--     else the finest rollup level that still holds them (then at that
--     level's resolution: a sample of the same hour, say, counts in);
--   - from the watermark on: raw samples.
-- Rollup answers give the same count, sum, min, max, mean, last and rate as
-- raw samples, stddev to rounding; percentiles come from the stored ddsketch
-- (within 1%).  Uses $1 metric id, $2 since, $3 until, $4 series filter, $5
-- lineage filter (NULL here).
CREATE FUNCTION metrics_ex._source(mid int, since timestamptz, until timestamptz, width interval,
                                   aggregations text[], raw_only bool,
                                   OUT from_sql text, OUT mode text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wants_percentile bool;
    done timestamptz := (metrics_ex.watermarks()).done;
    raw_from timestamptz;
    minute_from timestamptz;
    levels text[] := '{}';
    widths interval[] := '{}';
    keeps timestamptz[] := '{}';
    all_levels text[] := '{}';
    all_widths interval[] := '{}';
    all_keeps timestamptz[] := '{}';
    lvl record;
    pieces text[] := '{}';
    raw_g interval;
    todo timestamptz[][] ;
    lo timestamptz;
    hi timestamptz;
    a timestamptz;
    b timestamptz;
    i int;
    used bool;
BEGIN
    from_sql := metrics_ex._samples_sql();
    mode := 'raw';
    IF raw_only OR since >= done THEN
        RETURN;
    END IF;
    raw_from := metrics_ex._raw_from(mid);
    SELECT m.minute_rollups_from INTO minute_from FROM metrics_ex.metrics m WHERE m.id = mid;
    SELECT bool_or(metrics_ex._percentile_q(x) IS NOT NULL) INTO wants_percentile FROM unnest(aggregations) x;
    IF wants_percentile AND since >= raw_from THEN
        RETURN;                     -- exact, from raw samples
    END IF;

    -- the levels a bucket of this width can be made of, coarsest first; and
    -- every level, for what retention left only in rollups
    FOR lvl IN SELECT l.level, l.width AS lw, l.keep FROM metrics_ex.rollup_levels l ORDER BY l.width DESC LOOP
        CONTINUE WHEN lvl.level = 'minute' AND minute_from IS NULL;
        all_levels := all_levels || lvl.level;
        all_widths := all_widths || lvl.lw;
        all_keeps := all_keeps || greatest(CASE WHEN lvl.keep IS NULL THEN '-infinity'::timestamptz ELSE now() - lvl.keep END,
                                           CASE WHEN lvl.level = 'minute' THEN minute_from ELSE '-infinity' END);
        CONTINUE WHEN width IS NOT NULL AND
                      extract(epoch FROM width)::numeric % extract(epoch FROM lvl.lw)::numeric <> 0;
        levels := levels || lvl.level;
        widths := widths || lvl.lw;
        keeps := keeps || all_keeps[cardinality(all_keeps)];
    END LOOP;
    IF cardinality(levels) = 0 AND since >= raw_from THEN
        RETURN;                     -- no level fits the width: raw samples
    END IF;
    -- raw rows are grouped as finely as the bucket needs (one group for a
    -- whole-range query)
    raw_g := coalesce(width, interval '1 day');

    -- [lo, hi) pieces still to place, from the coarsest level down
    hi := least(until, done);
    todo := ARRAY[[since, hi]];
    FOR i IN 1 .. cardinality(levels) LOOP
        DECLARE
            next_todo timestamptz[][] := '{}';
        BEGIN
            FOR j IN 1 .. coalesce(array_length(todo, 1), 0) LOOP
                lo := todo[j][1];
                hi := todo[j][2];
                a := date_bin(widths[i], lo, '1970-01-01 00:00:00+00');
                IF a < lo THEN
                    a := a + widths[i];
                END IF;
                a := greatest(a, date_bin(widths[i], keeps[i], '1970-01-01 00:00:00+00') +
                                 CASE WHEN keeps[i] = '-infinity' OR
                                           date_bin(widths[i], keeps[i], '1970-01-01 00:00:00+00') = keeps[i]
                                      THEN interval '0' ELSE widths[i] END);
                -- up to the watermark, the row of its level-bucket included
                -- (day rows exist for complete days only)
                b := CASE WHEN hi = done AND levels[i] <> 'day' THEN done
                          ELSE date_bin(widths[i], hi, '1970-01-01 00:00:00+00') END;
                IF a >= b THEN
                    next_todo := next_todo || ARRAY[[lo, hi]];
                    CONTINUE;
                END IF;
                pieces := pieces || format(
                    $f$SELECT r.series_id, r.bucket AS t, r.count AS c, r.sum AS s, r.min AS mn, r.max AS mx,
                              r.last_ts AS lts, r.last_value AS lv, r.m2, r.sketch AS sk
                         FROM metrics_ex.%I r WHERE r.bucket >= %L AND r.bucket < %L
                       UNION ALL
                       SELECT p.series_id, date_bin(%L::interval, p.bucket, '1970-01-01 00:00:00+00'), p.count, p.sum,
                              p.min, p.max, p.last_ts, p.last_value, p.m2, p.sketch
                         FROM metrics_ex.rollup_pending p WHERE p.bucket >= %L AND p.bucket < %L$f$,
                    'rollup_' || levels[i], a, b, widths[i], a, b);
                IF lo < a THEN
                    next_todo := next_todo || ARRAY[[lo, a]];
                END IF;
                IF b < hi THEN
                    next_todo := next_todo || ARRAY[[b, hi]];
                END IF;
            END LOOP;
            todo := next_todo;
        END;
    END LOOP;

    -- what no level holds whole: raw samples where retention kept them all;
    -- before that, the finest level that still has them, at its resolution
    -- (its rows count whole and sit at their bucket's start), up to the
    -- first of its buckets that raw samples hold completely
    FOR j IN 1 .. coalesce(array_length(todo, 1), 0) LOOP
        lo := todo[j][1];
        hi := todo[j][2];
        used := false;
        IF lo < raw_from THEN
            FOR i IN REVERSE cardinality(all_levels) .. 1 LOOP
                CONTINUE WHEN used OR all_keeps[i] > lo;
                a := date_bin(all_widths[i], lo, '1970-01-01 00:00:00+00');
                b := date_bin(all_widths[i], raw_from, '1970-01-01 00:00:00+00');
                b := least(hi, CASE WHEN b < raw_from THEN b + all_widths[i] ELSE b END);
                pieces := pieces || format(
                    $f$SELECT r.series_id, r.bucket AS t, r.count AS c, r.sum AS s, r.min AS mn, r.max AS mx,
                              r.last_ts AS lts, r.last_value AS lv, r.m2, r.sketch AS sk
                         FROM metrics_ex.%I r WHERE r.bucket >= %L AND r.bucket < %L
                       UNION ALL
                       SELECT p.series_id, date_bin(%L::interval, p.bucket, '1970-01-01 00:00:00+00'), p.count, p.sum,
                              p.min, p.max, p.last_ts, p.last_value, p.m2, p.sketch
                         FROM metrics_ex.rollup_pending p WHERE p.bucket >= %L AND p.bucket < %L$f$,
                    'rollup_' || all_levels[i], a, b, all_widths[i], a,
                    -- the deltas of the rows' buckets (the last one may end after b)
                    least(done, date_bin(all_widths[i], b - interval '1 microsecond', '1970-01-01 00:00:00+00')
                                + all_widths[i]));
                lo := b;
                used := true;
            END LOOP;
        END IF;
        IF lo < hi THEN
            pieces := pieces || metrics_ex._raw_piece_sql(lo, hi, raw_g);
        END IF;
    END LOOP;
    -- after the watermark
    IF until > done THEN
        pieces := pieces || metrics_ex._raw_piece_sql(greatest(since, done), until, raw_g);
    END IF;

    from_sql := format($f$FROM (%s) u
            JOIN (SELECT id, tags FROM metrics_ex.series
                   WHERE metric_id = $1 AND ($4 IS NULL OR tags @> $4)) s ON s.id = u.series_id
            WHERE $2 IS NOT NULL AND $3 IS NOT NULL AND $5 IS NULL$f$,
        array_to_string(pieces, E'\n  UNION ALL\n'));
    mode := 'unified';
END
$$;

-- Raw samples of [lo, hi) of the metric's series, as partial states grouped
-- by series and a time grid of step g (a piece of _source's union).
CREATE FUNCTION metrics_ex._raw_piece_sql(lo timestamptz, hi timestamptz, g interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format($f$SELECT q.series_id, q.t, (q.r).count AS c, (q.r).sum AS s, (q.r).min AS mn, (q.r).max AS mx,
                      (q.r).last_ts AS lts, (q.r).last_value AS lv, (q.r).m2, (q.r).sketch AS sk
                 FROM (SELECT x.series_id, date_bin(%L::interval, x.ts, '1970-01-01 00:00:00+00') AS t,
                              metrics_ex._rollup_agg(x.ts, x.value, x.ctid, NULL) AS r
                         FROM metrics_ex.samples x
                        WHERE x.ts >= %L AND x.ts < %L
                          AND x.series_id IN (SELECT id FROM metrics_ex.series
                                               WHERE metric_id = $1 AND ($4 IS NULL OR tags @> $4))
                        GROUP BY 1, 2) q$f$, g, lo, hi);

-- Split a filter object into series tags and lineage ids, values as strings.
CREATE FUNCTION metrics_ex._split_filter(tags jsonb, OUT series_filter jsonb, OUT lineage_filter jsonb)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tags IS NULL OR tags = '{}'::jsonb THEN
        RETURN;
    END IF;
    IF jsonb_typeof(tags) <> 'object' THEN
        RAISE EXCEPTION 'tags must be a JSON object' USING ERRCODE = '22023',
            HINT = 'For example ''{"tenant": "cns"}''.';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_each(tags) WHERE jsonb_typeof(value) IN ('object', 'array')) THEN
        RAISE EXCEPTION 'tags must have string, number or boolean values' USING ERRCODE = '22023';
    END IF;
    SELECT jsonb_object_agg(key, value #>> '{}') FILTER (WHERE key NOT IN ('work_id', 'trace_id', 'plan_id', 'step_id')
                                                          AND jsonb_typeof(value) <> 'null'),
           jsonb_object_agg(key, value #>> '{}') FILTER (WHERE key IN ('work_id', 'trace_id', 'plan_id', 'step_id')
                                                          AND jsonb_typeof(value) <> 'null')
      INTO series_filter, lineage_filter
      FROM jsonb_each(tags);
END
$$;

-- SQL expressions of the group_by keys: labels (jsonb), the '/'-joined key
-- and the GROUP BY list.
-- order_sql: the groups in the order of their labels (keys as jsonb orders
-- them: by length then bytes; a missing tag first; values by bytes, not by
-- the database's collation, so that the order is the same in every database
-- and on every Citus node, and the sort compares bytes), without building
-- and comparing jsonb for every row of the sort.
CREATE FUNCTION metrics_ex._group_sql(group_by text[],
                                      OUT labels_sql text, OUT key_sql text, OUT group_sql text,
                                      OUT uses_lineage bool, OUT order_sql text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    exprs text[] := '{}';
    pairs text[] := '{}';
BEGIN
    uses_lineage := false;
    FOREACH k IN ARRAY coalesce(group_by, '{}') LOOP
        IF k IS NULL OR k !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' THEN
            RAISE EXCEPTION 'invalid tag name % in group_by', coalesce(quote_literal(k), 'NULL')
                USING ERRCODE = '22023', HINT = 'group_by lists tag names such as ''{model,dataset}''.';
        END IF;
        uses_lineage := uses_lineage OR k IN ('work_id', 'trace_id', 'plan_id', 'step_id');
        exprs := exprs || CASE WHEN k IN ('work_id', 'trace_id', 'plan_id', 'step_id')
                               THEN format('(x.lineage ->> %L)', k)
                               ELSE format('(s.tags ->> %L)', k) END;
        pairs := pairs || format('%L, %s', k, exprs[cardinality(exprs)]);
    END LOOP;
    IF cardinality(exprs) = 0 THEN
        labels_sql := '''{}''::jsonb';
        key_sql := 'NULL::text';
        group_sql := NULL;
    ELSE
        labels_sql := format('jsonb_build_object(%s)', array_to_string(pairs, ', '));
        key_sql := format('concat_ws(''/'', %s)',
                          (SELECT string_agg(format('coalesce(%s, '''')', e), ', ') FROM unnest(exprs) e));
        group_sql := array_to_string(exprs, ', ');
        SELECT string_agg(x.e || ' COLLATE "C" NULLS FIRST', ', ' ORDER BY length(x.tag), x.tag COLLATE "C")
          INTO order_sql
          FROM unnest(exprs, group_by) x(e, tag);
    END IF;
END
$$;

CREATE FUNCTION metrics_ex._metric_id(name text) RETURNS int
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT id FROM metrics_ex.metrics m WHERE m.name = _metric_id.name;
END;

-- query: one aggregate per group, ordered by labels.
CREATE FUNCTION metrics_ex.query(
    name text, aggregation text DEFAULT 'mean', group_by text[] DEFAULT '{}',
    tags jsonb DEFAULT '{}', span text DEFAULT 'last_24h',
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (labels jsonb, value float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    f record;
    g record;
    src record;
    mid int;
    agg text;
    sql text;
BEGIN
    r := metrics_ex._time_range(span, since, until);
    f := metrics_ex._split_filter(tags);
    g := metrics_ex._group_sql(group_by);
    PERFORM metrics_ex._aggregate_sql(aggregation, '1');
    mid := metrics_ex._metric_id(name);
    IF mid IS NULL THEN
        RETURN;                     -- an unknown metric has no data
    END IF;
    src := metrics_ex._source(mid, r.range_since, r.range_until, NULL, ARRAY[aggregation],
                              f.lineage_filter IS NOT NULL OR g.uses_lineage);
    agg := metrics_ex._aggregate_sql(aggregation,
                                     format('%s::float8', extract(epoch FROM r.range_until - r.range_since)), src.mode);
    sql := format('SELECT %s AS labels, %s AS value %s', g.labels_sql, agg, src.from_sql);
    IF g.group_sql IS NOT NULL THEN
        sql := sql || format(' GROUP BY %s ORDER BY %s', g.group_sql, g.order_sql);
    END IF;
    RETURN QUERY EXECUTE sql USING mid, r.range_since, r.range_until, f.series_filter, f.lineage_filter;
END
$$;
COMMENT ON FUNCTION metrics_ex.query(text, text, text[], jsonb, text, timestamptz, timestamptz) IS
    'One aggregate (count, sum, mean, min, max, last, stddev, rate, pNN) per group of tag values';

CREATE FUNCTION metrics_ex.query_json(
    name text, aggregation text DEFAULT 'mean', group_by text[] DEFAULT '{}',
    tags jsonb DEFAULT '{}', span text DEFAULT 'last_24h',
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(jsonb_agg(q.labels || jsonb_build_object(lower(btrim(query_json.aggregation)), q.value)
                              ORDER BY q.labels), '[]'::jsonb)
      FROM metrics_ex.query(query_json.name, query_json.aggregation, query_json.group_by,
                            query_json.tags, query_json.span, query_json.since, query_json.until) q;
END;
COMMENT ON FUNCTION metrics_ex.query_json(text, text, text[], jsonb, text, timestamptz, timestamptz) IS
    'query() as MetricsEx''s list of maps: [{"model": "llama-3.1", "mean": 0.72}, ...]';

-- time_series: one value per bucket (and group), for psql and Grafana.
CREATE FUNCTION metrics_ex.time_series(
    name text, bucket text DEFAULT 'hour', aggregation text DEFAULT 'count',
    span text DEFAULT 'last_24h', tags jsonb DEFAULT '{}', group_by text[] DEFAULT '{}',
    fill text DEFAULT 'none', since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE ("time" timestamptz, metric text, value float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    f record;
    g record;
    src record;
    mid int;
    width interval;
    agg text;
    label text;
    fill_mode text := lower(coalesce(fill, 'none'));
    nbuckets numeric;
    data_sql text;
BEGIN
    r := metrics_ex._time_range(span, since, until);
    f := metrics_ex._split_filter(tags);
    g := metrics_ex._group_sql(group_by);
    width := metrics_ex._bucket_width(bucket);
    PERFORM metrics_ex._aggregate_sql(aggregation, '1');
    IF fill_mode NOT IN ('none', 'zero', 'null', 'previous') THEN
        RAISE EXCEPTION 'invalid fill "%"', fill USING ERRCODE = '22023',
            HINT = 'fill is none, zero, null or previous.';
    END IF;
    nbuckets := ceil(extract(epoch FROM r.range_until - r.range_since) / extract(epoch FROM width));
    IF nbuckets > 100000 THEN
        RAISE EXCEPTION 'bucket % would make % buckets in this range', bucket, nbuckets
            USING ERRCODE = '54000', HINT = 'At most 100000 buckets: use a wider bucket or a shorter range.';
    END IF;
    mid := metrics_ex._metric_id(name);
    IF mid IS NULL THEN
        RETURN;
    END IF;

    src := metrics_ex._source(mid, r.range_since, r.range_until, width, ARRAY[aggregation],
                              f.lineage_filter IS NOT NULL OR g.uses_lineage);
    agg := metrics_ex._aggregate_sql(aggregation, format('%s::float8', extract(epoch FROM width)), src.mode);
    label := CASE WHEN g.group_sql IS NULL THEN quote_literal(name) ELSE g.key_sql END;
    data_sql := format('SELECT date_bin(%L::interval, %s, ''1970-01-01 00:00:00+00''::timestamptz) AS t, %s AS m, %s AS v %s GROUP BY 1%s',
                       width, CASE WHEN src.mode = 'raw' THEN 'x.ts' ELSE 'u.t' END, label, agg, src.from_sql,
                       CASE WHEN g.group_sql IS NULL THEN '' ELSE ', ' || g.group_sql END);
    IF fill_mode = 'none' THEN
        -- labels by bytes, as order_sql sorts them
        RETURN QUERY EXECUTE format('SELECT t, m, v FROM (%s) d ORDER BY t, m COLLATE "C"', data_sql)
            USING mid, r.range_since, r.range_until, f.series_filter, f.lineage_filter;
        RETURN;
    END IF;
    -- every bucket of the range for every series that has data in it
    RETURN QUERY EXECUTE format($q$
        WITH d AS (%s),
        grid AS (
            SELECT b AS t, ms.m
              FROM generate_series(date_bin($6, $2, '1970-01-01 00:00:00+00'::timestamptz),
                                   $3 - interval '1 microsecond', $6) b
             CROSS JOIN (SELECT DISTINCT m FROM d) ms),
        joined AS (
            -- fill is for empty buckets only: a bucket with samples keeps its
            -- value, even a NULL one (the stddev of one sample)
            SELECT grid.t, grid.m, d.v, d.t IS NOT NULL AS present,
                   count(d.t) OVER (PARTITION BY grid.m ORDER BY grid.t) AS run
              FROM grid LEFT JOIN d ON d.t = grid.t AND d.m IS NOT DISTINCT FROM grid.m)
        SELECT t, m, CASE WHEN present THEN v
                          WHEN %L = 'zero' THEN 0
                          WHEN %L = 'previous' THEN first_value(v) OVER (PARTITION BY m, run ORDER BY t)
                     END
          FROM joined ORDER BY t, m COLLATE "C"$q$, data_sql, fill_mode, fill_mode)
        USING mid, r.range_since, r.range_until, f.series_filter, f.lineage_filter, width;
END
$$;
COMMENT ON FUNCTION metrics_ex.time_series(text, text, text, text, jsonb, text[], text, timestamptz, timestamptz) IS
    'Values per time bucket (aligned to the UTC epoch), as ("time", metric, value) for Grafana';

-- rollup: several aggregates per group, keyed by the group values joined by '/'.
CREATE FUNCTION metrics_ex.rollup(
    name text, group_by text[], aggregations text[] DEFAULT '{mean,count}',
    tags jsonb DEFAULT '{}', span text DEFAULT 'last_24h',
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (key text, labels jsonb, stats jsonb)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    f record;
    g record;
    src record;
    mid int;
    a text;
    parts text[] := '{}';
    seconds text;
    sql text;
BEGIN
    r := metrics_ex._time_range(span, since, until);
    f := metrics_ex._split_filter(tags);
    g := metrics_ex._group_sql(group_by);
    IF aggregations IS NULL OR cardinality(aggregations) = 0 THEN
        RAISE EXCEPTION 'aggregations must name at least one aggregation' USING ERRCODE = '22023',
            HINT = 'For example ''{mean,count,p95}''.';
    END IF;
    seconds := format('%s::float8', extract(epoch FROM r.range_until - r.range_since));
    FOREACH a IN ARRAY aggregations LOOP
        PERFORM metrics_ex._aggregate_sql(a, seconds);
    END LOOP;
    mid := metrics_ex._metric_id(name);
    IF mid IS NULL THEN
        RETURN;
    END IF;
    src := metrics_ex._source(mid, r.range_since, r.range_until, NULL, aggregations,
                              f.lineage_filter IS NOT NULL OR g.uses_lineage);
    FOREACH a IN ARRAY aggregations LOOP
        parts := parts || format('%L, %s', lower(btrim(a)), metrics_ex._aggregate_sql(a, seconds, src.mode));
    END LOOP;
    sql := format('SELECT %s AS key, %s AS labels, jsonb_build_object(%s) AS stats %s',
                  CASE WHEN g.group_sql IS NULL THEN '''''' ELSE g.key_sql END, g.labels_sql,
                  array_to_string(parts, ', '), src.from_sql);
    IF g.group_sql IS NOT NULL THEN
        sql := sql || format(' GROUP BY %s ORDER BY %s', g.group_sql, g.order_sql);
    END IF;
    RETURN QUERY EXECUTE sql USING mid, r.range_since, r.range_until, f.series_filter, f.lineage_filter;
END
$$;
COMMENT ON FUNCTION metrics_ex.rollup(text, text[], text[], jsonb, text, timestamptz, timestamptz) IS
    'Several aggregates per group, keyed by group values joined by ''/''';

CREATE FUNCTION metrics_ex.rollup_json(
    name text, group_by text[], aggregations text[] DEFAULT '{mean,count}',
    tags jsonb DEFAULT '{}', span text DEFAULT 'last_24h',
    since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(jsonb_object_agg(r.key, r.stats), '{}'::jsonb)
      FROM metrics_ex.rollup(rollup_json.name, rollup_json.group_by, rollup_json.aggregations,
                             rollup_json.tags, rollup_json.span, rollup_json.since, rollup_json.until) r;
END;
COMMENT ON FUNCTION metrics_ex.rollup_json(text, text[], text[], jsonb, text, timestamptz, timestamptz) IS
    'rollup() as MetricsEx''s map: {"llama-3.1/scifact": {"mean": 0.72, "count": 150}, ...}';

-- rolling: per series the last value and plain means over 1, 5, 15 minutes.
CREATE FUNCTION metrics_ex.rolling(name text, tags jsonb DEFAULT '{}')
RETURNS TABLE (labels jsonb, current float8, count_1m bigint,
               average_1m float8, average_5m float8, average_15m float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    mid int;
    horizon interval := metrics_ex.default_retention();
BEGIN
    f := metrics_ex._split_filter(tags);
    mid := metrics_ex._metric_id(name);
    IF mid IS NULL THEN
        RETURN;
    END IF;
    -- current is the last value within the retention horizon
    RETURN QUERY EXECUTE format($q$
        SELECT s.tags,
               (array_agg(x.value ORDER BY x.ts DESC, x.ctid DESC))[1],
               count(*) FILTER (WHERE x.ts >= $6 - interval '1 minute'),
               coalesce(metrics_ex.xavg(x.value) FILTER (WHERE x.ts >= $6 - interval '1 minute'), 0),
               coalesce(metrics_ex.xavg(x.value) FILTER (WHERE x.ts >= $6 - interval '5 minutes'), 0),
               coalesce(metrics_ex.xavg(x.value) FILTER (WHERE x.ts >= $6 - interval '15 minutes'), 0)
        %s
        GROUP BY s.id, s.tags ORDER BY s.tags$q$, metrics_ex._samples_sql())
        USING mid, now() - horizon, now() + interval '1 microsecond', f.series_filter, f.lineage_filter, now();
END
$$;
COMMENT ON FUNCTION metrics_ex.rolling(text, jsonb) IS
    'Per series: last value, and count and mean over the last 1, 5 and 15 minutes (0 when empty)';

-- windowed: sliding windows [start, start + width) from the first sample,
-- advancing by step; empty windows are dropped.  As CrucibleTelemetry's
-- windowed_metrics, the windows end where the next one would reach more than
-- one step past the last sample (start + width > last + step), and a zero
-- width or step gives no windows.
CREATE FUNCTION metrics_ex.windowed(
    name text, width interval, step interval, aggregation text DEFAULT 'mean',
    tags jsonb DEFAULT '{}', since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS TABLE (window_start timestamptz, window_end timestamptz, count bigint, value float8)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    mid int;
    agg text;
    lo timestamptz := coalesce(since, '-infinity');
    hi timestamptz := coalesce(until, 'infinity');
    first_ts timestamptz;
    last_ts timestamptz;
    last_k bigint;
BEGIN
    IF width IS NULL OR width < interval '0' THEN
        RAISE EXCEPTION 'width must not be negative' USING ERRCODE = '22023',
            HINT = 'A window is [start, start + width); a zero width gives no windows.';
    END IF;
    IF step IS NULL OR step < interval '0' THEN
        RAISE EXCEPTION 'step must not be negative' USING ERRCODE = '22023',
            HINT = 'Windows start at the first sample and advance by step; a zero step gives no windows.';
    END IF;
    IF lo >= hi THEN
        RAISE EXCEPTION 'since (%) must be earlier than until (%)', lo, hi USING ERRCODE = '22023';
    END IF;
    f := metrics_ex._split_filter(tags);
    agg := metrics_ex._aggregate_sql(aggregation, format('%s::float8', extract(epoch FROM width)));
    IF width = interval '0' OR step = interval '0' THEN
        RETURN;
    END IF;
    mid := metrics_ex._metric_id(name);
    IF mid IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT min(x.ts), max(x.ts) %s', metrics_ex._samples_sql())
       INTO first_ts, last_ts USING mid, lo, hi, f.series_filter, f.lineage_filter;
    IF first_ts IS NULL THEN
        RETURN;
    END IF;
    -- the last window k has first + k*step + width <= last + step
    last_k := floor(extract(epoch FROM last_ts - first_ts + step - width) / extract(epoch FROM step))::bigint;
    IF last_k < 0 THEN
        RETURN;
    END IF;
    -- each sample joins the windows k that hold it: start_k = first + k*step,
    -- start_k <= ts < start_k + width
    RETURN QUERY EXECUTE format($q$
        SELECT $6 + k * $8, $6 + k * $8 + $7, count(*), %s
          FROM (SELECT x.ts, x.value %s) x
        CROSS JOIN LATERAL generate_series(
            greatest(0, floor((extract(epoch FROM x.ts - $6) - extract(epoch FROM $7)) / extract(epoch FROM $8))::bigint + 1),
            least($9, floor(extract(epoch FROM x.ts - $6) / extract(epoch FROM $8))::bigint)) k
        GROUP BY k ORDER BY k$q$, agg, metrics_ex._samples_sql())
        USING mid, lo, hi, f.series_filter, f.lineage_filter, first_ts, width, step, last_k;
END
$$;
COMMENT ON FUNCTION metrics_ex.windowed(text, interval, interval, text, jsonb, timestamptz, timestamptz) IS
    'Sliding windows from the first sample: [start, start + width), advancing by step';
