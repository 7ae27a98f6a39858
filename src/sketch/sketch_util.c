/*
 * sketch_util.c
 *		Argument checks, lossless float text and a tokenizer shared by the
 *		text input functions of tdigest, ddsketch, stats and percentile_state.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"

#include "sketch_util.h"

void
sketch_check_value(double v, const char *func)
{
	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: value must be a finite number, got %s",
						func, isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")),
				 errhint("Filter the input, e.g. WHERE value <> 'NaN' AND value NOT IN ('Infinity', '-Infinity').")));
}

void
sketch_check_q(double q, const char *func)
{
	if (isnan(q) || q < 0.0 || q > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: q must be between 0 and 1, got %g", func, q),
				 errhint("Pass a quantile as a fraction, e.g. 0.99 for p99.")));
}

void
sketch_append_double(StringInfo buf, double v)
{
	char		tmp[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(v, tmp);
	appendStringInfoString(buf, tmp);
}

void
sketch_parser_init(SketchParser *p, char *input, const char *type_name)
{
	p->input = input;
	p->pos = input;
	p->type_name = type_name;
}

void
sketch_syntax_error(SketchParser *p, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s", p->type_name),
			 errdetail("At character %d of the value: %s",
					   (int) (p->pos - p->input) + 1, detail),
			 errhint("Use the text produced by the type's output function.")));
}

static void
skip_space(SketchParser *p)
{
	while (*p->pos == ' ' || *p->pos == '\t' || *p->pos == '\n' || *p->pos == '\r')
		p->pos++;
}

bool
sketch_accept(SketchParser *p, const char *literal)
{
	size_t		len = strlen(literal);

	skip_space(p);
	/* strncmp stops at the input's NUL, so this never over-reads */
	if (strncmp(p->pos, literal, len) != 0)
		return false;
	p->pos += len;
	return true;
}

void
sketch_expect(SketchParser *p, const char *literal)
{
	if (!sketch_accept(p, literal))
	{
		char		detail[128];

		snprintf(detail, sizeof(detail), "Expected \"%s\".", literal);
		sketch_syntax_error(p, detail);
	}
}

double
sketch_read_double(SketchParser *p)
{
	char	   *end;
	char	   *start;
	double		v;

	skip_space(p);
	start = p->pos;
	/* refuse what float8in would skip or accept but we never write */
	if (!(*start == '-' || (*start >= '0' && *start <= '9') ||
		  *start == 'I' || *start == 'N'))
		sketch_syntax_error(p, "Expected a number.");
	v = float8in_internal(start, &end, p->type_name, p->input);
	p->pos = end;
	return v;
}

int64
sketch_read_int64(SketchParser *p)
{
	bool		neg = false;
	uint64		v = 0;
	char	   *start;

	skip_space(p);
	if (*p->pos == '-')
	{
		neg = true;
		p->pos++;
	}
	start = p->pos;
	while (*p->pos >= '0' && *p->pos <= '9')
	{
		if (v > (uint64) PG_INT64_MAX / 10)
			sketch_syntax_error(p, "Integer out of range.");
		v = v * 10 + (uint64) (*p->pos - '0');
		if (v > (uint64) PG_INT64_MAX)
			sketch_syntax_error(p, "Integer out of range.");
		p->pos++;
	}
	if (p->pos == start)
		sketch_syntax_error(p, "Expected an integer.");
	return neg ? -(int64) v : (int64) v;
}

void
sketch_expect_end(SketchParser *p)
{
	skip_space(p);
	if (*p->pos != '\0')
		sketch_syntax_error(p, "Unexpected text after the value.");
}

void
sketch_send_float8(StringInfo buf, double v)
{
	pq_sendfloat8(buf, isnan(v) ? get_float8_nan() : v);
}

void
sketch_recv_version(StringInfo buf, const char *type_name)
{
	int			version = pq_getmsgbyte(buf);

	if (version != SKETCH_BINARY_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported binary format version %d for type %s",
						version, type_name),
				 errhint("This build reads version %d.", SKETCH_BINARY_VERSION)));
}

/* JSON has no Infinity or NaN: a sum beyond the float8 range is null */
static void
append_json_number(StringInfo buf, double v)
{
	if (isfinite(v))
		sketch_append_double(buf, v);
	else
		appendStringInfoString(buf, "null");
}

Datum
sketch_summary_jsonb(int64 count, double sum, double min, double max,
					 double mean)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"count\": " INT64_FORMAT ", \"sum\": ", count);
	append_json_number(&buf, sum);
	appendStringInfoString(&buf, ", \"min\": ");
	append_json_number(&buf, min);
	appendStringInfoString(&buf, ", \"max\": ");
	append_json_number(&buf, max);
	appendStringInfoString(&buf, ", \"mean\": ");
	append_json_number(&buf, mean);
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}
