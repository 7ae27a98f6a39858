/*
 * percentile.c
 *		percentile(value, q): the exact answer of percentile_cont, as a plain
 *		aggregate that runs in parallel.
 *
 *		The state is a real type, percentile_state: the fraction q and the
 *		values seen so far, in an array with spare room (VARSIZE covers it,
 *		so the executor's datumCopy keeps it).  Growth doubles the room, so
 *		appending is amortized O(1).  The final function finds the two
 *		values around rank q * (n - 1) with quickselect (O(n) on average)
 *		instead of sorting, and interpolates exactly as percentile_cont does.
 *
 *		A state holds every value, so a group is limited to what fits in one
 *		1 GB datum (about 134 million values).
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "sketch_util.h"

typedef struct PercentileState
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		pad;
	double		q;
	int64		n;
	int64		cap;
	double		values[FLEXIBLE_ARRAY_MEMBER];
} PercentileState;

#define PS_SIZE(cap) (offsetof(PercentileState, values) + (Size) (cap) * sizeof(double))
#define PS_MAX_CAP ((int64) ((MaxAllocSize - offsetof(PercentileState, values)) / sizeof(double)))
#define PS_INITIAL_CAP 64
#define DatumGetPercentileStateP(d) ((PercentileState *) PG_DETOAST_DATUM(d))

#define ST_SORT ps_sort_doubles
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

PG_FUNCTION_INFO_V1(percentile_state_in);
PG_FUNCTION_INFO_V1(percentile_state_out);
PG_FUNCTION_INFO_V1(percentile_state_recv);
PG_FUNCTION_INFO_V1(percentile_state_send);
PG_FUNCTION_INFO_V1(percentile_add);
PG_FUNCTION_INFO_V1(percentile_combine);
PG_FUNCTION_INFO_V1(percentile_final);

/*
 * A state with room for cap values, of which the first keep are about to be
 * filled by the caller.  The spare room is zeroed: VARSIZE covers it, so a
 * stored state would otherwise carry whatever that memory held before.
 */
static PercentileState *
ps_alloc(double q, int64 cap, int64 keep)
{
	PercentileState *s = palloc(PS_SIZE(cap));

	SET_VARSIZE(s, PS_SIZE(cap));
	s->pad = 0;
	s->q = q;
	s->n = 0;
	s->cap = cap;
	memset(s->values + keep, 0, (cap - keep) * sizeof(double));
	return s;
}

/* A copy of s with room for at least need values. */
static PercentileState *
ps_grow(const PercentileState *s, int64 need)
{
	int64		cap = Max(s->cap, PS_INITIAL_CAP);
	PercentileState *n;

	if (need > PS_MAX_CAP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("percentile(value, q): more than " INT64_FORMAT " values in one group",
						PS_MAX_CAP),
				 errhint("Use approx_percentile(value, q), whose state has a fixed size.")));
	while (cap < need)
		cap = Min(2 * cap, PS_MAX_CAP);
	n = ps_alloc(s->q, cap, s->n);
	n->n = s->n;
	memcpy(n->values, s->values, s->n * sizeof(double));
	return n;
}

/* percentile_add(state, value, q) */
Datum
percentile_add(PG_FUNCTION_ARGS)
{
	PercentileState *s;
	double		x,
				q;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("percentile(value, q): q must not be NULL"),
				 errhint("Pass a fraction between 0 and 1, e.g. 0.99.")));
	q = PG_GETARG_FLOAT8(2);
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
				 errmsg("percentile(value, q): value must not be NaN"),
				 errhint("Filter the input, e.g. WHERE value <> 'NaN'.")));

	if (PG_ARGISNULL(0))
	{
		sketch_check_q(q, "percentile(value, q)");
		s = ps_alloc(q, PS_INITIAL_CAP, 0);
	}
	else
	{
		s = DatumGetPercentileStateP(PG_GETARG_DATUM(0));
		if (s->q != q)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("percentile(value, q): q must be the same for every row of a group"),
					 errhint("Compute several percentiles with one percentile() call each.")));
		if (!sketch_in_aggregate(fcinfo))
			s = ps_grow(s, s->n + 1);
	}
	if (s->n >= s->cap)
		s = ps_grow(s, s->n + 1);
	s->values[s->n++] = x;
	PG_RETURN_POINTER(s);
}

/* percentile_combine(a, b): append b's values to a */
Datum
percentile_combine(PG_FUNCTION_ARGS)
{
	PercentileState *a,
			   *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = DatumGetPercentileStateP(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(ps_grow(b, b->n));
	a = DatumGetPercentileStateP(PG_GETARG_DATUM(0));
	if (a->q != b->q)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("percentile(value, q): cannot combine states for q = %g and q = %g",
						a->q, b->q),
				 errhint("Combine only states of the same percentile.")));
	if (!sketch_in_aggregate(fcinfo) || a->n + b->n > a->cap)
		a = ps_grow(a, a->n + b->n);
	memcpy(a->values + a->n, b->values, b->n * sizeof(double));
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

/*
 * Rearranges v[0..n) so that v[k] is the k-th smallest, everything before
 * it <= v[k] and everything after >= v[k].  Hoare partitioning around a
 * median of three; if the data defeats the pivots, it falls back to a sort
 * of what is left, so the worst case stays O(n log n).
 */
static void
ps_select(double *v, int64 n, int64 k)
{
	int64		lo = 0,
				hi = n - 1;
	int			budget = 64;

	while (hi > lo)
	{
		int64		i,
					j,
					mid;
		double		pivot,
					a,
					b,
					c,
					tmp;

		CHECK_FOR_INTERRUPTS();
		if (--budget == 0 || hi - lo < 16)
		{
			ps_sort_doubles(v + lo, hi - lo + 1);
			return;
		}
		mid = lo + (hi - lo) / 2;
		a = v[lo];
		b = v[mid];
		c = v[hi];
		pivot = (a < b) ? ((b < c) ? b : (a < c ? c : a)) : ((a < c) ? a : (b < c ? c : b));
		i = lo;
		j = hi;
		while (i <= j)
		{
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j)
			{
				tmp = v[i];
				v[i] = v[j];
				v[j] = tmp;
				i++;
				j--;
			}
		}
		/* now v[lo..j] <= pivot <= v[i..hi], and j < i */
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;				/* v[j+1..i-1] all equal the pivot */
	}
}

Datum
percentile_final(PG_FUNCTION_ARGS)
{
	PercentileState *s;
	double	   *v;
	double		pos,
				first,
				second,
				proportion;
	int64		first_row,
				second_row,
				i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = DatumGetPercentileStateP(PG_GETARG_DATUM(0));
	if (s->n == 0)
		PG_RETURN_NULL();

	/*
	 * Selection reorders the values.  percentile()'s own state may be
	 * reordered in place (FINALFUNC_MODIFY = READ_WRITE); a value passed in
	 * from SQL may be a stored one, still in a shared buffer: copy it.
	 */
	if (sketch_in_aggregate(fcinfo))
		v = s->values;
	else
	{
		v = palloc(s->n * sizeof(double));
		memcpy(v, s->values, s->n * sizeof(double));
	}

	/* the same arithmetic as percentile_cont, for bit-identical answers */
	pos = s->q * (double) (s->n - 1);
	first_row = (int64) floor(pos);
	second_row = (int64) ceil(pos);
	ps_select(v, s->n, first_row);
	first = v[first_row];
	if (second_row == first_row)
		PG_RETURN_FLOAT8(first);

	/* after selection the next value up is the least of the upper part */
	second = v[second_row];
	for (i = second_row + 1; i < s->n; i++)
		if (v[i] < second)
			second = v[i];
	proportion = pos - (double) first_row;
	/* percentile_cont's first + (second - first) * proportion, unless that overflows */
	PG_RETURN_FLOAT8(sketch_lerp(first, second, proportion));
}

/* ---- I/O: q=<q> values={v,v,...} ---- */

Datum
percentile_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SketchParser p;
	PercentileState *s;
	double		q;

	sketch_parser_init(&p, str, "percentile_state");
	sketch_expect(&p, "q=");
	q = sketch_read_double(&p);
	sketch_check_q(q, "percentile_state input");
	s = ps_alloc(q, 16, 0);
	sketch_expect(&p, "values={");
	if (!sketch_accept(&p, "}"))
	{
		do
		{
			double		x = sketch_read_double(&p);

			if (isnan(x))
				sketch_syntax_error(&p, "Values must not be NaN.");
			if (s->n >= s->cap)
				s = ps_grow(s, s->n + 1);
			s->values[s->n++] = x;
		} while (sketch_accept(&p, ","));
		sketch_expect(&p, "}");
	}
	sketch_expect_end(&p);
	PG_RETURN_POINTER(s);
}

Datum
percentile_state_out(PG_FUNCTION_ARGS)
{
	PercentileState *s = DatumGetPercentileStateP(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int64		i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "q=");
	sketch_append_double(&buf, s->q);
	appendStringInfoString(&buf, " values={");
	for (i = 0; i < s->n; i++)
	{
		if ((i & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();	/* a state may hold millions of values */
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		sketch_append_double(&buf, s->values[i]);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

Datum
percentile_state_send(PG_FUNCTION_ARGS)
{
	PercentileState *s = DatumGetPercentileStateP(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int64		i;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SKETCH_BINARY_VERSION);
	pq_sendfloat8(&buf, s->q);
	pq_sendint64(&buf, s->n);
	for (i = 0; i < s->n; i++)
		pq_sendfloat8(&buf, s->values[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
percentile_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	PercentileState *s;
	double		q;
	int64		n,
				i;

	sketch_recv_version(buf, "percentile_state");
	q = pq_getmsgfloat8(buf);
	if (!(q >= 0 && q <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid value for type percentile_state: q out of range"),
				 errhint("Use the bytes produced by the type's send function.")));
	n = pq_getmsgint64(buf);
	/* never trust a length beyond the bytes actually there */
	if (n < 0 || n > (int64) (buf->len - buf->cursor) / (int64) sizeof(double))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid value for type percentile_state: bad value count"),
				 errhint("Use the bytes produced by the type's send function.")));
	s = ps_alloc(q, Max(n, 1), n);
	for (i = 0; i < n; i++)
	{
		double		x = pq_getmsgfloat8(buf);

		if (isnan(x))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid value for type percentile_state: NaN value"),
					 errhint("Use the bytes produced by the type's send function.")));
		s->values[i] = x;
	}
	s->n = n;
	PG_RETURN_POINTER(s);
}
