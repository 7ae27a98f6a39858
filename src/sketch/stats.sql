-- stats: count, sum, min, max, mean, variance; a mergeable state type.

CREATE TYPE metrics_ex.stats;

CREATE FUNCTION metrics_ex.stats_in(cstring) RETURNS metrics_ex.stats
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.stats_out(metrics_ex.stats) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.stats_recv(internal) RETURNS metrics_ex.stats
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.stats_send(metrics_ex.stats) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE metrics_ex.stats (
    INPUT = metrics_ex.stats_in,
    OUTPUT = metrics_ex.stats_out,
    RECEIVE = metrics_ex.stats_recv,
    SEND = metrics_ex.stats_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE metrics_ex.stats IS 'count, sum, min, max, mean and variance of float8 values; merge with stats_agg(stats)';

-- Transition functions are not STRICT: they create the state on the first
-- non-NULL value, so an aggregate over no rows (or only NULLs) is NULL.
CREATE FUNCTION metrics_ex.stats_add(metrics_ex.stats, float8) RETURNS metrics_ex.stats
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.stats_combine(metrics_ex.stats, metrics_ex.stats) RETURNS metrics_ex.stats
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.stats_agg(float8) (
    SFUNC = metrics_ex.stats_add,
    STYPE = metrics_ex.stats,
    COMBINEFUNC = metrics_ex.stats_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.stats_agg(metrics_ex.stats) (
    SFUNC = metrics_ex.stats_combine,
    STYPE = metrics_ex.stats,
    COMBINEFUNC = metrics_ex.stats_combine,
    PARALLEL = SAFE
);

CREATE FUNCTION metrics_ex.mean(metrics_ex.stats) RETURNS float8
    AS 'MODULE_PATHNAME', 'stats_mean' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.variance(metrics_ex.stats) RETURNS float8
    AS 'MODULE_PATHNAME', 'stats_variance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.stddev(metrics_ex.stats) RETURNS float8
    AS 'MODULE_PATHNAME', 'stats_stddev' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.summary(metrics_ex.stats) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'stats_summary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_ex.variance(metrics_ex.stats) IS 'sample variance, as variance(); NULL below two values';

-- Equality: the same canonical binary form (the send function's bytes).
CREATE FUNCTION metrics_ex.stats_eq(metrics_ex.stats, metrics_ex.stats) RETURNS boolean
    AS $$ SELECT metrics_ex.stats_send($1) = metrics_ex.stats_send($2) $$
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.stats_ne(metrics_ex.stats, metrics_ex.stats) RETURNS boolean
    AS $$ SELECT metrics_ex.stats_send($1) <> metrics_ex.stats_send($2) $$
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR metrics_ex.= (
    LEFTARG = metrics_ex.stats, RIGHTARG = metrics_ex.stats,
    FUNCTION = metrics_ex.stats_eq, COMMUTATOR = OPERATOR(metrics_ex.=), NEGATOR = OPERATOR(metrics_ex.<>)
);
CREATE OPERATOR metrics_ex.<> (
    LEFTARG = metrics_ex.stats, RIGHTARG = metrics_ex.stats,
    FUNCTION = metrics_ex.stats_ne, COMMUTATOR = OPERATOR(metrics_ex.<>), NEGATOR = OPERATOR(metrics_ex.=)
);
