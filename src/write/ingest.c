/*
 * ingest.c
 *		The write API: record(), increment(), gauge(), histogram() and the
 *		INSTEAD OF trigger behind the metrics_ex.ingest view (INSERT, COPY).
 *
 * Every path ends in record_sample(): check the value and time, resolve the
 * metric (defining it on first use) and the series, store the sample.  An
 * error aborts the statement, so a bad row in a bulk load stores nothing.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "hooks.h"
#include "maintenance/watermark.h"
#include "catalog.h"
#include "experiments.h"
#include "ingest.h"
#include "notify.h"
#include "pending.h"
#include "series.h"
#include "storage.h"
#include "tags.h"

PG_FUNCTION_INFO_V1(metrics_ex_record);
PG_FUNCTION_INFO_V1(metrics_ex_increment);
PG_FUNCTION_INFO_V1(metrics_ex_gauge);
PG_FUNCTION_INFO_V1(metrics_ex_histogram);
PG_FUNCTION_INFO_V1(metrics_ex_ingest_trigger);
PG_FUNCTION_INFO_V1(metrics_ex_ingest_statement);

/*
 * Samples that must outlive the transaction that made them: measure() of a
 * failing statement records the failure and re-raises, which rolls back
 * anything written in this transaction.  They wait in session memory and
 * are written by the session's next metrics write.
 */
typedef struct DeferredSample
{
	struct DeferredSample *next;
	MetricKind	kind;
	float8		value;
	TimestampTz ts;
	text	   *name;
	Jsonb	   *tags;
} DeferredSample;

#define MAX_DEFERRED 1000

static DeferredSample *deferred_head = NULL;
static DeferredSample *deferred_tail = NULL;
static int	ndeferred = 0;
static bool writing_deferred = false;
static MemoryContext deferred_cxt = NULL;

static void split_tags(Jsonb *tags, Jsonb **series, Jsonb **lineage);
static void flush_deferred(void);

/* Largest magnitude below which every float8 integer is exact */
#define EXACT_INTEGER_LIMIT 9007199254740992.0

/* Checks that need no catalog: finite value, sane time, counters go up. */
static void
check_sample(MetricKind want, float8 value, TimestampTz ts)
{
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value must be a finite number"),
				 errhint("NaN and infinity cannot be recorded.")));
	if (want == KIND_COUNTER && value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counter increment must not be negative: %g", value),
				 errhint("Counters only go up; record a value that goes down as a gauge.")));
	storage_check_ts(ts, "ts");
}

/*
 * The metric, defined on first use, for a sample of this value, recorded by
 * (or on behalf of) role.
 */
static MetricInfo
resolve_metric(Oid role, text *name, MetricKind want, float8 value, bool integral)
{
	MetricInfo	metric;

	catalog_begin_write_for(role);
	metric = catalog_metric(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name), want, integral);
	if (metric.kind == KIND_COUNTER && value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counter increment must not be negative: %g", value),
				 errhint("\"%s\" is a counter, and counters only go up.",
						 text_to_cstring(name))));
	return metric;
}

/*
 * The first half of every write path: earlier deferred samples, the checks,
 * the metric (defined on first use).
 */
static MetricInfo
begin_sample(Oid role, text *name, MetricKind want, float8 value, bool integral,
			 TimestampTz ts)
{
	if (deferred_head != NULL)
		flush_deferred();
	check_sample(want, value, ts);
	return resolve_metric(role, name, want, value, integral);
}

/*
 * The second half, once the series is known: the experiment gate, NOTIFY,
 * the sample itself and its rollup delta.  series_tags may be NULL when the
 * series was found by the client's tag text.
 */
static void
store_sample(text *name, const MetricInfo *metric, int64 series_id, Jsonb *series_tags,
			 Jsonb *lineage, TimestampTz ts, float8 value)
{
	if (!experiments_accept(series_id, series_tags))
		return;
	if (metrics_ex_notify != NOTIFY_OFF)
		notify_sample(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name), metric->kind,
					  value, series_id, series_tags, lineage, ts);
	storage_insert(ts, series_id, value, lineage);
	/* older than the watermark maintenance published: it rolls up a delta */
	if (ts < watermark_published())
		pending_add(metric, series_id, ts, value);
}

void
record_sample_for(Oid role, text *name, MetricKind want, float8 value, bool integral,
				  Jsonb *series_tags, Jsonb *lineage, TimestampTz ts)
{
	MetricInfo	metric = begin_sample(role, name, want, value, integral, ts);

	store_sample(name, &metric, series_resolve(&metric, series_tags, NULL, 0), series_tags,
				 lineage, ts, value);
}

/* Split a tags argument into series tags and lineage, fast when canonical. */
static void
split_tags(Jsonb *tags, Jsonb **series, Jsonb **lineage)
{
	TagBuilder	tb;

	if (tags_is_canonical(tags))
	{
		*series = tags;
		*lineage = NULL;
		return;
	}
	tags_begin(&tb);
	tags_add_object(&tb, &tags->root, "tags");
	tags_finish(&tb, series, lineage);
}

/* {}, made once: rows without tags are common in bulk loads; read only */
static Jsonb *
empty_object(void)
{
	static Jsonb *empty = NULL;

	if (empty == NULL)
	{
		JsonbParseState *state = NULL;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		empty = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
		MemoryContextSwitchTo(old);
	}
	return empty;
}

static bool
is_integral(float8 value)
{
	return fabs(value) < EXACT_INTEGER_LIMIT && value == floor(value);
}

static void
check_name_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric name must not be NULL")));
}

/*
 * record(name text, payload jsonb): MetricsEx's record/2.  "value" (default
 * 1), "tags" (object) and "ts" (ISO 8601) are read; every other key of the
 * payload becomes a tag, explicit tags winning.  A value written with a
 * fraction (0.75, 1.0) counts as non-integral when the kind is inferred.
 */
Datum
metrics_ex_record(PG_FUNCTION_ARGS)
{
	Jsonb	   *payload;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	TagBuilder	tb;
	JsonbContainer *explicit_tags = NULL;
	float8		value = 1.0;
	bool		integral = true;
	TimestampTz ts = GetCurrentTransactionStartTimestamp();
	Jsonb	   *series,
			   *lineage;

	check_name_arg(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload must not be NULL"),
				 errhint("Pass a JSON object such as '{\"value\": 0.75, \"tags\": {\"model\": \"llama\"}}'.")));
	payload = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(payload) || JB_ROOT_IS_SCALAR(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must be a JSON object"),
				 errhint("Pass a JSON object such as '{\"value\": 0.75, \"tags\": {\"model\": \"llama\"}}'.")));

	tags_begin(&tb);
	it = JsonbIteratorInit(&payload->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		int			keylen;

		if (tok != WJB_KEY)
			continue;
		key = v.val.string.val;
		keylen = v.val.string.len;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);

		if (keylen == 5 && memcmp(key, "value", 5) == 0)
		{
			if (v.type == jbvNull)
				continue;
			if (v.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("payload \"value\" must be a JSON number"),
						 errhint("Write the value as a number, such as 0.75 or 3.")));
			if (numeric_is_nan(v.val.numeric))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value must be a finite number")));
			value = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
													   NumericGetDatum(v.val.numeric)));
			integral = DatumGetInt32(DirectFunctionCall1(numeric_scale,
														 NumericGetDatum(v.val.numeric))) == 0;
		}
		else if (keylen == 4 && memcmp(key, "tags", 4) == 0)
		{
			if (v.type == jbvNull)
				continue;
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("payload \"tags\" must be a JSON object"),
						 errhint("Pass tags as a flat object such as {\"tenant\": \"cns\"}.")));
			explicit_tags = v.val.binary.data;
		}
		else if (keylen == 2 && memcmp(key, "ts", 2) == 0)
		{
			char	   *str;

			if (v.type == jbvNull)
				continue;
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("payload \"ts\" must be an ISO 8601 timestamp string"),
						 errhint("For example \"2026-11-22T10:00:00Z\".")));
			str = pnstrdup(v.val.string.val, v.val.string.len);
			ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														 CStringGetDatum(str),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
		}
		else
			tags_add_pair(&tb, key, keylen, &v, "payload");
	}
	/* explicit tags go last: a later pair wins over an earlier one */
	if (explicit_tags != NULL)
		tags_add_object(&tb, explicit_tags, "payload \"tags\"");
	tags_finish(&tb, &series, &lineage);

	record_sample_for(GetUserId(), PG_GETARG_TEXT_PP(0), KIND_NONE, value, integral, series, lineage, ts);
	PG_RETURN_VOID();
}

/* increment(name, amount, tags, ts), gauge(...) and histogram(...) */
static Datum
record_kind(FunctionCallInfo fcinfo, MetricKind kind)
{
	float8		value;
	Jsonb	   *tags;
	Jsonb	   *series,
			   *lineage;
	TimestampTz ts;

	check_name_arg(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", kind == KIND_COUNTER ? "amount" : "value")));
	value = PG_GETARG_FLOAT8(1);
	tags = PG_ARGISNULL(2) ? empty_object() : PG_GETARG_JSONB_P(2);
	ts = PG_ARGISNULL(3) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(3);

	split_tags(tags, &series, &lineage);
	record_sample_for(GetUserId(), PG_GETARG_TEXT_PP(0), kind, value, is_integral(value),
					  series, lineage, ts);
	PG_RETURN_VOID();
}

Datum
metrics_ex_increment(PG_FUNCTION_ARGS)
{
	return record_kind(fcinfo, KIND_COUNTER);
}

Datum
metrics_ex_gauge(PG_FUNCTION_ARGS)
{
	return record_kind(fcinfo, KIND_GAUGE);
}

Datum
metrics_ex_histogram(PG_FUNCTION_ARGS)
{
	return record_kind(fcinfo, KIND_HISTOGRAM);
}

/* Record now, in the caller's name: measure()'s successful statement. */
void
ingest_record(text *name, MetricKind kind, float8 value, Jsonb *tags, TimestampTz ts)
{
	Jsonb	   *series,
			   *lineage;

	split_tags(tags, &series, &lineage);
	record_sample_for(GetUserId(), name, kind, value, is_integral(value), series, lineage, ts);
}

/*
 * Write the deferred samples, each in its own subtransaction: one that can
 * no longer be written (its metric was redefined, say) is dropped with a
 * warning instead of failing the write that flushes it.
 */
static void
flush_deferred(void)
{
	DeferredSample *volatile list = deferred_head;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	if (list == NULL || writing_deferred)
		return;
	deferred_head = deferred_tail = NULL;
	ndeferred = 0;
	writing_deferred = true;

	for (DeferredSample *volatile d = list; d != NULL; d = d->next)
	{
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			Jsonb	   *series,
					   *lineage;

			split_tags(d->tags, &series, &lineage);
			record_sample_for(GetUserId(), d->name, d->kind, d->value, true, series, lineage, d->ts);
			ReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			ereport(WARNING,
					(errmsg("dropped a deferred sample of \"%s\": %s",
							text_to_cstring(d->name), edata->message)));
			FreeErrorData(edata);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	writing_deferred = false;
	MemoryContextReset(deferred_cxt);
}

/*
 * Keep a sample in session memory until the next write (see
 * DeferredSample).  Never raises for bad input: it runs inside error
 * handlers, where a new error would hide the one being handled; such a
 * sample is dropped with a warning later.  At most MAX_DEFERRED wait.
 */
void
ingest_defer_sample(text *name, MetricKind kind, float8 value, Jsonb *tags, TimestampTz ts)
{
	MemoryContext old;
	DeferredSample *d;

	if (ndeferred >= MAX_DEFERRED)
		return;
	if (deferred_cxt == NULL)
		deferred_cxt = AllocSetContextCreate(TopMemoryContext,
											 "metrics_ex deferred samples",
											 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(deferred_cxt);
	d = palloc0(sizeof(DeferredSample));
	d->name = (text *) pg_detoast_datum_copy((struct varlena *) name);
	d->value = value;
	d->tags = tags ? (Jsonb *) pg_detoast_datum_copy((struct varlena *) tags) : empty_object();
	d->ts = ts;
	d->kind = kind;
	MemoryContextSwitchTo(old);

	if (deferred_tail)
		deferred_tail->next = d;
	else
		deferred_head = d;
	deferred_tail = d;
	ndeferred++;
}

/*
 * One row of metrics_ex.ingest(name, value, tags, ts, kind), from the
 * INSTEAD OF trigger or the COPY fast path (copy.c).  A NULL tags is {}, a
 * NULL ts is now(), a NULL kind is inferred or taken from the definition;
 * name and value are required.
 *
 * tags is text, not jsonb, so that a bulk load finds a tag set it has seen
 * before by its text alone and parses JSON only for new text (and for rows
 * carrying lineage ids, which differ row by row).
 */
void
ingest_row(Datum *values, bool *nulls)
{
	text	   *name;
	float8		value;
	text	   *tagtext = NULL;
	Jsonb	   *series = NULL;
	Jsonb	   *lineage = NULL;
	TimestampTz ts;
	MetricKind	kind = KIND_NONE;
	MetricInfo	metric;
	int64		series_id = -1;

	if (nulls[0])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric name must not be NULL")));
	name = DatumGetTextPP(values[0]);
	if (nulls[1])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("value must not be NULL"),
				 errhint("Omit the column to record 1.")));
	value = DatumGetFloat8(values[1]);
	if (!nulls[2])
		tagtext = DatumGetTextPP(values[2]);
	ts = nulls[3] ? GetCurrentTransactionStartTimestamp() : DatumGetTimestampTz(values[3]);
	if (!nulls[4])
		kind = kind_from_cstring(TextDatumGetCString(values[4]), "kind");

	metric = begin_sample(GetUserId(), name, kind, value, is_integral(value), ts);

	if (tagtext != NULL)
		series_id = series_by_text(&metric, VARDATA_ANY(tagtext), VARSIZE_ANY_EXHDR(tagtext));
	if (series_id < 0)
	{
		Jsonb	   *tags;

		tags = tagtext == NULL ? empty_object() :
			DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											   CStringGetDatum(text_to_cstring(tagtext))));
		split_tags(tags, &series, &lineage);
		/* the text names this series from now on, unless it carries lineage */
		series_id = series_resolve(&metric, series,
								   tagtext != NULL && lineage == NULL ? VARDATA_ANY(tagtext) : NULL,
								   tagtext != NULL ? VARSIZE_ANY_EXHDR(tagtext) : 0);
	}
	store_sample(name, &metric, series_id, series, lineage, ts, value);
}

/* INSTEAD OF INSERT trigger of metrics_ex.ingest: INSERT, and COPY when the
 * fast path is not loaded. */
Datum
metrics_ex_ingest_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Datum		values[INGEST_NATTS];
	bool		nulls[INGEST_NATTS];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_INSTEAD(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "metrics_ex_ingest_trigger: must be an INSTEAD OF INSERT trigger");
	if (trigdata->tg_relation->rd_att->natts != INGEST_NATTS)
		elog(ERROR, "metrics_ex_ingest_trigger: unexpected columns in %s",
			 RelationGetRelationName(trigdata->tg_relation));

	heap_deform_tuple(trigdata->tg_trigtuple, trigdata->tg_relation->rd_att, values, nulls);
	ingest_row(values, nulls);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/*
 * BEFORE INSERT FOR EACH STATEMENT trigger of metrics_ex.ingest: the rows of
 * this statement (INSERT ... SELECT, multi-row VALUES, COPY on the standard
 * path) are buffered and written with multi-inserts until it ends.
 */
Datum
metrics_ex_ingest_statement(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		elog(ERROR, "metrics_ex_ingest_statement: must be a BEFORE ... FOR EACH STATEMENT trigger");
	/* the trigger runs inside the statement's executor: one level in */
	storage_begin_bulk(hooks_nesting_level() - 1);
	return PointerGetDatum(NULL);
}
