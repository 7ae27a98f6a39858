/*
 * pending.c
 *		Rollup deltas of the write path (see pending.h).
 *
 * Per statement, a hash keyed by (series, minute) accumulates count, sum,
 * min, max, the latest value, the values (for m2 and a ddsketch, made once
 * at flush) and bucket counts (histograms).  At statement end each entry
 * becomes one row of metrics_ex.rollup_pending, inserted directly like the
 * samples are.  A backfill of N late samples over S series spanning M
 * minutes writes about S*M such rows, far fewer than N.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "metrics_ex.h"
#include "pending.h"
#include "table_contract.h"
#include "sketch/exact_sum.h"
#include "sketch/sketch_api.h"

#define ROLLUP_REL_ERR 0.01

/* What metrics_ex.rollup_pending must look like: written by hand, no index */
static const ColumnContract pending_columns[] = {
	{"series_id", "int8", false},
	{"bucket", "timestamptz", false},
	{"count", "int8", false},
	{"sum", "float8", false},
	{"min", "float8", false},
	{"max", "float8", false},
	{"last_ts", "timestamptz", false},
	{"last_value", "float8", false},
	{"m2", "float8", false},
	{"sketch", "ddsketch", true},
	{"buckets", "_int8", true},
};
#define PENDING_NATTS lengthof(pending_columns)

/*
 * Entries remember the subtransaction that stored their samples: a delta is
 * written only at the end of a statement of that level (or an outer one,
 * after the level committed into it), and dropped with that level's abort,
 * so deltas and samples always share their fate.
 */
typedef struct PendingKey
{
	int64		series_id;
	TimestampTz minute;
	SubTransactionId subid;
} PendingKey;

typedef struct PendingEntry
{
	PendingKey	key;
	int64		count;
	double		sum;
	double		min;
	double		max;
	TimestampTz last_ts;
	double		last_value;
	double	   *values;			/* for m2 and the sketch at flush */
	int			nvalues;
	int			capacity;
	int			nbounds;
	const float8 *bounds;		/* session-lived (catalog.c) */
	int64	   *counts;			/* per bucket, not cumulative; +Inf last */
} PendingEntry;

static MemoryContext pending_cxt = NULL;
static HTAB *pending = NULL;
static int64 pending_values = 0;

/* Values held for sketches before the deltas are written out early */
#define PENDING_MAX_VALUES (1024 * 1024)

/*
 * The entry each series used last, by series id modulo its size: a bulk
 * load in time order hits the same (series, minute) entry many times in a
 * row, and this spares the hash lookup.
 */
#define RECENT_SIZE 4096
typedef struct RecentEntry
{
	PendingKey	key;
	PendingEntry *entry;
} RecentEntry;
static RecentEntry *recent = NULL;

static void
pending_init(void)
{
	HASHCTL		ctl;

	pending_cxt = AllocSetContextCreate(TopTransactionContext, "metrics_ex rollup deltas",
										ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(PendingKey);
	ctl.entrysize = sizeof(PendingEntry);
	ctl.hcxt = pending_cxt;
	pending = hash_create("metrics_ex rollup deltas", 256, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	recent = MemoryContextAllocZero(pending_cxt, sizeof(RecentEntry) * RECENT_SIZE);
}

void
pending_add(const MetricInfo *metric, int64 series_id, TimestampTz ts, double value)
{
	PendingKey	key;
	PendingEntry *e;
	RecentEntry *r;
	bool		found;

	if (pending == NULL)
		pending_init();

	memset(&key, 0, sizeof(key));
	key.series_id = series_id;
	key.minute = ts - (((ts % USECS_PER_MINUTE) + USECS_PER_MINUTE) % USECS_PER_MINUTE);
	key.subid = GetCurrentSubTransactionId();
	r = &recent[(uint64) series_id % RECENT_SIZE];
	if (r->entry != NULL && r->key.series_id == series_id && r->key.minute == key.minute &&
		r->key.subid == key.subid)
		e = r->entry;
	else
	{
		e = hash_search(pending, &key, HASH_ENTER, &found);
		if (!found)
		{
			MemoryContext old = MemoryContextSwitchTo(pending_cxt);

			e->count = 0;
			e->sum = 0;
			e->min = e->max = value;
			e->last_ts = ts;
			e->last_value = value;
			e->values = NULL;
			e->nvalues = e->capacity = 0;
			e->nbounds = 0;
			e->bounds = NULL;
			e->counts = NULL;
			if (metric->kind == KIND_HISTOGRAM)
			{
				e->bounds = metric->bounds;
				e->nbounds = metric->nbounds;
				e->counts = palloc0(sizeof(int64) * (e->nbounds + 1));
			}
			MemoryContextSwitchTo(old);
		}
		r->key = key;
		r->entry = e;
	}

	e->count++;
	if (value < e->min)
		e->min = value;
	if (value > e->max)
		e->max = value;
	if (ts >= e->last_ts)
	{
		e->last_ts = ts;
		e->last_value = value;
	}
	/* m2 and the sketch come from the values, once, at flush */
	if (e->nvalues == e->capacity)
	{
		e->capacity = e->capacity == 0 ? 8 : e->capacity * 2;
		e->values = e->values == NULL ?
			MemoryContextAlloc(pending_cxt, sizeof(double) * e->capacity) :
			repalloc(e->values, sizeof(double) * e->capacity);
	}
	e->values[e->nvalues++] = value;
	pending_values++;
	if (e->counts != NULL)
	{
		/* first bucket whose upper bound holds the value (le semantics) */
		int			lo = 0,
					hi = e->nbounds;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (value <= e->bounds[mid])
				hi = mid;
			else
				lo = mid + 1;
		}
		e->counts[lo]++;
	}

	/* bounded memory for huge loads: write what we have (e is gone after) */
	if (pending_values >= PENDING_MAX_VALUES)
		pending_flush();
}

void
pending_flush(void)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	Relation	rel;
	Oid			relid;
	BulkInsertState bistate;
	CommandId	cid;
	MemoryContext tmp,
				old;
	SubTransactionId current;
	bool		kept = false;
	AttrNumber	attnums[PENDING_NATTS];
	int			natts;
	Datum	   *tupvalues;
	bool	   *tupnulls;

	if (pending == NULL)
		return;
	if (hash_get_num_entries(pending) == 0)
	{
		pending_discard();
		return;
	}
	current = GetCurrentSubTransactionId();

	relid = get_relname_relid("rollup_pending", get_namespace_oid(METRICS_EX_SCHEMA, false));
	if (!OidIsValid(relid))
		elog(ERROR, "metrics_ex: relation metrics_ex.rollup_pending does not exist");
	rel = table_open(relid, RowExclusiveLock);
	/* rows go in without index or trigger maintenance: keep it that way */
	table_contract_check(rel, pending_columns, PENDING_NATTS, false, attnums);
	natts = RelationGetDescr(rel)->natts;
	tupvalues = palloc(sizeof(Datum) * natts);
	tupnulls = palloc(sizeof(bool) * natts);
	bistate = GetBulkInsertState();
	cid = GetCurrentCommandId(true);
	tmp = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex delta row",
								ALLOCSET_DEFAULT_SIZES);

	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[PENDING_NATTS];
		bool		nulls[PENDING_NATTS];
		HeapTuple	tuple;
		double		m2;

		/* an outer level's samples: their deltas wait for that level */
		if (e->key.subid < current)
		{
			kept = true;
			continue;
		}

		old = MemoryContextSwitchTo(tmp);
		memset(nulls, false, sizeof(nulls));
		values[0] = Int64GetDatum(e->key.series_id);
		values[1] = TimestampTzGetDatum(e->key.minute);
		values[2] = Int64GetDatum(e->count);
		/* the exact sum (in any order), then m2 in a second pass */
		values_sum_m2(e->values, e->nvalues, &e->sum, &m2);
		values[3] = Float8GetDatum(e->sum);
		values[4] = Float8GetDatum(e->min);
		values[5] = Float8GetDatum(e->max);
		values[6] = TimestampTzGetDatum(e->last_ts);
		values[7] = Float8GetDatum(e->last_value);
		values[8] = Float8GetDatum(m2);
		/* one value: its sketch follows from its sum */
		if (e->count > 1)
			values[9] = ddsketch_to_datum(ddsketch_build(ROLLUP_REL_ERR, e->values, e->nvalues));
		else
			nulls[9] = true;
		if (e->counts != NULL)
		{
			/* cumulative, as bucket_counts() makes them */
			Datum	   *cum = palloc(sizeof(Datum) * (e->nbounds + 1));
			int64		running = 0;

			for (int i = 0; i <= e->nbounds; i++)
			{
				running += e->counts[i];
				cum[i] = Int64GetDatum(running);
			}
			values[10] = PointerGetDatum(construct_array(cum, e->nbounds + 1, INT8OID,
														 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		}
		else
			nulls[10] = true;

		/* dropped columns stay NULL; ours go where the table has them */
		memset(tupnulls, true, sizeof(bool) * natts);
		for (int c = 0; c < (int) PENDING_NATTS; c++)
		{
			tupvalues[attnums[c] - 1] = values[c];
			tupnulls[attnums[c] - 1] = nulls[c];
		}
		tuple = heap_form_tuple(RelationGetDescr(rel), tupvalues, tupnulls);
		heap_insert(rel, tuple, cid, 0, bistate);
		MemoryContextSwitchTo(old);
		MemoryContextReset(tmp);
		pending_values -= e->nvalues;
		(void) hash_search(pending, &e->key, HASH_REMOVE, NULL);
	}

	MemoryContextDelete(tmp);
	pfree(tupvalues);
	pfree(tupnulls);
	FreeBulkInsertState(bistate);
	table_close(rel, NoLock);
	if (kept)
		memset(recent, 0, sizeof(RecentEntry) * RECENT_SIZE);
	else
		pending_discard();
}

void
pending_discard_sub(SubTransactionId subid)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;

	if (pending == NULL)
		return;
	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->key.subid >= subid)
		{
			pending_values -= e->nvalues;
			(void) hash_search(pending, &e->key, HASH_REMOVE, NULL);
		}
	memset(recent, 0, sizeof(RecentEntry) * RECENT_SIZE);
}

void
pending_discard(void)
{
	if (pending_cxt != NULL)
		MemoryContextDelete(pending_cxt);
	pending_forget();
}

void
pending_forget(void)
{
	pending_cxt = NULL;
	pending = NULL;
	recent = NULL;
	pending_values = 0;
}
