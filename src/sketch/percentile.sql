-- percentile(value, q): exact, the same answer as percentile_cont, but a
-- plain aggregate that runs in parallel.  Its state holds every value.

CREATE TYPE metrics_ex.percentile_state;

CREATE FUNCTION metrics_ex.percentile_state_in(cstring) RETURNS metrics_ex.percentile_state
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.percentile_state_out(metrics_ex.percentile_state) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.percentile_state_recv(internal) RETURNS metrics_ex.percentile_state
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.percentile_state_send(metrics_ex.percentile_state) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE metrics_ex.percentile_state (
    INPUT = metrics_ex.percentile_state_in,
    OUTPUT = metrics_ex.percentile_state_out,
    RECEIVE = metrics_ex.percentile_state_recv,
    SEND = metrics_ex.percentile_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE metrics_ex.percentile_state IS 'transition state of percentile(value, q): q and the values';

CREATE FUNCTION metrics_ex.percentile_add(metrics_ex.percentile_state, float8, float8)
    RETURNS metrics_ex.percentile_state
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.percentile_combine(metrics_ex.percentile_state, metrics_ex.percentile_state)
    RETURNS metrics_ex.percentile_state
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION metrics_ex.percentile_final(metrics_ex.percentile_state) RETURNS float8
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.percentile(value float8, q float8) (
    SFUNC = metrics_ex.percentile_add,
    STYPE = metrics_ex.percentile_state,
    FINALFUNC = metrics_ex.percentile_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = metrics_ex.percentile_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_ex.percentile(float8, float8) IS 'exact percentile, as percentile_cont(q) WITHIN GROUP (ORDER BY value), in parallel';
