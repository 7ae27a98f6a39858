/*
 * rollup_row.c
 *		The mergeable state of a rollup row: count, sum, min, max, the last
 *		value (latest ts; a tie goes to the sample written later), the sum
 *		of squared deviations m2 (for stddev, merged with Chan's formula), a
 *		1% ddsketch (for percentiles; NULL when the row holds one value,
 *		which is then its sum) and, for histograms, cumulative bucket counts.
 *
 * A state takes either raw samples (rollup_acc_add: the values are kept, and
 * the exact sum, m2 and the sketch are made once at the end, which is both
 * faster and more accurate than updating them value by value) or rows
 * (rollup_acc_merge: coarser levels, late deltas).  Sums are exact: the
 * correctly rounded sum, the same bits in any order and however the rows
 * were split; beyond the float8 range they are +-Infinity or NaN, never an
 * error (see fsum.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "sketch/rollup_row.h"

void
rollup_acc_init(RollupAcc *a, MemoryContext cxt, const float8 *bounds, int nbounds)
{
	memset(a, 0, sizeof(*a));
	a->cxt = cxt;
	a->min = get_float8_infinity();
	a->max = -get_float8_infinity();
	a->last_ts = DT_NOBEGIN;
	if (bounds != NULL)
	{
		a->bounds = bounds;
		a->nbuckets = nbounds + 1;
		a->buckets = MemoryContextAllocZero(cxt, sizeof(int64) * a->nbuckets);
	}
}

/* Is (ts, tid) later than the last value so far?  Ties go to the later row. */
static inline bool
is_later(RollupAcc *a, TimestampTz ts, ItemPointer tid)
{
	if (ts != a->last_ts)
		return ts > a->last_ts;
	return tid == NULL || !a->has_tid || ItemPointerCompare(tid, &a->last_tid) >= 0;
}

void
rollup_acc_add(RollupAcc *a, TimestampTz ts, double x, ItemPointer tid)
{
	a->count++;
	if (x < a->min)
		a->min = x;
	if (x > a->max)
		a->max = x;
	if (is_later(a, ts, tid))
	{
		a->last_ts = ts;
		a->last_value = x;
		a->has_tid = tid != NULL;
		if (tid != NULL)
			a->last_tid = *tid;
	}
	if (a->nvalues == a->capacity)
	{
		a->capacity = a->capacity == 0 ? 8 : a->capacity * 2;
		a->values = a->values == NULL ?
			MemoryContextAlloc(a->cxt, sizeof(double) * a->capacity) :
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
}

/*
 * Every sample is finite, so a NaN here only means an overflow (Infinity
 * minus Infinity on the way): it is Infinity, whatever order the rows were
 * merged in.
 */
double
rollup_m2_combine(double na, double mean_a, double m2a, double nb, double mean_b, double m2b)
{
	double		delta = mean_b - mean_a;
	double		m2 = m2a + m2b + delta * delta * na * nb / (na + nb);

	return isnan(m2) ? get_float8_infinity() : m2;
}

void
rollup_acc_merge(RollupAcc *a, int64 n, double sum, double min, double max,
				 TimestampTz last_ts, double last_value, double m2,
				 Datum sketch, Datum buckets)
{
	MemoryContext old;
	double		mean = sum / n;

	if (n <= 0)
		return;
	a->m2 = a->count == 0 ? m2 : rollup_m2_combine(a->count, a->mean, a->m2, n, mean, m2);
	a->mean = a->count == 0 ? mean : (a->mean * a->count + sum) / (a->count + n);
	a->count += n;
	if (isfinite(sum))
	{
		if (a->xsum == NULL)
			a->xsum = MemoryContextAllocZero(a->cxt, sizeof(ExactSum));
		xsum_add(a->xsum, sum);
	}
	else
		a->nonfinite += sum;
	if (min < a->min)
		a->min = min;
	if (max > a->max)
		a->max = max;
	if (is_later(a, last_ts, NULL))
	{
		a->last_ts = last_ts;
		a->last_value = last_value;
		a->has_tid = false;
	}

	old = MemoryContextSwitchTo(a->cxt);
	/* a row of one value stores no sketch: it is its sum */
	if (sketch != (Datum) 0 || n == 1)
	{
		if (a->sketch == NULL)
			a->sketch = ddsketch_create(ROLLUP_REL_ERR);
		a->sketch = sketch != (Datum) 0 ? ddsketch_merge_datum(a->sketch, sketch) :
			ddsketch_add_value(a->sketch, sum);
	}
	if (buckets != (Datum) 0)
	{
		ArrayType  *arr = DatumGetArrayTypeP(buckets);
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
}

void
rollup_acc_finish(RollupAcc *a, Datum *values, bool *nulls)
{
	bool		raw = a->values != NULL;
	double		sum;

	memset(nulls, false, sizeof(bool) * ROLLUP_ROW_NATTS);
	if (raw)
		values_sum_m2(a->values, a->nvalues, &sum, &a->m2);
	else
		sum = (a->xsum ? xsum_to_double(a->xsum) : 0) + a->nonfinite;
	/* equal values deviate by nothing, even where their sum overflowed */
	if (a->min == a->max)
		a->m2 = 0;
	values[0] = Int64GetDatum(a->count);
	values[1] = Float8GetDatum(sum);
	values[2] = Float8GetDatum(a->min);
	values[3] = Float8GetDatum(a->max);
	values[4] = TimestampTzGetDatum(a->last_ts);
	values[5] = Float8GetDatum(a->last_value);
	values[6] = Float8GetDatum(a->m2);
	/* one value: its sketch follows from its sum */
	if (a->count == 1)
		nulls[7] = true;
	else if (raw)
		values[7] = ddsketch_to_datum(ddsketch_build(ROLLUP_REL_ERR, a->values, a->nvalues));
	else if (a->sketch != NULL)
		values[7] = ddsketch_to_datum(a->sketch);
	else
		nulls[7] = true;
	nulls[8] = a->buckets == NULL;
	if (a->buckets != NULL)
	{
		Datum	   *cum = palloc(sizeof(Datum) * a->nbuckets);
		int64		running = 0;

		for (int i = 0; i < a->nbuckets; i++)
		{
			/* raw counts are per bucket, merged ones cumulative already */
			running = raw ? running + a->buckets[i] : a->buckets[i];
			cum[i] = Int64GetDatum(running);
		}
		values[8] = PointerGetDatum(construct_array(cum, a->nbuckets, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
}
