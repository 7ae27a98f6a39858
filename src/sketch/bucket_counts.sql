-- bucket_counts(value, bounds): cumulative histogram counts, Prometheus "le"
-- semantics, last element = the +Inf bucket.  bucket_counts(bigint[]) adds
-- such arrays up (e.g. minutes into hours).

CREATE FUNCTION metrics_ex.bucket_counts_add(bigint[], float8, float8[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.bucket_counts_combine(bigint[], bigint[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.bucket_counts_final(bigint[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.bucket_counts(value float8, bounds float8[]) (
    SFUNC = metrics_ex.bucket_counts_add,
    STYPE = bigint[],
    FINALFUNC = metrics_ex.bucket_counts_final,
    COMBINEFUNC = metrics_ex.bucket_counts_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.bucket_counts(counts bigint[]) (
    SFUNC = metrics_ex.bucket_counts_combine,
    STYPE = bigint[],
    COMBINEFUNC = metrics_ex.bucket_counts_combine,
    PARALLEL = SAFE
);
