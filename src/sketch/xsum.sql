-- xsum(float8) and xavg(float8): sums and means added exactly (xsum.c), so
-- that they are the same bits in any order and however the rows are split
-- (parallel workers, Citus shards); the read functions use them.  The state
-- is a real type, so PostgreSQL and Citus split them into partial
-- aggregates.  Readers call them, so they are executable by PUBLIC.

CREATE TYPE metrics_ex.xsum_state;

CREATE FUNCTION metrics_ex.xsum_state_in(cstring) RETURNS metrics_ex.xsum_state
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.xsum_state_out(metrics_ex.xsum_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.xsum_state_recv(internal) RETURNS metrics_ex.xsum_state
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.xsum_state_send(metrics_ex.xsum_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE metrics_ex.xsum_state (
    INPUT = metrics_ex.xsum_state_in,
    OUTPUT = metrics_ex.xsum_state_out,
    RECEIVE = metrics_ex.xsum_state_recv,
    SEND = metrics_ex.xsum_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE metrics_ex.xsum_state IS 'count and exact sum of float8 values; the state of xsum() and xavg()';

-- Not STRICT: the first non-NULL value makes the state, so no rows (or only
-- NULLs) give NULL, as sum() and avg() do.
CREATE FUNCTION metrics_ex.xsum_add(metrics_ex.xsum_state, float8) RETURNS metrics_ex.xsum_state
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_add' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.xsum_combine(metrics_ex.xsum_state, metrics_ex.xsum_state) RETURNS metrics_ex.xsum_state
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.xsum_final(metrics_ex.xsum_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'metrics_ex_xsum_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.xavg_final(metrics_ex.xsum_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'metrics_ex_xavg_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.xsum(float8) (
    SFUNC = metrics_ex.xsum_add,
    STYPE = metrics_ex.xsum_state,
    FINALFUNC = metrics_ex.xsum_final,
    COMBINEFUNC = metrics_ex.xsum_combine,
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.xavg(float8) (
    SFUNC = metrics_ex.xsum_add,
    STYPE = metrics_ex.xsum_state,
    FINALFUNC = metrics_ex.xavg_final,
    COMBINEFUNC = metrics_ex.xsum_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_ex.xsum(float8) IS
    'The exact sum of float8 values rounded once: the same in any order; +-Infinity beyond the range';
COMMENT ON AGGREGATE metrics_ex.xavg(float8) IS
    'The mean of float8 values from their exact sum: the same in any order';
