/*
 * rollup_build.c
 *		The aggregates that build and merge rollup rows (see rollups.sql).
 *
 * A rollup row holds the mergeable state of a series' samples in one bucket:
 * count, sum, min, max, the last value (latest ts; a tie goes to the sample
 * written later), the sum of squared deviations m2 (for stddev, merged with
 * Chan's formula), a 1% ddsketch (for percentiles; NULL when the row holds
 * one value, which is then its sum) and, for histograms, cumulative bucket
 * counts.
 *
 *	_rollup_agg(ts, value, ctid, bounds)	from raw samples: one call per
 *		sample, everything in one pass, the sketch built once at the end
 *	_rollup_merge(count, sum, ..., buckets)	from rollup rows (coarser levels,
 *		late deltas)
 *
 * Both return a metrics_ex._rollup_row.  Sums are exact (the correctly
 * rounded sum, the same bits in any order and however the rows were split);
 * beyond the float8 range they become +-Infinity or NaN instead of failing
 * the maintenance job (see fsum.c).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/timestamp.h"

#include "sketch/exact_sum.h"
#include "sketch/sketch_api.h"

PG_FUNCTION_INFO_V1(metrics_ex_rollup_agg_add);
PG_FUNCTION_INFO_V1(metrics_ex_rollup_merge_add);
PG_FUNCTION_INFO_V1(metrics_ex_rollup_final);
PG_FUNCTION_INFO_V1(metrics_ex_m2_merge);
PG_FUNCTION_INFO_V1(metrics_ex_sketch_merge);
PG_FUNCTION_INFO_V1(metrics_ex_stddev_merge_add);
PG_FUNCTION_INFO_V1(metrics_ex_stddev_merge_final);

#define ROLLUP_REL_ERR 0.01
#define ROLLUP_NATTS 9

typedef struct RollupAcc
{
	int64		count;
	double		sum;
	double		min;
	double		max;
	TimestampTz last_ts;
	double		last_value;
	ItemPointerData last_tid;	/* raw samples: of the last one */
	double		mean;			/* merged rows: Chan's running mean and m2 */
	double		m2;
	double	   *values;			/* raw samples: for the sketch and m2 */
	int			nvalues;
	int			capacity;
	DDSketch   *sketch;			/* merged rows */
	ExactSum   *xsum;			/* merged rows: the finite sums, exactly */
	double		nonfinite;		/* merged rows: the +-Infinity and NaN sums */
	int			nbuckets;		/* histograms: bounds + 1 (+Inf) */
	int64	   *buckets;		/* raw: per bucket; merged: cumulative */
	const float8 *bounds;		/* raw: the bucket upper bounds */
} RollupAcc;

static RollupAcc *
acc_get(FunctionCallInfo fcinfo, MemoryContext *aggcxt)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "metrics_ex: rollup aggregate called in a non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (RollupAcc *) PG_GETARG_POINTER(0);
	return NULL;
}

static RollupAcc *
acc_new(MemoryContext aggcxt)
{
	RollupAcc  *a = MemoryContextAllocZero(aggcxt, sizeof(RollupAcc));

	a->min = get_float8_infinity();
	a->max = -get_float8_infinity();
	a->last_ts = DT_NOBEGIN;
	return a;
}

/* The ts of the latest value so far; ties go to the later row. */
static inline bool
is_later(RollupAcc *a, TimestampTz ts, ItemPointer tid)
{
	if (ts != a->last_ts)
		return ts > a->last_ts;
	return tid == NULL || ItemPointerCompare(tid, &a->last_tid) >= 0;
}

/* _rollup_agg(ts, value, ctid, bounds float8[]) transition */
Datum
metrics_ex_rollup_agg_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RollupAcc  *a = acc_get(fcinfo, &aggcxt);
	TimestampTz ts;
	double		x;
	ItemPointer tid;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(a);
	ts = PG_GETARG_TIMESTAMPTZ(1);
	x = PG_GETARG_FLOAT8(2);
	if (a == NULL)
	{
		a = acc_new(aggcxt);
		if (!PG_ARGISNULL(4))
		{
			ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(4);
			Datum	   *elems;
			bool	   *enulls;
			int			n;
			float8	   *b;

			deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &elems, &enulls, &n);
			b = MemoryContextAlloc(aggcxt, sizeof(float8) * Max(n, 1));
			for (int i = 0; i < n; i++)
			{
				if (enulls[i])
					elog(ERROR, "metrics_ex: bucket bounds must not contain NULL");
				b[i] = DatumGetFloat8(elems[i]);
			}
			a->bounds = b;
			a->nbuckets = n + 1;
			a->buckets = MemoryContextAllocZero(aggcxt, sizeof(int64) * a->nbuckets);
		}
	}

	a->count++;
	a->sum += x;
	if (x < a->min)
		a->min = x;
	if (x > a->max)
		a->max = x;
	tid = PG_ARGISNULL(3) ? NULL : (ItemPointer) PG_GETARG_POINTER(3);
	if (is_later(a, ts, tid))
	{
		a->last_ts = ts;
		a->last_value = x;
		if (tid != NULL)
			a->last_tid = *tid;
	}
	if (a->nvalues == a->capacity)
	{
		a->capacity = a->capacity == 0 ? 16 : a->capacity * 2;
		a->values = a->values == NULL ?
			MemoryContextAlloc(aggcxt, sizeof(double) * a->capacity) :
			repalloc(a->values, sizeof(double) * a->capacity);
	}
	a->values[a->nvalues++] = x;
	if (a->buckets != NULL)
	{
		/* the first bucket whose upper bound holds the value (le) */
		int			lo = 0,
					hi = a->nbuckets - 1;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (x <= a->bounds[mid])
				hi = mid;
			else
				lo = mid + 1;
		}
		a->buckets[lo]++;
	}
	PG_RETURN_POINTER(a);
}

/*
 * Chan's merge of (n, mean, m2) pairs: the combined m2.  Every sample is
 * finite, so a NaN here only means an overflow (Infinity minus Infinity on
 * the way): it is Infinity, whatever order the rows were merged in.
 */
static inline double
m2_combine(double na, double mean_a, double m2a, double nb, double mean_b, double m2b)
{
	double		delta = mean_b - mean_a;
	double		m2 = m2a + m2b + delta * delta * na * nb / (na + nb);

	return isnan(m2) ? get_float8_infinity() : m2;
}

/* _rollup_merge(count, sum, min, max, last_ts, last_value, m2, sketch, buckets) transition */
Datum
metrics_ex_rollup_merge_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext old;
	RollupAcc  *a = acc_get(fcinfo, &aggcxt);
	int64		n;
	double		sum,
				mean,
				m2;
	TimestampTz lts;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT64(1) <= 0)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = acc_new(aggcxt);
	n = PG_GETARG_INT64(1);
	sum = PG_GETARG_FLOAT8(2);
	mean = sum / n;
	m2 = PG_ARGISNULL(7) ? 0 : PG_GETARG_FLOAT8(7);

	a->m2 = a->count == 0 ? m2 : m2_combine(a->count, a->mean, a->m2, n, mean, m2);
	a->mean = a->count == 0 ? mean : (a->mean * a->count + sum) / (a->count + n);
	a->count += n;
	if (isfinite(sum))
	{
		if (a->xsum == NULL)
			a->xsum = MemoryContextAllocZero(aggcxt, sizeof(ExactSum));
		xsum_add(a->xsum, sum);
	}
	else
		a->nonfinite += sum;
	if (!PG_ARGISNULL(3) && PG_GETARG_FLOAT8(3) < a->min)
		a->min = PG_GETARG_FLOAT8(3);
	if (!PG_ARGISNULL(4) && PG_GETARG_FLOAT8(4) > a->max)
		a->max = PG_GETARG_FLOAT8(4);
	lts = PG_ARGISNULL(5) ? DT_NOBEGIN : PG_GETARG_TIMESTAMPTZ(5);
	if (!PG_ARGISNULL(6) && is_later(a, lts, NULL))
	{
		a->last_ts = lts;
		a->last_value = PG_GETARG_FLOAT8(6);
	}

	old = MemoryContextSwitchTo(aggcxt);
	if (a->sketch == NULL)
		a->sketch = ddsketch_create(ROLLUP_REL_ERR);
	if (!PG_ARGISNULL(8))
		a->sketch = ddsketch_merge_datum(a->sketch, PG_GETARG_DATUM(8));
	else if (n == 1)
		a->sketch = ddsketch_add_value(a->sketch, sum);	/* one value: its sum */
	if (!PG_ARGISNULL(9))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(9);
		Datum	   *v;
		bool	   *vnulls;
		int			nb;

		deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &v, &vnulls, &nb);
		for (int i = 0; i < nb; i++)
			if (vnulls[i])
				elog(ERROR, "metrics_ex: bucket counts must not contain NULL");
		if (a->buckets == NULL)
		{
			a->nbuckets = nb;
			a->buckets = palloc0(sizeof(int64) * nb);
		}
		if (nb != a->nbuckets)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("metrics_ex: cannot merge rollups of %d and %d histogram buckets",
							a->nbuckets, nb)));
		for (int i = 0; i < nb; i++)
			a->buckets[i] += DatumGetInt64(v[i]);	/* cumulative counts add up */
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/* The row of either aggregate. */
Datum
metrics_ex_rollup_final(PG_FUNCTION_ARGS)
{
	RollupAcc  *a;
	TupleDesc	desc;
	Datum		values[ROLLUP_NATTS];
	bool		nulls[ROLLUP_NATTS];
	bool		one;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "metrics_ex: rollup aggregate called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	a = (RollupAcc *) PG_GETARG_POINTER(0);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "metrics_ex: _rollup_final must return a composite type");
	desc = BlessTupleDesc(desc);

	memset(nulls, false, sizeof(nulls));
	one = a->count == 1;
	if (a->values != NULL)
	{
		/* raw samples: the exact sum, then m2 in a second pass */
		values_sum_m2(a->values, a->nvalues, &a->sum, &a->m2);
	}
	else
		a->sum = (a->xsum ? xsum_to_double(a->xsum) : 0) + a->nonfinite;
	/* equal values deviate by nothing, even where their sum overflowed */
	if (a->min == a->max)
		a->m2 = 0;
	values[0] = Int64GetDatum(a->count);
	values[1] = Float8GetDatum(a->sum);
	values[2] = Float8GetDatum(a->min);
	values[3] = Float8GetDatum(a->max);
	values[4] = TimestampTzGetDatum(a->last_ts);
	values[5] = Float8GetDatum(a->last_value);
	values[6] = Float8GetDatum(a->m2);
	/* one value: its sketch follows from its sum */
	nulls[7] = one;
	if (!one && a->values != NULL)
	{
		values[7] = ddsketch_to_datum(ddsketch_build(ROLLUP_REL_ERR, a->values, a->nvalues));
	}
	else if (!one)
		values[7] = ddsketch_to_datum(a->sketch);
	nulls[8] = a->buckets == NULL;
	if (a->buckets != NULL)
	{
		Datum	   *cum = palloc(sizeof(Datum) * a->nbuckets);
		int64		running = 0;

		for (int i = 0; i < a->nbuckets; i++)
		{
			/* raw counts are per bucket, merged ones cumulative already */
			running = a->values != NULL ? running + a->buckets[i] : a->buckets[i];
			cum[i] = Int64GetDatum(running);
		}
		values[8] = PointerGetDatum(construct_array(cum, a->nbuckets, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* _m2_merge(na, suma, m2a, nb, sumb, m2b): the m2 of two rows together */
Datum
metrics_ex_m2_merge(PG_FUNCTION_ARGS)
{
	double		na = PG_GETARG_INT64(0),
				nb = PG_GETARG_INT64(3);

	if (na <= 0)
		PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(5));
	if (nb <= 0)
		PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(2));
	PG_RETURN_FLOAT8(m2_combine(na, PG_GETARG_FLOAT8(1) / na, PG_GETARG_FLOAT8(2),
								nb, PG_GETARG_FLOAT8(4) / nb, PG_GETARG_FLOAT8(5)));
}

/*
 * _sketch_merge(counta, suma, sketcha, countb, sumb, sketchb): the sketch of
 * two rows together (a row of one value has none: it is its sum).
 */
Datum
metrics_ex_sketch_merge(PG_FUNCTION_ARGS)
{
	DDSketch   *s = ddsketch_create(ROLLUP_REL_ERR);

	for (int r = 0; r < 2; r++)
	{
		int			c = r * 3;

		if (PG_ARGISNULL(c) || PG_GETARG_INT64(c) <= 0)
			continue;
		if (!PG_ARGISNULL(c + 2))
			s = ddsketch_merge_datum(s, PG_GETARG_DATUM(c + 2));
		else if (PG_GETARG_INT64(c) == 1 && !PG_ARGISNULL(c + 1))
			s = ddsketch_add_value(s, PG_GETARG_FLOAT8(c + 1));
	}
	PG_RETURN_DATUM(ddsketch_to_datum(s));
}

/* _stddev_merge(count, sum, m2): the sample standard deviation of rows */
typedef struct StddevAcc
{
	double		n;
	double		mean;
	double		m2;
} StddevAcc;

Datum
metrics_ex_stddev_merge_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	StddevAcc  *a;
	double		n,
				mean,
				m2;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "metrics_ex: _stddev_merge called in a non-aggregate context");
	a = PG_ARGISNULL(0) ? NULL : (StddevAcc *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_GETARG_INT64(1) <= 0)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = MemoryContextAllocZero(aggcxt, sizeof(StddevAcc));
	n = PG_GETARG_INT64(1);
	mean = PG_GETARG_FLOAT8(2) / n;
	m2 = PG_ARGISNULL(3) ? 0 : PG_GETARG_FLOAT8(3);
	if (a->n == 0)
	{
		a->n = n;
		a->mean = mean;
		a->m2 = m2;
	}
	else
	{
		a->m2 = m2_combine(a->n, a->mean, a->m2, n, mean, m2);
		a->mean = (a->mean * a->n + mean * n) / (a->n + n);
		a->n += n;
	}
	PG_RETURN_POINTER(a);
}

Datum
metrics_ex_stddev_merge_final(PG_FUNCTION_ARGS)
{
	StddevAcc  *a = PG_ARGISNULL(0) ? NULL : (StddevAcc *) PG_GETARG_POINTER(0);

	if (a == NULL || a->n < 2)
		PG_RETURN_NULL();
	/* as stddev_samp; a negative rounding residue is no variance */
	PG_RETURN_FLOAT8(sqrt(Max(a->m2, 0) / (a->n - 1)));
}
