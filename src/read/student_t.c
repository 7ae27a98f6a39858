/*
 * student_t.c
 *		Student's t distribution, for compare_experiments()' Welch test.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "fmgr.h"
#include "utils/float.h"

PG_FUNCTION_INFO_V1(metrics_ex_student_t_cdf);

/*
 * Regularized incomplete beta I_x(a, b), by its continued fraction
 * evaluated with the modified Lentz method.  The fraction converges fast for
 * x < (a + 1) / (a + b + 2); beyond that the symmetry
 * I_x(a, b) = 1 - I_{1-x}(b, a) is used.
 */
static double
incomplete_beta(double a, double b, double x)
{
	const double tiny = 1e-300;
	const double eps = 1e-15;
	double		front,
				c,
				d,
				f;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	if (x > (a + 1.0) / (a + b + 2.0))
		return 1.0 - incomplete_beta(b, a, 1.0 - x);

	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)) / a;

	/* f = 1 / (1 + d1 / (1 + d2 / (1 + ...))), d_1 first */
	c = 1.0;
	d = 1.0 - (a + b) * x / (a + 1.0);
	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	f = d;
	for (int m = 1; m <= 10000; m++)
	{
		double		num,
					delta;

		/* even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)) */
		num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
		d = 1.0 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		f *= d * c;

		/* odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)) */
		num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
		d = 1.0 + num * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + num / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		delta = d * c;
		f *= delta;
		if (fabs(delta - 1.0) < eps)
			break;
	}
	return front * f;
}

/*
 * student_t_cdf(t, df): P(T <= t).  The tail beyond |t| is
 * I_{df/(df+t^2)}(df/2, 1/2) / 2, computed directly so that small p-values
 * keep their precision.
 */
Datum
metrics_ex_student_t_cdf(PG_FUNCTION_ARGS)
{
	float8		t = PG_GETARG_FLOAT8(0);
	float8		df = PG_GETARG_FLOAT8(1);
	double		tail;

	if (isnan(df) || df <= 0 || isinf(df))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("degrees of freedom must be a positive finite number, not %g", df),
				 errhint("Welch's test gives df > 0 whenever both samples vary.")));
	if (isnan(t))
		PG_RETURN_FLOAT8(get_float8_nan());
	if (isinf(t))
		PG_RETURN_FLOAT8(t > 0 ? 1.0 : 0.0);

	tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
	PG_RETURN_FLOAT8(t > 0 ? 1.0 - tail : tail);
}

