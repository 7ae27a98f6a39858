/*
 * http_parse.c
 *		HTTP/1.x request parsing and header negotiation for the scrape
 *		endpoint.  No I/O here: the server hands over the bytes read so far.
 *
 * The parser is strict where leniency would let garbage through (bytes that
 * cannot be a request line are refused as soon as they arrive, so a TLS
 * handshake or binary noise gets its 400 at once instead of a timeout) and
 * lenient where RFC 9112 allows it (bare LF line ends, empty lines before
 * the request line).  Only the headers the endpoint uses are kept.
 */
#include "postgres.h"

#include "read/http.h"

#define HTTP_MAX_METHOD 32

/* RFC 9110 tchar: what a method or header name is made of */
static bool
is_tchar(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* A header value: visible bytes, spaces, tabs, obs-text; no controls. */
static bool
valid_value(const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* Several headers of one name are one list (RFC 9110 5.3). */
static char *
append_value(char *old, const char *value)
{
	return old == NULL ? pstrdup(value) : psprintf("%s, %s", old, value);
}

static int
parse_request_line(char *line, HttpRequest *req, const char **error)
{
	char	   *sp1 = strchr(line, ' ');
	char	   *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	char	   *version;

	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL)
	{
		*error = "the request line is not \"METHOD /path HTTP/1.1\"";
		return 400;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	req->method = line;
	version = sp2 + 1;
	if (sp1 == line)
	{
		*error = "the request has no method";
		return 400;
	}
	if (sp1[1] != '/')
	{
		*error = "the request target must be a path starting with \"/\"";
		return 400;
	}
	for (char *p = sp1 + 1; *p; p++)
		if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f)
		{
			*error = "the request target contains a byte that is not allowed";
			return 400;
		}
	if (strncmp(version, "HTTP/", 5) != 0 || !isdigit((unsigned char) version[5]) ||
		version[6] != '.' || !isdigit((unsigned char) version[7]) || version[8] != '\0')
	{
		*error = "the request line does not end in an HTTP version such as HTTP/1.1";
		return 400;
	}
	if (version[5] != '1')
	{
		*error = "only HTTP/1.0 and HTTP/1.1 are served";
		return 505;
	}
	req->path = sp1 + 1;
	req->query = strchr(req->path, '?');
	if (req->query != NULL)
		*req->query++ = '\0';
	return 200;
}

static int
parse_header(char *line, HttpRequest *req, const char **error)
{
	char	   *colon = strchr(line, ':');
	char	   *value;
	char	   *end;

	if (is_ows(line[0]))
	{
		*error = "a header line is folded (starts with white space)";
		return 400;
	}
	if (colon == NULL || colon == line)
	{
		*error = "a header line is not \"Name: value\"";
		return 400;
	}
	for (char *p = line; p < colon; p++)
		if (!is_tchar((unsigned char) *p))
		{
			*error = "a header name contains a byte that is not allowed";
			return 400;
		}
	*colon = '\0';
	value = colon + 1;
	while (is_ows(*value))
		value++;
	end = value + strlen(value);
	while (end > value && is_ows(end[-1]))
		*--end = '\0';
	if (!valid_value(value))
	{
		*error = "a header value contains a control character";
		return 400;
	}

	if (pg_strcasecmp(line, "Accept") == 0)
		req->accept = append_value(req->accept, value);
	else if (pg_strcasecmp(line, "Accept-Encoding") == 0)
		req->accept_encoding = append_value(req->accept_encoding, value);
	else if (pg_strcasecmp(line, "Authorization") == 0)
	{
		if (req->authorization != NULL)
		{
			*error = "the request has more than one Authorization header";
			return 400;
		}
		req->authorization = pstrdup(value);
	}
	return 200;
}

/*
 * Parse buf[0..len): 0 while the request is incomplete, 200 when it is
 * complete (req filled in, allocated in CurrentMemoryContext), else the
 * status to answer with (400, 431, 505) and *error saying why.
 */
int
http_parse_request(const char *buf, int len, HttpRequest *req, const char **error)
{
	int			start = 0;
	int			pos;
	int			status;
	char	   *copy;
	char	   *line;
	bool		first = true;

	memset(req, 0, sizeof(*req));

	/* empty lines before the request line are allowed (RFC 9112 2.2) */
	while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
		start++;

	/* refuse what cannot be a method as soon as it arrives */
	for (pos = start; pos < len && buf[pos] != ' '; pos++)
		if (!is_tchar((unsigned char) buf[pos]) || pos - start >= HTTP_MAX_METHOD)
		{
			*error = "this is not an HTTP request";
			return 400;
		}

	/* complete once an empty line ends the headers */
	for (pos = start;;)
	{
		const char *nl = memchr(buf + pos, '\n', len - pos);
		int			content;

		if (nl == NULL)
		{
			if (len >= HTTP_MAX_REQUEST)
			{
				*error = "the request line and headers are longer than 8192 bytes";
				return 431;
			}
			return 0;
		}
		content = nl - buf - pos;
		if (content > 0 && buf[pos + content - 1] == '\r')
			content--;
		pos = nl - buf + 1;
		if (content == 0)
			break;
	}

	if (memchr(buf + start, '\0', pos - start) != NULL)
	{
		*error = "the request contains a NUL byte";
		return 400;
	}
	copy = pnstrdup(buf + start, pos - start);
	line = copy;
	while (*line)
	{
		char	   *nl = strchr(line, '\n');

		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*line == '\0')
			break;				/* the empty line: end of headers */
		if (strchr(line, '\r') != NULL)
		{
			*error = "a line contains a bare CR";
			return 400;
		}
		status = first ? parse_request_line(line, req, error) : parse_header(line, req, error);
		if (status != 200)
			return status;
		first = false;
		line = nl + 1;
	}
	return 200;
}

/*
 * The quality (0..1000) that an Accept or Accept-Encoding header gives name,
 * or -1 when nothing in it matches.  A media type also matches "type/..." and
 * "* / *" wildcards, a coding "*", unless exact_only; the most specific
 * element wins, and among equally specific ones the highest q.
 */
int
http_qvalue(const char *header, const char *name, bool exact_only)
{
	const char *p = header;
	int			best = -1;
	int			best_rank = 0;
	const char *slash = strchr(name, '/');

	if (header == NULL)
		return -1;
	while (*p)
	{
		const char *elem;
		int			elen;
		int			q = 1000;
		int			rank = 0;

		while (*p == ',' || is_ows(*p))
			p++;
		if (*p == '\0')
			break;
		elem = p;
		while (*p && *p != ',' && *p != ';' && !is_ows(*p))
			p++;
		elen = p - elem;
		/* parameters: only q matters */
		while (*p && *p != ',')
		{
			if (*p == ';')
			{
				p++;
				while (is_ows(*p))
					p++;
				if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
				{
					double		v = strtod(p + 2, NULL);

					q = v <= 0 ? 0 : v >= 1 ? 1000 : (int) (v * 1000 + 0.5);
				}
				continue;
			}
			p++;
		}

		if (elen == (int) strlen(name) && pg_strncasecmp(elem, name, elen) == 0)
			rank = 3;
		else if (!exact_only && slash != NULL && elen == (slash - name) + 2 &&
				 pg_strncasecmp(elem, name, slash - name + 1) == 0 && elem[elen - 1] == '*')
			rank = 2;
		else if (!exact_only && ((slash != NULL && elen == 3 && strncmp(elem, "*/*", 3) == 0) ||
								 (slash == NULL && elen == 1 && elem[0] == '*')))
			rank = 1;
		if (rank > best_rank || (rank == best_rank && rank > 0 && q > best))
		{
			best_rank = rank;
			best = q;
		}
	}
	return best;
}

/* Percent-decode s[0..len) ('+' is a space); NULL on a bad escape or NUL. */
static char *
url_decode(const char *s, int len)
{
	char	   *out = palloc(len + 1);
	int			n = 0;

	for (int i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			char		hex[3];

			if (i + 2 >= len || !isxdigit((unsigned char) s[i + 1]) ||
				!isxdigit((unsigned char) s[i + 2]))
				return NULL;
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			out[n] = (char) strtol(hex, NULL, 16);
			if (out[n++] == '\0')
				return NULL;
			i += 2;
		}
		else
			out[n++] = s[i] == '+' ? ' ' : s[i];
	}
	out[n] = '\0';
	return out;
}

/*
 * Every key=value pair of a query string, decoded, in order: a List of
 * char *[2]; *ok false when some part of it is not valid percent-encoding.
 */
List *
http_query_params(const char *query, bool *ok)
{
	List	   *params = NIL;
	const char *p = query;

	*ok = true;
	while (p != NULL && *p)
	{
		const char *amp = strchr(p, '&');
		int			plen = amp ? amp - p : (int) strlen(p);
		const char *eq = memchr(p, '=', plen);
		int			klen = eq ? eq - p : plen;
		char	  **kv = palloc(2 * sizeof(char *));

		kv[0] = url_decode(p, klen);
		kv[1] = eq ? url_decode(eq + 1, plen - klen - 1) : pstrdup("");
		if (kv[0] == NULL || kv[1] == NULL)
		{
			*ok = false;
			return NIL;
		}
		params = lappend(params, kv);
		p = amp ? amp + 1 : NULL;
	}
	return params;
}

/*
 * The decoded values of every key=value pair of a query string whose key is
 * key or alt_key (client_python spells it "name[]"); *ok false when some
 * part of the query string is not valid percent-encoding.
 */
List *
http_query_values(const char *query, const char *key, const char *alt_key, bool *ok)
{
	List	   *values = NIL;
	List	   *params = http_query_params(query, ok);
	ListCell   *lc;

	foreach(lc, params)
	{
		char	  **kv = lfirst(lc);

		if (strcmp(kv[0], key) == 0 || (alt_key != NULL && strcmp(kv[0], alt_key) == 0))
			values = lappend(values, kv[1]);
	}
	return values;
}

const char *
http_status_text(int status)
{
	switch (status)
	{
		case 200:
			return "OK";
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 408:
			return "Request Timeout";
		case 431:
			return "Request Header Fields Too Large";
		case 500:
			return "Internal Server Error";
		case 503:
			return "Service Unavailable";
		case 505:
			return "HTTP Version Not Supported";
	}
	return "Error";
}
