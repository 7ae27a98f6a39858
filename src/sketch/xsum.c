/*
 * xsum.c
 *		xsum(float8) and xavg(float8): the sum and the mean of float8 values
 *		added exactly, so that the result is the same bits in any order and
 *		however the rows are split: one pass, parallel workers, Citus shards.
 *		fsum() and favg() add in row order, as PostgreSQL's sum() and avg()
 *		do, and their last bits depend on it.
 *
 * The state type, metrics_ex.xsum_state, holds the count, the IEEE sum of
 * the non-finite values (+-Infinity, NaN: among those the order does not
 * matter) and the exact sum of the finite ones.  That sum is kept as
 * Shewchuk's partials: non-overlapping doubles of increasing magnitude
 * whose sum is exact, usually one to three of them, so that a state per
 * group is a few dozen bytes and a grouped xsum() fits in work_mem as sum()
 * does.  Near the top of the float8 range, where adding two partials could
 * overflow, the state holds a full fixed-point sum instead (exact_sum.c).
 * Either way the result is the exact sum rounded once to nearest, even
 * (beyond the range: +-Infinity), and the text and binary forms are the
 * exact sum's, the same for equal sums whatever the representation.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "exact_sum.h"
#include "sketch_util.h"

/* flags */
#define XS_NONFINITE	0x01	/* nonfinite holds a value */
#define XS_EXACT		0x02	/* the sum is an ExactSum, not partials */

/* Below this magnitude two partials add without overflow. */
#define XS_PARTIALS_MAX	0x1p1021

#define XS_START_ROOM	4		/* partials a new state has room for */

typedef struct XSumState
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		flags;
	int64		count;
	double		nonfinite;		/* IEEE sum of the +-Infinity and NaN values */
	int32		npartials;		/* partials in use */
	int32		room;			/* partials there is room for */
	double		partials[FLEXIBLE_ARRAY_MEMBER];	/* or an ExactSum (XS_EXACT) */
} XSumState;

#define XS_HEADER		offsetof(XSumState, partials)
#define XS_EXACT_SUM(s)	((ExactSum *) (s)->partials)

#define DatumGetXSumP(d)	((XSumState *) PG_DETOAST_DATUM(d))

PG_FUNCTION_INFO_V1(metrics_ex_xsum_in);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_out);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_recv);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_send);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_add);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_combine);
PG_FUNCTION_INFO_V1(metrics_ex_xsum_final);
PG_FUNCTION_INFO_V1(metrics_ex_xavg_final);

/* A zeroed state with room for that many partials. */
static XSumState *
xs_new(int room)
{
	Size		size = XS_HEADER + sizeof(double) * room;
	XSumState  *s = palloc0(size);

	SET_VARSIZE(s, size);
	s->room = room;
	return s;
}

static XSumState *
xs_copy(const XSumState *s)
{
	XSumState  *c = palloc(VARSIZE(s));

	memcpy(c, s, VARSIZE(s));
	return c;
}

/* s with its header and a zeroed ExactSum of its value (XS_EXACT). */
static XSumState *
xs_to_exact(XSumState *s)
{
	XSumState  *e;

	if (s->flags & XS_EXACT)
		return s;
	e = xs_new((sizeof(ExactSum) + sizeof(double) - 1) / sizeof(double));
	e->flags = s->flags | XS_EXACT;
	e->count = s->count;
	e->nonfinite = s->nonfinite;
	for (int i = 0; i < s->npartials; i++)
		xsum_add(XS_EXACT_SUM(e), s->partials[i]);
	return e;
}

/*
 * Add the finite x into the exact sum of s; returns s, or a new state where
 * s had no room (or its sum became an ExactSum).  Partials: Shewchuk's
 * grow-expansion, as Python's math.fsum() does it.
 */
static XSumState *
xs_add(XSumState *s, double x)
{
	int			i,
				j;

	if (!(s->flags & XS_EXACT) &&
		(fabs(x) >= XS_PARTIALS_MAX ||
		 (s->npartials > 0 && fabs(s->partials[s->npartials - 1]) >= XS_PARTIALS_MAX)))
		s = xs_to_exact(s);
	if (s->flags & XS_EXACT)
	{
		xsum_add(XS_EXACT_SUM(s), x);
		return s;
	}
	for (i = j = 0; j < s->npartials; j++)
	{
		double		y = s->partials[j];
		double		hi,
					lo;

		if (fabs(x) < fabs(y))
		{
			double		t = x;

			x = y;
			y = t;
		}
		hi = x + y;
		lo = y - (hi - x);
		if (lo != 0.0)
			s->partials[i++] = lo;
		x = hi;
	}
	if (i == s->room)
	{
		XSumState  *g = xs_new(s->room * 2);

		g->flags = s->flags;
		g->count = s->count;
		g->nonfinite = s->nonfinite;
		memcpy(g->partials, s->partials, sizeof(double) * i);
		s = g;
	}
	s->partials[i++] = x;
	/* spare room stays zeroed: equal states are equal bytes */
	for (j = i; j < s->npartials; j++)
		s->partials[j] = 0.0;
	s->npartials = i;
	return s;
}

/* The partials' sum rounded once to nearest, even (math.fsum's ending). */
static double
xs_partials_round(const XSumState *s)
{
	int			n = s->npartials;
	double		hi = 0.0,
				lo = 0.0;

	if (n == 0)
		return 0.0;
	hi = s->partials[--n];
	while (n > 0)
	{
		double		x = hi,
					y = s->partials[--n];

		hi = x + y;
		lo = y - (hi - x);
		if (lo != 0.0)
			break;
	}
	/* a tie at hi's last bit that the partials below lo break */
	if (n > 0 && ((lo < 0 && s->partials[n - 1] < 0) || (lo > 0 && s->partials[n - 1] > 0)))
	{
		double		y = lo * 2,
					x = hi + y;

		if (y == x - hi)
			hi = x;
	}
	return hi;
}

/* The exact sum of the finite values as an ExactSum (for output). */
static void
xs_exact_sum(const XSumState *s, ExactSum *out)
{
	if (s->flags & XS_EXACT)
		memcpy(out, XS_EXACT_SUM(s), sizeof(ExactSum));
	else
	{
		memset(out, 0, sizeof(ExactSum));
		for (int i = 0; i < s->npartials; i++)
			xsum_add(out, s->partials[i]);
	}
}

/* A state of count, the exact sum e and the non-finite part (input). */
static XSumState *
xs_from_exact(int64 count, const ExactSum *e, int32 flags, double nonfinite)
{
	XSumState  *s;

	if (fabs(xsum_to_double(e)) < XS_PARTIALS_MAX)
	{
		double		digits[XSUM_LIMBS];
		int			n = xsum_to_doubles(e, digits);

		s = xs_new(XS_START_ROOM);
		for (int i = 0; i < n; i++)
			s = xs_add(s, digits[i]);
	}
	else
	{
		s = xs_new((sizeof(ExactSum) + sizeof(double) - 1) / sizeof(double));
		s->flags = XS_EXACT;
		memcpy(XS_EXACT_SUM(s), e, sizeof(ExactSum));
	}
	s->count = count;
	if (flags & XS_NONFINITE)
	{
		s->flags |= XS_NONFINITE;
		s->nonfinite = nonfinite;
	}
	return s;
}

static void
add_nonfinite(XSumState *s, double v)
{
	s->nonfinite = (s->flags & XS_NONFINITE) ? s->nonfinite + v : v;
	s->flags |= XS_NONFINITE;
}

static void
xsum_state_validate(int64 count, bool has_nonfinite, double nonfinite)
{
	if (count < 1 || (has_nonfinite && isfinite(nonfinite)))
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
	ExactSum	e;
	int64		count;
	double		nonfinite = 0;
	bool		has_nonfinite = false;

	memset(&e, 0, sizeof(e));
	sketch_parser_init(&p, str, "xsum_state");
	sketch_expect(&p, "count=");
	count = sketch_read_int64(&p);
	sketch_expect(&p, "sum=");
	xsum_in(&p, &e);
	if (sketch_accept(&p, " nonfinite="))
	{
		nonfinite = sketch_read_double(&p);
		has_nonfinite = true;
	}
	sketch_expect_end(&p);
	xsum_state_validate(count, has_nonfinite, nonfinite);
	PG_RETURN_POINTER(xs_from_exact(count, &e, has_nonfinite ? XS_NONFINITE : 0, nonfinite));
}

Datum
metrics_ex_xsum_out(PG_FUNCTION_ARGS)
{
	XSumState  *s = DatumGetXSumP(PG_GETARG_DATUM(0));
	StringInfoData buf;
	ExactSum	e;

	xs_exact_sum(s, &e);
	initStringInfo(&buf);
	appendStringInfo(&buf, "count=" INT64_FORMAT " sum=", s->count);
	xsum_out(&buf, &e);
	if (s->flags & XS_NONFINITE)
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
	ExactSum	e;
	int64		count;
	bool		has_nonfinite;
	double		nonfinite;

	memset(&e, 0, sizeof(e));
	sketch_recv_version(buf, "xsum_state");
	count = pq_getmsgint64(buf);
	has_nonfinite = pq_getmsgbyte(buf) != 0;
	nonfinite = pq_getmsgfloat8(buf);
	xsum_recv(buf, &e);
	if (!has_nonfinite)
		nonfinite = 0;
	xsum_state_validate(count, has_nonfinite, nonfinite);
	PG_RETURN_POINTER(xs_from_exact(count, &e, has_nonfinite ? XS_NONFINITE : 0, nonfinite));
}

Datum
metrics_ex_xsum_send(PG_FUNCTION_ARGS)
{
	XSumState  *s = DatumGetXSumP(PG_GETARG_DATUM(0));
	StringInfoData buf;
	ExactSum	e;

	xs_exact_sum(s, &e);
	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SKETCH_BINARY_VERSION);
	pq_sendint64(&buf, s->count);
	pq_sendbyte(&buf, (s->flags & XS_NONFINITE) ? 1 : 0);
	sketch_send_float8(&buf, (s->flags & XS_NONFINITE) ? s->nonfinite : 0.0);
	xsum_send(&buf, &e);
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
		s = xs_new(XS_START_ROOM);
	else
	{
		s = DatumGetXSumP(PG_GETARG_DATUM(0));
		if (!sketch_in_aggregate(fcinfo))
			s = xs_copy(s);
	}
	s->count++;
	if (isfinite(x))
		s = xs_add(s, x);
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
		PG_RETURN_POINTER(xs_copy(b));
	a = DatumGetXSumP(PG_GETARG_DATUM(0));
	if (!sketch_in_aggregate(fcinfo))
		a = xs_copy(a);
	a->count += b->count;
	if (b->flags & XS_EXACT)
	{
		a = xs_to_exact(a);
		xsum_add_sum(XS_EXACT_SUM(a), XS_EXACT_SUM(b));
	}
	else
		for (int i = 0; i < b->npartials; i++)
			a = xs_add(a, b->partials[i]);
	if (b->flags & XS_NONFINITE)
		add_nonfinite(a, b->nonfinite);
	PG_RETURN_POINTER(a);
}

/* The exact sum, rounded once; +-Infinity beyond the range. */
static double
state_sum(const XSumState *s)
{
	double		sum = (s->flags & XS_EXACT) ? xsum_to_double(XS_EXACT_SUM(s))
		: xs_partials_round(s);

	return (s->flags & XS_NONFINITE) ? sum + s->nonfinite : sum;
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
