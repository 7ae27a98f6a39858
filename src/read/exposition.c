/*
 * exposition.c
 *		_prom_body(metric, openmetrics): every family's lines of the
 *		Prometheus text exposition (format 0.0.4) or OpenMetrics 1.0, as one
 *		text (prometheus.sql wraps it, and adds the alerts).
 *
 * Per series, what is exposed is everything ever recorded: series_totals
 * (all samples before the rollup watermark, kept through retention), plus
 * the deltas of late samples not merged yet, plus the raw samples after the
 * watermark (a minute or two of them).  The raw samples come straight from
 * the executor into a per-series table (as in rollup_scan.c), and the lines
 * are written as the catalog rows stream past, metric by metric: a scrape
 * of 100,000 series costs about what reading them does, where the SQL
 * version built and sorted every line as a row.
 *
 * Runs as the caller (a reader), evaluates no user expression.  The family
 * naming rules are those of the top of prometheus.sql.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(metrics_ex_prom_body);

/* Prometheus' default histogram buckets */
static const float8 default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

typedef struct HistSeries HistSeries;

/* What the totals do not hold yet, per series */
typedef struct Extra
{
	int64		series_id;
	const HistSeries *hist;		/* a histogram's series: its bounds */
	int64		count;
	double		sum;
	TimestampTz last_ts;
	ItemPointerData last_tid;
	bool		raw_last;		/* last_value comes from a raw sample */
	double		last_value;
	int			nbuckets;
	int64	   *raw_counts;		/* raw samples: per bucket */
	int64	   *cum;			/* late deltas: cumulative */
} Extra;

/* A histogram series' bucket bounds (for its raw samples) */
struct HistSeries
{
	int64		series_id;
	int			nbounds;
	float8	   *bounds;
};

/* series id -> Extra, open addressing (a scrape's tail visits every series) */
typedef struct ExtraSlot
{
	int64		series_id;
	char		status;
	Extra	   *extra;
} ExtraSlot;

static inline uint32
series_hash(int64 id)
{
	uint64		x = (uint64) id;

	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return (uint32) x;
}

#define SH_PREFIX extras
#define SH_ELEMENT_TYPE ExtraSlot
#define SH_KEY_TYPE int64
#define SH_KEY series_id
#define SH_HASH_KEY(tb, k) series_hash(k)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* by series id modulo: the Extra a series had, one load away (ids are dense) */
#define RECENT_SIZE 65536

typedef struct Body
{
	DestReceiver pub;
	MemoryContext cxt;
	StringInfoData out;
	bool		om;
	extras_hash *extras;
	Extra	  **recent;
	HTAB	   *hist;
	HTAB	   *families;		/* family names written so far */
	MemoryContext rowcxt;		/* per series line */
	bool		skip;			/* the metric's family was written already */
	char		kind;			/* 'c', 'g', 'h' */
	char	   *base;
	int			nbounds;
	float8	   *bounds;
	/* rows of the tail scan */
	bool		tail;
} Body;

/* ---- formatting ---------------------------------------------------------- */

/* float8's shortest round-trip form, integers bare, +Inf, -Inf, NaN */
static void
append_number(StringInfo s, double v)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN + 1];

	if (isnan(v))
		appendStringInfoString(s, "NaN");
	else if (isinf(v))
		appendStringInfoString(s, v > 0 ? "+Inf" : "-Inf");
	else
	{
		(void) double_to_shortest_decimal_buf(v, buf);
		appendStringInfoString(s, buf);
	}
}

/* A label value or OpenMetrics HELP: backslash, double quote, newline escaped */
static void
append_escaped(StringInfo s, const char *p, int len, bool quotes)
{
	for (int i = 0; i < len; i++)
	{
		char		c = p[i];

		if (c == '\\')
			appendStringInfoString(s, "\\\\");
		else if (c == '\n')
			appendStringInfoString(s, "\\n");
		else if (c == '"' && quotes)
			appendStringInfoString(s, "\\\"");
		else
			appendStringInfoChar(s, c);
	}
}

typedef struct Label
{
	const char *key;
	int			keylen;
	const char *val;
	int			vallen;
} Label;

static int
label_cmp(const void *a, const void *b)
{
	const Label *x = a,
			   *y = b;
	int			r = memcmp(x->key, y->key, Min(x->keylen, y->keylen));

	return r != 0 ? r : x->keylen - y->keylen;
}

/* k1="v1",k2="v2": the tags in byte order of their keys (jsonb keeps them by length) */
static void
append_labels(StringInfo s, Jsonb *tags)
{
	JsonbIterator *it = JsonbIteratorInit(&tags->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	Label		stack_labels[16];
	Label	   *labels = stack_labels;
	int			n = 0,
				cap = lengthof(stack_labels);
	Label		cur = {NULL, 0, NULL, 0};

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			cur.key = v.val.string.val;
			cur.keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE && v.type == jbvString)
		{
			cur.val = v.val.string.val;
			cur.vallen = v.val.string.len;
			if (n == cap)
			{
				Label	   *grown = palloc(sizeof(Label) * cap * 2);

				memcpy(grown, labels, sizeof(Label) * n);
				labels = grown;
				cap *= 2;
			}
			labels[n++] = cur;
		}
	}
	qsort(labels, n, sizeof(Label), label_cmp);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(s, ',');
		appendBinaryStringInfo(s, labels[i].key, labels[i].keylen);
		appendStringInfoString(s, "=\"");
		append_escaped(s, labels[i].val, labels[i].vallen, true);
		appendStringInfoChar(s, '"');
	}
}

/* name{labels}: the braces only when there are labels or extra */
static void
append_sample_name(StringInfo s, const char *base, const char *suffix, Jsonb *tags, const char *extra)
{
	bool		has_tags = tags != NULL && JB_ROOT_COUNT(tags) > 0;

	appendStringInfoString(s, base);
	appendStringInfoString(s, suffix);
	if (!has_tags && extra == NULL)
		return;
	appendStringInfoChar(s, '{');
	if (has_tags)
		append_labels(s, tags);
	if (extra != NULL)
	{
		if (has_tags)
			appendStringInfoChar(s, ',');
		appendStringInfoString(s, extra);
	}
	appendStringInfoChar(s, '}');
}

/* the family name (see prometheus.sql: _prom_family) */
static char *
family_of(const char *name, char kind)
{
	size_t		len = strlen(name);

	if (kind == 'c')
	{
		if (len > 6 && strcmp(name + len - 6, "_total") == 0)
			return pnstrdup(name, len - 6);
		return pstrdup(name);
	}
	{
		static const char *const reserved[] = {"_total", "_sum", "_count", "_bucket"};

		for (int i = 0; i < (int) lengthof(reserved); i++)
		{
			size_t		rl = strlen(reserved[i]);

			if (len >= rl && strcmp(name + len - rl, reserved[i]) == 0)
				return psprintf("%s_value", name);
		}
	}
	return pstrdup(name);
}

/* ---- what the totals do not hold yet ------------------------------------ */

static Extra *
find_extra(Body *b, int64 series_id)
{
	Extra	   *e = b->recent[(uint64) series_id % RECENT_SIZE];
	ExtraSlot  *slot;

	if (e != NULL && e->series_id == series_id)
		return e;
	slot = extras_lookup(b->extras, series_id);
	return slot ? slot->extra : NULL;
}

static Extra *
extra_for(Body *b, int64 series_id, int nbuckets_if_not_histogram)
{
	Extra	   *e = find_extra(b, series_id);
	ExtraSlot  *slot;
	bool		found;

	if (e != NULL)
		return e;
	slot = extras_insert(b->extras, series_id, &found);
	e = slot->extra = MemoryContextAllocZero(b->cxt, sizeof(Extra));
	e->series_id = series_id;
	e->last_ts = DT_NOBEGIN;
	e->hist = hash_get_num_entries(b->hist) > 0 ?
		hash_search(b->hist, &series_id, HASH_FIND, NULL) : NULL;
	e->nbuckets = e->hist ? e->hist->nbounds + 1 : nbuckets_if_not_histogram;
	if (e->hist != NULL)
		e->raw_counts = MemoryContextAllocZero(b->cxt, sizeof(int64) * e->nbuckets);
	b->recent[(uint64) series_id % RECENT_SIZE] = e;
	return e;
}

/* a raw sample after the watermark: (series_id, ts, value, ctid) */
static void
add_tail(Body *b, TupleTableSlot *slot)
{
	int64		series_id = DatumGetInt64(slot->tts_values[0]);
	TimestampTz ts = DatumGetTimestampTz(slot->tts_values[1]);
	double		value = DatumGetFloat8(slot->tts_values[2]);
	ItemPointer tid = (ItemPointer) DatumGetPointer(slot->tts_values[3]);
	Extra	   *e = extra_for(b, series_id, 0);
	const HistSeries *h = e->hist;

	e->count++;
	e->sum += value;
	/* the newest value; of two at one time, the row stored later */
	if (ts > e->last_ts || (ts == e->last_ts && ItemPointerCompare(tid, &e->last_tid) > 0))
	{
		e->last_ts = ts;
		e->last_tid = *tid;
		e->last_value = value;
		e->raw_last = true;
	}
	if (h != NULL && e->raw_counts != NULL)
	{
		int			lo = 0,
					hi = h->nbounds;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (value <= h->bounds[mid])
				hi = mid;
			else
				lo = mid + 1;
		}
		e->raw_counts[lo]++;
	}
}

/* a late delta older than the watermark: (series_id, count, sum, last_ts, last_value, buckets) */
static void
add_delta(Body *b, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	int64		series_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	Datum		buckets = SPI_getbinval(tup, desc, 6, &isnull);
	ArrayType  *arr = isnull ? NULL : DatumGetArrayTypeP(buckets);
	int			nb = arr ? ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) : 0;
	Extra	   *e = extra_for(b, series_id, nb);
	TimestampTz lts = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));

	e->count += DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	e->sum += DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
	/* raw samples after the watermark are always newer than a late one */
	if (!e->raw_last && lts >= e->last_ts)
	{
		e->last_ts = lts;
		e->last_value = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
	}
	if (arr != NULL && nb == e->nbuckets)
	{
		Datum	   *v;
		bool	   *vnulls;
		int			n;

		deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &v, &vnulls, &n);
		if (e->cum == NULL)
			e->cum = MemoryContextAllocZero(b->cxt, sizeof(int64) * nb);
		for (int i = 0; i < nb; i++)
			e->cum[i] += vnulls[i] ? 0 : DatumGetInt64(v[i]);
	}
}

/* ---- the lines, as the catalog rows stream past ------------------------- */

/* A metric: its family's HELP and TYPE, unless its family was written already. */
static void
begin_family(Body *b, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	char	   *name = SPI_getvalue(tup, desc, 2);
	char	   *kind = SPI_getvalue(tup, desc, 3);
	char	   *help = SPI_getvalue(tup, desc, 4);
	Datum		bounds = SPI_getbinval(tup, desc, 5, &isnull);
	StringInfo	s = &b->out;
	bool		found;
	const char *type;

	b->kind = kind[0];
	b->base = family_of(name, b->kind);
	(void) hash_search(b->families, b->base, HASH_ENTER, &found);
	b->skip = found;
	if (b->skip)
		return;
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *enulls;

		deconstruct_array(DatumGetArrayTypeP(bounds), FLOAT8OID, 8, FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &elems, &enulls, &b->nbounds);
		b->bounds = palloc(sizeof(float8) * Max(b->nbounds, 1));
		for (int i = 0; i < b->nbounds; i++)
			b->bounds[i] = DatumGetFloat8(elems[i]);
	}
	else
	{
		b->nbounds = lengthof(default_bounds);
		b->bounds = (float8 *) default_bounds;
	}
	type = b->kind == 'c' ? "counter" : b->kind == 'g' ? "gauge" : "histogram";
	if (help == NULL || help[0] == '\0')
		help = psprintf("%s %s (no help defined)", type, name);
	appendStringInfo(s, "# HELP %s%s ", b->base, b->kind == 'c' && !b->om ? "_total" : "");
	append_escaped(s, help, strlen(help), b->om);
	appendStringInfo(s, "\n# TYPE %s%s %s\n", b->base, b->kind == 'c' && !b->om ? "_total" : "", type);
}

/*
 * A series of the current metric, in the order of their ids: (series_id,
 * tags, count, sum, last_ts, last_value, buckets) of its totals, NULL where
 * it has none.
 */
static void
add_series_row(Body *b, TupleTableSlot *slot)
{
	Datum	   *v = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;
	StringInfo	s = &b->out;
	Extra	   *e = find_extra(b, DatumGetInt64(v[0]));
	bool		have_totals = !isnull[2];
	int64		count;
	double		sum,
				last_value;
	TimestampTz last_ts;
	Jsonb	   *tags;
	MemoryContext old;

	if (!have_totals && e == NULL)
		return;					/* a series without samples yet */
	old = MemoryContextSwitchTo(b->rowcxt);
	count = have_totals ? DatumGetInt64(v[2]) : 0;
	sum = have_totals ? DatumGetFloat8(v[3]) : 0;
	last_ts = have_totals ? DatumGetTimestampTz(v[4]) : DT_NOBEGIN;
	last_value = have_totals ? DatumGetFloat8(v[5]) : 0;
	if (e != NULL)
	{
		count += e->count;
		sum += e->sum;
		/* the newest value wins; on a tie the later one (not in the totals) */
		if (e->last_ts >= last_ts)
			last_value = e->last_value;
	}
	tags = DatumGetJsonbP(v[1]);

	if (b->kind == 'c')
	{
		append_sample_name(s, b->base, "_total", tags, NULL);
		appendStringInfoChar(s, ' ');
		append_number(s, sum);
		appendStringInfoChar(s, '\n');
	}
	else if (b->kind == 'g')
	{
		append_sample_name(s, b->base, "", tags, NULL);
		appendStringInfoChar(s, ' ');
		append_number(s, last_value);
		appendStringInfoChar(s, '\n');
	}
	else
	{
		int			nb = b->nbounds + 1;
		int64	   *cum = palloc0(sizeof(int64) * nb);
		int64		running = 0;
		StringInfoData le;

		if (have_totals && !isnull[6])
		{
			Datum	   *elems;
			bool	   *enulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(v[6]), INT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &elems, &enulls, &n);
			for (int i = 0; i < Min(n, nb); i++)
				cum[i] += enulls[i] ? 0 : DatumGetInt64(elems[i]);
		}
		if (e != NULL && e->nbuckets == nb)
		{
			for (int i = 0; i < nb; i++)
			{
				running += e->raw_counts ? e->raw_counts[i] : 0;
				cum[i] += running + (e->cum ? e->cum[i] : 0);
			}
		}
		initStringInfo(&le);
		for (int i = 0; i < nb; i++)
		{
			resetStringInfo(&le);
			appendStringInfoString(&le, "le=\"");
			if (i == nb - 1)
				appendStringInfoString(&le, "+Inf");
			else
			{
				int			start = le.len;
				const char *digits;

				append_number(&le, b->bounds[i]);
				/* OpenMetrics writes integral bounds as 1.0, not 1e+300 as 1e+300.0 */
				digits = le.data + start + (le.data[start] == '-');
				if (b->om && strspn(digits, "0123456789") == strlen(digits))
					appendStringInfoString(&le, ".0");
			}
			appendStringInfoChar(&le, '"');
			append_sample_name(s, b->base, "_bucket", tags, le.data);
			appendStringInfo(s, " " INT64_FORMAT "\n", cum[i]);
		}
		append_sample_name(s, b->base, "_sum", tags, NULL);
		appendStringInfoChar(s, ' ');
		append_number(s, sum);
		appendStringInfoChar(s, '\n');
		append_sample_name(s, b->base, "_count", tags, NULL);
		appendStringInfo(s, " " INT64_FORMAT "\n", count);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->rowcxt);
}

static bool
body_receive(TupleTableSlot *slot, DestReceiver *self)
{
	Body	   *b = (Body *) self;

	slot_getallattrs(slot);
	if (b->tail)
		add_tail(b, slot);
	else
		add_series_row(b, slot);
	return true;
}

static void
body_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
body_noop(DestReceiver *self)
{
}

/* Run sql ($1 int metric id or NULL, $2 timestamptz) with rows to the body. */
static void
run_into(Body *b, const char *sql, Datum metric_id, bool metric_null, TimestampTz done)
{
	ParamListInfo params = makeParamList(2);
	SPIExecuteOptions opts;
	int			ret;

	params->numParams = 2;
	params->params[0].value = metric_id;
	params->params[0].isnull = metric_null;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].ptype = INT4OID;
	params->params[1].value = TimestampTzGetDatum(done);
	params->params[1].isnull = false;
	params->params[1].pflags = PARAM_FLAG_CONST;
	params->params[1].ptype = TIMESTAMPTZOID;
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) b;
	ret = SPI_execute_extended(sql, &opts);
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "metrics_ex: exposition query failed");
}

/* _prom_body(metric_id int or NULL, openmetrics bool) */
Datum
metrics_ex_prom_body(PG_FUNCTION_ARGS)
{
	Body		b;
	HASHCTL		ctl;
	TimestampTz done = DT_NOBEGIN;
	bool		isnull;
	Datum		metric_id = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	bool		metric_null = PG_ARGISNULL(0);
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {metric_id};
	char		nulls[1] = {metric_null ? 'n' : ' '};
	text	   *result;

	memset(&b, 0, sizeof(b));
	b.pub.receiveSlot = body_receive;
	b.pub.rStartup = body_startup;
	b.pub.rShutdown = body_noop;
	b.pub.rDestroy = body_noop;
	b.pub.mydest = DestNone;
	b.om = PG_GETARG_BOOL(1);
	b.cxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex exposition", ALLOCSET_DEFAULT_SIZES);
	b.rowcxt = AllocSetContextCreate(b.cxt, "metrics_ex exposition line", ALLOCSET_DEFAULT_SIZES);
	b.extras = extras_create(b.cxt, 4096, NULL);
	b.recent = MemoryContextAllocZero(b.cxt, sizeof(Extra *) * RECENT_SIZE);
	ctl.keysize = sizeof(int64);
	ctl.hcxt = b.cxt;
	ctl.entrysize = sizeof(HistSeries);
	b.hist = hash_create("metrics_ex exposition histograms", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = NAMEDATALEN * 4;
	ctl.entrysize = NAMEDATALEN * 4;
	b.families = hash_create("metrics_ex exposition families", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	initStringInfo(&b.out);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the watermark, in this statement's snapshot: totals hold what is before it */
	if (SPI_execute("SELECT done FROM metrics_ex.watermarks()", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the rollup watermark");
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			done = DatumGetTimestampTz(d);
	}

	/* histogram series and their bounds, for their raw samples */
	if (SPI_execute_with_args("SELECT s.id, COALESCE(m.buckets, metrics_ex._default_buckets()) "
							  "FROM metrics_ex.series s JOIN metrics_ex.metrics m "
							  "ON m.id OPERATOR(pg_catalog.=) s.metric_id "
							  "WHERE m.kind OPERATOR(pg_catalog.=) 'histogram' "
							  "AND ($1 IS NULL OR m.id OPERATOR(pg_catalog.=) $1)",
							  1, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the histogram series");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		HistSeries *h = hash_search(b.hist, &id, HASH_ENTER, NULL);
		Datum	   *elems;
		bool	   *enulls;
		MemoryContext old = MemoryContextSwitchTo(b.cxt);

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)),
						  FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &enulls, &h->nbounds);
		h->bounds = palloc(sizeof(float8) * Max(h->nbounds, 1));
		for (int j = 0; j < h->nbounds; j++)
			h->bounds[j] = DatumGetFloat8(elems[j]);
		MemoryContextSwitchTo(old);
	}

	/* late deltas the totals do not hold yet (those after it are in the raw samples) */
	if (SPI_execute_with_args("SELECT p.series_id, p.count, p.sum, p.last_ts, p.last_value, p.buckets "
							  "FROM metrics_ex.rollup_pending p "
							  "WHERE p.bucket OPERATOR(pg_catalog.<) (SELECT done FROM metrics_ex.watermarks()) "
							  "AND ($1 IS NULL OR p.series_id IN (SELECT id FROM metrics_ex.series "
							  "WHERE metric_id OPERATOR(pg_catalog.=) $1))",
							  1, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the late deltas");
	for (uint64 i = 0; i < SPI_processed; i++)
		add_delta(&b, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);

	/* the raw samples after the watermark */
	b.tail = true;
	run_into(&b, "SELECT x.series_id, x.ts, x.value, x.ctid FROM metrics_ex.samples x "
			 "WHERE x.ts OPERATOR(pg_catalog.>=) $2 "
			 "AND ($1 IS NULL OR x.series_id IN (SELECT id FROM metrics_ex.series "
			 "WHERE metric_id OPERATOR(pg_catalog.=) $1))",
			 metric_id, metric_null, done);

	/*
	 * Every family in order of its name, and its series in the order they
	 * were made (ids: ordering by tags would compare jsonb, most of a
	 * scrape's time), with their totals, one metric at a time.
	 */
	b.tail = false;
	if (SPI_execute_with_args("SELECT m.id, m.name, m.kind, m.help, m.buckets FROM metrics_ex.metrics m "
							  "WHERE $1 IS NULL OR m.id OPERATOR(pg_catalog.=) $1 "
							  "ORDER BY m.name COLLATE \"C\"",
							  1, argtypes, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the metrics");
	{
		SPITupleTable *metrics = SPI_tuptable;
		uint64		nmetrics = SPI_processed;

		for (uint64 i = 0; i < nmetrics; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(b.cxt);

			begin_family(&b, metrics->vals[i], metrics->tupdesc);
			MemoryContextSwitchTo(old);
			if (b.skip)
				continue;
			run_into(&b, "SELECT s.id, s.tags, t.count, t.sum, t.last_ts, t.last_value, t.buckets "
					 "FROM metrics_ex.series s "
					 "LEFT JOIN metrics_ex.series_totals t ON t.series_id OPERATOR(pg_catalog.=) s.id "
					 "WHERE s.metric_id OPERATOR(pg_catalog.=) $1 "
					 "ORDER BY s.id",
					 SPI_getbinval(metrics->vals[i], metrics->tupdesc, 1, &isnull), false, done);
		}
	}
	SPI_finish();

	result = cstring_to_text_with_len(b.out.data, b.out.len);
	MemoryContextDelete(b.cxt);
	PG_RETURN_TEXT_P(result);
}
