-- float8 arithmetic that overflows to +-Infinity (and NaN for Infinity
-- minus Infinity) instead of raising 22003, for everything that adds up
-- stored values: two samples near 1e308 must not make later reads, scrapes
-- or rollups fail.  For results PostgreSQL's operators and aggregates do
-- return, these give the same bits.  Readers call them (query() and the
-- others run as their caller), so they are executable by PUBLIC.

CREATE FUNCTION metrics_ex.fadd(float8, float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'metrics_ex_fadd' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.fmul(float8, float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'metrics_ex_fmul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.fdiv(float8, float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'metrics_ex_fdiv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_ex.fadd(float8, float8) IS 'a + b, overflowing to +-Infinity instead of an error';
COMMENT ON FUNCTION metrics_ex.fmul(float8, float8) IS 'a * b, overflowing to +-Infinity instead of an error';
COMMENT ON FUNCTION metrics_ex.fdiv(float8, float8) IS 'a / b, overflowing to +-Infinity instead of an error (b = 0 is still an error)';

-- sum(float8) without the overflow error: the same strict transition, so
-- no rows (or only NULLs) give NULL.
CREATE AGGREGATE metrics_ex.fsum(float8) (
    SFUNC = metrics_ex.fadd,
    STYPE = float8,
    COMBINEFUNC = metrics_ex.fadd,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_ex.fsum(float8) IS 'sum(float8) that overflows to +-Infinity instead of an error';

-- avg, stddev_samp and stddev_pop of float8: PostgreSQL's state {N, Sx, Sxx}
-- and final functions, with a transition and combine that do not raise.
CREATE FUNCTION metrics_ex.fvar_accum(float8[], float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'metrics_ex_fvar_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_ex.fvar_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'metrics_ex_fvar_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE metrics_ex.favg(float8) (
    SFUNC = metrics_ex.fvar_accum,
    STYPE = float8[],
    FINALFUNC = pg_catalog.float8_avg,
    COMBINEFUNC = metrics_ex.fvar_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.fstddev_samp(float8) (
    SFUNC = metrics_ex.fvar_accum,
    STYPE = float8[],
    FINALFUNC = pg_catalog.float8_stddev_samp,
    COMBINEFUNC = metrics_ex.fvar_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
CREATE AGGREGATE metrics_ex.fstddev_pop(float8) (
    SFUNC = metrics_ex.fvar_accum,
    STYPE = float8[],
    FINALFUNC = pg_catalog.float8_stddev_pop,
    COMBINEFUNC = metrics_ex.fvar_combine,
    INITCOND = '{0,0,0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_ex.favg(float8) IS 'avg(float8) that overflows to +-Infinity (or NaN) instead of an error';
COMMENT ON AGGREGATE metrics_ex.fstddev_samp(float8) IS 'stddev_samp(float8) that overflows to Infinity (or NaN) instead of an error';
COMMENT ON AGGREGATE metrics_ex.fstddev_pop(float8) IS 'stddev_pop(float8) that overflows to Infinity (or NaN) instead of an error';
