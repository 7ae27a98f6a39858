/*
 * http_page.c
 *		The endpoint's page and charts: GET / and GET /chart.svg.
 *
 * The HTML and the SVG are made in SQL, by metrics_ex.dashboard_html() and
 * metrics_ex.chart_svg() (src/read/page.sql): what a browser gets is what
 * those functions return, testable from psql, and every text that comes
 * from data is escaped in one place there.  Here the query string is
 * checked and handed over as parameters of one fixed, schema-qualified
 * statement, which runs exactly like a scrape (http_run(): as
 * metrics_ex.http_role in a security-restricted operation, with the same
 * timeout).  A parameter this file cannot judge (a span, a bucket, an
 * aggregation, a tag name) is judged by the SQL functions, whose errors name
 * the argument; those errors are answered 400 with their message.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "read/http.h"

/* Nothing is loaded from anywhere, nothing runs: inline styles only. */
#define PAGE_CSP	"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define SVG_CSP		"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

#define PAGE_SQL \
	"SELECT metrics_ex.dashboard_html(), 'text/html; charset=utf-8'::pg_catalog.text"
#define CHART_SQL \
	"SELECT metrics_ex.chart_svg($1, $2, $3, $4, NULL, $5, $6, $7," \
	" metrics_ex._chart_time_arg($8, 'since'), metrics_ex._chart_time_arg($9, 'until'))," \
	" 'image/svg+xml; charset=utf-8'::pg_catalog.text"

/* /chart.svg's parameters, in the order of CHART_SQL's arguments */
static const char *const chart_params[] = {
	"name", "bucket", "aggregation", "span", "group_by", "width", "height", "since", "until"
};
#define N_CHART_PARAMS	lengthof(chart_params)
#define GROUP_BY_ARG	4
#define WIDTH_ARG		5
#define HEIGHT_ARG		6
#define MAX_VALUE_LEN	1000

/* group_by=a,b and group_by=a&group_by=b: a text[] of the names */
static Datum
group_by_array(List *values)
{
	List	   *names = NIL;
	ListCell   *lc;
	Datum	   *elems;
	int			n = 0;

	foreach(lc, values)
	{
		char	   *s = pstrdup(lfirst(lc));
		char	   *tok;
		char	   *save;

		for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		{
			char	   *end;

			while (*tok == ' ')
				tok++;
			for (end = tok + strlen(tok); end > tok && end[-1] == ' '; end--)
				;
			*end = '\0';
			if (*tok != '\0')
				names = lappend(names, tok);
		}
	}
	elems = palloc(sizeof(Datum) * (list_length(names) + 1));
	foreach(lc, names)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* a whole number of pixels: at most 6 digits, bounds checked in SQL */
static bool
parse_pixels(const char *s, int32 *out)
{
	int			n = strlen(s);

	if (n == 0 || n > 6 || strspn(s, "0123456789") != (size_t) n)
		return false;
	*out = atoi(s);
	return true;
}

/* The statement of GET /chart.svg; false (res filled in) for a bad request. */
static bool
chart_statement(const HttpRequest *req, HttpStatement *st, HttpResponse *res)
{
	bool		ok;
	List	   *params = http_query_params(req->query, &ok);
	List	   *group_by = NIL;
	bool		given[N_CHART_PARAMS] = {0};
	ListCell   *lc;

	if (!ok)
	{
		http_error(res, 400, "the query string is not valid percent-encoding");
		return false;
	}
	st->sql = CHART_SQL;
	st->nargs = N_CHART_PARAMS;
	for (int i = 0; i < (int) N_CHART_PARAMS; i++)
	{
		st->argtypes[i] = i == GROUP_BY_ARG ? TEXTARRAYOID : (i == WIDTH_ARG || i == HEIGHT_ARG) ? INT4OID : TEXTOID;
		st->nulls[i] = 'n';
	}

	foreach(lc, params)
	{
		char	  **kv = lfirst(lc);
		int			i;

		for (i = 0; i < (int) N_CHART_PARAMS; i++)
			if (strcmp(kv[0], chart_params[i]) == 0)
				break;
		if (i == (int) N_CHART_PARAMS)
		{
			http_error(res, 400, "unknown parameter \"%s\": /chart.svg takes name, bucket, aggregation, span, group_by, width, height, since and until",
					   pg_verifymbstr(kv[0], strlen(kv[0]), true) ? kv[0] : "?");
			return false;
		}
		if (strlen(kv[1]) > MAX_VALUE_LEN || !pg_verifymbstr(kv[1], strlen(kv[1]), true))
		{
			http_error(res, 400, "%s= is not valid UTF-8 text of at most %d bytes", kv[0], MAX_VALUE_LEN);
			return false;
		}
		if (i == GROUP_BY_ARG)
		{
			group_by = lappend(group_by, kv[1]);
			continue;
		}
		if (given[i])
		{
			http_error(res, 400, "%s= is given more than once", kv[0]);
			return false;
		}
		given[i] = true;
		st->nulls[i] = ' ';
		if (i == WIDTH_ARG || i == HEIGHT_ARG)
		{
			int32		px;

			if (!parse_pixels(kv[1], &px))
			{
				http_error(res, 400, "%s= must be a whole number of pixels, not \"%s\"", kv[0], kv[1]);
				return false;
			}
			st->args[i] = Int32GetDatum(px);
		}
		else
			st->args[i] = CStringGetTextDatum(kv[1]);
	}

	if (!given[0])
	{
		http_error(res, 400, "name= is required: /chart.svg?name=<metric>[&aggregation=mean][&span=last_hour][&group_by=<tag>]");
		return false;
	}
	if (!http_check_metric_name(TextDatumGetCString(st->args[0]), res))
		return false;
	if (group_by != NIL)
	{
		st->args[GROUP_BY_ARG] = group_by_array(group_by);
		st->nulls[GROUP_BY_ARG] = ' ';
	}
	st->activity = "metrics_ex http: GET /chart.svg";
	st->what = st->log_what = "the chart";
	st->bad_arguments_400 = true;
	return true;
}

/* Answer GET / or GET /chart.svg (http_answer() has checked the rest). */
void
http_page(const HttpRequest *req, HttpResponse *res)
{
	HttpStatement st;

	memset(&st, 0, sizeof(st));
	res->vary = true;
	if (strcmp(req->path, "/chart.svg") == 0)
	{
		res->csp = SVG_CSP;
		if (!chart_statement(req, &st, res))
			return;
	}
	else
	{
		/* the page takes no parameters; a query string is ignored */
		st.sql = PAGE_SQL;
		st.activity = "metrics_ex http: GET /";
		st.what = st.log_what = "the page";
		res->csp = PAGE_CSP;
	}
	http_run(&st, res);
	http_gzip(req, res);
}
