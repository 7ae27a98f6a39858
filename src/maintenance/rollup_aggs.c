/*
 * rollup_aggs.c
 *		The SQL aggregates over rollup rows (see rollups.sql and query.sql);
 *		the state they accumulate is in sketch/rollup_row.c.
 *
 *	_rollup_agg(ts, value, ctid, bounds)	a row from raw samples (the raw
 *		pieces of queries and scrapes)
 *	_rollup_merge(count, sum, ..., buckets)	a row from rows (coarser levels,
 *		late deltas)
 *	_stddev_merge(count, sum, m2)			the sample standard deviation of rows
 *	_m2_merge, _sketch_merge				two rows' m2 and sketch (upserts)
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

#include "sketch/rollup_row.h"

PG_FUNCTION_INFO_V1(metrics_ex_rollup_agg_add);
PG_FUNCTION_INFO_V1(metrics_ex_rollup_merge_add);
PG_FUNCTION_INFO_V1(metrics_ex_rollup_final);
PG_FUNCTION_INFO_V1(metrics_ex_m2_merge);
PG_FUNCTION_INFO_V1(metrics_ex_sketch_merge);
PG_FUNCTION_INFO_V1(metrics_ex_stddev_merge_add);
PG_FUNCTION_INFO_V1(metrics_ex_stddev_merge_final);

static RollupAcc *
acc_get(FunctionCallInfo fcinfo, MemoryContext *aggcxt)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		elog(ERROR, "metrics_ex: rollup aggregate called in a non-aggregate context");
	if (!PG_ARGISNULL(0))
		return (RollupAcc *) PG_GETARG_POINTER(0);
	return NULL;
}

/* _rollup_agg(ts, value, ctid, bounds float8[]) transition */
Datum
metrics_ex_rollup_agg_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RollupAcc  *a = acc_get(fcinfo, &aggcxt);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		float8	   *b = NULL;
		int			n = 0;

		if (!PG_ARGISNULL(4))
		{
			Datum	   *elems;
			bool	   *enulls;

			deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), FLOAT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &elems, &enulls, &n);
			b = MemoryContextAlloc(aggcxt, sizeof(float8) * Max(n, 1));
			for (int i = 0; i < n; i++)
			{
				if (enulls[i])
					elog(ERROR, "metrics_ex: bucket bounds must not contain NULL");
				b[i] = DatumGetFloat8(elems[i]);
			}
		}
		a = MemoryContextAlloc(aggcxt, sizeof(RollupAcc));
		rollup_acc_init(a, aggcxt, b, n);
	}
	rollup_acc_add(a, PG_GETARG_TIMESTAMPTZ(1), PG_GETARG_FLOAT8(2),
				   PG_ARGISNULL(3) ? NULL : (ItemPointer) PG_GETARG_POINTER(3));
	PG_RETURN_POINTER(a);
}

/* _rollup_merge(count, sum, min, max, last_ts, last_value, m2, sketch, buckets) transition */
Datum
metrics_ex_rollup_merge_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RollupAcc  *a = acc_get(fcinfo, &aggcxt);

	for (int i = 1; i <= 6; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_POINTER(a);
	if (PG_GETARG_INT64(1) <= 0)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		a = MemoryContextAlloc(aggcxt, sizeof(RollupAcc));
		rollup_acc_init(a, aggcxt, NULL, 0);
	}
	rollup_acc_merge(a, PG_GETARG_INT64(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3),
					 PG_GETARG_FLOAT8(4), PG_GETARG_TIMESTAMPTZ(5), PG_GETARG_FLOAT8(6),
					 PG_ARGISNULL(7) ? 0 : PG_GETARG_FLOAT8(7),
					 PG_ARGISNULL(8) ? (Datum) 0 : PG_GETARG_DATUM(8),
					 PG_ARGISNULL(9) ? (Datum) 0 : PG_GETARG_DATUM(9));
	PG_RETURN_POINTER(a);
}

/* The row of either aggregate. */
Datum
metrics_ex_rollup_final(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[ROLLUP_ROW_NATTS];
	bool		nulls[ROLLUP_ROW_NATTS];

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "metrics_ex: rollup aggregate called in a non-aggregate context");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "metrics_ex: _rollup_final must return a composite type");
	desc = BlessTupleDesc(desc);
	rollup_acc_finish((RollupAcc *) PG_GETARG_POINTER(0), values, nulls);
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
	PG_RETURN_FLOAT8(rollup_m2_combine(na, PG_GETARG_FLOAT8(1) / na, PG_GETARG_FLOAT8(2),
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
		a->m2 = rollup_m2_combine(a->n, a->mean, a->m2, n, mean, m2);
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
