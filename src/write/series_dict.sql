-- metrics_ex series dictionary: what the sessions share (series_dict.c).

-- The shared dictionary of series ids: whether it exists (the library is in
-- shared_preload_libraries and metrics_ex.series_cache_size is not 0), its
-- entries (a series has one for its canonical tags and one per client text
-- of them), the memory they count for (an estimate, with the allocator's
-- rounding and the hash table's buckets) against what it may use, and its
-- generation (moved on by every committed removal or change of series).
-- It covers every database of the server, so it is the administrator's.
CREATE FUNCTION metrics_ex.series_dictionary(
    OUT enabled boolean, OUT entries bigint, OUT bytes_used bigint,
    OUT bytes_limit bigint, OUT generation bigint)
RETURNS record
LANGUAGE c VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'metrics_ex_series_dictionary';
REVOKE ALL ON FUNCTION metrics_ex.series_dictionary() FROM PUBLIC;
