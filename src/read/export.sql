-- metrics_ex export: an experiment's samples as CSV or JSON Lines, one line
-- per row of the result, so that
--   psql -XAt -c "SELECT * FROM metrics_ex.export('<id>', 'csv')" > out.csv
-- writes a file pandas, R or a spreadsheet reads as it is.

-- One CSV field, quoted as RFC 4180 asks when it holds a comma, a quote, a
-- line break (or leading/trailing space, which some readers would trim).
CREATE FUNCTION metrics_ex._csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN v IS NULL THEN ''
            WHEN v ~ '[",\r\n]' OR v ~ '^\s|\s$' THEN '"' || replace(v, '"', '""') || '"'
            ELSE v END;

-- csv: header ts,name,kind,value then one column per tag name found in the
-- experiment's samples (lineage ids included), sorted; a sample without a
-- tag leaves its field empty.  jsonl: {"ts", "name", "kind", "value",
-- "tags"} per sample.  ts is ISO 8601 in UTC; values keep every digit.
-- Samples come ordered by ts, then name.  An experiment without samples is
-- an error (SQLSTATE P0002, no_data_found).
CREATE FUNCTION metrics_ex.export(id uuid, format text DEFAULT 'csv') RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    f text := lower(btrim(coalesce(format, '')));
    keys text[];
BEGIN
    PERFORM metrics_ex._experiment_must_exist(id);
    IF f NOT IN ('csv', 'jsonl') THEN
        RAISE EXCEPTION 'invalid format "%"', format USING ERRCODE = '22023',
            HINT = 'The format is csv or jsonl.';
    END IF;
    -- as CrucibleTelemetry's {:error, :no_data}: an empty file helps nobody
    IF NOT EXISTS (SELECT FROM metrics_ex._experiment_samples(id)) THEN
        RAISE EXCEPTION 'experiment % has no data to export', id USING ERRCODE = 'P0002',
            HINT = 'Record samples tagged with its experiment_id first; SELECT samples FROM metrics_ex.experiments shows how many it has.';
    END IF;

    IF f = 'jsonl' THEN
        RETURN QUERY
            SELECT json_build_object(
                       'ts', to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'name', s.name, 'kind', s.kind, 'value', s.value, 'tags', s.tags)::text
              FROM metrics_ex._experiment_samples(id) s
             ORDER BY s.ts, s.name, s.tags::text, s.value;
        RETURN;
    END IF;

    SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO keys
      FROM (SELECT DISTINCT jsonb_object_keys(s.tags) AS k
              FROM metrics_ex._experiment_samples(id) s) t;

    RETURN NEXT array_to_string(
        ARRAY['ts', 'name', 'kind', 'value'] || ARRAY(SELECT metrics_ex._csv_field(k) FROM unnest(keys) k),
        ',');
    RETURN QUERY
        SELECT array_to_string(
                   ARRAY[to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                         metrics_ex._csv_field(s.name), s.kind, s.value::text]
                   || ARRAY(SELECT metrics_ex._csv_field(s.tags ->> k) FROM unnest(keys) k),
                   ',')
          FROM metrics_ex._experiment_samples(id) s
         ORDER BY s.ts, s.name, s.tags::text, s.value;
END
$$;
COMMENT ON FUNCTION metrics_ex.export(uuid, text) IS
    'An experiment''s samples as lines of CSV (RFC 4180, with a header) or JSON Lines';
