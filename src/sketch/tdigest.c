/*
 * tdigest.c
 *		A merging t-digest (after Dunning and Ertl, "Computing extremely
 *		accurate quantiles using t-digests", 2019), written for this
 *		extension.
 *
 *		Values go to a buffer; a full buffer is sorted and merged with the
 *		centroids in one pass under the arcsine scale function, which keeps
 *		centroids small near the tails.  Quantiles interpolate linearly
 *		between centroid centres, anchored at the exact min and max, so a
 *		digest of few values (all singletons) answers exactly like
 *		percentile_cont.
 *
 *		Inside an aggregate the state carries its buffer and spare centroid
 *		slots (VARSIZE covers them, so the executor's datumCopy keeps them),
 *		growing geometrically from a small start; the final function flushes
 *		the buffer and trims the spare room.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "sketch_util.h"

#define TD_DEFAULT_COMPRESSION	100
#define TD_MIN_COMPRESSION		10
#define TD_MAX_COMPRESSION		10000
/* the scale function spans TD_K_SPAN * compression units of k */
#define TD_K_SPAN				2.0
/*
 * Tails get a second limit: a centroid holds at most TD_TAIL / compression
 * of q (1 - q) of the weight, so p99.9 of millions of values still falls
 * between small centroids.  That adds about ln(n) * compression / TD_TAIL
 * centroids per tail.
 */
#define TD_TAIL					10.0
/* values buffered between merge passes, per unit of compression */
#define TD_BUFFER_FACTOR		50
#define TD_INITIAL_BUFFER		64

typedef struct Centroid
{
	double		mean;
	int64		weight;
} Centroid;

typedef struct TDigest
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		compression;
	int64		count;			/* total weight, buffered values included */
	double		sum;
	double		min;
	double		max;
	int32		ncentroids;
	int32		cap_centroids;
	int32		nbuffer;
	int32		cap_buffer;
	/* Centroid[cap_centroids], then double[cap_buffer] */
	Centroid	centroids[FLEXIBLE_ARRAY_MEMBER];
} TDigest;

#define TD_SIZE(nc, nb) (offsetof(TDigest, centroids) + (Size) (nc) * sizeof(Centroid) + (Size) (nb) * sizeof(double))
#define TD_BUFFER(t) ((double *) ((t)->centroids + (t)->cap_centroids))
#define DatumGetTDigestP(d) ((TDigest *) PG_DETOAST_DATUM(d))

#define ST_SORT td_sort_centroids
#define ST_ELEMENT_TYPE Centroid
#define ST_COMPARE(a, b) (((a)->mean > (b)->mean) - ((a)->mean < (b)->mean))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

PG_FUNCTION_INFO_V1(tdigest_in);
PG_FUNCTION_INFO_V1(tdigest_out);
PG_FUNCTION_INFO_V1(tdigest_recv);
PG_FUNCTION_INFO_V1(tdigest_send);
PG_FUNCTION_INFO_V1(tdigest_add);
PG_FUNCTION_INFO_V1(tdigest_combine);
PG_FUNCTION_INFO_V1(tdigest_final);
PG_FUNCTION_INFO_V1(tdigest_quantile);
PG_FUNCTION_INFO_V1(tdigest_quantiles);
PG_FUNCTION_INFO_V1(tdigest_rank);
PG_FUNCTION_INFO_V1(tdigest_summary);

/*
 * Room for centroids: consecutive pairs span more than one unit of k, and
 * the tail limit adds at most ln(2^63) * compression / TD_TAIL per tail.
 * The merge pass never writes beyond this, whatever the data.
 */
static int32
td_max_centroids(int32 compression)
{
	return (int32) (2.0 * TD_K_SPAN * compression +
					2.0 * 44.0 * compression / TD_TAIL) + 8;
}

static void
td_check_compression(int64 compression, const char *func)
{
	if (compression < TD_MIN_COMPRESSION || compression > TD_MAX_COMPRESSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: compression must be between %d and %d, got " INT64_FORMAT,
						func, TD_MIN_COMPRESSION, TD_MAX_COMPRESSION, compression),
				 errhint("100 is the default; higher is more accurate and larger.")));
}

static TDigest *
td_alloc(int32 compression, int32 cap_centroids, int32 cap_buffer)
{
	TDigest    *t = palloc0(TD_SIZE(cap_centroids, cap_buffer));

	SET_VARSIZE(t, TD_SIZE(cap_centroids, cap_buffer));
	t->compression = compression;
	t->cap_centroids = cap_centroids;
	t->cap_buffer = cap_buffer;
	return t;
}

/*
 * A copy of t with room for cap_centroids centroids and cap_buffer values.
 * States start small and grow geometrically, so that a GROUP BY over many
 * small groups does not pay for full-size digests.
 */
static TDigest *
td_relayout(const TDigest *t, int32 cap_centroids, int32 cap_buffer)
{
	TDigest    *n = td_alloc(t->compression, Max(cap_centroids, t->ncentroids),
							 Max(cap_buffer, t->nbuffer));

	n->count = t->count;
	n->sum = t->sum;
	n->min = t->min;
	n->max = t->max;
	n->ncentroids = t->ncentroids;
	n->nbuffer = t->nbuffer;
	memcpy(n->centroids, t->centroids, t->ncentroids * sizeof(Centroid));
	memcpy(TD_BUFFER(n), TD_BUFFER(t), t->nbuffer * sizeof(double));
	return n;
}

static double
td_k(double q, double norm)
{
	return norm * asin(2.0 * q - 1.0);
}

static double
td_k_inv(double k, double norm)
{
	if (k >= norm * M_PI / 2)
		return 1.0;
	return (sin(k / norm) + 1.0) / 2.0;
}

/*
 * One greedy pass over items sorted by mean: a centroid keeps absorbing the
 * next item while it spans at most one unit of k.  Writes into t's centroid
 * array, which must hold td_max_centroids(t->compression).
 */
static void
td_merge_pass(TDigest *t, const Centroid *items, int64 nitems, int64 total)
{
	double		norm = TD_K_SPAN * t->compression / M_PI;
	int32		limit_n = Min(td_max_centroids(t->compression), t->cap_centroids);
	double		tail_c = TD_TAIL / t->compression;
	int32		n = 0;
	double		done = 0;		/* weight of the centroids already closed */
	double		wlimit;
	Centroid	cur;
	int64		i;

	if (nitems == 0)
	{
		t->ncentroids = 0;
		return;
	}
	cur = items[0];
	wlimit = total * td_k_inv(td_k(0.0, norm) + 1.0, norm);
	for (i = 1; i < nitems; i++)
	{
		const Centroid *it = &items[i];

		double		q0 = done / total;
		double		q1 = (done + cur.weight + it->weight) / total;
		double		tail = tail_c * total * Min(q0 * (1 - q0), q1 * (1 - q1));

		if ((done + cur.weight + it->weight <= wlimit &&
			 cur.weight + it->weight <= tail) || n >= limit_n - 1)
		{
			cur.weight += it->weight;
			cur.mean = sketch_lerp(cur.mean, it->mean, (double) it->weight / (double) cur.weight);
		}
		else
		{
			t->centroids[n++] = cur;
			done += cur.weight;
			wlimit = total * td_k_inv(td_k(done / total, norm) + 1.0, norm);
			cur = *it;
		}
	}
	t->centroids[n++] = cur;
	t->ncentroids = n;
}

/*
 * Sort the buffer.  A comparison sort of random doubles is dominated by
 * branch mispredictions; an LSD radix sort on the bit patterns (mapped so
 * that unsigned order is numeric order) is several times faster.  Byte
 * positions where all keys agree (typically the sign and exponent) are
 * skipped.
 */
static void
td_sort_buffer(double *v, int32 n)
{
	uint64	   *keys = palloc(n * sizeof(uint64));
	uint64	   *tmp = palloc(n * sizeof(uint64));
	uint64	   *src = keys,
			   *dst = tmp;
	int32		counts[8][256];
	int32		i,
				b;

	memset(counts, 0, sizeof(counts));
	for (i = 0; i < n; i++)
	{
		uint64		k;

		memcpy(&k, &v[i], sizeof(k));
		k ^= (k >> 63) ? ~UINT64CONST(0) : (UINT64CONST(1) << 63);
		keys[i] = k;
		for (b = 0; b < 8; b++)
			counts[b][(k >> (8 * b)) & 0xff]++;
	}
	for (b = 0; b < 8; b++)
	{
		int32		pos = 0,
					j;
		uint64	   *swap;

		if (counts[b][(src[0] >> (8 * b)) & 0xff] == n)
			continue;			/* every key has this byte */
		for (j = 0; j < 256; j++)
		{
			int32		c = counts[b][j];

			counts[b][j] = pos;
			pos += c;
		}
		for (i = 0; i < n; i++)
			dst[counts[b][(src[i] >> (8 * b)) & 0xff]++] = src[i];
		swap = src;
		src = dst;
		dst = swap;
	}
	for (i = 0; i < n; i++)
	{
		uint64		k = src[i];

		k ^= (k >> 63) ? (UINT64CONST(1) << 63) : ~UINT64CONST(0);
		memcpy(&v[i], &k, sizeof(k));
	}
	pfree(keys);
	pfree(tmp);
}

/* Centroid room for a merge pass over nitems items; may return a copy. */
static TDigest *
td_reserve(TDigest *t, int64 nitems)
{
	int32		maxc = td_max_centroids(t->compression);
	int32		need = (int32) Min(maxc, nitems);

	if (t->cap_centroids >= need)
		return t;
	return td_relayout(t, Max(need, Min(maxc, 2 * t->cap_centroids)), t->cap_buffer);
}

/* Merge the buffer into the centroids; may return a copy. */
static TDigest *
td_flush(TDigest *t)
{
	double	   *buf;
	Centroid   *items;
	int32		i = 0,
				j = 0,
				k = 0;

	if (t->nbuffer == 0)
		return t;
	t = td_reserve(t, (int64) t->ncentroids + t->nbuffer);
	buf = TD_BUFFER(t);
	td_sort_buffer(buf, t->nbuffer);
	items = palloc((t->ncentroids + t->nbuffer) * sizeof(Centroid));
	while (i < t->ncentroids || j < t->nbuffer)
	{
		if (j >= t->nbuffer || (i < t->ncentroids && t->centroids[i].mean <= buf[j]))
			items[k++] = t->centroids[i++];
		else
		{
			items[k].mean = buf[j++];
			items[k++].weight = 1;
		}
	}
	t->nbuffer = 0;
	td_merge_pass(t, items, k, t->count);
	pfree(items);
	return t;
}

/* The canonical form: buffer merged, no spare room. */
static TDigest *
td_compact(const TDigest *t)
{
	TDigest    *w = td_flush(td_relayout(t, t->ncentroids, t->nbuffer));
	TDigest    *c;

	c = td_alloc(w->compression, w->ncentroids, 0);
	c->count = w->count;
	c->sum = w->sum;
	c->min = w->min;
	c->max = w->max;
	c->ncentroids = w->ncentroids;
	memcpy(c->centroids, w->centroids, w->ncentroids * sizeof(Centroid));
	pfree(w);
	return c;
}

/* Merge b into a, which is writable; may return a copy.  Coarser wins. */
static TDigest *
td_merge(TDigest *a, const TDigest *b)
{
	Centroid   *items;
	int64		k = 0;
	int32		i;

	a->compression = Min(a->compression, b->compression);
	a = td_reserve(a, (int64) a->ncentroids + a->nbuffer + b->ncentroids + b->nbuffer);
	items = palloc((Size) (a->ncentroids + a->nbuffer + b->ncentroids + b->nbuffer) * sizeof(Centroid));
	for (i = 0; i < a->ncentroids; i++)
		items[k++] = a->centroids[i];
	for (i = 0; i < a->nbuffer; i++)
	{
		items[k].mean = TD_BUFFER(a)[i];
		items[k++].weight = 1;
	}
	for (i = 0; i < b->ncentroids; i++)
		items[k++] = b->centroids[i];
	for (i = 0; i < b->nbuffer; i++)
	{
		items[k].mean = TD_BUFFER(b)[i];
		items[k++].weight = 1;
	}
	td_sort_centroids(items, k);
	a->count += b->count;
	a->sum += b->sum;
	a->min = Min(a->min, b->min);
	a->max = Max(a->max, b->max);
	a->nbuffer = 0;
	td_merge_pass(a, items, k, a->count);
	pfree(items);
	return a;
}

/* Interpolation points: centroid centres on the axis of rank + 0.5. */
static double
td_quantile(const TDigest *t, double q, const char *func)
{
	double		target,
				prev_c = 0.5,
				prev_m = t->min,
				cum = 0;
	int32		i;

	Assert(t->nbuffer == 0);
	sketch_check_q(q, func);
	if (q == 0.0)
		return t->min;
	if (q == 1.0)
		return t->max;
	target = q * (double) (t->count - 1) + 0.5;
	for (i = 0; i <= t->ncentroids; i++)
	{
		double		c,
					m,
					v;

		if (i < t->ncentroids)
		{
			c = cum + t->centroids[i].weight / 2.0;
			m = t->centroids[i].mean;
			cum += t->centroids[i].weight;
		}
		else
		{
			c = (double) t->count - 0.5;
			m = t->max;
		}
		if (target <= c)
		{
			if (c <= prev_c)
				v = m;
			else
				v = sketch_lerp(prev_m, m, (target - prev_c) / (c - prev_c));
			return Min(Max(v, t->min), t->max);
		}
		prev_c = c;
		prev_m = m;
	}
	return t->max;
}

/* Fraction of values <= x, by the inverse of td_quantile's interpolation. */
static double
td_rank(const TDigest *t, double x)
{
	double		prev_c = 0.5,
				prev_m = t->min,
				cum = 0;
	int32		i;

	if (x < t->min)
		return 0.0;
	if (x >= t->max)
		return 1.0;
	for (i = 0; i <= t->ncentroids; i++)
	{
		double		c,
					m;

		if (i < t->ncentroids)
		{
			c = cum + t->centroids[i].weight / 2.0;
			m = t->centroids[i].mean;
			cum += t->centroids[i].weight;
		}
		else
		{
			c = (double) t->count - 0.5;
			m = t->max;
		}
		if (m > x)
		{
			/* halved, so that the differences cannot overflow */
			double		pos = prev_c + (c - prev_c) * ((x / 2 - prev_m / 2) / (m / 2 - prev_m / 2));

			return Min(1.0, (pos + 0.5) / (double) t->count);
		}
		prev_c = c;
		prev_m = m;
	}
	return 1.0;
}

/* The digest an accessor reads: flushed if it still has a buffer. */
static TDigest *
td_readable(Datum d)
{
	TDigest    *t = DatumGetTDigestP(d);

	return t->nbuffer > 0 ? td_compact(t) : t;
}

/* ---- aggregate support ---- */

/* tdigest_add(state, value [, compression]) */
Datum
tdigest_add(PG_FUNCTION_ARGS)
{
	TDigest    *t;
	double		x;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_FLOAT8(1);
	sketch_check_value(x, "tdigest(value)");

	if (PG_ARGISNULL(0))
	{
		int32		compression = TD_DEFAULT_COMPRESSION;

		if (PG_NARGS() > 2)
		{
			if (PG_ARGISNULL(2))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("tdigest(value, compression): compression must not be NULL"),
						 errhint("Omit it for the default of 100.")));
			compression = PG_GETARG_INT32(2);
			td_check_compression(compression, "tdigest(value, compression)");
		}
		t = td_alloc(compression, 0, TD_INITIAL_BUFFER);
		t->min = t->max = x;
	}
	else
	{
		t = DatumGetTDigestP(PG_GETARG_DATUM(0));
		if (!sketch_in_aggregate(fcinfo) || t->cap_buffer == 0)
			t = td_relayout(t, t->cap_centroids, Max(t->cap_buffer, TD_INITIAL_BUFFER));
	}

	if (t->nbuffer >= t->cap_buffer)
	{
		/* grow the buffer up to its full size, then merge it when full */
		if (t->cap_buffer < TD_BUFFER_FACTOR * t->compression)
			t = td_relayout(t, t->cap_centroids,
							Min(2 * t->cap_buffer, TD_BUFFER_FACTOR * t->compression));
		else
			t = td_flush(t);
	}
	TD_BUFFER(t)[t->nbuffer++] = x;
	t->count++;
	t->sum += x;
	if (x < t->min)
		t->min = x;
	if (x > t->max)
		t->max = x;
	PG_RETURN_POINTER(t);
}

/* tdigest_combine(a, b): combine function and transition of tdigest(tdigest) */
Datum
tdigest_combine(PG_FUNCTION_ARGS)
{
	TDigest    *a,
			   *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = DatumGetTDigestP(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(td_relayout(b, b->cap_centroids, b->cap_buffer));
	a = DatumGetTDigestP(PG_GETARG_DATUM(0));
	if (!sketch_in_aggregate(fcinfo))
		a = td_relayout(a, a->cap_centroids, a->cap_buffer);
	PG_RETURN_POINTER(td_merge(a, b));
}

Datum
tdigest_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(td_compact(DatumGetTDigestP(PG_GETARG_DATUM(0))));
}

/* ---- accessors ---- */

Datum
tdigest_quantile(PG_FUNCTION_ARGS)
{
	TDigest    *t = td_readable(PG_GETARG_DATUM(0));

	PG_RETURN_FLOAT8(td_quantile(t, PG_GETARG_FLOAT8(1), "quantile(tdigest, q)"));
}

Datum
tdigest_quantiles(PG_FUNCTION_ARGS)
{
	TDigest    *t = td_readable(PG_GETARG_DATUM(0));
	ArrayType  *qa = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *qs;
	bool	   *nulls;
	int			n,
				i;

	deconstruct_array(qa, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &qs, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("quantiles(tdigest, q): q must not contain NULL"),
					 errhint("Pass fractions between 0 and 1, e.g. ARRAY[0.5, 0.99].")));
		qs[i] = Float8GetDatum(td_quantile(t, DatumGetFloat8(qs[i]), "quantiles(tdigest, q)"));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(qs, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
tdigest_rank(PG_FUNCTION_ARGS)
{
	TDigest    *t = td_readable(PG_GETARG_DATUM(0));
	double		x = PG_GETARG_FLOAT8(1);

	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rank(tdigest, value): value must not be NaN"),
				 errhint("Pass a number; -Infinity and Infinity give 0 and 1.")));
	PG_RETURN_FLOAT8(td_rank(t, x));
}

Datum
tdigest_summary(PG_FUNCTION_ARGS)
{
	TDigest    *t = DatumGetTDigestP(PG_GETARG_DATUM(0));

	PG_RETURN_DATUM(sketch_summary_jsonb(t->count, t->sum, t->min, t->max,
										 t->sum / (double) t->count));
}

/* ---- I/O ---- */

static void
td_invalid(bool binary, const char *detail)
{
	ereport(ERROR,
			(errcode(binary ? ERRCODE_INVALID_BINARY_REPRESENTATION : ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid value for type tdigest: %s", detail),
			 errhint("Use the %s produced by the type's output function.", binary ? "bytes" : "text")));
}

static void
td_validate(const TDigest *t, bool binary)
{
	int64		total = 0;
	int32		i;

	if (t->count < 1 || t->ncentroids < 1)
		td_invalid(binary, "count must be positive");
	/* the sum of finite values may overflow, so it may be infinite */
	if (!isfinite(t->min) || !isfinite(t->max) || t->min > t->max)
		td_invalid(binary, "min and max must be finite with min <= max");
	for (i = 0; i < t->ncentroids; i++)
	{
		const Centroid *c = &t->centroids[i];

		if (!(c->mean >= t->min && c->mean <= t->max) ||
			(i > 0 && c->mean < t->centroids[i - 1].mean))
			td_invalid(binary, "centroid means must be sorted and within [min, max]");
		if (c->weight < 1 || c->weight > PG_INT64_MAX - total)
			td_invalid(binary, "centroid weights must be positive");
		total += c->weight;
	}
	if (total != t->count)
		td_invalid(binary, "centroid weights do not add up to count");
}

Datum
tdigest_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SketchParser p;
	TDigest    *t;
	int64		compression;

	sketch_parser_init(&p, str, "tdigest");
	sketch_expect(&p, "compression=");
	compression = sketch_read_int64(&p);
	td_check_compression(compression, "tdigest input");
	t = td_alloc((int32) compression, td_max_centroids((int32) compression), 0);
	sketch_expect(&p, "count=");
	t->count = sketch_read_int64(&p);
	sketch_expect(&p, "sum=");
	t->sum = sketch_read_double(&p);
	sketch_expect(&p, "min=");
	t->min = sketch_read_double(&p);
	sketch_expect(&p, "max=");
	t->max = sketch_read_double(&p);
	sketch_expect(&p, "centroids={");
	if (!sketch_accept(&p, "}"))
	{
		do
		{
			Centroid   *c;

			if (t->ncentroids >= t->cap_centroids)
				sketch_syntax_error(&p, "More centroids than the compression allows.");
			c = &t->centroids[t->ncentroids++];
			c->mean = sketch_read_double(&p);
			sketch_expect(&p, ":");
			c->weight = sketch_read_int64(&p);
		} while (sketch_accept(&p, ","));
		sketch_expect(&p, "}");
	}
	sketch_expect_end(&p);
	td_validate(t, false);
	PG_RETURN_POINTER(td_compact(t));
}

Datum
tdigest_out(PG_FUNCTION_ARGS)
{
	TDigest    *t = td_readable(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int32		i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "compression=%d count=" INT64_FORMAT " sum=",
					 t->compression, t->count);
	sketch_append_double(&buf, t->sum);
	appendStringInfoString(&buf, " min=");
	sketch_append_double(&buf, t->min);
	appendStringInfoString(&buf, " max=");
	sketch_append_double(&buf, t->max);
	appendStringInfoString(&buf, " centroids={");
	for (i = 0; i < t->ncentroids; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		sketch_append_double(&buf, t->centroids[i].mean);
		appendStringInfo(&buf, ":" INT64_FORMAT, t->centroids[i].weight);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

Datum
tdigest_send(PG_FUNCTION_ARGS)
{
	TDigest    *t = td_readable(PG_GETARG_DATUM(0));
	StringInfoData buf;
	int32		i;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SKETCH_BINARY_VERSION);
	pq_sendint32(&buf, t->compression);
	pq_sendint64(&buf, t->count);
	sketch_send_float8(&buf, t->sum);
	pq_sendfloat8(&buf, t->min);
	pq_sendfloat8(&buf, t->max);
	pq_sendint32(&buf, t->ncentroids);
	for (i = 0; i < t->ncentroids; i++)
	{
		pq_sendfloat8(&buf, t->centroids[i].mean);
		pq_sendint64(&buf, t->centroids[i].weight);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
tdigest_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	TDigest    *t;
	int32		compression,
				n,
				i;

	sketch_recv_version(buf, "tdigest");
	compression = (int32) pq_getmsgint(buf, 4);
	if (compression < TD_MIN_COMPRESSION || compression > TD_MAX_COMPRESSION)
		td_invalid(true, "compression out of range");
	t = td_alloc(compression, td_max_centroids(compression), 0);
	t->count = pq_getmsgint64(buf);
	t->sum = pq_getmsgfloat8(buf);
	t->min = pq_getmsgfloat8(buf);
	t->max = pq_getmsgfloat8(buf);
	n = (int32) pq_getmsgint(buf, 4);
	if (n < 0 || n > t->cap_centroids)
		td_invalid(true, "more centroids than the compression allows");
	for (i = 0; i < n; i++)
	{
		t->centroids[i].mean = pq_getmsgfloat8(buf);
		t->centroids[i].weight = pq_getmsgint64(buf);
	}
	t->ncentroids = n;
	td_validate(t, true);
	PG_RETURN_POINTER(td_compact(t));
}
