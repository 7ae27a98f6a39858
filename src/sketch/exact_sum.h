/*
 * exact_sum.h
 *		An exact, order-independent sum of float8 values: a fixed-point
 *		accumulator wide enough for every double (bits 2^-1074 .. 2^1100),
 *		so that ddsketch states are bit-identical however the data is split.
 */
#ifndef EXACT_SUM_H
#define EXACT_SUM_H

#include "lib/stringinfo.h"

#include "sketch_util.h"

#define XSUM_LIMBS 68			/* 32-bit digits, each kept in an int64 */

typedef struct ExactSum
{
	int64		limb[XSUM_LIMBS];	/* value = sum limb[i] * 2^(32 i - 1074) */
	int32		pending;		/* additions since the last normalization */
	int32		pad;
} ExactSum;

extern void xsum_add(ExactSum *s, double v);
extern void xsum_add_sum(ExactSum *s, const ExactSum *other);
extern void xsum_normalize(ExactSum *s);
extern double xsum_to_double(const ExactSum *s);
extern int	xsum_to_doubles(const ExactSum *s, double *out);
extern void xsum_out(StringInfo buf, const ExactSum *s);
extern void xsum_in(SketchParser *p, ExactSum *s);
extern void xsum_send(StringInfo buf, const ExactSum *s);
extern void xsum_recv(StringInfo buf, ExactSum *s);

/*
 * The exact sum of n finite values and their sum of squared deviations from
 * the mean (two passes; Infinity when it overflows, never NaN).
 */
extern void values_sum_m2(const double *values, int n, double *sum, double *m2);

#endif							/* EXACT_SUM_H */
