/*
 * http_server.c
 *		The scrape endpoint's settings and background worker: listening
 *		sockets, connections, timeouts (see http.h).
 *
 * One process, one thread, non-blocking sockets in a WaitEventSet with the
 * latch and postmaster death.  A connection reads one request (at most
 * HTTP_MAX_REQUEST bytes, within HTTP_READ_TIMEOUT_MS of its accept),
 * gets its answer (http_metrics.c; a scrape runs its query synchronously,
 * bounded by the query timeout), writes it within HTTP_WRITE_TIMEOUT_MS and
 * is closed: every response says "Connection: close", so no idle connection
 * is ever held.  At most HTTP_MAX_CONNECTIONS are open; beyond that the
 * listening sockets are not polled, and new connections wait in the
 * kernel's backlog until one closes.  Each connection has its own memory
 * context, deleted when it closes.
 *
 * A slow or silent client gets 408 and is closed when its deadline passes;
 * garbage gets 400 as soon as it can be told apart from a request.  After
 * the response the write side is shut down and the socket drained for a
 * moment before it is closed, so that unread input does not turn the close
 * into a reset that would destroy the response on its way.
 *
 * The worker exits when the postmaster does; after SIGTERM or a crash the
 * postmaster starts it again (bgw_restart_time).  SIGHUP rereads the
 * settings and the token file; a new metrics_ex.http_database makes the
 * worker exit so that it is started again connected there.
 */
#include "postgres.h"

#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "read/http.h"

PGDLLEXPORT void metrics_ex_http_main(Datum arg);

char	   *metrics_ex_http_listen_addresses = NULL;
int			metrics_ex_http_port = 9187;
char	   *metrics_ex_http_database = NULL;
char	   *metrics_ex_http_role = NULL;
char	   *metrics_ex_http_token_file = NULL;

#define MAX_LISTEN			16
#define LISTEN_BACKLOG		64
#define DRAIN_TIMEOUT_MS	1000
#define ACCEPT_PAUSE_MS		1000
#define RESTART_SECONDS		5

typedef enum ConnState
{
	CONN_FREE = 0,
	CONN_READ,					/* reading the request */
	CONN_WRITE,					/* writing the response */
	CONN_DRAIN					/* response sent, discarding input */
} ConnState;

typedef struct HttpConn
{
	ConnState	state;
	pgsocket	sock;
	TimestampTz deadline;
	MemoryContext cxt;
	char	   *in;				/* HTTP_MAX_REQUEST bytes */
	int			inlen;
	StringInfoData head;		/* status line and headers */
	const char *body;
	size_t		body_len;
	size_t		sent;			/* of head, then of body */
} HttpConn;

static pgsocket listen_socks[MAX_LISTEN];
static int	nlisten = 0;
static HttpConn conns[HTTP_MAX_CONNECTIONS];
static int	nconns = 0;
static MemoryContext server_cxt = NULL;
/* out of file descriptors: accept nothing until then, instead of spinning */
static TimestampTz accept_resume = 0;

static bool
check_listen_addresses(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *list;
	bool		ok = SplitGUCList(raw, ',', &list);

	list_free(list);
	pfree(raw);
	if (!ok)
		GUC_check_errdetail("It must be a comma-separated list of host names or addresses, or '*'.");
	return ok;
}

void
http_init(void)
{
	BackgroundWorker worker;

	/*
	 * The endpoint exists only when the postmaster loads us; a server-start
	 * setting cannot be defined by a backend loading us later (PostgreSQL
	 * ends that session), so without preloading the settings do not exist.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomStringVariable("metrics_ex.http_listen_addresses",
							   "Addresses the scrape endpoint listens on ('' turns it off, '*' is every address).",
							   "Like listen_addresses.  Needs shared_preload_libraries = 'metrics_ex'.",
							   &metrics_ex_http_listen_addresses,
							   "",
							   PGC_POSTMASTER, GUC_LIST_INPUT,
							   check_listen_addresses, NULL, NULL);
	DefineCustomIntVariable("metrics_ex.http_port",
							"TCP port of the scrape endpoint.",
							NULL,
							&metrics_ex_http_port,
							9187, 1, 65535,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_ex.http_database",
							   "Database whose metrics the scrape endpoint serves.",
							   "The worker reconnects when it changes.",
							   &metrics_ex_http_database,
							   "postgres",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_ex.http_role",
							   "Role a scrape runs as; it needs the reader grants and may not be a superuser.",
							   "While it is unset the endpoint answers 503.",
							   &metrics_ex_http_role,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("metrics_ex.http_token_file",
							   "File holding the bearer token every request must carry (unset: none needed).",
							   "Reread on reload.",
							   &metrics_ex_http_token_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	/* nothing of ours runs under pg_upgrade */
	if (IsBinaryUpgrade ||
		metrics_ex_http_listen_addresses == NULL || metrics_ex_http_listen_addresses[0] == '\0')
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_ex");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "metrics_ex_http_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_ex http server");
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_ex http server");
	RegisterBackgroundWorker(&worker);
}

/* ---- listening ---- */

static void
listen_on(const char *host)
{
	struct addrinfo hints;
	struct addrinfo *res;
	char		port[16];
	int			rc;
	const char *shown = host ? host : "*";

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", metrics_ex_http_port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
	{
		ereport(LOG,
				(errmsg("metrics_ex http: could not resolve \"%s\": %s", shown, gai_strerror(rc))));
		return;
	}
	for (struct addrinfo *ai = res; ai != NULL && nlisten < MAX_LISTEN; ai = ai->ai_next)
	{
		pgsocket	s = socket(ai->ai_family, SOCK_STREAM, 0);
		int			one = 1;

		if (s == PGINVALID_SOCKET)
			continue;
		(void) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef IPV6_V6ONLY
		/* "*" binds IPv4 and IPv6 separately, as the postmaster does */
		if (ai->ai_family == AF_INET6)
			(void) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
#endif
		if (bind(s, ai->ai_addr, ai->ai_addrlen) < 0 ||
			listen(s, LISTEN_BACKLOG) < 0 || !pg_set_noblock(s))
		{
			ereport(LOG,
					(errcode_for_socket_access(),
					 errmsg("metrics_ex http: could not listen on \"%s\" port %d: %m",
							shown, metrics_ex_http_port)));
			closesocket(s);
			continue;
		}
		ReserveExternalFD();
		listen_socks[nlisten++] = s;
	}
	freeaddrinfo(res);
}

static void
open_listen_sockets(void)
{
	char	   *raw = pstrdup(metrics_ex_http_listen_addresses);
	List	   *hosts;
	ListCell   *lc;

	(void) SplitGUCList(raw, ',', &hosts);
	foreach(lc, hosts)
	{
		const char *host = lfirst(lc);

		listen_on(strcmp(host, "*") == 0 ? NULL : host);
	}
	if (nlisten == 0)
		ereport(FATAL,
				(errmsg("metrics_ex http: could not listen on any of metrics_ex.http_listen_addresses \"%s\" port %d",
						metrics_ex_http_listen_addresses, metrics_ex_http_port),
				 errhint("The worker tries again in %d seconds.", RESTART_SECONDS)));
	ereport(LOG,
			(errmsg("metrics_ex http: serving /metrics on \"%s\" port %d",
					metrics_ex_http_listen_addresses, metrics_ex_http_port)));
}

/* ---- connections ---- */

static void
close_conn(HttpConn *c)
{
	closesocket(c->sock);
	ReleaseExternalFD();
	MemoryContextDelete(c->cxt);
	memset(c, 0, sizeof(*c));
	nconns--;
}

static void
accept_conns(pgsocket ls)
{
	while (nconns < HTTP_MAX_CONNECTIONS)
	{
		HttpConn   *c = NULL;
		pgsocket	s;

		if (!AcquireExternalFD())
		{
			accept_resume = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ACCEPT_PAUSE_MS);
			return;
		}
		s = accept(ls, NULL, NULL);
		if (s == PGINVALID_SOCKET)
		{
			ReleaseExternalFD();
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
			{
				ereport(LOG,
						(errcode_for_socket_access(),
						 errmsg("metrics_ex http: could not accept a connection: %m")));
				accept_resume = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ACCEPT_PAUSE_MS);
			}
			return;
		}
		if (!pg_set_noblock(s))
		{
			closesocket(s);
			ReleaseExternalFD();
			continue;
		}
		for (int i = 0; i < HTTP_MAX_CONNECTIONS && c == NULL; i++)
			if (conns[i].state == CONN_FREE)
				c = &conns[i];
		c->state = CONN_READ;
		c->sock = s;
		c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HTTP_READ_TIMEOUT_MS);
		c->cxt = AllocSetContextCreate(server_cxt, "metrics_ex http connection",
									   ALLOCSET_DEFAULT_SIZES);
		c->in = MemoryContextAlloc(c->cxt, HTTP_MAX_REQUEST);
		nconns++;
	}
}

static void
format_date(char *buf, size_t len)
{
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Queue res as the response; a HEAD gets the headers alone. */
static void
set_response(HttpConn *c, HttpResponse *res, bool head_only)
{
	char		date[64];

	format_date(date, sizeof(date));
	initStringInfo(&c->head);
	appendStringInfo(&c->head, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: metrics_ex\r\n"
					 "Content-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n",
					 res->status, http_status_text(res->status), date,
					 res->content_type, res->body.len);
	if (res->content_encoding)
		appendStringInfo(&c->head, "Content-Encoding: %s\r\n", res->content_encoding);
	if (res->vary)
		appendStringInfoString(&c->head, "Vary: Accept, Accept-Encoding\r\n");
	if (res->allow)
		appendStringInfo(&c->head, "Allow: %s\r\n", res->allow);
	if (res->challenge)
		appendStringInfoString(&c->head, "WWW-Authenticate: Bearer realm=\"metrics_ex\"\r\n");
	if (res->csp)
		appendStringInfo(&c->head, "Content-Security-Policy: %s\r\nX-Content-Type-Options: nosniff\r\n",
						 res->csp);
	appendStringInfoString(&c->head, "Connection: close\r\n\r\n");
	c->body = head_only ? NULL : res->body.data;
	c->body_len = head_only ? 0 : res->body.len;
	c->sent = 0;
	c->state = CONN_WRITE;
	c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HTTP_WRITE_TIMEOUT_MS);
}

static void
respond_error(HttpConn *c, int status, const char *message)
{
	MemoryContext old = MemoryContextSwitchTo(c->cxt);
	HttpResponse res;

	memset(&res, 0, sizeof(res));
	initStringInfo(&res.body);
	http_error(&res, status, "%s", message);
	set_response(c, &res, false);
	MemoryContextSwitchTo(old);
}

/* Write what the socket takes; on the last byte, start draining. */
static void
conn_write(HttpConn *c)
{
	for (;;)
	{
		struct iovec iov[2];
		struct msghdr msg;
		int			n = 0;
		ssize_t		w;
		size_t		total = c->head.len + c->body_len;

		if (c->sent >= total)
			break;
		if (c->sent < (size_t) c->head.len)
		{
			iov[n].iov_base = c->head.data + c->sent;
			iov[n++].iov_len = c->head.len - c->sent;
		}
		if (c->body_len > 0)
		{
			size_t		off = c->sent > (size_t) c->head.len ? c->sent - c->head.len : 0;

			iov[n].iov_base = (char *) c->body + off;
			iov[n++].iov_len = c->body_len - off;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = n;
#ifdef MSG_NOSIGNAL
		w = sendmsg(c->sock, &msg, MSG_NOSIGNAL);
#else
		w = sendmsg(c->sock, &msg, 0);
#endif
		if (w < 0)
		{
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			close_conn(c);		/* the client went away */
			return;
		}
		c->sent += w;
	}
	shutdown(c->sock, SHUT_WR);
	c->state = CONN_DRAIN;
	c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), DRAIN_TIMEOUT_MS);
}

static void
conn_drain(HttpConn *c)
{
	char		buf[4096];
	ssize_t		n;

	while ((n = recv(c->sock, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		close_conn(c);
}

static void
conn_read(HttpConn *c)
{
	ssize_t		n;
	int			status;
	const char *error = NULL;
	HttpRequest req;
	HttpResponse res;
	MemoryContext old;

	n = recv(c->sock, c->in + c->inlen, HTTP_MAX_REQUEST - c->inlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0)
	{
		close_conn(c);			/* closed before a whole request came */
		return;
	}
	c->inlen += n;

	old = MemoryContextSwitchTo(c->cxt);
	status = http_parse_request(c->in, c->inlen, &req, &error);
	if (status == 0)
	{
		MemoryContextSwitchTo(old);
		return;					/* more to come */
	}
	memset(&res, 0, sizeof(res));
	initStringInfo(&res.body);
	if (status == 200)
		http_answer(&req, &res);
	else
		http_error(&res, status, "%s", error);
	set_response(c, &res, status == 200 && strcmp(req.method, "HEAD") == 0);
	MemoryContextSwitchTo(old);
	conn_write(c);				/* most responses fit the socket at once */
}

static void
expire_conns(void)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
	{
		HttpConn   *c = &conns[i];

		if (c->state == CONN_FREE || now < c->deadline)
			continue;
		if (c->state == CONN_READ)
		{
			respond_error(c, 408, "the request did not arrive in time");
			conn_write(c);
			if (c->state == CONN_WRITE)
				close_conn(c);	/* it does not read either */
		}
		else
			close_conn(c);
	}
}

/* ms until the nearest deadline, -1 when there is none */
static long
next_timeout(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz first = accept_resume > now ? accept_resume : 0;

	for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
		if (conns[i].state != CONN_FREE && (first == 0 || conns[i].deadline < first))
			first = conns[i].deadline;
	if (first == 0)
		return -1;
	if (first <= now)
		return 0;
	return (long) ((first - now + 999) / 1000);
}

/* ---- the worker ---- */

void
metrics_ex_http_main(Datum arg)
{
	char	   *database;
	WaitEvent  *events;
	int			max_events = 2 + MAX_LISTEN + HTTP_MAX_CONNECTIONS;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* the session is the bootstrap superuser; scrapes run as http_role */
	BackgroundWorkerInitializeConnection(metrics_ex_http_database, NULL, 0);
	database = MemoryContextStrdup(TopMemoryContext, metrics_ex_http_database);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

	server_cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex http server",
									   ALLOCSET_DEFAULT_SIZES);
	events = MemoryContextAlloc(server_cxt, sizeof(WaitEvent) * max_events);
	open_listen_sockets();
	http_metrics_reload();
	pgstat_report_activity(STATE_IDLE, NULL);

	for (;;)
	{
		WaitEventSet *set;
		int			n;

		/* the set is rebuilt each time: connections come and go */
		set = CreateWaitEventSet(server_cxt, max_events);
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		if (nconns < HTTP_MAX_CONNECTIONS && GetCurrentTimestamp() >= accept_resume)
			for (int i = 0; i < nlisten; i++)
				AddWaitEventToSet(set, WL_SOCKET_READABLE, listen_socks[i], NULL, NULL);
		for (int i = 0; i < HTTP_MAX_CONNECTIONS; i++)
			if (conns[i].state != CONN_FREE)
				AddWaitEventToSet(set, conns[i].state == CONN_WRITE ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE,
								  conns[i].sock, NULL, &conns[i]);
		n = WaitEventSetWait(set, next_timeout(), events, max_events, PG_WAIT_EXTENSION);
		FreeWaitEventSet(set);

		ResetLatch(MyLatch);
		/* a cancel aimed at a finished scrape must not end the worker */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (strcmp(database, metrics_ex_http_database) != 0)
			{
				ereport(LOG,
						(errmsg("metrics_ex http: metrics_ex.http_database is now \"%s\"; the worker restarts connected there",
								metrics_ex_http_database)));
				proc_exit(1);
			}
			http_metrics_reload();
		}

		for (int i = 0; i < n; i++)
		{
			HttpConn   *c = events[i].user_data;

			if (events[i].events & WL_LATCH_SET)
				continue;
			if (c == NULL)
				accept_conns(events[i].fd);
			else if (c->state == CONN_READ && c->sock == events[i].fd)
				conn_read(c);
			else if (c->state == CONN_WRITE && c->sock == events[i].fd)
				conn_write(c);
			else if (c->state == CONN_DRAIN && c->sock == events[i].fd)
				conn_drain(c);
		}
		expire_conns();
	}
}
