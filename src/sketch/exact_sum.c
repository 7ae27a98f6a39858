/*
 * exact_sum.c
 *		Exact float8 summation.  A double is an integer of at most 53 bits
 *		times a power of two between 2^-1074 and 2^971, so it adds exactly
 *		into an array of 32-bit digits.  Digits live in int64 so that carries
 *		can wait: we normalize only every 2^30 additions and before output,
 *		and the normalized form is canonical (hence bit-identical merges).
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"
#include "utils/float.h"

#include "exact_sum.h"

#define LOW32(x)	((int64) ((uint64) (x) & UINT64CONST(0xffffffff)))
#define PENDING_LIMIT (1 << 30)

void
xsum_normalize(ExactSum *s)
{
	int			i;

	for (i = 0; i < XSUM_LIMBS - 1; i++)
	{
		int64		low = LOW32(s->limb[i]);

		/* exact division: limb - low is a multiple of 2^32 */
		s->limb[i + 1] += (s->limb[i] - low) / (INT64CONST(1) << 32);
		s->limb[i] = low;
	}
	s->pending = 0;
}

void
xsum_add(ExactSum *s, double v)
{
	uint64		bits;
	uint64		mant;
	int			biased;
	int			pos,
				idx,
				shift;
	uint64		lo,
				hi;

	if (v == 0.0)
		return;
	if (s->pending >= PENDING_LIMIT)
		xsum_normalize(s);
	memcpy(&bits, &v, sizeof(bits));
	mant = bits & ((UINT64CONST(1) << 52) - 1);
	biased = (int) ((bits >> 52) & 0x7ff);
	if (biased == 0)
		pos = 0;				/* subnormal: mant * 2^-1074 */
	else
	{
		mant |= UINT64CONST(1) << 52;
		pos = biased - 1;		/* mant * 2^(biased - 1075) */
	}
	idx = pos / 32;
	shift = pos % 32;
	/* split the 53-bit mantissa so each shifted half fits in 64 bits */
	lo = (mant & UINT64CONST(0xffffffff)) << shift;
	hi = (mant >> 32) << shift;
	if (bits >> 63)
	{
		s->limb[idx] -= (int64) (lo & UINT64CONST(0xffffffff));
		s->limb[idx + 1] -= (int64) (lo >> 32) + (int64) (hi & UINT64CONST(0xffffffff));
		s->limb[idx + 2] -= (int64) (hi >> 32);
	}
	else
	{
		s->limb[idx] += (int64) (lo & UINT64CONST(0xffffffff));
		s->limb[idx + 1] += (int64) (lo >> 32) + (int64) (hi & UINT64CONST(0xffffffff));
		s->limb[idx + 2] += (int64) (hi >> 32);
	}
	s->pending++;
}

void
xsum_add_sum(ExactSum *s, const ExactSum *other)
{
	ExactSum	o;
	int			i;

	memcpy(&o, other, sizeof(o));
	xsum_normalize(&o);
	xsum_normalize(s);
	for (i = 0; i < XSUM_LIMBS; i++)
		s->limb[i] += o.limb[i];
	s->pending = 2;
}

/* Normalized magnitude of s; returns true if s is negative. */
static bool
xsum_magnitude(const ExactSum *s, ExactSum *mag)
{
	int			i;

	memcpy(mag, s, sizeof(*mag));
	xsum_normalize(mag);
	if (mag->limb[XSUM_LIMBS - 1] >= 0)
		return false;
	for (i = 0; i < XSUM_LIMBS; i++)
		mag->limb[i] = -mag->limb[i];
	xsum_normalize(mag);
	return true;
}

/*
 * The exact sum as doubles, one per nonzero digit with the sum's sign, in
 * increasing magnitude; returns how many (at most XSUM_LIMBS).  Only for
 * sums of magnitude below 2^1021, whose digits are all finite doubles.
 */
int
xsum_to_doubles(const ExactSum *s, double *out)
{
	ExactSum	m;
	bool		neg = xsum_magnitude(s, &m);
	int			n = 0;

	for (int i = 0; i < XSUM_LIMBS; i++)
		if (m.limb[i] != 0)
		{
			double		d = ldexp((double) m.limb[i], 32 * i - 1074);

			out[n++] = neg ? -d : d;
		}
	return n;
}

double
xsum_to_double(const ExactSum *s)
{
	ExactSum	m;
	bool		neg = xsum_magnitude(s, &m);
	int			h;
	uint64		a,
				b,
				c,
				top;
	int			lead;
	bool		sticky;
	double		r;

	for (h = XSUM_LIMBS - 1; h >= 0 && m.limb[h] == 0; h--)
		;
	if (h < 0)
		return 0.0;

	/*
	 * The 64 bits from the highest one down decide the result (converting
	 * them to double rounds to nearest), what lies below only as a sticky
	 * bit.  The top digit holds 1 to 32 of them, the next two the rest.
	 */
	a = (uint64) m.limb[h];
	b = h >= 1 ? (uint64) m.limb[h - 1] : 0;
	c = h >= 2 ? (uint64) m.limb[h - 2] : 0;
	lead = pg_leftmost_one_pos32((uint32) a) + 1;
	sticky = (c & ((UINT64CONST(1) << lead) - 1)) != 0;
	for (int i = h - 3; i >= 0 && !sticky; i--)
		sticky = m.limb[i] != 0;
	top = (a << (64 - lead)) | (b << (32 - lead)) | (c >> lead);
	r = ldexp((double) (top | (sticky ? 1 : 0)), 32 * (h - 2) + lead - 1074);
	return neg ? -r : r;
}

/*
 * Text form: [-]0x<hex digits>p<exponent>, the integer magnitude times a
 * power of two (output uses exponent = 32 * (lowest nonzero digit) - 1074,
 * input takes any exponent >= -1074); "0" for zero.
 */
void
xsum_out(StringInfo buf, const ExactSum *s)
{
	ExactSum	m;
	bool		neg = xsum_magnitude(s, &m);
	int			h,
				l,
				i;

	for (h = XSUM_LIMBS - 1; h >= 0 && m.limb[h] == 0; h--)
		;
	if (h < 0)
	{
		appendStringInfoChar(buf, '0');
		return;
	}
	for (l = 0; m.limb[l] == 0; l++)
		;
	appendStringInfo(buf, "%s0x%x", neg ? "-" : "", (unsigned int) m.limb[h]);
	for (i = h - 1; i >= l; i--)
		appendStringInfo(buf, "%08x", (unsigned int) m.limb[i]);
	appendStringInfo(buf, "p%d", 32 * l - 1074);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
xsum_in(SketchParser *p, ExactSum *s)
{
	bool		neg;
	char	   *digits;
	int			ndigits = 0;
	int64		exp;
	int			i;

	memset(s, 0, sizeof(*s));
	neg = sketch_accept(p, "-");
	if (!neg && sketch_accept(p, "0"))
	{
		if (*p->pos != 'x')
			return;				/* plain "0" */
		p->pos--;				/* give the '0' of "0x" back */
	}
	sketch_expect(p, "0x");
	digits = p->pos;
	while (hexval(*p->pos) >= 0)
	{
		p->pos++;
		ndigits++;
	}
	if (ndigits == 0)
		sketch_syntax_error(p, "Expected hexadecimal digits in the exact sum.");
	sketch_expect(p, "p");
	exp = sketch_read_int64(p);
	/* any exponent from -1074 up, as long as the top digit stays in range */
	if (exp < -1074 || exp + 1074 + 4 * (int64) ndigits > 32 * (XSUM_LIMBS - 2))
		sketch_syntax_error(p, "Exact sum out of range.");
	/* digits are most significant first; place them from the last one */
	for (i = 0; i < ndigits; i++)
	{
		int64		bit = exp + 1074 + 4 * (int64) i;

		s->limb[bit / 32] += (int64) hexval(digits[ndigits - 1 - i]) << (bit % 32);
	}
	xsum_normalize(s);
	if (neg)
	{
		for (i = 0; i < XSUM_LIMBS; i++)
			s->limb[i] = -s->limb[i];
		xsum_normalize(s);
	}
}

/* Binary form: the normalized digits from the lowest to the highest nonzero. */
void
xsum_send(StringInfo buf, const ExactSum *s)
{
	ExactSum	m;
	int			h,
				l,
				i;

	memcpy(&m, s, sizeof(m));
	xsum_normalize(&m);
	for (h = XSUM_LIMBS - 1; h >= 0 && m.limb[h] == 0; h--)
		;
	for (l = 0; l <= h && m.limb[l] == 0; l++)
		;
	pq_sendint16(buf, (uint16) l);
	pq_sendint16(buf, (uint16) (h - l + 1));
	for (i = l; i <= h; i++)
		pq_sendint64(buf, m.limb[i]);
}

void
xsum_recv(StringInfo buf, ExactSum *s)
{
	int			l = pq_getmsgint(buf, 2);
	int			n = pq_getmsgint(buf, 2);
	int			i;

	memset(s, 0, sizeof(*s));
	if (l < 0 || n < 0 || l + n > XSUM_LIMBS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid exact sum in binary input"),
				 errhint("Use the bytes produced by the type's send function.")));
	for (i = 0; i < n; i++)
	{
		int64		v = pq_getmsgint64(buf);

		/* digits of a normalized sum; only the top one may be negative */
		if ((l + i < XSUM_LIMBS - 1 && (v < 0 || v > INT64CONST(0xffffffff))) ||
			(l + i == XSUM_LIMBS - 1 && (v < -INT64CONST(0x7fffffff) || v > INT64CONST(0x7fffffff))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid exact sum in binary input"),
					 errhint("Use the bytes produced by the type's send function.")));
		s->limb[l + i] = v;
	}
}

void
values_sum_m2(const double *values, int n, double *sum, double *m2)
{
	ExactSum	xs;
	double		mean,
				dev = 0;

	memset(&xs, 0, sizeof(xs));
	for (int i = 0; i < n; i++)
		xsum_add(&xs, values[i]);
	*sum = xsum_to_double(&xs);
	mean = *sum / n;
	if (!isfinite(mean))
	{
		/* a sum beyond the float8 range: the mean of the values is not */
		mean = 0;
		for (int i = 0; i < n; i++)
			mean += values[i] / n;
	}
	for (int i = 0; i < n; i++)
		dev += (values[i] - mean) * (values[i] - mean);
	*m2 = isnan(dev) ? get_float8_infinity() : dev;
}
