/*
 * notify.c
 *		Live streaming of recorded samples with NOTIFY (see notify.h).
 *
 * With metrics_ex.notify = on, samples are announced on channel metrics_ex;
 * with per_metric, on metrics_ex_<metric name> (the shared channel when that
 * name would exceed NAMEDATALEN).  A payload is a JSON object
 *		{"seq": n, "samples": [{"name", "kind", "value", "tags", "ts"}, ...]}
 * holding as many samples as fit below NOTIFY's 8000-byte payload limit.
 * Batching keeps a bulk load from putting a notification per row into the
 * queue; seq (per backend) keeps two batches that happen to be equal from
 * being merged, since NOTIFY drops duplicate payloads of a transaction.
 *
 * Batches are handed to Async_Notify() at the end of each statement, when
 * full, before commit and before a subtransaction commits; PostgreSQL sends
 * them at commit, so a rolled-back sample is never announced.  A
 * subtransaction that aborts discards what is still batched: in a PL/pgSQL
 * exception block, samples recorded earlier in the same statement may then
 * go unannounced (they are stored).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "notify.h"

/* Async_Notify() refuses payloads of BLCKSZ - NAMEDATALEN - 128 bytes or more */
#define PAYLOAD_MAX (BLCKSZ - NAMEDATALEN - 128 - 1)

#define SHARED_CHANNEL "metrics_ex"

int			metrics_ex_notify = NOTIFY_OFF;

static const struct config_enum_entry notify_options[] = {
	{"off", NOTIFY_OFF, false},
	{"on", NOTIFY_ON, false},
	{"per_metric", NOTIFY_PER_METRIC, false},
	{"true", NOTIFY_ON, true},
	{"false", NOTIFY_OFF, true},
	{"yes", NOTIFY_ON, true},
	{"no", NOTIFY_OFF, true},
	{"1", NOTIFY_ON, true},
	{"0", NOTIFY_OFF, true},
	{NULL, 0, false}
};

typedef struct Batch
{
	char		channel[NAMEDATALEN];	/* hash key */
	StringInfo	buf;			/* NULL when empty */
	int			nsamples;
} Batch;

static MemoryContext batch_cxt = NULL;	/* batches of the current statement */
static HTAB *batches = NULL;
static int	nbatched = 0;		/* samples waiting in batches */
static uint64 seq = 0;

/* series id -> canonical tags text, for rows whose tags the caller lacks */
typedef struct SeriesTags
{
	int64		series_id;
	char	   *text;
} SeriesTags;

static MemoryContext tags_cxt = NULL;
static HTAB *series_tags_cache = NULL;

static void
send_batch(Batch *b)
{
	if (b->buf == NULL || b->nsamples == 0)
		return;
	appendStringInfoString(b->buf, "]}");
	Async_Notify(b->channel, b->buf->data);
	nbatched -= b->nsamples;
	b->nsamples = 0;
	/* a bulk load sends many batches in one statement: free as we go */
	pfree(b->buf->data);
	pfree(b->buf);
	b->buf = NULL;
}

static void
discard_batches(void)
{
	if (batch_cxt != NULL)
		MemoryContextReset(batch_cxt);
	batches = NULL;
	nbatched = 0;
}

/* Hand every batch to Async_Notify() and forget them. */
static void
flush_batches(void)
{
	HASH_SEQ_STATUS status;
	Batch	   *b;

	if (nbatched == 0 || batches == NULL)
		return;
	hash_seq_init(&status, batches);
	while ((b = hash_seq_search(&status)) != NULL)
		send_batch(b);
	discard_batches();
}

void
notify_statement_end(void)
{
	if (nbatched > 0)
		flush_batches();
}

void
notify_pre_commit(void)
{
	flush_batches();
}

void
notify_discard(void)
{
	discard_batches();
}

void
notify_init(void)
{
	DefineCustomEnumVariable("metrics_ex.notify",
							 "Announce recorded samples with NOTIFY.",
							 "off; on: channel metrics_ex; per_metric: channel metrics_ex_<name>.",
							 &metrics_ex_notify,
							 NOTIFY_OFF, notify_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/* The canonical tags of a series, as JSON text, from the catalog. */
static const char *
series_tags_text(int64 series_id)
{
	SeriesTags *e;
	bool		found;

	if (series_tags_cache == NULL)
	{
		HASHCTL		ctl;

		if (tags_cxt == NULL)
			tags_cxt = AllocSetContextCreate(CacheMemoryContext, "metrics_ex notify tags",
											 ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(SeriesTags);
		ctl.hcxt = tags_cxt;
		series_tags_cache = hash_create("metrics_ex notify series", 256, &ctl,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(series_tags_cache, &series_id, HASH_FIND, NULL);
	if (e == NULL)
	{
		OwnerContext oc;
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1];
		char	   *text = NULL;

		args[0] = Int64GetDatum(series_id);
		owner_begin(&oc);
		if (SPI_execute_with_args("SELECT tags::pg_catalog.text FROM metrics_ex.series "
								  "WHERE id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "metrics_ex: series lookup failed");
		if (SPI_processed == 1)
			text = MemoryContextStrdup(tags_cxt,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		owner_end(&oc);
		if (text == NULL)
			return "{}";
		/* series ids are never reused, so the entry stays right */
		e = hash_search(series_tags_cache, &series_id, HASH_ENTER, &found);
		e->text = text;
	}
	return e->text;
}

/* Series tags and lineage ids (disjoint keys) as one JSON object. */
static void
append_tags(StringInfo out, const char *series, Jsonb *lineage)
{
	char	   *lin;
	size_t		slen = strlen(series);

	if (lineage == NULL)
	{
		appendStringInfoString(out, series);
		return;
	}
	lin = JsonbToCString(NULL, &lineage->root, VARSIZE(lineage));
	if (strcmp(series, "{}") == 0)
		appendStringInfoString(out, lin);
	else
	{
		/* "{...}" + "{...}" -> "{..., ...}" */
		appendBinaryStringInfo(out, series, slen - 1);
		appendStringInfoString(out, ", ");
		appendStringInfoString(out, lin + 1);
	}
	pfree(lin);
}

void
notify_sample(const char *name, int namelen, MetricKind kind, float8 value,
			  int64 series_id, Jsonb *series_tags, Jsonb *lineage, TimestampTz ts)
{
	char		channel[NAMEDATALEN];
	char		tsbuf[MAXDATELEN + 1];
	char	   *cname;
	StringInfoData sample;
	StringInfoData head;
	MemoryContext old;
	Batch	   *b;
	bool		found;
	const char *stags;

	/* channel */
	if (metrics_ex_notify == NOTIFY_PER_METRIC &&
		namelen + (int) strlen(SHARED_CHANNEL "_") < NAMEDATALEN)
		snprintf(channel, sizeof(channel), SHARED_CHANNEL "_%.*s", namelen, name);
	else
		strlcpy(channel, SHARED_CHANNEL, sizeof(channel));

	/* the sample's JSON */
	cname = pnstrdup(name, namelen);
	initStringInfo(&head);
	appendStringInfoString(&head, "{\"name\": ");
	escape_json(&head, cname);
	appendStringInfo(&head, ", \"kind\": \"%s\", \"value\": %s, \"ts\": \"%s\"",
					 kind_name(kind), float8out_internal(value),
					 JsonEncodeDateTime(tsbuf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, NULL));

	stags = series_tags != NULL ?
		JsonbToCString(NULL, &series_tags->root, VARSIZE(series_tags)) :
		series_tags_text(series_id);
	initStringInfo(&sample);
	appendBinaryStringInfo(&sample, head.data, head.len);
	appendStringInfoString(&sample, ", \"tags\": ");
	append_tags(&sample, stags, lineage);
	appendStringInfoChar(&sample, '}');

	/* too big for any payload: announce it without its tags */
	if (sample.len + 64 > PAYLOAD_MAX)
	{
		resetStringInfo(&sample);
		appendBinaryStringInfo(&sample, head.data, head.len);
		appendStringInfoString(&sample, ", \"tags_truncated\": true}");
	}

	/* the batch of this channel */
	if (batch_cxt == NULL)
		batch_cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex notify batches",
										  ALLOCSET_DEFAULT_SIZES);
	if (batches == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(Batch);
		ctl.hcxt = batch_cxt;
		batches = hash_create("metrics_ex notify batches", 16, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	b = hash_search(batches, channel, HASH_ENTER, &found);
	if (!found)
	{
		b->buf = NULL;
		b->nsamples = 0;
	}
	/* ", " + sample + "]}" must fit */
	if (b->buf != NULL && b->buf->len + 2 + sample.len + 2 > PAYLOAD_MAX)
		send_batch(b);
	if (b->buf == NULL)
	{
		old = MemoryContextSwitchTo(batch_cxt);
		b->buf = makeStringInfo();
		MemoryContextSwitchTo(old);
		appendStringInfo(b->buf, "{\"seq\": " UINT64_FORMAT ", \"samples\": [", ++seq);
	}
	else
		appendStringInfoString(b->buf, ", ");
	appendBinaryStringInfo(b->buf, sample.data, sample.len);
	b->nsamples++;
	nbatched++;

	pfree(sample.data);
	pfree(head.data);
	pfree(cname);
}
