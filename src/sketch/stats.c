/*
 * stats.c
 *		The stats type: count, sum, min, max, mean and variance of float8
 *		values, combined with Chan et al.'s pairwise update so parallel
 *		workers' partial states merge without losing precision.
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "sketch_api.h"
#include "sketch_util.h"

typedef struct Stats
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		pad;
	int64		count;
	double		sum;
	double		min;
	double		max;
	double		mean;
	double		m2;				/* sum of squared deviations from mean */
} Stats;

#define DatumGetStatsP(d)	((Stats *) PG_DETOAST_DATUM(d))

PG_FUNCTION_INFO_V1(stats_in);
PG_FUNCTION_INFO_V1(stats_out);
PG_FUNCTION_INFO_V1(stats_recv);
PG_FUNCTION_INFO_V1(stats_send);
PG_FUNCTION_INFO_V1(stats_add);
PG_FUNCTION_INFO_V1(stats_combine);
PG_FUNCTION_INFO_V1(stats_mean);
PG_FUNCTION_INFO_V1(stats_variance);
PG_FUNCTION_INFO_V1(stats_stddev);
PG_FUNCTION_INFO_V1(stats_summary);

static Stats *
stats_new(void)
{
	Stats	   *s = palloc0(sizeof(Stats));

	SET_VARSIZE(s, sizeof(Stats));
	return s;
}

static Stats *
stats_copy(const Stats *s)
{
	Stats	   *c = palloc(sizeof(Stats));

	memcpy(c, s, sizeof(Stats));
	return c;
}

/*
 * Reject states that no sequence of values could have produced.  Sum, mean
 * and m2 of finite values can still overflow to Infinity (or NaN), and such
 * a state must read back, so only min and max must be finite.
 */
static void
stats_validate(const Stats *s, const char *type_name)
{
	if (s->count < 1 ||
		!isfinite(s->min) || !isfinite(s->max) || s->min > s->max ||
		s->m2 < 0 ||
		(s->count == 1 && (s->min != s->max || s->m2 != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid value for type %s: fields are inconsistent", type_name),
				 errdetail("count must be at least 1, min and max finite with min <= max, and m2 >= 0."),
				 errhint("Use the text produced by the type's output function.")));
}

Datum
stats_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SketchParser p;
	Stats	   *s = stats_new();

	sketch_parser_init(&p, str, "stats");
	sketch_expect(&p, "count=");
	s->count = sketch_read_int64(&p);
	sketch_expect(&p, "sum=");
	s->sum = sketch_read_double(&p);
	sketch_expect(&p, "min=");
	s->min = sketch_read_double(&p);
	sketch_expect(&p, "max=");
	s->max = sketch_read_double(&p);
	sketch_expect(&p, "mean=");
	s->mean = sketch_read_double(&p);
	sketch_expect(&p, "m2=");
	s->m2 = sketch_read_double(&p);
	sketch_expect_end(&p);
	stats_validate(s, "stats");
	PG_RETURN_POINTER(s);
}

Datum
stats_out(PG_FUNCTION_ARGS)
{
	Stats	   *s = DatumGetStatsP(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "count=" INT64_FORMAT " sum=", s->count);
	sketch_append_double(&buf, s->sum);
	appendStringInfoString(&buf, " min=");
	sketch_append_double(&buf, s->min);
	appendStringInfoString(&buf, " max=");
	sketch_append_double(&buf, s->max);
	appendStringInfoString(&buf, " mean=");
	sketch_append_double(&buf, s->mean);
	appendStringInfoString(&buf, " m2=");
	sketch_append_double(&buf, s->m2);
	PG_RETURN_CSTRING(buf.data);
}

Datum
stats_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	Stats	   *s = stats_new();

	sketch_recv_version(buf, "stats");
	s->count = pq_getmsgint64(buf);
	s->sum = pq_getmsgfloat8(buf);
	s->min = pq_getmsgfloat8(buf);
	s->max = pq_getmsgfloat8(buf);
	s->mean = pq_getmsgfloat8(buf);
	s->m2 = pq_getmsgfloat8(buf);
	stats_validate(s, "stats");
	PG_RETURN_POINTER(s);
}

Datum
stats_send(PG_FUNCTION_ARGS)
{
	Stats	   *s = DatumGetStatsP(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SKETCH_BINARY_VERSION);
	pq_sendint64(&buf, s->count);
	sketch_send_float8(&buf, s->sum);
	sketch_send_float8(&buf, s->min);
	sketch_send_float8(&buf, s->max);
	sketch_send_float8(&buf, s->mean);
	sketch_send_float8(&buf, s->m2);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* stats_add(state, value): Welford's update, in place inside an aggregate */
Datum
stats_add(PG_FUNCTION_ARGS)
{
	Stats	   *s;
	double		x,
				delta;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_FLOAT8(1);
	sketch_check_value(x, "stats_agg(value)");

	if (PG_ARGISNULL(0))
	{
		s = stats_new();
		s->count = 1;
		s->sum = s->min = s->max = s->mean = x;
		PG_RETURN_POINTER(s);
	}
	s = DatumGetStatsP(PG_GETARG_DATUM(0));
	if (!sketch_in_aggregate(fcinfo))
		s = stats_copy(s);

	s->count++;
	s->sum += x;
	if (x < s->min)
		s->min = x;
	if (x > s->max)
		s->max = x;
	delta = x - s->mean;
	if (isinf(delta))
	{
		/*
		 * x and the mean lie near opposite ends of the float8 range: the
		 * convex step keeps the mean finite (the plain one would make it
		 * Infinity and m2 -Infinity), and the squared deviations are
		 * beyond the range.
		 */
		s->mean = sketch_lerp(s->mean, x, 1.0 / s->count);
		s->m2 = get_float8_infinity();
	}
	else
	{
		s->mean += delta / s->count;
		s->m2 += delta * (x - s->mean);
	}
	PG_RETURN_POINTER(s);
}

/* stats_combine(a, b): merge b into a (also the transition of stats_agg(stats)) */
Datum
stats_combine(PG_FUNCTION_ARGS)
{
	Stats	   *a,
			   *b;
	double		n,
				delta;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = DatumGetStatsP(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(stats_copy(b));

	a = DatumGetStatsP(PG_GETARG_DATUM(0));
	if (!sketch_in_aggregate(fcinfo))
		a = stats_copy(a);

	n = (double) a->count + (double) b->count;
	delta = b->mean - a->mean;
	/* a->mean + delta * share, or the convex form if delta overflowed */
	a->mean = sketch_lerp(a->mean, b->mean, (double) b->count / n);
	a->m2 += b->m2 + delta * delta * ((double) a->count * (double) b->count / n);
	a->count += b->count;
	a->sum += b->sum;
	if (b->min < a->min)
		a->min = b->min;
	if (b->max > a->max)
		a->max = b->max;
	PG_RETURN_POINTER(a);
}

Datum
stats_mean(PG_FUNCTION_ARGS)
{
	Stats	   *s = DatumGetStatsP(PG_GETARG_DATUM(0));

	PG_RETURN_FLOAT8(s->mean);
}

/* Sample variance, as variance() and var_samp(); NULL below two values. */
Datum
stats_variance(PG_FUNCTION_ARGS)
{
	Stats	   *s = DatumGetStatsP(PG_GETARG_DATUM(0));

	if (s->count < 2)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s->m2 / (double) (s->count - 1));
}

Datum
stats_stddev(PG_FUNCTION_ARGS)
{
	Stats	   *s = DatumGetStatsP(PG_GETARG_DATUM(0));

	if (s->count < 2)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(s->m2 / (double) (s->count - 1)));
}

Datum
stats_summary(PG_FUNCTION_ARGS)
{
	Stats	   *s = DatumGetStatsP(PG_GETARG_DATUM(0));

	PG_RETURN_DATUM(sketch_summary_jsonb(s->count, s->sum, s->min, s->max, s->mean));
}

/* C API for the write path (sketch_api.h) */
Datum
stats_make(int64 count, double sum, double min, double max, double mean, double m2)
{
	Stats	   *s = stats_new();

	s->count = count;
	s->sum = sum;
	s->min = min;
	s->max = max;
	s->mean = mean;
	s->m2 = m2;
	return PointerGetDatum(s);
}
