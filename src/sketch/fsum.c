/*
 * fsum.c
 *		float8 arithmetic that carries the float8 range's edges instead of
 *		failing: the sum of two finite values near 1e308 is Infinity, and
 *		Infinity plus -Infinity is NaN.
 *
 *		PostgreSQL's own float8 +, *, /, sum(), avg() and stddev() raise
 *		"value out of range: overflow" (22003) whenever finite inputs give an
 *		infinite result.  Every sample the write path accepts is finite, yet
 *		two of them near 1e308 would then make every later rollup, scrape and
 *		query over them fail.  The reads and rollups use these instead.  For
 *		any result PostgreSQL does return, these return the same bits: the
 *		arithmetic is the same, in the same order; only the error is gone.
 *
 *		favg() and fstddev_*() keep PostgreSQL's transition state (float8[]
 *		of N, Sx, Sxx: the Youngs-Cramer update) and use its own final
 *		functions.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"

#include "sketch_util.h"

PG_FUNCTION_INFO_V1(metrics_ex_fadd);
PG_FUNCTION_INFO_V1(metrics_ex_fmul);
PG_FUNCTION_INFO_V1(metrics_ex_fdiv);
PG_FUNCTION_INFO_V1(metrics_ex_fvar_accum);
PG_FUNCTION_INFO_V1(metrics_ex_fvar_combine);

/* fadd(a, b): a + b; also the transition and combine function of fsum() */
Datum
metrics_ex_fadd(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(0) + PG_GETARG_FLOAT8(1));
}

Datum
metrics_ex_fmul(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(0) * PG_GETARG_FLOAT8(1));
}

/* Division by zero stays an error, as with "/": it is no overflow. */
Datum
metrics_ex_fdiv(PG_FUNCTION_ARGS)
{
	float8		b = PG_GETARG_FLOAT8(1);

	if (b == 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_DIVISION_BY_ZERO),
				 errmsg("fdiv(a, b): division by zero"),
				 errhint("Pass a divisor b other than zero.")));
	PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(0) / b);
}

/* The float8[3] state {N, Sx, Sxx}, checked as PostgreSQL's final functions do. */
static float8 *
fvar_values(ArrayType *a, const char *func)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != 3 || ARR_HASNULL(a) ||
		ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the state must be a float8 array {N, Sx, Sxx} of 3 elements", func),
				 errhint("Pass the state of favg(), fstddev_samp() or fstddev_pop().")));
	return (float8 *) SKETCH_ARR_DATA(a);
}

/*
 * Inside an aggregate the state is ours and is updated in place; called
 * directly from SQL the argument belongs to someone else: a new array.
 */
static Datum
fvar_result(FunctionCallInfo fcinfo, ArrayType *state, float8 *values,
			float8 n, float8 sx, float8 sxx)
{
	Datum		d[3];

	if (sketch_in_aggregate(fcinfo))
	{
		values[0] = n;
		values[1] = sx;
		values[2] = sxx;
		PG_RETURN_ARRAYTYPE_P(state);
	}
	d[0] = Float8GetDatumFast(n);
	d[1] = Float8GetDatumFast(sx);
	d[2] = Float8GetDatumFast(sxx);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, 3, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * fvar_accum(state, x): the Youngs-Cramer step of float8_accum.  Where that
 * raises an overflow, the IEEE result (Infinity, or NaN) is kept; infinite
 * inputs make Sxx NaN there and here.
 */
Datum
metrics_ex_fvar_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	float8		x = PG_GETARG_FLOAT8(1);
	float8	   *v = fvar_values(state, "fvar_accum");
	float8		n = v[0] + 1.0,
				sx = v[1] + x,
				sxx = v[2];

	if (v[0] > 0.0)
	{
		float8		tmp = x * n - sx;

		sxx += tmp * tmp / (n * v[0]);
		if ((isinf(sx) || isinf(sxx)) && (isinf(v[1]) || isinf(x)))
			sxx = get_float8_nan();
	}
	else if (isnan(x) || isinf(x))
		sxx = get_float8_nan();
	return fvar_result(fcinfo, state, v, n, sx, sxx);
}

/* fvar_combine(a, b): float8_combine's merge of two states, without the error */
Datum
metrics_ex_fvar_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *sa = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *sb = PG_GETARG_ARRAYTYPE_P(1);
	float8	   *a = fvar_values(sa, "fvar_combine");
	float8	   *b = fvar_values(sb, "fvar_combine");
	float8		n,
				sx,
				sxx;

	if (a[0] == 0.0)
	{
		n = b[0];
		sx = b[1];
		sxx = b[2];
	}
	else if (b[0] == 0.0)
	{
		n = a[0];
		sx = a[1];
		sxx = a[2];
	}
	else
	{
		float8		tmp = a[1] / a[0] - b[1] / b[0];

		n = a[0] + b[0];
		sx = a[1] + b[1];
		sxx = a[2] + b[2] + a[0] * b[0] * tmp * tmp / n;
	}
	return fvar_result(fcinfo, sa, a, n, sx, sxx);
}
