/*
 * http_metrics.c
 *		What the scrape endpoint answers: the bearer token, the routes, the
 *		scrape itself and gzip.
 *
 * Who runs what.  The worker's session is the bootstrap superuser (its
 * connection is made once, at start), but no SQL runs as that user: each
 * request looks metrics_ex.http_role up, refuses it if it is missing or a
 * superuser, and runs its one fixed statement as that role inside a
 * security-restricted operation (SetUserIdAndSecContext, as PostgreSQL does
 * for index expressions and REFRESH MATERIALIZED VIEW): SET ROLE and SET
 * SESSION AUTHORIZATION are refused there, and every setting the statement
 * changes is rolled back with a GUC nest level.  The statement's text is
 * fixed; metric names from the URL are checked and passed as a parameter.
 * The page and charts (http_page.c) run their statements through the same
 * http_run().
 * Why not connect as the role itself: a bgworker connects once, so a wrong,
 * missing or NOLOGIN role would make the worker die at connection time in a
 * restart loop instead of answering a 503 that says what to fix, and a role
 * change would need a restart; this way the role needs no LOGIN and a
 * reload switches it.
 *
 * Errors.  The statement runs under PG_TRY: on an error the transaction is
 * aborted (which also restores the user id and the settings), the error is
 * logged and the request answered 500 (503 when the role lacks a privilege,
 * with what to grant; 400 with the message, not logged, when a statement
 * whose arguments come from the URL refuses one of them); the worker goes
 * on with the next request.  A statement is cancelled after
 * HTTP_QUERY_TIMEOUT_MS, or statement_timeout when that is set and lower.
 */
#include "postgres.h"

#include <zlib.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "read/http.h"

#define TEXT_PLAIN		"text/plain; charset=utf-8"
#define MAX_TOKEN		4096
#define MAX_NAME_LEN	200

/* the token file's contents, or why there is none (TopMemoryContext) */
static char *token = NULL;
static char *token_problem = NULL;

#define GRANTS_HINT \
	"GRANT USAGE ON SCHEMA metrics_ex TO <role>; " \
	"GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO <role>"

void
http_error(HttpResponse *res, int status, const char *fmt,...)
{
	va_list		args;

	res->status = status;
	res->content_type = TEXT_PLAIN;
	resetStringInfo(&res->body);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&res->body, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&res->body, needed);
	}
	appendStringInfoChar(&res->body, '\n');
}

/* Read metrics_ex.http_token_file again (at start and on SIGHUP). */
void
http_metrics_reload(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	FILE	   *f;
	char		buf[MAX_TOKEN + 2];
	size_t		n;
	char	   *s;
	char	   *e;

	if (token)
		pfree(token);
	if (token_problem)
		pfree(token_problem);
	token = token_problem = NULL;

	if (metrics_ex_http_token_file == NULL || metrics_ex_http_token_file[0] == '\0')
	{
		MemoryContextSwitchTo(old);
		return;
	}
	f = AllocateFile(metrics_ex_http_token_file, "r");
	if (f == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("metrics_ex http: could not open metrics_ex.http_token_file \"%s\": %m",
						metrics_ex_http_token_file)));
		token_problem = pstrdup("metrics_ex.http_token_file could not be read (see the server log); every request is refused until it can");
		MemoryContextSwitchTo(old);
		return;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	FreeFile(f);
	buf[n] = '\0';
	/* surrounding white space is not part of it, as for Prometheus */
	for (s = buf; *s && isspace((unsigned char) *s); s++)
		;
	for (e = s + strlen(s); e > s && isspace((unsigned char) e[-1]); e--)
		;
	*e = '\0';
	if (n > MAX_TOKEN || *s == '\0' || strlen(s) != (size_t) (e - s))
		token_problem = psprintf("metrics_ex.http_token_file holds no usable token (it must hold 1 to %d bytes)", MAX_TOKEN);
	else
		token = pstrdup(s);
	MemoryContextSwitchTo(old);
}

/* Equal strings, in a time that does not depend on where they differ. */
static bool
same_secret(const char *a, const char *b)
{
	size_t		la = strlen(a);
	size_t		lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la; i++)
		diff |= (unsigned char) a[i] ^ (unsigned char) b[i % (lb ? lb : 1)];
	return diff == 0;
}

/* false (and res filled in) when the request may not pass */
static bool
authorized(const HttpRequest *req, HttpResponse *res)
{
	const char *cred = req->authorization;

	if (token_problem != NULL)
	{
		http_error(res, 503, "%s", token_problem);
		return false;
	}
	if (token == NULL)
		return true;
	if (cred != NULL && pg_strncasecmp(cred, "Bearer ", 7) == 0)
	{
		cred += 7;
		while (*cred == ' ')
			cred++;
		if (same_secret(cred, token))
			return true;
	}
	http_error(res, 401, cred == NULL ? "this endpoint needs an Authorization: Bearer header"
			   : "the bearer token is not the one this endpoint accepts");
	res->challenge = true;
	return false;
}

static bool
valid_metric_name(const char *s)
{
	if (s[0] == '\0' || strlen(s) > MAX_NAME_LEN || isdigit((unsigned char) s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char) *s) && *s != '_' && *s != ':')
			return false;
	return true;
}

/* false (and res filled in with a 400) unless name is a valid metric name */
bool
http_check_metric_name(const char *name, HttpResponse *res)
{
	if (valid_metric_name(name))
		return true;
	http_error(res, 400, "invalid metric name \"%s\" in name=: it must match [a-zA-Z_:][a-zA-Z0-9_:]* (at most %d characters)",
			   name, MAX_NAME_LEN);
	return false;
}

static int
cmp_names(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/* ?name=a&name=b: sorted and without repeats, as families are ordered */
static bool
requested_names(const HttpRequest *req, HttpResponse *res, List **names)
{
	bool		ok;
	List	   *all = http_query_values(req->query, "name", "name[]", &ok);
	ListCell   *lc;
	char	   *prev = NULL;

	*names = NIL;
	if (!ok)
	{
		http_error(res, 400, "the query string is not valid percent-encoding");
		return false;
	}
	list_sort(all, cmp_names);
	foreach(lc, all)
	{
		char	   *name = lfirst(lc);

		if (!http_check_metric_name(name, res))
			return false;
		if (prev == NULL || strcmp(prev, name) != 0)
			*names = lappend(*names, name);
		prev = name;
	}
	return true;
}

/*
 * In the scrape's transaction: can it run?  The role to run it as, or
 * res filled in with a 503 that says what to set.
 */
static Oid
scrape_role(HttpResponse *res)
{
	Oid			role;

	if (metrics_ex_http_role == NULL || metrics_ex_http_role[0] == '\0')
	{
		http_error(res, 503,
				   "metrics_ex.http_role is not set. Set it to a role with the reader grants and reload, e.g. "
				   "CREATE ROLE metrics_scraper; GRANT USAGE ON SCHEMA metrics_ex TO metrics_scraper; "
				   "GRANT SELECT ON ALL TABLES IN SCHEMA metrics_ex TO metrics_scraper; "
				   "ALTER SYSTEM SET metrics_ex.http_role = 'metrics_scraper'; SELECT pg_reload_conf();");
		return InvalidOid;
	}
	role = get_role_oid(metrics_ex_http_role, true);
	if (!OidIsValid(role))
	{
		http_error(res, 503, "metrics_ex.http_role \"%s\" does not exist. Create it with the reader grants (" GRANTS_HINT ") or set another role.",
				   metrics_ex_http_role);
		return InvalidOid;
	}
	if (superuser_arg(role))
	{
		http_error(res, 503, "metrics_ex.http_role \"%s\" is a superuser, and a scrape never runs as one. Set it to a role with only the reader grants (" GRANTS_HINT ").",
				   metrics_ex_http_role);
		return InvalidOid;
	}
	if (!OidIsValid(get_extension_oid("metrics_ex", true)))
	{
		http_error(res, 503, "metrics_ex is not installed in database \"%s\" (metrics_ex.http_database). CREATE EXTENSION metrics_ex there, or set metrics_ex.http_database to the database that has it.",
				   get_database_name(MyDatabaseId));
		return InvalidOid;
	}
	return role;
}

/*
 * The one statement of a request: (body, content type).  Everything in it is
 * schema-qualified; the names are its only parameter.
 */
static const char *
scrape_sql(bool health, bool om, List *names)
{
	if (health)
		return "SELECT E'ok\\n', NULL::pg_catalog.text"
			" FROM (SELECT pg_catalog.count(*) FROM (SELECT FROM metrics_ex.metrics LIMIT 1) m) c";
	if (names == NIL)
		return om ? "SELECT metrics_ex.openmetrics_text(), metrics_ex.openmetrics_content_type()"
			: "SELECT metrics_ex.prometheus_text(), metrics_ex.prometheus_content_type()";
	/* one exposition per name, in name order: the families' own order */
	if (om)
		return "SELECT coalesce(pg_catalog.string_agg(pg_catalog.left(metrics_ex.openmetrics_text(n), -6), '' ORDER BY o), '')"
			" OPERATOR(pg_catalog.||) E'# EOF\\n', metrics_ex.openmetrics_content_type()"
			" FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY u(n, o)";
	return "SELECT coalesce(pg_catalog.string_agg(metrics_ex.prometheus_text(n), '' ORDER BY o), ''),"
		" metrics_ex.prometheus_content_type()"
		" FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY u(n, o)";
}

static Datum
names_array(List *names)
{
	Datum	   *elems = palloc(sizeof(Datum) * list_length(names));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, names)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Run one request's statement as the role; the body goes to res, allocated
 * in the caller's memory context.  Never throws.
 */
void
http_run(HttpStatement *st, HttpResponse *res)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			timeout_ms = HTTP_QUERY_TIMEOUT_MS;

	if (StatementTimeout > 0 && StatementTimeout < timeout_ms)
		timeout_ms = StatementTimeout;

	PG_TRY();
	{
		Oid			role;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, st->activity);

		role = scrape_role(res);
		if (OidIsValid(role))
		{
			Oid			save_user;
			int			save_sec;
			int			save_nest;
			bool		isnull;
			bool		ct_null;
			Datum		d;
			Datum		ct;

			GetUserIdAndSecContext(&save_user, &save_sec);
			SetUserIdAndSecContext(role, save_sec | SECURITY_RESTRICTED_OPERATION);
			save_nest = NewGUCNestLevel();
			enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms);

			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			if (SPI_execute_with_args(st->sql, st->nargs, st->argtypes, st->args, st->nulls,
									  true, 1) != SPI_OK_SELECT ||
				SPI_processed != 1)
				elog(ERROR, "the scrape query returned no row");
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			ct = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &ct_null);
			if (isnull)
				elog(ERROR, "the scrape query returned NULL");
			{
				text	   *t = DatumGetTextPP(d);
				char	   *type = ct_null ? NULL : TextDatumGetCString(ct);
				MemoryContext spi = MemoryContextSwitchTo(cxt);

				res->status = 200;
				res->content_type = type ? pstrdup(type) : TEXT_PLAIN;
				resetStringInfo(&res->body);
				appendBinaryStringInfoNT(&res->body, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				MemoryContextSwitchTo(spi);
			}
			SPI_finish();

			disable_timeout(STATEMENT_TIMEOUT, false);
			AtEOXact_GUC(false, save_nest);
			SetUserIdAndSecContext(save_user, save_sec);
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* also restores the user id and every setting */
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		if (st->bad_arguments_400 &&
			(edata->sqlerrcode == ERRCODE_INVALID_PARAMETER_VALUE ||
			 edata->sqlerrcode == ERRCODE_NULL_VALUE_NOT_ALLOWED ||
			 edata->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED))
		{
			/* the statement's functions name the argument that is wrong */
			if (edata->hint)
				http_error(res, 400, "%s. %s", edata->message, edata->hint);
			else
				http_error(res, 400, "%s", edata->message);
		}
		else
		{
			ereport(LOG,
					(errmsg("metrics_ex http: %s failed as role \"%s\": %s",
							st->log_what, metrics_ex_http_role, edata->message)));
			if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
				http_error(res, 503, "%s failed as metrics_ex.http_role \"%s\": %s. The role needs the reader grants (" GRANTS_HINT ").",
						   st->what, metrics_ex_http_role, edata->message);
			else
				http_error(res, 500, "%s failed: %s", st->what, edata->message);
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	/* a cancel that arrived after the statement is not the next one's */
	QueryCancelPending = false;
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	/* commit and abort leave TopMemoryContext current */
	MemoryContextSwitchTo(cxt);
}

/*
 * gzip a 200's body in place when the request accepts it; the body stays as
 * it is if zlib cannot.
 */
void
http_gzip(const HttpRequest *req, HttpResponse *res)
{
	z_stream	zs;
	uLong		bound;
	char	   *out;
	bool		ok;

	if (res->status != 200 || http_qvalue(req->accept_encoding, "gzip", false) <= 0)
		return;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return;
	bound = deflateBound(&zs, res->body.len);
	out = MemoryContextAllocHuge(CurrentMemoryContext, bound);
	zs.next_in = (Bytef *) res->body.data;
	zs.avail_in = res->body.len;
	zs.next_out = (Bytef *) out;
	zs.avail_out = bound;
	ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
	deflateEnd(&zs);
	if (!ok)
	{
		pfree(out);
		return;
	}
	pfree(res->body.data);
	res->body.data = out;
	res->body.len = zs.total_out;
	res->body.maxlen = bound;
	res->content_encoding = "gzip";
}

/* Answer one parsed request (in the connection's memory context). */
void
http_answer(const HttpRequest *req, HttpResponse *res)
{
	HttpStatement st;
	bool		health;
	bool		om = false;
	List	   *names = NIL;

	if (!authorized(req, res))
		return;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
	{
		http_error(res, 405, "method %s is not allowed: use GET or HEAD", req->method);
		res->allow = "GET, HEAD";
		return;
	}
	if (strcmp(req->path, "/") == 0 || strcmp(req->path, "/chart.svg") == 0)
	{
		http_page(req, res);
		return;
	}
	if (strcmp(req->path, "/metrics") == 0)
		health = false;
	else if (strcmp(req->path, "/healthz") == 0)
		health = true;
	else
	{
		http_error(res, 404, "no such path: this endpoint serves /, /chart.svg, /metrics and /healthz");
		return;
	}

	if (!health)
	{
		int			q_om = http_qvalue(req->accept, "application/openmetrics-text", true);

		/* OpenMetrics only when asked for by name and not less wanted */
		om = q_om > 0 && q_om >= http_qvalue(req->accept, "text/plain", false);
		res->vary = true;
		if (!requested_names(req, res, &names))
			return;
	}
	memset(&st, 0, sizeof(st));
	st.activity = health ? "metrics_ex http: GET /healthz" : "metrics_ex http: GET /metrics";
	st.log_what = health ? "/healthz" : "the scrape";
	st.what = "the scrape";
	st.sql = scrape_sql(health, om, names);
	if (names != NIL)
	{
		st.nargs = 1;
		st.argtypes[0] = TEXTARRAYOID;
		st.args[0] = names_array(names);
	}
	http_run(&st, res);
	if (!health)
		http_gzip(req, res);
}
