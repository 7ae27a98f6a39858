/*
 * ddsketch.c
 *		A relative-error quantile sketch (after Masson, Rim and Lee, "DDSketch",
 *		VLDB 2019).  Positive values go to bucket ceil(log_gamma(x)) with
 *		gamma = (1 + rel_err) / (1 - rel_err), negative values to a mirrored
 *		store, zeros to a counter.  Every bucket's representative value is
 *		within rel_err of every value in the bucket.
 *
 *		Buckets hold integer counts, min and max are exact and the sum is an
 *		exact fixed-point accumulator, so a merge is an exact, commutative,
 *		associative operation: the same data gives the same sketch (to the
 *		bit) however it is split across workers or rollups.
 *
 *		The stores are dense arrays over the range of indexes seen so far.
 *		Inside an aggregate the state carries spare slots (VARSIZE covers
 *		them, so the executor's datumCopy keeps them), and the final
 *		function trims them off.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "exact_sum.h"
#include "sketch_api.h"
#include "sketch_util.h"

#define DD_DEFAULT_REL_ERR	0.01
#define DD_MIN_REL_ERR		0.0001
#define DD_MAX_REL_ERR		0.5
#define DD_INITIAL_SLOTS	64

struct DDSketch
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	int32		pad;
	double		rel_err;
	double		inv_log_gamma;	/* 1 / ln(gamma), derived from rel_err */
	double		q;				/* approx_percentile's fraction, else NaN */
	int64		count;			/* every value, zeros included */
	int64		zeros;
	double		min;
	double		max;
	int32		pos_lo;			/* bucket index of positive slot 0 */
	int32		pos_cap;		/* positive slots */
	int32		neg_lo;			/* bucket index of negative slot 0 */
	int32		neg_cap;		/* negative slots, after the positive ones */
	ExactSum	sum;
	uint64		bins[FLEXIBLE_ARRAY_MEMBER];
};

#define DD_SIZE(npos, nneg) (offsetof(DDSketch, bins) + ((Size) (npos) + (nneg)) * sizeof(uint64))
#define POS_BINS(s) ((s)->bins)
#define NEG_BINS(s) ((s)->bins + (s)->pos_cap)
#define DatumGetDDSketchP(d) dd_detoast(d)

/*
 * Stored sketches may be packed: only nonzero buckets, as (index, count)
 * pairs, and only the nonzero limbs of the exact sum.  A minute's sketch of
 * values spread over six decades has hundreds of slots but few nonzero
 * ones, and the dense form would be kilobytes per rollup row.  Every entry
 * point unpacks (dd_detoast), so only storage sees the packed form; the
 * text and binary forms are those of the dense sketch.
 */
#define DD_PACKED 1

/*
 * The compact stored form (DD_COMPACT), what is stored now: after
 * the varlena header and the int32 flags, a byte stream of rel_err and, with
 * DD_HAS_Q, q (8 bytes each), count and zeros (varints), min and max (8
 * bytes each), the exact sum's nonzero limbs (first limb and number of limbs
 * as bytes, each limb a zigzag varint), then per store, positive first, the
 * number of nonzero buckets, the first one's index (zigzag varint) and
 * (gap to the previous index, count) varint pairs.  A rollup row's sketch
 * of a minute or an hour of values is a few bytes a bucket, where the packed
 * form (DD_PACKED, written by earlier builds and still read) took twelve.
 */
#define DD_COMPACT 2
#define DD_HAS_Q 4

typedef struct DDPackedHead
{
	int32		vl_len_;
	int32		flags;			/* DD_PACKED, where DDSketch has its pad */
	double		rel_err;
	double		inv_log_gamma;
	double		q;
	int64		count;
	int64		zeros;
	double		min;
	double		max;
	int32		limb_lo;		/* first stored limb of the exact sum */
	int32		nlimbs;
	int32		npos;			/* nonzero positive buckets */
	int32		nneg;
	/* then int64 limbs[nlimbs], then (int32 index, int64 count) pairs */
} DDPackedHead;

static DDSketch *dd_detoast(Datum d);
static Datum dd_pack(DDSketch *s);

PG_FUNCTION_INFO_V1(ddsketch_in);
PG_FUNCTION_INFO_V1(ddsketch_out);
PG_FUNCTION_INFO_V1(ddsketch_recv);
PG_FUNCTION_INFO_V1(ddsketch_send);
PG_FUNCTION_INFO_V1(ddsketch_add);
PG_FUNCTION_INFO_V1(ddsketch_add_q);
PG_FUNCTION_INFO_V1(ddsketch_combine);
PG_FUNCTION_INFO_V1(ddsketch_final);
PG_FUNCTION_INFO_V1(ddsketch_approx_final);
PG_FUNCTION_INFO_V1(ddsketch_quantile);
PG_FUNCTION_INFO_V1(ddsketch_quantiles);
PG_FUNCTION_INFO_V1(ddsketch_rank);
PG_FUNCTION_INFO_V1(ddsketch_summary);

static double
dd_inv_log_gamma(double rel_err)
{
	return 1.0 / log1p(2.0 * rel_err / (1.0 - rel_err));
}

static void
dd_check_rel_err(double rel_err, const char *func)
{
	if (!(rel_err >= DD_MIN_REL_ERR && rel_err <= DD_MAX_REL_ERR))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: rel_err must be between %g and %g, got %g",
						func, DD_MIN_REL_ERR, DD_MAX_REL_ERR, rel_err),
				 errhint("0.01 bounds every quantile estimate within 1%% of a true value.")));
}

/* Smallest and largest bucket index any finite double can fall in. */
static int32
dd_index_bound(double inv_log_gamma, bool upper)
{
	if (upper)
		return (int32) ceil(log(DBL_MAX) * inv_log_gamma) + 1;
	return (int32) ceil(log(4.9406564584124654e-324) * inv_log_gamma) - 1;
}

static inline int32
dd_index(const DDSketch *s, double absval)
{
	return (int32) ceil(log(absval) * s->inv_log_gamma);
}

/*
 * The value every member of bucket i is within rel_err of: 2 gamma^i /
 * (gamma + 1), computed in log space so that gamma^i cannot overflow, and
 * capped at the largest float8 (the top bucket's bound may lie beyond it).
 */
static double
dd_value(const DDSketch *s, int32 i)
{
	double		gamma = (1.0 + s->rel_err) / (1.0 - s->rel_err);
	double		v = exp((double) i / s->inv_log_gamma + log(2.0 / (gamma + 1.0)));

	return Min(v, DBL_MAX);
}

static DDSketch *
dd_alloc(int32 pos_cap, int32 neg_cap)
{
	DDSketch   *s = palloc0(DD_SIZE(pos_cap, neg_cap));

	SET_VARSIZE(s, DD_SIZE(pos_cap, neg_cap));
	s->pos_cap = pos_cap;
	s->neg_cap = neg_cap;
	return s;
}

static DDSketch *
dd_new(double rel_err)
{
	DDSketch   *s = dd_alloc(0, 0);

	s->rel_err = rel_err;
	s->inv_log_gamma = dd_inv_log_gamma(rel_err);
	s->q = get_float8_nan();
	s->min = DBL_MAX;
	s->max = -DBL_MAX;
	return s;
}

static DDSketch *
dd_copy(const DDSketch *s)
{
	DDSketch   *c = palloc(VARSIZE(s));

	memcpy(c, s, VARSIZE(s));
	return c;
}

/* First and last nonzero slot of a store; false if it is empty. */
static bool
dd_used(const uint64 *bins, int32 cap, int32 *first, int32 *last)
{
	int32		a = 0,
				b = cap - 1;

	while (a <= b && bins[a] == 0)
		a++;
	while (b >= a && bins[b] == 0)
		b--;
	*first = a;
	*last = b;
	return a <= b;
}

/*
 * A copy of s whose stores cover the given index ranges (cap 0 = keep the
 * current range).  Counts keep their bucket index.
 */
static DDSketch *
dd_relayout(const DDSketch *s, int32 pos_lo, int32 pos_cap, int32 neg_lo, int32 neg_cap)
{
	DDSketch   *n = dd_alloc(pos_cap, neg_cap);
	int32		j;

	memcpy(n, s, offsetof(DDSketch, bins));
	SET_VARSIZE(n, DD_SIZE(pos_cap, neg_cap));
	n->pos_lo = pos_lo;
	n->pos_cap = pos_cap;
	n->neg_lo = neg_lo;
	n->neg_cap = neg_cap;
	for (j = 0; j < s->pos_cap; j++)
		if (POS_BINS(s)[j] != 0)
			POS_BINS(n)[s->pos_lo + j - pos_lo] = POS_BINS(s)[j];
	for (j = 0; j < s->neg_cap; j++)
		if (NEG_BINS(s)[j] != 0)
			NEG_BINS(n)[s->neg_lo + j - neg_lo] = NEG_BINS(s)[j];
	return n;
}

/* ---- the compact stored form ---- */

static inline char *
put_varint(char *p, uint64 v)
{
	while (v >= 0x80)
	{
		*p++ = (char) (v | 0x80);
		v >>= 7;
	}
	*p++ = (char) v;
	return p;
}

static inline char *
put_zigzag(char *p, int64 v)
{
	return put_varint(p, ((uint64) v << 1) ^ (uint64) (v >> 63));
}

static inline char *
put_double(char *p, double v)
{
	memcpy(p, &v, sizeof(double));
	return p + sizeof(double);
}

typedef struct CompactReader
{
	const char *p;
	const char *end;
} CompactReader;

static void
compact_corrupt(void)
{
	elog(ERROR, "metrics_ex: corrupt compact ddsketch");
}

static uint64
get_varint(CompactReader *r)
{
	uint64		v = 0;

	for (int shift = 0; shift < 64; shift += 7)
	{
		uint8		b;

		if (r->p >= r->end)
			compact_corrupt();
		b = (uint8) *r->p++;
		v |= (uint64) (b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	compact_corrupt();
	return 0;
}

static int64
get_zigzag(CompactReader *r)
{
	uint64		v = get_varint(r);

	return (int64) (v >> 1) ^ -(int64) (v & 1);
}

static double
get_double(CompactReader *r)
{
	double		v;

	if (r->end - r->p < (ptrdiff_t) sizeof(double))
		compact_corrupt();
	memcpy(&v, r->p, sizeof(double));
	r->p += sizeof(double);
	return v;
}

/* The compact form of a compacted sketch, if smaller (see DD_COMPACT). */
static Datum
dd_pack(DDSketch *s)
{
	int32		lo = XSUM_LIMBS,
				hi = -1;
	int32		npos = 0,
				nneg = 0;
	Size		bound;
	char	   *buf,
			   *p;
	int32		flags = DD_COMPACT;

	if (s->sum.pending != 0)
		return PointerGetDatum(s);
	for (int i = 0; i < XSUM_LIMBS; i++)
		if (s->sum.limb[i] != 0)
		{
			lo = Min(lo, i);
			hi = i;
		}
	if (hi < lo)
		lo = hi = 0;
	for (int i = 0; i < s->pos_cap; i++)
		npos += POS_BINS(s)[i] != 0;
	for (int i = 0; i < s->neg_cap; i++)
		nneg += NEG_BINS(s)[i] != 0;

	/* at most: header, 4 doubles, 2 counts, the limbs, 2 stores of pairs */
	bound = VARHDRSZ + sizeof(int32) + 4 * sizeof(double) + 2 * 10 + 2 + 10 * (hi - lo + 1) +
		2 * (5 + 5) + 15 * ((Size) npos + nneg);
	buf = palloc(bound);
	p = buf + VARHDRSZ + sizeof(int32);
	if (!isnan(s->q))
		flags |= DD_HAS_Q;
	memcpy(buf + VARHDRSZ, &flags, sizeof(int32));
	p = put_double(p, s->rel_err);
	if (flags & DD_HAS_Q)
		p = put_double(p, s->q);
	p = put_varint(p, (uint64) s->count);
	p = put_varint(p, (uint64) s->zeros);
	p = put_double(p, s->min);
	p = put_double(p, s->max);
	*p++ = (char) lo;
	*p++ = (char) (hi - lo + 1);
	for (int i = lo; i <= hi; i++)
		p = put_zigzag(p, s->sum.limb[i]);
	for (int neg = 0; neg < 2; neg++)
	{
		const uint64 *bins = neg ? NEG_BINS(s) : POS_BINS(s);
		int32		cap = neg ? s->neg_cap : s->pos_cap;
		int32		base = neg ? s->neg_lo : s->pos_lo;
		int32		prev = 0;
		bool		first = true;

		p = put_varint(p, (uint64) (neg ? nneg : npos));
		for (int32 i = 0; i < cap; i++)
		{
			int32		idx = base + i;

			if (bins[i] == 0)
				continue;
			p = first ? put_zigzag(p, idx) : put_varint(p, (uint64) (idx - prev - 1));
			p = put_varint(p, bins[i]);
			prev = idx;
			first = false;
		}
		Assert((Size) (p - buf) <= bound);
	}
	if ((Size) (p - buf) >= VARSIZE(s))
	{
		pfree(buf);
		return PointerGetDatum(s);
	}
	SET_VARSIZE(buf, p - buf);
	return PointerGetDatum(buf);
}

/* The dense sketch of a compact one. */
static DDSketch *
dd_uncompact(const char *data, Size size, int32 flags)
{
	CompactReader r = {data, data + size};
	double		rel_err,
				q = get_float8_nan();
	int64		count,
				zeros;
	double		min,
				max;
	int			limb_lo,
				nlimbs;
	int64		limbs[XSUM_LIMBS];
	int32		first[2] = {0, 0},
				last[2] = {-1, -1};
	int64		nbins[2];
	CompactReader bins_at;
	DDSketch   *out;

	rel_err = get_double(&r);
	if (flags & DD_HAS_Q)
		q = get_double(&r);
	count = (int64) get_varint(&r);
	zeros = (int64) get_varint(&r);
	min = get_double(&r);
	max = get_double(&r);
	if (r.end - r.p < 2)
		compact_corrupt();
	limb_lo = (uint8) *r.p++;
	nlimbs = (uint8) *r.p++;
	if (nlimbs < 1 || limb_lo + nlimbs > XSUM_LIMBS || !(rel_err >= DD_MIN_REL_ERR && rel_err <= DD_MAX_REL_ERR))
		compact_corrupt();
	for (int i = 0; i < nlimbs; i++)
		limbs[i] = get_zigzag(&r);

	/* first pass over the stores: their index ranges */
	bins_at = r;
	for (int neg = 0; neg < 2; neg++)
	{
		int64		idx = 0;

		nbins[neg] = (int64) get_varint(&r);
		if (nbins[neg] < 0 || nbins[neg] > INT32_MAX)
			compact_corrupt();
		for (int64 i = 0; i < nbins[neg]; i++)
		{
			idx = i == 0 ? get_zigzag(&r) : idx + 1 + (int64) get_varint(&r);
			if (idx < INT32_MIN || idx > INT32_MAX)
				compact_corrupt();
			(void) get_varint(&r);
			if (i == 0)
				first[neg] = (int32) idx;
			last[neg] = (int32) idx;
		}
		if (nbins[neg] > 0 && (int64) last[neg] - first[neg] > INT32_MAX / 16)
			compact_corrupt();
	}
	if (r.p != r.end)
		compact_corrupt();

	out = dd_alloc(nbins[0] > 0 ? last[0] - first[0] + 1 : 0, nbins[1] > 0 ? last[1] - first[1] + 1 : 0);
	out->rel_err = rel_err;
	out->inv_log_gamma = dd_inv_log_gamma(rel_err);
	out->q = q;
	out->count = count;
	out->zeros = zeros;
	out->min = min;
	out->max = max;
	out->pos_lo = nbins[0] > 0 ? first[0] : 0;
	out->neg_lo = nbins[1] > 0 ? first[1] : 0;
	memcpy(&out->sum.limb[limb_lo], limbs, sizeof(int64) * nlimbs);
	r = bins_at;
	for (int neg = 0; neg < 2; neg++)
	{
		int64		idx = 0;

		(void) get_varint(&r);
		for (int64 i = 0; i < nbins[neg]; i++)
		{
			idx = i == 0 ? get_zigzag(&r) : idx + 1 + (int64) get_varint(&r);
			if (neg)
				NEG_BINS(out)[idx - out->neg_lo] = get_varint(&r);
			else
				POS_BINS(out)[idx - out->pos_lo] = get_varint(&r);
		}
	}
	return out;
}

/* The dense sketch of a datum, unpacking a packed one. */
static DDSketch *
dd_detoast(Datum d)
{
	DDSketch   *s = (DDSketch *) PG_DETOAST_DATUM(d);
	DDPackedHead *h = (DDPackedHead *) s;
	const char *p;
	int32		lo[2] = {0, 0},
				hi[2] = {-1, -1};
	DDSketch   *out;

	if (VARSIZE(h) >= VARHDRSZ + sizeof(int32) && (h->flags & DD_COMPACT))
		return dd_uncompact((const char *) h + VARHDRSZ + sizeof(int32),
							VARSIZE(h) - VARHDRSZ - sizeof(int32), h->flags);
	if (!(h->flags & DD_PACKED))
		return s;
	if (VARSIZE(h) < sizeof(DDPackedHead) || h->nlimbs < 0 || h->npos < 0 || h->nneg < 0 ||
		h->limb_lo < 0 || h->limb_lo + h->nlimbs > XSUM_LIMBS ||
		VARSIZE(h) != sizeof(DDPackedHead) + sizeof(int64) * h->nlimbs +
		(sizeof(int32) + sizeof(int64)) * ((Size) h->npos + h->nneg))
		elog(ERROR, "metrics_ex: corrupt packed ddsketch");

	/* pairs run in increasing index, positive store first */
	p = (const char *) h + sizeof(DDPackedHead) + sizeof(int64) * h->nlimbs;
#define PAIR_INDEX(i) (memcpy(&idx, p + (Size) (i) * (sizeof(int32) + sizeof(int64)), sizeof(int32)), idx)
	{
		int32		idx;

		if (h->npos > 0)
		{
			lo[0] = PAIR_INDEX(0);
			hi[0] = PAIR_INDEX(h->npos - 1);
		}
		if (h->nneg > 0)
		{
			lo[1] = PAIR_INDEX(h->npos);
			hi[1] = PAIR_INDEX(h->npos + h->nneg - 1);
		}
		if ((h->npos > 0 && hi[0] < lo[0]) || (h->nneg > 0 && hi[1] < lo[1]) ||
			(int64) hi[0] - lo[0] > INT32_MAX / 16 || (int64) hi[1] - lo[1] > INT32_MAX / 16)
			elog(ERROR, "metrics_ex: corrupt packed ddsketch");
	}
#undef PAIR_INDEX
	out = dd_alloc(h->npos > 0 ? hi[0] - lo[0] + 1 : 0, h->nneg > 0 ? hi[1] - lo[1] + 1 : 0);
	out->rel_err = h->rel_err;
	out->inv_log_gamma = h->inv_log_gamma;
	out->q = h->q;
	out->count = h->count;
	out->zeros = h->zeros;
	out->min = h->min;
	out->max = h->max;
	out->pos_lo = h->npos > 0 ? lo[0] : 0;
	out->neg_lo = h->nneg > 0 ? lo[1] : 0;
	memcpy(&out->sum.limb[h->limb_lo], (const char *) h + sizeof(DDPackedHead),
		   sizeof(int64) * h->nlimbs);
	for (int32 i = 0; i < h->npos + h->nneg; i++)
	{
		int			neg = i >= h->npos;
		int32		idx;
		int64		n;

		memcpy(&idx, p + (Size) i * (sizeof(int32) + sizeof(int64)), sizeof(int32));
		memcpy(&n, p + (Size) i * (sizeof(int32) + sizeof(int64)) + sizeof(int32), sizeof(int64));
		if (idx < lo[neg] || idx > hi[neg])
			elog(ERROR, "metrics_ex: corrupt packed ddsketch");
		if (neg)
			NEG_BINS(out)[idx - out->neg_lo] = n;
		else
			POS_BINS(out)[idx - out->pos_lo] = n;
	}
	return out;
}

/* Trim unused slots: the canonical form stored and shipped. */
static DDSketch *
dd_compact(const DDSketch *s)
{
	int32		pf,
				pl,
				nf,
				nl;
	bool		has_pos = dd_used(POS_BINS(s), s->pos_cap, &pf, &pl);
	bool		has_neg = dd_used(NEG_BINS(s), s->neg_cap, &nf, &nl);

	DDSketch   *n = dd_relayout(s,
									has_pos ? s->pos_lo + pf : 0, has_pos ? pl - pf + 1 : 0,
									has_neg ? s->neg_lo + nf : 0, has_neg ? nl - nf + 1 : 0);

	/* the normalized sum is canonical, so equal data gives equal bytes */
	xsum_normalize(&n->sum);
	return n;
}

/*
 * Make sure bucket idx of one store has a slot; returns s itself when it
 * already has, else a grown copy (with room to spare, so growth is rare).
 */
static DDSketch *
dd_reserve(DDSketch *s, bool negative, int32 idx)
{
	int32		lo = negative ? s->neg_lo : s->pos_lo;
	int32		cap = negative ? s->neg_cap : s->pos_cap;
	int64		newlo,
				newcap;

	if (cap > 0 && idx >= lo && (int64) idx - lo < cap)
		return s;
	if (cap == 0)
	{
		newcap = DD_INITIAL_SLOTS;
		newlo = (int64) idx - DD_INITIAL_SLOTS / 2;
	}
	else
	{
		int64		a = Min(lo, idx);
		int64		b = Max((int64) lo + cap - 1, idx);

		newcap = Max(2 * (int64) cap, (b - a + 1) + cap / 2);
		/* grow towards the new index, keeping the far end where it was */
		newlo = (idx < lo) ? (int64) lo + cap - newcap : lo;
	}
	if (negative)
		return dd_relayout(s, s->pos_lo, s->pos_cap, (int32) newlo, (int32) newcap);
	return dd_relayout(s, (int32) newlo, (int32) newcap, s->neg_lo, s->neg_cap);
}

/* Add n copies of bucket idx's members; may return a grown copy. */
static DDSketch *
dd_add_bucket(DDSketch *s, bool negative, int32 idx, uint64 n)
{
	s = dd_reserve(s, negative, idx);
	if (negative)
		NEG_BINS(s)[idx - s->neg_lo] += n;
	else
		POS_BINS(s)[idx - s->pos_lo] += n;
	return s;
}

static DDSketch *
dd_add_value(DDSketch *s, double x)
{
	if (x > 0)
		s = dd_add_bucket(s, false, dd_index(s, x), 1);
	else if (x < 0)
		s = dd_add_bucket(s, true, dd_index(s, -x), 1);
	else
		s->zeros++;
	s->count++;
	if (x < s->min)
		s->min = x;
	if (x > s->max)
		s->max = x;
	xsum_add(&s->sum, x);
	return s;
}

/*
 * Merge b into a (a is writable).  Equal rel_err: exact bucket sums.
 * Different rel_err: the coarser wins, and the finer sketch's buckets are
 * re-bucketed by their representative value.
 */
static DDSketch *
dd_merge(DDSketch *a, const DDSketch *b)
{
	int32		j;
	bool		same = (a->rel_err == b->rel_err);

	if (b->rel_err > a->rel_err)
	{
		/* rebuild a on b's coarser grid, then merge b exactly */
		DDSketch   *c = dd_new(b->rel_err);

		c->q = a->q;
		c = dd_merge(c, a);
		a = c;
		same = true;
	}

	if (same)
	{
		int32		pf,
					pl,
					nf,
					nl;

		/* reserve both ends first so the loop never reallocates */
		if (dd_used(POS_BINS(b), b->pos_cap, &pf, &pl))
		{
			a = dd_reserve(a, false, b->pos_lo + pf);
			a = dd_reserve(a, false, b->pos_lo + pl);
			for (j = pf; j <= pl; j++)
				POS_BINS(a)[b->pos_lo + j - a->pos_lo] += POS_BINS(b)[j];
		}
		if (dd_used(NEG_BINS(b), b->neg_cap, &nf, &nl))
		{
			a = dd_reserve(a, true, b->neg_lo + nf);
			a = dd_reserve(a, true, b->neg_lo + nl);
			for (j = nf; j <= nl; j++)
				NEG_BINS(a)[b->neg_lo + j - a->neg_lo] += NEG_BINS(b)[j];
		}
	}
	else
	{
		for (j = 0; j < b->pos_cap; j++)
			if (POS_BINS(b)[j] != 0)
				a = dd_add_bucket(a, false, dd_index(a, dd_value(b, b->pos_lo + j)),
								  POS_BINS(b)[j]);
		for (j = 0; j < b->neg_cap; j++)
			if (NEG_BINS(b)[j] != 0)
				a = dd_add_bucket(a, true, dd_index(a, dd_value(b, b->neg_lo + j)),
								  NEG_BINS(b)[j]);
	}
	a->count += b->count;
	a->zeros += b->zeros;
	if (b->min < a->min)
		a->min = b->min;
	if (b->max > a->max)
		a->max = b->max;
	if (isnan(a->q))
		a->q = b->q;
	xsum_add_sum(&a->sum, &b->sum);
	return a;
}

/* Estimate of the k-th smallest value (0-based). */
static double
dd_value_at_rank(const DDSketch *s, int64 k)
{
	uint64		c = 0;
	int32		j;

	for (j = s->neg_cap - 1; j >= 0; j--)
	{
		c += NEG_BINS(s)[j];
		if (c > (uint64) k)
			return -dd_value(s, s->neg_lo + j);
	}
	c += s->zeros;
	if (c > (uint64) k)
		return 0.0;
	for (j = 0; j < s->pos_cap; j++)
	{
		c += POS_BINS(s)[j];
		if (c > (uint64) k)
			return dd_value(s, s->pos_lo + j);
	}
	return s->max;
}

/*
 * Interpolates like percentile_cont between the values at the two ranks
 * around q * (count - 1); each is within rel_err of the true one.
 */
static double
dd_quantile(const DDSketch *s, double q, const char *func)
{
	double		pos,
				lo_rank,
				v;

	sketch_check_q(q, func);
	if (q == 0.0)
		return s->min;
	if (q == 1.0)
		return s->max;
	pos = q * (double) (s->count - 1);
	lo_rank = floor(pos);
	v = dd_value_at_rank(s, (int64) lo_rank);
	if (pos > lo_rank)
	{
		double		hi = dd_value_at_rank(s, (int64) lo_rank + 1);

		v = sketch_lerp(v, hi, pos - lo_rank);
	}
	return Min(Max(v, s->min), s->max);
}

/* Fraction of values <= x; values sharing x's bucket count as <= x. */
static double
dd_rank(const DDSketch *s, double x)
{
	uint64		c = 0;
	int32		j,
				idx;

	if (x < s->min)
		return 0.0;
	if (x >= s->max)
		return 1.0;
	if (x < 0)
	{
		idx = dd_index(s, -x);
		for (j = s->neg_cap - 1; j >= 0 && s->neg_lo + j >= idx; j--)
			c += NEG_BINS(s)[j];
	}
	else
	{
		for (j = 0; j < s->neg_cap; j++)
			c += NEG_BINS(s)[j];
		c += s->zeros;
		if (x > 0)
		{
			idx = dd_index(s, x);
			for (j = 0; j < s->pos_cap && s->pos_lo + j <= idx; j++)
				c += POS_BINS(s)[j];
		}
	}
	return (double) c / (double) s->count;
}

/* ---- aggregate support ---- */

/* ddsketch_add(state, value [, rel_err]) */
Datum
ddsketch_add(PG_FUNCTION_ARGS)
{
	DDSketch   *s;
	double		x;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_FLOAT8(1);
	sketch_check_value(x, "ddsketch(value)");

	if (PG_ARGISNULL(0))
	{
		double		rel_err = DD_DEFAULT_REL_ERR;

		if (PG_NARGS() > 2)
		{
			if (PG_ARGISNULL(2))
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("ddsketch(value, rel_err): rel_err must not be NULL"),
						 errhint("Omit it for the default of 0.01.")));
			rel_err = PG_GETARG_FLOAT8(2);
			dd_check_rel_err(rel_err, "ddsketch(value, rel_err)");
		}
		s = dd_new(rel_err);
	}
	else
	{
		s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
		if (!sketch_in_aggregate(fcinfo))
			s = dd_copy(s);
	}
	PG_RETURN_POINTER(dd_add_value(s, x));
}

/* ddsketch_add_q(state, value, q): approx_percentile's transition */
Datum
ddsketch_add_q(PG_FUNCTION_ARGS)
{
	DDSketch   *s;
	double		q;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("approx_percentile(value, q): q must not be NULL"),
				 errhint("Pass a fraction between 0 and 1, e.g. 0.99.")));
	q = PG_GETARG_FLOAT8(2);
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	sketch_check_value(PG_GETARG_FLOAT8(1), "approx_percentile(value, q)");
	if (PG_ARGISNULL(0))
	{
		sketch_check_q(q, "approx_percentile(value, q)");
		s = dd_new(DD_DEFAULT_REL_ERR);
		s->q = q;
	}
	else
	{
		s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
		if (!sketch_in_aggregate(fcinfo))
			s = dd_copy(s);
		if (s->q != q)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("approx_percentile(value, q): q must be the same for every row of a group"),
					 errhint("Compute several percentiles with quantiles(ddsketch(value), ARRAY[...]).")));
	}
	PG_RETURN_POINTER(dd_add_value(s, PG_GETARG_FLOAT8(1)));
}

/* ddsketch_combine(a, b): combine function and transition of ddsketch(ddsketch) */
Datum
ddsketch_combine(PG_FUNCTION_ARGS)
{
	DDSketch   *a,
			   *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = DatumGetDDSketchP(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(dd_copy(b));
	a = DatumGetDDSketchP(PG_GETARG_DATUM(0));
	if (!sketch_in_aggregate(fcinfo))
		a = dd_copy(a);
	PG_RETURN_POINTER(dd_merge(a, b));
}

Datum
ddsketch_final(PG_FUNCTION_ARGS)
{
	DDSketch   *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = dd_compact(DatumGetDDSketchP(PG_GETARG_DATUM(0)));
	s->q = get_float8_nan();	/* a stored sketch answers any quantile */
	PG_RETURN_DATUM(dd_pack(s));
}

Datum
ddsketch_approx_final(PG_FUNCTION_ARGS)
{
	DDSketch   *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
	PG_RETURN_FLOAT8(dd_quantile(s, s->q, "approx_percentile(value, q)"));
}

/* ---- accessors ---- */

Datum
ddsketch_quantile(PG_FUNCTION_ARGS)
{
	DDSketch   *s = DatumGetDDSketchP(PG_GETARG_DATUM(0));

	PG_RETURN_FLOAT8(dd_quantile(s, PG_GETARG_FLOAT8(1), "quantile(ddsketch, q)"));
}

Datum
ddsketch_quantiles(PG_FUNCTION_ARGS)
{
	DDSketch   *s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
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
					 errmsg("quantiles(ddsketch, q): q must not contain NULL"),
					 errhint("Pass fractions between 0 and 1, e.g. ARRAY[0.5, 0.99].")));
		qs[i] = Float8GetDatum(dd_quantile(s, DatumGetFloat8(qs[i]), "quantiles(ddsketch, q)"));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(qs, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
ddsketch_rank(PG_FUNCTION_ARGS)
{
	DDSketch   *s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
	double		x = PG_GETARG_FLOAT8(1);

	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rank(ddsketch, value): value must not be NaN"),
				 errhint("Pass a number; -Infinity and Infinity give 0 and 1.")));
	PG_RETURN_FLOAT8(dd_rank(s, x));
}

Datum
ddsketch_summary(PG_FUNCTION_ARGS)
{
	DDSketch   *s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
	double		sum = xsum_to_double(&s->sum);

	PG_RETURN_DATUM(sketch_summary_jsonb(s->count, sum, s->min, s->max,
										 sum / (double) s->count));
}

/* ---- I/O ---- */

static void
dd_invalid(bool binary, const char *detail)
{
	ereport(ERROR,
			(errcode(binary ? ERRCODE_INVALID_BINARY_REPRESENTATION : ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid value for type ddsketch: %s", detail),
			 errhint("Use the %s produced by the type's output function.", binary ? "bytes" : "text")));
}

/* Check a fully read sketch; the stores must already be within index bounds. */
static void
dd_validate(DDSketch *s, bool binary)
{
	uint64		total = (uint64) s->zeros;
	int32		j;

	if (s->count < 1 || s->zeros < 0)
		dd_invalid(binary, "count must be positive");
	if (!isfinite(s->min) || !isfinite(s->max) || s->min > s->max)
		dd_invalid(binary, "min and max must be finite with min <= max");
	if (!isnan(s->q) && !(s->q >= 0 && s->q <= 1))
		dd_invalid(binary, "q must be between 0 and 1");
	for (j = 0; j < s->pos_cap + s->neg_cap; j++)
	{
		if (s->bins[j] > (uint64) PG_INT64_MAX - total)
			dd_invalid(binary, "bucket counts overflow");
		total += s->bins[j];
	}
	if (total != (uint64) s->count)
		dd_invalid(binary, "bucket counts do not add up to count");
	if ((s->zeros > 0 && (s->min > 0 || s->max < 0)) ||
		(s->neg_cap > 0 && s->min >= 0) || (s->pos_cap > 0 && s->max <= 0))
		dd_invalid(binary, "min and max contradict the buckets");
}

static void
dd_check_range(double rel_err, int32 lo, int64 n, bool binary)
{
	double		inv = dd_inv_log_gamma(rel_err);

	if (n < 0 || (n > 0 && (lo < dd_index_bound(inv, false) ||
							(int64) lo + n - 1 > dd_index_bound(inv, true))))
		dd_invalid(binary, "bucket index out of range");
}

/*
 * Reads "<lo>:{c,c,...}" into a palloc'd array, bounded by the index range;
 * "c*n" stands for n buckets of count c.
 */
static uint64 *
dd_read_store(SketchParser *p, double rel_err, int32 *lo, int32 *n)
{
	int64		l = sketch_read_int64(p);
	double		inv = dd_inv_log_gamma(rel_err);
	int64		maxn;
	int32		cap = 16,
				len = 0;
	uint64	   *counts = palloc(cap * sizeof(uint64));

	if (l < dd_index_bound(inv, false) || l > dd_index_bound(inv, true))
		sketch_syntax_error(p, "Bucket index out of range.");
	maxn = (int64) dd_index_bound(inv, true) - l + 1;
	sketch_expect(p, ":{");
	if (!sketch_accept(p, "}"))
	{
		do
		{
			int64		c = sketch_read_int64(p);
			int64		run = 1;

			if (c < 0)
				sketch_syntax_error(p, "Bucket counts must not be negative.");
			if (sketch_accept(p, "*"))
			{
				run = sketch_read_int64(p);		/* c repeated run times */
				if (run < 1)
					sketch_syntax_error(p, "A repeat count must be positive.");
			}
			if (run > maxn - len)
				sketch_syntax_error(p, "Too many buckets.");
			while (len + run > cap)
			{
				cap *= 2;
				counts = repalloc(counts, cap * sizeof(uint64));
			}
			while (run-- > 0)
				counts[len++] = (uint64) c;
		} while (sketch_accept(p, ","));
		sketch_expect(p, "}");
	}
	*lo = (int32) l;
	*n = len;
	return counts;
}

Datum
ddsketch_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	SketchParser p;
	DDSketch	h;
	DDSketch   *s;
	uint64	   *pos,
			   *neg;
	int32		pos_lo,
				pos_n,
				neg_lo,
				neg_n;

	memset(&h, 0, sizeof(h));
	sketch_parser_init(&p, str, "ddsketch");
	sketch_expect(&p, "rel_err=");
	h.rel_err = sketch_read_double(&p);
	dd_check_rel_err(h.rel_err, "ddsketch input");
	sketch_expect(&p, "count=");
	h.count = sketch_read_int64(&p);
	sketch_expect(&p, "zeros=");
	h.zeros = sketch_read_int64(&p);
	sketch_expect(&p, "min=");
	h.min = sketch_read_double(&p);
	sketch_expect(&p, "max=");
	h.max = sketch_read_double(&p);
	sketch_expect(&p, "sum=");
	xsum_in(&p, &h.sum);
	sketch_expect(&p, "pos=");
	pos = dd_read_store(&p, h.rel_err, &pos_lo, &pos_n);
	sketch_expect(&p, "neg=");
	neg = dd_read_store(&p, h.rel_err, &neg_lo, &neg_n);
	h.q = get_float8_nan();
	if (sketch_accept(&p, "q="))
		h.q = sketch_read_double(&p);
	sketch_expect_end(&p);

	s = dd_alloc(pos_n, neg_n);
	memcpy(((char *) s) + sizeof(int32), ((char *) &h) + sizeof(int32),
		   offsetof(DDSketch, bins) - sizeof(int32));
	s->inv_log_gamma = dd_inv_log_gamma(s->rel_err);
	s->pos_lo = pos_lo;
	s->pos_cap = pos_n;
	s->neg_lo = neg_lo;
	s->neg_cap = neg_n;
	memcpy(POS_BINS(s), pos, pos_n * sizeof(uint64));
	memcpy(NEG_BINS(s), neg, neg_n * sizeof(uint64));
	s = dd_compact(s);
	dd_validate(s, false);
	PG_RETURN_DATUM(dd_pack(s));
}

static void
dd_out_store(StringInfo buf, const uint64 *bins, int32 lo, int32 cap)
{
	int32		f,
				l,
				j;

	if (!dd_used(bins, cap, &f, &l))
	{
		appendStringInfoString(buf, "0:{}");
		return;
	}
	appendStringInfo(buf, "%d:{", lo + f);
	for (j = f; j <= l; j++)
	{
		int32		run = 1;

		if (j > f)
			appendStringInfoChar(buf, ',');
		/* runs of empty buckets are written as 0*<length> */
		while (bins[j] == 0 && j + run <= l && bins[j + run] == 0)
			run++;
		if (run > 1)
		{
			appendStringInfo(buf, "0*%d", run);
			j += run - 1;
		}
		else
			appendStringInfo(buf, UINT64_FORMAT, bins[j]);
	}
	appendStringInfoChar(buf, '}');
}

Datum
ddsketch_out(PG_FUNCTION_ARGS)
{
	DDSketch   *s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "rel_err=");
	sketch_append_double(&buf, s->rel_err);
	appendStringInfo(&buf, " count=" INT64_FORMAT " zeros=" INT64_FORMAT " min=",
					 s->count, s->zeros);
	sketch_append_double(&buf, s->min);
	appendStringInfoString(&buf, " max=");
	sketch_append_double(&buf, s->max);
	appendStringInfoString(&buf, " sum=");
	xsum_out(&buf, &s->sum);
	appendStringInfoString(&buf, " pos=");
	dd_out_store(&buf, POS_BINS(s), s->pos_lo, s->pos_cap);
	appendStringInfoString(&buf, " neg=");
	dd_out_store(&buf, NEG_BINS(s), s->neg_lo, s->neg_cap);
	if (!isnan(s->q))
	{
		appendStringInfoString(&buf, " q=");
		sketch_append_double(&buf, s->q);
	}
	PG_RETURN_CSTRING(buf.data);
}

static void
dd_send_store(StringInfo buf, const uint64 *bins, int32 lo, int32 cap)
{
	int32		f,
				l,
				j;

	if (!dd_used(bins, cap, &f, &l))
	{
		pq_sendint32(buf, 0);
		pq_sendint32(buf, 0);
		return;
	}
	pq_sendint32(buf, lo + f);
	pq_sendint32(buf, l - f + 1);
	for (j = f; j <= l; j++)
		pq_sendint64(buf, (int64) bins[j]);
}

Datum
ddsketch_send(PG_FUNCTION_ARGS)
{
	DDSketch   *s = DatumGetDDSketchP(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, SKETCH_BINARY_VERSION);
	pq_sendfloat8(&buf, s->rel_err);
	sketch_send_float8(&buf, s->q);
	pq_sendint64(&buf, s->count);
	pq_sendint64(&buf, s->zeros);
	pq_sendfloat8(&buf, s->min);
	pq_sendfloat8(&buf, s->max);
	xsum_send(&buf, &s->sum);
	dd_send_store(&buf, POS_BINS(s), s->pos_lo, s->pos_cap);
	dd_send_store(&buf, NEG_BINS(s), s->neg_lo, s->neg_cap);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
ddsketch_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	DDSketch	h;
	DDSketch   *s;
	int32		j;

	memset(&h, 0, sizeof(h));
	sketch_recv_version(buf, "ddsketch");
	h.rel_err = pq_getmsgfloat8(buf);
	if (!(h.rel_err >= DD_MIN_REL_ERR && h.rel_err <= DD_MAX_REL_ERR))
		dd_invalid(true, "rel_err out of range");
	h.q = pq_getmsgfloat8(buf);
	h.count = pq_getmsgint64(buf);
	h.zeros = pq_getmsgint64(buf);
	h.min = pq_getmsgfloat8(buf);
	h.max = pq_getmsgfloat8(buf);
	xsum_recv(buf, &h.sum);
	h.pos_lo = (int32) pq_getmsgint(buf, 4);
	h.pos_cap = (int32) pq_getmsgint(buf, 4);
	dd_check_range(h.rel_err, h.pos_lo, h.pos_cap, true);
	/* never trust a length beyond the bytes actually there */
	if ((Size) h.pos_cap * sizeof(uint64) > (Size) (buf->len - buf->cursor))
		dd_invalid(true, "truncated bucket counts");

	s = dd_alloc(h.pos_cap, 0);
	memcpy(((char *) s) + sizeof(int32), ((char *) &h) + sizeof(int32),
		   offsetof(DDSketch, bins) - sizeof(int32));
	for (j = 0; j < h.pos_cap; j++)
		POS_BINS(s)[j] = (uint64) pq_getmsgint64(buf);
	h.neg_lo = (int32) pq_getmsgint(buf, 4);
	h.neg_cap = (int32) pq_getmsgint(buf, 4);
	dd_check_range(h.rel_err, h.neg_lo, h.neg_cap, true);
	if ((Size) h.neg_cap * sizeof(uint64) > (Size) (buf->len - buf->cursor))
		dd_invalid(true, "truncated bucket counts");
	{
		DDSketch   *t = dd_alloc(h.pos_cap, h.neg_cap);

		memcpy(((char *) t) + sizeof(int32), ((char *) s) + sizeof(int32),
			   DD_SIZE(h.pos_cap, 0) - sizeof(int32));
		t->neg_lo = h.neg_lo;
		t->neg_cap = h.neg_cap;
		s = t;
	}
	for (j = 0; j < h.neg_cap; j++)
		NEG_BINS(s)[j] = (uint64) pq_getmsgint64(buf);
	s->inv_log_gamma = dd_inv_log_gamma(s->rel_err);
	for (j = 0; j < s->pos_cap + s->neg_cap; j++)
		if ((int64) s->bins[j] < 0)
			dd_invalid(true, "negative bucket count");
	s = dd_compact(s);
	dd_validate(s, true);
	PG_RETURN_DATUM(dd_pack(s));
}

/* C API for the write path (sketch_api.h) */

DDSketch *
ddsketch_create(double rel_err)
{
	return dd_new(rel_err);
}

DDSketch *
ddsketch_add_value(DDSketch *s, double x)
{
	return dd_add_value(s, x);
}

Datum
ddsketch_to_datum(DDSketch *s)
{
	return dd_pack(dd_compact(s));
}

DDSketch *
ddsketch_merge_datum(DDSketch *a, Datum b)
{
	return dd_merge(a, dd_detoast(b));
}

DDSketch *
ddsketch_copy_datum(Datum d)
{
	return dd_copy(dd_detoast(d));
}

/*
 * A sketch of n values at once.  Reserving the buckets of the extreme
 * magnitudes first means the stores never grow value by value.
 */
DDSketch *
ddsketch_build(double rel_err, const double *values, int n)
{
	DDSketch   *s = dd_new(rel_err);
	double		lo[2] = {DBL_MAX, DBL_MAX},
				hi[2] = {0, 0};

	for (int i = 0; i < n; i++)
	{
		double		x = values[i];
		int			neg = x < 0;
		double		a = fabs(x);

		if (x == 0)
			continue;
		if (a < lo[neg])
			lo[neg] = a;
		if (a > hi[neg])
			hi[neg] = a;
	}
	for (int neg = 0; neg < 2; neg++)
		if (hi[neg] > 0)
		{
			s = dd_reserve(s, neg, dd_index(s, lo[neg]));
			s = dd_reserve(s, neg, dd_index(s, hi[neg]));
		}
	for (int i = 0; i < n; i++)
		s = dd_add_value(s, values[i]);
	return s;
}
