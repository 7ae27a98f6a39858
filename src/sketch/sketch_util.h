/*
 * sketch_util.h
 *		Helpers shared by the sketch types: argument checks, lossless float
 *		text, a small tokenizer for the text input functions, and the
 *		varlena-with-spare-room convention of the aggregate states.
 */
#ifndef SKETCH_UTIL_H
#define SKETCH_UTIL_H

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"

/* First byte of every binary (send/recv) representation. */
#define SKETCH_BINARY_VERSION 1

/* Argument checks; each raises an ERROR naming the argument. */
extern void sketch_check_value(double v, const char *func);
extern void sketch_check_q(double q, const char *func);

/* Append v in shortest round-trip form, as float8out does. */
extern void sketch_append_double(StringInfo buf, double v);

/*
 * Tokenizer over a NUL-terminated input string.  Every reader stops at the
 * terminating NUL, so hostile text can never make us read past it.
 */
typedef struct SketchParser
{
	const char *input;			/* whole string, for error messages */
	char	   *pos;
	const char *type_name;
} SketchParser;

extern void sketch_parser_init(SketchParser *p, char *input, const char *type_name);
extern void sketch_expect(SketchParser *p, const char *literal);
extern bool sketch_accept(SketchParser *p, const char *literal);
extern double sketch_read_double(SketchParser *p);
extern int64 sketch_read_int64(SketchParser *p);
extern void sketch_expect_end(SketchParser *p);
extern void sketch_syntax_error(SketchParser *p, const char *detail) pg_attribute_noreturn();

/* jsonb {count, sum, min, max, mean} shared by every summary() */
extern Datum sketch_summary_jsonb(int64 count, double sum, double min, double max,
								  double mean);

/*
 * a + (b - a) * t, also when b - a overflows (a and b near opposite ends of
 * the float8 range): then the convex form, which cannot.
 */
static inline double
sketch_lerp(double a, double b, double t)
{
	double		d = b - a;

	if (isinf(d))
		return a * (1.0 - t) + b * t;
	return a + d * t;
}

/*
 * Data of an array already checked to have no NULLs (ARR_DATA_PTR itself
 * trips -Wsign-compare).  Needs utils/array.h.
 */
#define SKETCH_ARR_DATA(a) ((void *) ((char *) (a) + ARR_OVERHEAD_NONULLS(ARR_NDIM(a))))

/*
 * pq_sendfloat8 with one NaN: sums of Infinity and -Infinity give a NaN
 * whose sign bit depends on the operand order, and text I/O (hence a dump)
 * writes every NaN as the same one.  Equality compares the sent bytes.
 */
extern void sketch_send_float8(StringInfo buf, double v);

/* Binary input helpers that check the version byte. */
extern void sketch_recv_version(StringInfo buf, const char *type_name);

/*
 * If called as an aggregate's transition or combine function, the state the
 * executor hands us is ours to modify in place.  Outside an aggregate it is
 * someone else's value and must be copied first.
 */
static inline bool
sketch_in_aggregate(FunctionCallInfo fcinfo)
{
	return AggCheckCallContext(fcinfo, NULL) != 0;
}

#endif							/* SKETCH_UTIL_H */
