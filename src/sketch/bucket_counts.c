/*
 * bucket_counts.c
 *		bucket_counts(value, bounds): histogram counts with Prometheus "le"
 *		semantics.  The result has one element per bound plus the +Inf
 *		bucket, each counting the values <= its bound (cumulative).
 *
 *		The state is a plain bigint[] of per-bucket (not cumulative) counts,
 *		so merging is element-wise addition; the final function makes the
 *		counts cumulative.  bucket_counts(bigint[]) adds up such results
 *		(cumulative arrays add element-wise too), e.g. to roll them up.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "sketch_util.h"

#define BC_MAX_BOUNDS 10000

#define BC_DATA(a) ((int64 *) SKETCH_ARR_DATA(a))

PG_FUNCTION_INFO_V1(bucket_counts_add);
PG_FUNCTION_INFO_V1(bucket_counts_combine);
PG_FUNCTION_INFO_V1(bucket_counts_final);

/* The last validated bounds of this call site, to skip re-checking per row. */
typedef struct BoundsCache
{
	Size		rawlen;
	char	   *raw;			/* the array datum's bytes */
	int			n;
	double	   *bounds;
} BoundsCache;

static BoundsCache *
bc_bounds(FunctionCallInfo fcinfo, ArrayType *arr)
{
	BoundsCache *cache = (BoundsCache *) fcinfo->flinfo->fn_extra;
	Size		len = VARSIZE(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	MemoryContext old;

	if (cache != NULL && cache->rawlen == len && memcmp(cache->raw, arr, len) == 0)
		return cache;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("bucket_counts(value, bounds): bounds must be a one-dimensional array"),
				 errhint("Pass upper bounds in increasing order, e.g. ARRAY[0.1, 0.5, 1, 5].")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n < 1 || n > BC_MAX_BOUNDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket_counts(value, bounds): bounds must have between 1 and %d elements, got %d",
						BC_MAX_BOUNDS, n),
				 errhint("Pass upper bounds in increasing order, e.g. ARRAY[0.1, 0.5, 1, 5]; the +Inf bucket is added for you.")));
	for (i = 0; i < n; i++)
	{
		double		b = DatumGetFloat8(elems[i]);

		if (nulls[i] || isnan(b) || isinf(b) ||
			(i > 0 && !(b > DatumGetFloat8(elems[i - 1]))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("bucket_counts(value, bounds): bounds must be finite, not NULL and strictly increasing"),
					 errdetail("Element %d is out of order or not a finite number.", i + 1),
					 errhint("Pass upper bounds in increasing order, e.g. ARRAY[0.1, 0.5, 1, 5]; the +Inf bucket is added for you.")));
	}

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cache == NULL)
		cache = palloc0(sizeof(BoundsCache));
	else
	{
		pfree(cache->raw);
		pfree(cache->bounds);
	}
	cache->rawlen = len;
	cache->raw = palloc(len);
	memcpy(cache->raw, arr, len);
	cache->n = n;
	cache->bounds = palloc(n * sizeof(double));
	for (i = 0; i < n; i++)
		cache->bounds[i] = DatumGetFloat8(elems[i]);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

static ArrayType *
bc_zeros(int n)
{
	ArrayType  *a;
	int			dims = n,
				lbs = 1;
	Size		size = ARR_OVERHEAD_NONULLS(1) + n * sizeof(int64);

	a = palloc0(size);
	SET_VARSIZE(a, size);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = INT8OID;
	*ARR_DIMS(a) = dims;
	*ARR_LBOUND(a) = lbs;
	return a;
}

static ArrayType *
bc_copy(ArrayType *a)
{
	ArrayType  *c = palloc(VARSIZE(a));

	memcpy(c, a, VARSIZE(a));
	return c;
}

/* A bigint[] we can read as int64 * n: one dimension, no NULLs. */
static int
bc_check_counts(ArrayType *a, const char *func)
{
	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: counts must be a one-dimensional bigint array without NULLs", func),
				 errhint("Pass arrays returned by bucket_counts(value, bounds).")));
	return ARR_DIMS(a)[0];
}

/* bucket_counts_add(state bigint[], value, bounds) */
Datum
bucket_counts_add(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	BoundsCache *b;
	double		x;
	int			lo,
				hi;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bucket_counts(value, bounds): bounds must not be NULL"),
				 errhint("Pass upper bounds in increasing order, e.g. ARRAY[0.1, 0.5, 1, 5].")));
	b = bc_bounds(fcinfo, PG_GETARG_ARRAYTYPE_P(2));
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_FLOAT8(1);
	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket_counts(value, bounds): value must not be NaN"),
				 errhint("Filter the input, e.g. WHERE value <> 'NaN'.")));

	if (PG_ARGISNULL(0))
		state = bc_zeros(b->n + 1);
	else
	{
		state = PG_GETARG_ARRAYTYPE_P(0);
		if (!sketch_in_aggregate(fcinfo))
			state = bc_copy(state);
		if (bc_check_counts(state, "bucket_counts(value, bounds)") != b->n + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("bucket_counts(value, bounds): bounds must be the same for every row of a group"),
					 errhint("Group by the bounds, or pass one constant array.")));
	}

	/* first bucket whose bound is >= x (le semantics); n = the +Inf bucket */
	lo = 0;
	hi = b->n;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (x <= b->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	BC_DATA(state)[lo]++;
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Element-wise sum: combine function, and transition of bucket_counts(bigint[]). */
Datum
bucket_counts_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a,
			   *b;
	int			n,
				i;
	int64	   *av,
			   *bv;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = PG_GETARG_ARRAYTYPE_P(1);
	n = bc_check_counts(b, "bucket_counts(counts)");
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(bc_copy(b));
	a = PG_GETARG_ARRAYTYPE_P(0);
	if (!sketch_in_aggregate(fcinfo))
		a = bc_copy(a);
	if (bc_check_counts(a, "bucket_counts(counts)") != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bucket_counts(counts): cannot add arrays of %d and %d buckets",
						ARR_DIMS(a)[0], n),
				 errhint("Merge only counts computed with the same bounds.")));
	av = BC_DATA(a);
	bv = BC_DATA(b);
	for (i = 0; i < n; i++)
		av[i] += bv[i];
	PG_RETURN_ARRAYTYPE_P(a);
}

Datum
bucket_counts_final(PG_FUNCTION_ARGS)
{
	ArrayType  *c;
	int64	   *v;
	int			n,
				i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	c = bc_copy(PG_GETARG_ARRAYTYPE_P(0));
	n = bc_check_counts(c, "bucket_counts(value, bounds)");
	v = BC_DATA(c);
	for (i = 1; i < n; i++)
		v[i] += v[i - 1];
	PG_RETURN_ARRAYTYPE_P(c);
}
