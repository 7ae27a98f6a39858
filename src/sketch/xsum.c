/*
 * xsum.c
 *		xsum(float8) and xavg(float8): the sum and the mean of float8 values
 *		added exactly (exact_sum.c), so that the result is the same bits in
 *		any order and however the rows are split: one pass, parallel
 *		workers, Citus shards.  fsum() and favg() add in row order, as
 *		PostgreSQL's sum() and avg() do, and their last bits depend on it.
 *
 * The state type, metrics_ex.xsum_state, is the count, the exact sum of the
 * finite values, and the IEEE sum of the others (+-Infinity, NaN: among
 * those the order does not matter).  The result is the exact sum rounded
 * once, so sums beyond the float8 range are +-Infinity, and the values
 * themselves decide it, not the order they came in.
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "exact_sum.h"
#include "sketch_util.h"

typedef struct XSumState
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		has_nonfinite;	/* nonfinite holds a value */
	int64		count;
	double		nonfinite;		/* IEEE sum of the +-Infinity and NaN values */
	ExactSum	sum;			/* the finite values */
} XSumState;

#define DatumGetXSumP(d)	((XSumState *) PG_DETOAST_DATUM(d))

PG_FUNCTION_INFO_V1(metrics_ex_xsum_in);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_out);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_recv);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_send);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_add);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_combine);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_final);
PG_FUNCTION_INFO_V1(metrics_ex_xavg_final);

static XSumState *
xsum_state_new(void)
{
	XSumState  *s = palloc0(sizeof(XSumState));

	SET_VARSIZE(s, sizeof(XSumState));
	return s;
}

static XSumState *
xsum_state_copy(const XSumState *s)
{
	XSumState  *c = palloc(sizeof(XSumState));

	memcpy(c, s, sizeof(XSumState));
	return c;
}

static void
add_nonfinite(XSumState *s, double v)
{
	s->nonfinite = s->has_nonfinite ? s->nonfinite + v : v;
	s->has_nonfinite = 1;
}

static void
xsum_state_validate(const XSumState *s)
{
	if (s->count < 1 || (s->has_nonfinite && isfinite(s->nonfinite)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid value for type xsum_state: fields are inconsistent"),
				 errdetail("count must be at least 1, and nonfinite is Infinity, -Infinity or NaN."),
				 errhint("Use the text produced by the type's output function.")));
}

/* Text form: count=N sum=<exact sum> [nonfinite=<+-Infinity or NaN>] */
Datum
metrics_ex_xsum_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SketchParser p;
	XSumState  *s = xsum_state_new();

	sketch_parser_init(&p, str, "xsum_state");
	sketch_expect(&p, "count=");
	s->count = sketch_read_int64(&p);
	sketch_expect(&p, "sum=");
	xsum_in(&p, &s->sum);
	if (sketch_accept(&p, " nonfinite="))
	{
		s->nonfinite = sketch_read_double(&p);
		s->has_nonfinite = 1;
	}
	sketch_expect_end(&p);
	xsum_state_validate(s);
	PG_RETURN_POINTER(s);
}

Datum
metrics_ex_xsum_out(PG_FUNCTION_ARGS)
{
	XSumState  *s = DatumGetXSumP(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "count=" INT64_FORMAT " sum=", s->count);
	xsum_out(&buf, &s->sum);
	if (s->has_nonfinite)
	{
		appendStringInfoString(&buf, " nonfinite=");
		sketch_append_double(&buf, s->nonfinite);
	}
	PG_RETURN_CSTRING(buf.data);
}

Datum
metrics_ex_xsum_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	XSumState  *s = xsum_state_new();

	sketch_recv_version(buf, "xsum_state");
	s->count = pq_getmsgint64(buf);
	s->has_nonfinite = pq_getmsgbyte(buf) != 0;
	s->nonfinite = pq_getmsgfloat8(buf);
	xsum_recv(buf, &s->sum);
	if (!s->has_nonfinite)
		s->nonfinite = 0;
	xsum_state_validate(s);
	PG_RETURN_POINTER(s);
}

Datum
metrics_ex_xsum_send(PG_FUNCTION_ARGS)
{
	XSumState  *s = DatumGetXSumP(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SKETCH_BINARY_VERSION);
	pq_sendint64(&buf, s->count);
	pq_sendbyte(&buf, s->has_nonfinite ? 1 : 0);
	sketch_send_float8(&buf, s->nonfinite);
	xsum_send(&buf, &s->sum);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* xsum_add(state, value): in place inside an aggregate; NULLs are skipped */
Datum
metrics_ex_xsum_add(PG_FUNCTION_ARGS)
{
	XSumState  *s;
	double		x;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_FLOAT8(1);
	if (PG_ARGISNULL(0))
		s = xsum_state_new();
	else
	{
		s = DatumGetXSumP(PG_GETARG_DATUM(0));
		if (!sketch_in_aggregate(fcinfo))
			s = xsum_state_copy(s);
	}
	s->count++;
	if (isfinite(x))
		xsum_add(&s->sum, x);
	else
		add_nonfinite(s, x);
	PG_RETURN_POINTER(s);
}

/* xsum_combine(a, b): b added into a */
Datum
metrics_ex_xsum_combine(PG_FUNCTION_ARGS)
{
	XSumState  *a,
			   *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = DatumGetXSumP(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(xsum_state_copy(b));
	a = DatumGetXSumP(PG_GETARG_DATUM(0));
	if (!sketch_in_aggregate(fcinfo))
		a = xsum_state_copy(a);
	a->count += b->count;
	xsum_add_sum(&a->sum, &b->sum);
	if (b->has_nonfinite)
		add_nonfinite(a, b->nonfinite);
	PG_RETURN_POINTER(a);
}

/* The exact sum, rounded once; +-Infinity beyond the range. */
static double
state_sum(const XSumState *s)
{
	double		sum = xsum_to_double(&s->sum);

	return s->has_nonfinite ? sum + s->nonfinite : sum;
}

Datum
metrics_ex_xsum_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(state_sum(DatumGetXSumP(PG_GETARG_DATUM(0))));
}

Datum
metrics_ex_xavg_final(PG_FUNCTION_ARGS)
{
	XSumState  *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = DatumGetXSumP(PG_GETARG_DATUM(0));
	PG_RETURN_FLOAT8(state_sum(s) / (double) s->count);
}
