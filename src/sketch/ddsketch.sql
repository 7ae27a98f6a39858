-- ddsketch: relative-error quantile sketch (rel_err default 0.01) with exact,
-- order-independent merges.

CREATE TYPE metrics_ex.ddsketch;

CREATE FUNCTION metrics_ex.ddsketch_in(cstring) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_out(metrics_ex.ddsketch) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_recv(internal) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_send(metrics_ex.ddsketch) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE metrics_ex.ddsketch (
    INPUT = metrics_ex.ddsketch_in,
    OUTPUT = metrics_ex.ddsketch_out,
    RECEIVE = metrics_ex.ddsketch_recv,
    SEND = metrics_ex.ddsketch_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

-- Not STRICT: they create the state on the first non-NULL value, so an
-- aggregate over no rows (or only NULLs) is NULL.
CREATE FUNCTION metrics_ex.ddsketch_add(metrics_ex.ddsketch, float8) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_add(metrics_ex.ddsketch, float8, float8) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_combine(metrics_ex.ddsketch, metrics_ex.ddsketch) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- Flushes working buffers and trims spare room: the form that is stored.
CREATE FUNCTION metrics_ex.ddsketch_final(metrics_ex.ddsketch) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.ddsketch(float8) (
    SFUNC = metrics_ex.ddsketch_add,
    STYPE = metrics_ex.ddsketch,
    FINALFUNC = metrics_ex.ddsketch_final,
    COMBINEFUNC = metrics_ex.ddsketch_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.ddsketch(float8, float8) (
    SFUNC = metrics_ex.ddsketch_add,
    STYPE = metrics_ex.ddsketch,
    FINALFUNC = metrics_ex.ddsketch_final,
    COMBINEFUNC = metrics_ex.ddsketch_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.ddsketch(metrics_ex.ddsketch) (
    SFUNC = metrics_ex.ddsketch_combine,
    STYPE = metrics_ex.ddsketch,
    FINALFUNC = metrics_ex.ddsketch_final,
    COMBINEFUNC = metrics_ex.ddsketch_combine,
    PARALLEL = SAFE
);

CREATE FUNCTION metrics_ex.quantile(metrics_ex.ddsketch, q float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'ddsketch_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.quantiles(metrics_ex.ddsketch, q float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ddsketch_quantiles' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.rank(metrics_ex.ddsketch, value float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'ddsketch_rank' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.summary(metrics_ex.ddsketch) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ddsketch_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON TYPE metrics_ex.ddsketch IS 'relative-error quantile sketch of float8 values; build with ddsketch(value [, rel_err]), merge with ddsketch(ddsketch)';

-- approx_percentile(value, q): a ddsketch at 1% that remembers q.
CREATE FUNCTION metrics_ex.ddsketch_add_q(metrics_ex.ddsketch, float8, float8) RETURNS metrics_ex.ddsketch
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_approx_final(metrics_ex.ddsketch) RETURNS float8
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE metrics_ex.approx_percentile(value float8, q float8) (
    SFUNC = metrics_ex.ddsketch_add_q,
    STYPE = metrics_ex.ddsketch,
    FINALFUNC = metrics_ex.ddsketch_approx_final,
    COMBINEFUNC = metrics_ex.ddsketch_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_ex.approx_percentile(float8, float8) IS 'percentile within 1% relative error, from a ddsketch';

-- Equality: the same canonical binary form (the send function's bytes).
CREATE FUNCTION metrics_ex.ddsketch_eq(metrics_ex.ddsketch, metrics_ex.ddsketch) RETURNS boolean
    AS $$ SELECT metrics_ex.ddsketch_send($1) = metrics_ex.ddsketch_send($2) $$
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.ddsketch_ne(metrics_ex.ddsketch, metrics_ex.ddsketch) RETURNS boolean
    AS $$ SELECT metrics_ex.ddsketch_send($1) <> metrics_ex.ddsketch_send($2) $$
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR metrics_ex.= (
    LEFTARG = metrics_ex.ddsketch, RIGHTARG = metrics_ex.ddsketch,
    FUNCTION = metrics_ex.ddsketch_eq, COMMUTATOR = OPERATOR(metrics_ex.=), NEGATOR = OPERATOR(metrics_ex.<>)
);
CREATE OPERATOR metrics_ex.<> (
    LEFTARG = metrics_ex.ddsketch, RIGHTARG = metrics_ex.ddsketch,
    FUNCTION = metrics_ex.ddsketch_ne, COMMUTATOR = OPERATOR(metrics_ex.<>), NEGATOR = OPERATOR(metrics_ex.=)
);
