/*
 * pending.c
 *		Rollup deltas of the write path (see pending.h).
 *
 * Per statement, a hash keyed by (series, minute) accumulates count, sum,
 * min, max, the latest value, the values (for m2 and a ddsketch, made once
 * at flush) and bucket counts (histograms).  At statement end each entry
 * becomes one row of metrics_ex.rollup_pending, inserted directly like the
 * samples are (on Citus, through the executor: distributed.c).  A backfill of N late samples over S series spanning M
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

#include "distributed.h"
#include "metrics_ex.h"
#include "pending.h"
#include "table_contract.h"
#include "sketch/rollup_row.h"

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
	RollupAcc	acc;			/* the delta's row (sketch/rollup_row.c) */
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
			rollup_acc_init(&e->acc, pending_cxt,
							metric->kind == KIND_HISTOGRAM ? metric->bounds : NULL,
							metric->nbounds);
		r->key = key;
		r->entry = e;
	}
	/* later calls store later rows: a tie of ts goes to this one */
	rollup_acc_add(&e->acc, ts, value, NULL);
	pending_values++;

	/* bounded memory for huge loads: write what we have (e is gone after) */
	if (pending_values >= PENDING_MAX_VALUES)
		pending_flush();
}

void
pending_flush(void)
{
	HASH_SEQ_STATUS seq;
	PendingEntry *e;
	bool		distributed;
	Relation	rel = NULL;
	Oid			relid;
	BulkInsertState bistate = NULL;
	CommandId	cid = InvalidCommandId;
	MemoryContext tmp,
				old;
	SubTransactionId current;
	bool		kept = false;
	AttrNumber	attnums[PENDING_NATTS];
	int			natts = 0;
	Datum	   *tupvalues = NULL;
	bool	   *tupnulls = NULL;

	if (pending == NULL)
		return;
	if (hash_get_num_entries(pending) == 0)
	{
		pending_discard();
		return;
	}
	current = GetCurrentSubTransactionId();

	distributed = distributed_mode();
	if (!distributed)
	{
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
	}
	tmp = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex delta row",
								ALLOCSET_DEFAULT_SIZES);

	hash_seq_init(&seq, pending);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[PENDING_NATTS];
		bool		nulls[PENDING_NATTS];
		HeapTuple	tuple;

		/* an outer level's samples: their deltas wait for that level */
		if (e->key.subid < current)
		{
			kept = true;
			continue;
		}

		old = MemoryContextSwitchTo(tmp);
		values[0] = Int64GetDatum(e->key.series_id);
		values[1] = TimestampTzGetDatum(e->key.minute);
		nulls[0] = nulls[1] = false;
		pending_values -= e->acc.nvalues;
		rollup_acc_finish(&e->acc, &values[2], &nulls[2]);

		if (distributed)
			distributed_add_delta(values, nulls, PENDING_NATTS);
		else
		{
			/* dropped columns stay NULL; ours go where the table has them */
			memset(tupnulls, true, sizeof(bool) * natts);
			for (int c = 0; c < (int) PENDING_NATTS; c++)
			{
				tupvalues[attnums[c] - 1] = values[c];
				tupnulls[attnums[c] - 1] = nulls[c];
			}
			tuple = heap_form_tuple(RelationGetDescr(rel), tupvalues, tupnulls);
			heap_insert(rel, tuple, cid, 0, bistate);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(tmp);
		(void) hash_search(pending, &e->key, HASH_REMOVE, NULL);
	}

	MemoryContextDelete(tmp);
	if (distributed)
		distributed_flush_deltas();
	else
	{
		pfree(tupvalues);
		pfree(tupnulls);
		FreeBulkInsertState(bistate);
		table_close(rel, NoLock);
	}
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
			pending_values -= e->acc.nvalues;
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
