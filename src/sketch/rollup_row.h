/*
 * rollup_row.h
 *		The mergeable state of one rollup row (a series' samples in one
 *		bucket), as the write path's late deltas, the rollup build and the
 *		rollup aggregates accumulate it.  See rollup_row.c.
 */
#ifndef METRICS_EX_ROLLUP_ROW_H
#define METRICS_EX_ROLLUP_ROW_H

#include "datatype/timestamp.h"
#include "storage/itemptr.h"

#include "sketch/exact_sum.h"
#include "sketch/sketch_api.h"

/* the fields of metrics_ex._rollup_row, in order */
#define ROLLUP_ROW_NATTS 9

/* the relative accuracy of every rollup sketch */
#define ROLLUP_REL_ERR 0.01

typedef struct RollupAcc
{
	/* what every raw sample touches: the first 64 bytes */
	int64		count;
	double		min;
	double		max;
	TimestampTz last_ts;
	double		last_value;
	double	   *values;			/* raw samples: kept for the exact sum, m2 and
								 * the sketch at the end */
	int			nvalues;
	int			capacity;
	ItemPointerData last_tid;	/* raw samples: of the last one, if known */
	bool		has_tid;

	MemoryContext cxt;			/* where the state grows */
	/* histograms: per bucket (raw) or cumulative (merged); +Inf last */
	int			nbuckets;
	int64	   *buckets;
	const float8 *bounds;		/* raw: the upper bounds (nbuckets - 1) */
	/* merged rows */
	double		mean;			/* Chan's running mean and m2 */
	double		m2;
	ExactSum   *xsum;			/* the finite sums, exactly */
	double		nonfinite;		/* the +-Infinity and NaN sums */
	DDSketch   *sketch;
} RollupAcc;

/* A new state in cxt; bounds (raw histogram samples) or NULL, kept by reference. */
extern void rollup_acc_init(RollupAcc *a, MemoryContext cxt,
							const float8 *bounds, int nbounds);

/* One raw sample; tid NULL means "written after the ones before". */
extern void rollup_acc_add(RollupAcc *a, TimestampTz ts, double value, ItemPointer tid);

/* One rollup row (sketch and buckets may be (Datum) 0: NULL). */
extern void rollup_acc_merge(RollupAcc *a, int64 count, double sum, double min, double max,
							 TimestampTz last_ts, double last_value, double m2,
							 Datum sketch, Datum buckets);

/* The row's fields (count .. buckets); the state is used up. */
extern void rollup_acc_finish(RollupAcc *a, Datum *values, bool *nulls);

/* Chan's combined m2 of two (n, mean, m2) parts; never NaN. */
extern double rollup_m2_combine(double na, double mean_a, double m2a,
								double nb, double mean_b, double m2b);

#endif							/* METRICS_EX_ROLLUP_ROW_H */
