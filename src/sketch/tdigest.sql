-- tdigest: a merging t-digest (compression default 100); quantile estimates
-- accurate in the tails, exact for q = 0 and 1.

CREATE TYPE metrics_ex.tdigest;

CREATE FUNCTION metrics_ex.tdigest_in(cstring) RETURNS metrics_ex.tdigest
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.tdigest_out(metrics_ex.tdigest) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.tdigest_recv(internal) RETURNS metrics_ex.tdigest
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.tdigest_send(metrics_ex.tdigest) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE metrics_ex.tdigest (
    INPUT = metrics_ex.tdigest_in,
    OUTPUT = metrics_ex.tdigest_out,
    RECEIVE = metrics_ex.tdigest_recv,
    SEND = metrics_ex.tdigest_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

-- Not STRICT: they create the state on the first non-NULL value, so an
-- aggregate over no rows (or only NULLs) is NULL.
CREATE FUNCTION metrics_ex.tdigest_add(metrics_ex.tdigest, float8) RETURNS metrics_ex.tdigest
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.tdigest_add(metrics_ex.tdigest, float8, int) RETURNS metrics_ex.tdigest
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.tdigest_combine(metrics_ex.tdigest, metrics_ex.tdigest) RETURNS metrics_ex.tdigest
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- Flushes working buffers and trims spare room: the form that is stored.
CREATE FUNCTION metrics_ex.tdigest_final(metrics_ex.tdigest) RETURNS metrics_ex.tdigest
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.tdigest(float8) (
    SFUNC = metrics_ex.tdigest_add,
    STYPE = metrics_ex.tdigest,
    FINALFUNC = metrics_ex.tdigest_final,
    COMBINEFUNC = metrics_ex.tdigest_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.tdigest(float8, int) (
    SFUNC = metrics_ex.tdigest_add,
    STYPE = metrics_ex.tdigest,
    FINALFUNC = metrics_ex.tdigest_final,
    COMBINEFUNC = metrics_ex.tdigest_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.tdigest(metrics_ex.tdigest) (
    SFUNC = metrics_ex.tdigest_combine,
    STYPE = metrics_ex.tdigest,
    FINALFUNC = metrics_ex.tdigest_final,
    COMBINEFUNC = metrics_ex.tdigest_combine,
    PARALLEL = SAFE
);

CREATE FUNCTION metrics_ex.quantile(metrics_ex.tdigest, q float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'tdigest_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.quantiles(metrics_ex.tdigest, q float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'tdigest_quantiles' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.rank(metrics_ex.tdigest, value float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'tdigest_rank' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.summary(metrics_ex.tdigest) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'tdigest_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON TYPE metrics_ex.tdigest IS 't-digest of float8 values; build with tdigest(value [, compression]), merge with tdigest(tdigest)';

-- Equality: the same canonical binary form (the send function's bytes).
CREATE FUNCTION metrics_ex.tdigest_eq(metrics_ex.tdigest, metrics_ex.tdigest) RETURNS boolean
    AS $$ SELECT metrics_ex.tdigest_send($1) = metrics_ex.tdigest_send($2) $$
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.tdigest_ne(metrics_ex.tdigest, metrics_ex.tdigest) RETURNS boolean
    AS $$ SELECT metrics_ex.tdigest_send($1) <> metrics_ex.tdigest_send($2) $$
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR metrics_ex.= (
    LEFTARG = metrics_ex.tdigest, RIGHTARG = metrics_ex.tdigest,
    FUNCTION = metrics_ex.tdigest_eq, COMMUTATOR = OPERATOR(metrics_ex.=), NEGATOR = OPERATOR(metrics_ex.<>)
);
CREATE OPERATOR metrics_ex.<> (
    LEFTARG = metrics_ex.tdigest, RIGHTARG = metrics_ex.tdigest,
    FUNCTION = metrics_ex.tdigest_ne, COMMUTATOR = OPERATOR(metrics_ex.<>), NEGATOR = OPERATOR(metrics_ex.=)
);
