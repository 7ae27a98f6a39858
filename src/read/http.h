/*
 * http.h
 *		The scrape endpoint: a background worker that serves the Prometheus
 *		exposition over HTTP (only with shared_preload_libraries).
 *
 *		http_server.c	settings, the worker, sockets, connections, timeouts
 *		http_parse.c	request parsing and header negotiation (no I/O)
 *		http_metrics.c	what each request is answered: token, routing, the
 *						scrape as metrics_ex.http_role, gzip
 *		http_page.c		the page (GET /) and charts (GET /chart.svg): their
 *						parameters, as the same kind of statement
 */
#ifndef METRICS_EX_HTTP_H
#define METRICS_EX_HTTP_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* bounds that keep the worker safe from any client */
#define HTTP_MAX_REQUEST		8192	/* request line and headers, bytes */
#define HTTP_MAX_CONNECTIONS	32		/* open at once; more wait in the backlog */
#define HTTP_READ_TIMEOUT_MS	5000	/* the whole request, from accept */
#define HTTP_WRITE_TIMEOUT_MS	30000	/* the whole response */
#define HTTP_QUERY_TIMEOUT_MS	30000	/* a scrape query (or statement_timeout) */

/* GUCs (http_server.c) */
extern char *metrics_ex_http_listen_addresses;
extern int	metrics_ex_http_port;
extern char *metrics_ex_http_database;
extern char *metrics_ex_http_role;
extern char *metrics_ex_http_token_file;

/* From _PG_init: the settings, and the worker when preloading and enabled. */
extern void http_init(void);

/* A parsed request; strings point into the connection's memory. */
typedef struct HttpRequest
{
	char	   *method;
	char	   *path;			/* the target before '?' */
	char	   *query;			/* after '?', or NULL */
	char	   *accept;			/* header values, NULL when absent */
	char	   *accept_encoding;
	char	   *authorization;
} HttpRequest;

typedef struct HttpResponse
{
	int			status;
	const char *content_type;
	const char *content_encoding;	/* "gzip" or NULL */
	const char *allow;			/* 405: the methods that are allowed */
	bool		challenge;		/* 401: ask for a bearer token */
	bool		vary;			/* the body depends on Accept headers */
	const char *csp;			/* a Content-Security-Policy, or NULL */
	StringInfoData body;
} HttpResponse;

/*
 * The one statement a request runs as metrics_ex.http_role: fixed text,
 * schema-qualified, returning one row of (body, content type), with the
 * request's values as parameters only.
 */
#define HTTP_MAX_ARGS	10
typedef struct HttpStatement
{
	const char *sql;
	int			nargs;
	Oid			argtypes[HTTP_MAX_ARGS];
	Datum		args[HTTP_MAX_ARGS];
	char		nulls[HTTP_MAX_ARGS];	/* 'n' for NULL */
	const char *activity;		/* shown in pg_stat_activity meanwhile */
	const char *what;			/* in error bodies: "the scrape" */
	const char *log_what;		/* in the server log */
	bool		bad_arguments_400;	/* its invalid-argument errors are a 400 */
} HttpStatement;

/* http_parse.c */
extern int	http_parse_request(const char *buf, int len, HttpRequest *req,
							   const char **error);
extern int	http_qvalue(const char *header, const char *name, bool exact_only);
extern List *http_query_params(const char *query, bool *ok);
extern List *http_query_values(const char *query, const char *key,
							   const char *alt_key, bool *ok);
extern const char *http_status_text(int status);

/* http_metrics.c */
extern void http_metrics_reload(void);
extern void http_answer(const HttpRequest *req, HttpResponse *res);
extern bool http_check_metric_name(const char *name, HttpResponse *res);
extern void http_run(HttpStatement *st, HttpResponse *res);
extern void http_gzip(const HttpRequest *req, HttpResponse *res);
extern void http_error(HttpResponse *res, int status, const char *fmt,...)
			pg_attribute_printf(3, 4);

/* http_page.c */
extern void http_page(const HttpRequest *req, HttpResponse *res);

#endif							/* METRICS_EX_HTTP_H */
