/*
 * storage.c
 *		Writing samples into metrics_ex.samples (see storage.h).
 *
 * Routing follows PostgreSQL's own rule for range partitions (the partition
 * whose [lower, upper) holds ts, else the default partition), so partitions
 * made by hand or by maintenance are used as they are.  The write path never
 * runs DDL: maintenance prepares the day partitions ahead of time, and a
 * sample no day partition takes goes to metrics_ex.samples_default, which
 * maintenance later moves into day partitions (see retention.sql).
 *
 * These tables are written below the executor, so their shape is checked
 * each time one is opened (table_contract.c): a column, default, constraint,
 * trigger or policy that the write would bypass is refused with an error.
 *
 * Opened partitions live until the end of the statement: relations are
 * opened under the top transaction's resource owner and closed when a
 * statement ends or before a utility command runs (hooks.c), at
 * subtransaction abort, and before commit.  Keeping them any longer would
 * make DROP or TRUNCATE of a partition later in the same transaction fail
 * with "being used by active queries".
 */
#include "postgres.h"

#include "access/brin.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opfamily.h"
#include "catalog/partition.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "distributed.h"
#include "metrics_ex.h"
#include "pending.h"
#include "storage.h"
#include "table_contract.h"

/* An opened partition and where our four columns are in it. */
typedef struct OpenPartition
{
	Oid			relid;
	TimestampTz lower;			/* [lower, upper) it takes; DT_NOBEGIN/DT_NOEND */
	TimestampTz upper;
	bool		is_default;
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	BulkInsertState bistate;	/* keeps the target page pinned between rows */
	TupleTableSlot **buffered;	/* bulk mode: rows waiting for multi-insert */
	int			nbuffered;
	bool		brin_ts_only;	/* the one index is a BRIN minmax on ts */
	SubTransactionId subid;		/* opened in this subtransaction */
	AttrNumber	att_ts,
				att_series,
				att_value,
				att_lineage;
} OpenPartition;

typedef struct WriteState
{
	MemoryContext cxt;			/* child of TopTransactionContext */
	EState	   *estate;
	Relation	parent;
	int			nparts;
	int			maxparts;
	OpenPartition *parts;
	int			last;			/* index of the last partition used */
	SubTransactionId subid;		/* opened in this subtransaction */
} WriteState;

static WriteState *ws = NULL;
static bool busy = false;		/* inside storage_insert: do not close */
static bool closing = false;	/* inside close_state: index expressions may
								 * run queries whose end calls us again */
static bool bulk_mode = false;	/* storage_begin_bulk() .. storage_end_bulk() */
static int	bulk_level;			/* nesting level of the statement that began it */
static SubTransactionId bulk_subid; /* rows of this level only are buffered */

/* What a partition of metrics_ex.samples must look like */
static const ColumnContract sample_columns[] = {
	{"ts", "timestamptz", false},
	{"series_id", "int8", false},
	{"value", "float8", false},
	{"lineage", "jsonb", true},
};

/* Rows per multi-insert, as COPY does */
#define BULK_BATCH 1000

/* Earliest and latest accepted sample times: years 1 to 9999. */
#define TS_MIN	INT64CONST(-63082281600000000)	/* 0001-01-01 00:00:00+00 */
#define TS_MAX	INT64CONST(252455616000000000)	/* 10000-01-01 00:00:00+00 */

void
storage_check_ts(TimestampTz ts, const char *argname)
{
	if (ts < TS_MIN || ts >= TS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for a sample", argname),
				 errhint("Sample times must be between 0001-01-01 and 9999-12-31 UTC.")));
}

/*
 * A BRIN minmax summary of a block range is the least and greatest value in
 * it, so of a batch's rows only the earliest and the latest of each block
 * range need inserting into the index: the summary comes out the same as
 * with every row, at a fraction of the index calls.
 */
static void
brin_insert_extremes(OpenPartition *p)
{
	Relation	index = p->rri->ri_IndexRelationDescs[0];
	IndexInfo  *info = p->rri->ri_IndexRelationInfo[0];
	BlockNumber per_range = BrinGetPagesPerRange(index);
	int			i = 0;
	bool		isnull;

#define SLOT_TS(k) DatumGetTimestampTz(slot_getattr(p->buffered[k], p->att_ts, &isnull))

	while (i < p->nbuffered)
	{
		BlockNumber range = ItemPointerGetBlockNumber(&p->buffered[i]->tts_tid) / per_range;
		int			lo = i,
					hi = i;
		int			j;

		/* multi-insert fills pages in order: a range's rows are adjacent */
		for (j = i + 1; j < p->nbuffered &&
			 ItemPointerGetBlockNumber(&p->buffered[j]->tts_tid) / per_range == range; j++)
		{
			TimestampTz ts = SLOT_TS(j);

			if (ts < SLOT_TS(lo))
				lo = j;
			if (ts > SLOT_TS(hi))
				hi = j;
		}
		for (int k = 0; k < (lo == hi ? 1 : 2); k++)
		{
			TupleTableSlot *slot = p->buffered[k == 0 ? lo : hi];
			Datum		value = slot_getattr(slot, p->att_ts, &isnull);

			index_insert(index, &value, &isnull, &slot->tts_tid, p->rel,
						 UNIQUE_CHECK_NO, false, info);
		}
		i = j;
	}
#undef SLOT_TS
}

/* Is the partition's only index a BRIN minmax on ts (ours)? */
static bool
only_brin_on_ts(OpenPartition *p)
{
	Relation	index;
	IndexInfo  *info;
	HeapTuple	tp;
	bool		minmax = false;

	if (p->rri->ri_NumIndices != 1)
		return false;
	index = p->rri->ri_IndexRelationDescs[0];
	info = p->rri->ri_IndexRelationInfo[0];
	if (index->rd_rel->relam != BRIN_AM_OID || info->ii_NumIndexAttrs != 1 ||
		info->ii_IndexAttrNumbers[0] != p->att_ts || info->ii_Expressions != NIL ||
		info->ii_Predicate != NIL)
		return false;
	tp = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(index->rd_opfamily[0]));
	if (HeapTupleIsValid(tp))
	{
		const char *name = NameStr(((Form_pg_opfamily) GETSTRUCT(tp))->opfname);

		minmax = strstr(name, "minmax") != NULL && strstr(name, "multi") == NULL;
		ReleaseSysCache(tp);
	}
	return minmax;
}

/* Insert a partition's buffered rows with one multi-insert. */
static void
flush_partition(OpenPartition *p, EState *estate)
{
	ResourceOwner save = CurrentResourceOwner;

	if (p->nbuffered == 0)
		return;
	CurrentResourceOwner = TopTransactionResourceOwner;
	table_multi_insert(p->rel, p->buffered, p->nbuffered,
					   GetCurrentCommandId(true), 0, p->bistate);
	if (p->brin_ts_only)
		brin_insert_extremes(p);
	for (int i = 0; i < p->nbuffered; i++)
	{
		if (p->rri->ri_NumIndices > 0 && !p->brin_ts_only)
		{
			List	   *recheck;

			recheck = ExecInsertIndexTuples(p->rri, p->buffered[i], estate,
											false, false, NULL, NIL);
			list_free(recheck);
			ResetPerTupleExprContext(estate);
		}
		ExecClearTuple(p->buffered[i]);
	}
	p->nbuffered = 0;
	CurrentResourceOwner = save;
}

static void drop_state(void);
static void release_partition(OpenPartition *p);

/*
 * End of the write state's life at a statement's end or before commit: write
 * the buffered rows and the rollup deltas, then give the partitions back.
 */
static void
close_state(void)
{
	if (closing)
		return;
	closing = true;
	PG_TRY();
	{
		distributed_flush_samples();
		pending_flush();
		if (ws != NULL)
		{
			for (int i = 0; i < ws->nparts; i++)
				flush_partition(&ws->parts[i], ws->estate);
			drop_state();
		}
	}
	PG_FINALLY();
	{
		closing = false;
	}
	PG_END_TRY();
}

void
storage_begin_bulk(int level)
{
	/* a nested bulk statement rides on the outer one */
	if (bulk_mode)
		return;
	bulk_mode = true;
	bulk_level = level;
	bulk_subid = GetCurrentSubTransactionId();
}

/* Buffered rows belong to bulk_subid: only its statements may write them. */
static bool
may_close_here(void)
{
	return !busy && !(bulk_mode && GetCurrentSubTransactionId() != bulk_subid);
}

void
storage_end_bulk(void)
{
	close_state();
	bulk_mode = false;
}

/* Close one partition's resources, discarding any buffered rows. */
static void
release_partition(OpenPartition *p)
{
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = TopTransactionResourceOwner;
	if (p->buffered != NULL)
		for (int j = 0; j < BULK_BATCH && p->buffered[j] != NULL; j++)
			ExecDropSingleTupleTableSlot(p->buffered[j]);
	FreeBulkInsertState(p->bistate);
	ExecCloseIndices(p->rri);
	ExecDropSingleTupleTableSlot(p->slot);
	table_close(p->rel, NoLock);
	CurrentResourceOwner = save;
}

/*
 * Give the partitions and the state back without writing anything: after
 * close_state() has written it, or when the state belongs to an aborted
 * subtransaction.
 */
static void
drop_state(void)
{
	WriteState *s = ws;
	ResourceOwner save = CurrentResourceOwner;

	ws = NULL;
	for (int i = 0; i < s->nparts; i++)
		release_partition(&s->parts[i]);
	CurrentResourceOwner = TopTransactionResourceOwner;
	table_close(s->parent, NoLock);
	FreeExecutorState(s->estate);
	CurrentResourceOwner = save;
	MemoryContextDelete(s->cxt);
}

/* Partitions opened in subtransaction subid or deeper, which aborted. */
static void
drop_partitions_from(SubTransactionId subid)
{
	int			kept = 0;

	for (int i = 0; i < ws->nparts; i++)
	{
		if (ws->parts[i].subid >= subid)
			release_partition(&ws->parts[i]);
		else
			ws->parts[kept++] = ws->parts[i];
	}
	ws->nparts = kept;
	ws->last = -1;
}

void
storage_pre_commit(void)
{
	close_state();
	distributed_xact_end();
}

void
storage_xact_abort(void)
{
	/* TopTransactionContext is going away with everything in it */
	ws = NULL;
	pending_forget();
	distributed_xact_abort();
	busy = false;
	bulk_mode = false;
}

void
storage_subxact_abort(SubTransactionId mySubid)
{
	/*
	 * Forget what the aborted level (and deeper) did; keep the outer levels'
	 * deltas, buffered rows and open partitions.  Rows are buffered only at
	 * bulk_subid, so a partition opened in the aborted level holds none.
	 */
	busy = false;
	pending_discard_sub(mySubid);
	distributed_subxact_abort(mySubid);
	if (bulk_mode && bulk_subid >= mySubid)
		bulk_mode = false;
	if (ws != NULL && ws->subid >= mySubid)
		drop_state();
	else if (ws != NULL)
		drop_partitions_from(mySubid);
}

void
storage_statement_end(int level)
{
	if (!IsTransactionState() || !may_close_here())
		return;
	close_state();
	/* the statement that started bulk mode is over */
	if (bulk_mode && level <= bulk_level)
		bulk_mode = false;
}

void
storage_before_utility(void)
{
	if (ws != NULL && IsTransactionState() && may_close_here())
		close_state();
}

/*
 * Check a table's contract before it is opened for the statement: an error
 * must not leave it open under the top transaction's resource owner.
 */
static void
check_samples_table(Oid relid, AttrNumber *attnums)
{
	Relation	rel = table_open(relid, RowExclusiveLock);

	/* attnums: a partition, which we insert into */
	if (attnums != NULL && rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("partition \"%s\" of metrics_ex.samples is not a plain table",
						RelationGetRelationName(rel)),
				 errhint("metrics_ex writes samples into plain table partitions only; detach the partitioned or foreign one.")));
	table_contract_check(rel, sample_columns, lengthof(sample_columns), true, attnums);
	table_close(rel, NoLock);
}

static WriteState *
open_state(void)
{
	MemoryContext cxt;
	MemoryContext old;
	ResourceOwner save = CurrentResourceOwner;
	WriteState *s;

	check_samples_table(catalog_samples_relid(), NULL);
	cxt = AllocSetContextCreate(TopTransactionContext, "metrics_ex write state",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	s = palloc0(sizeof(WriteState));
	s->cxt = cxt;
	s->estate = CreateExecutorState();
	s->maxparts = 4;
	s->parts = palloc(sizeof(OpenPartition) * s->maxparts);
	s->last = -1;
	s->subid = GetCurrentSubTransactionId();
	CurrentResourceOwner = TopTransactionResourceOwner;
	s->parent = table_open(catalog_samples_relid(), RowExclusiveLock);
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
	return s;
}

/*
 * The partition PostgreSQL would route ts to, with its bounds; InvalidOid
 * when none would take it.
 */
static Oid
route(Relation parent, TimestampTz ts, TimestampTz *lower, TimestampTz *upper,
	  bool *is_default)
{
	PartitionDesc pd = RelationGetPartitionDesc(parent, true);
	PartitionKey key = RelationGetPartitionKey(parent);
	PartitionBoundInfo bi = pd->boundinfo;

	*lower = DT_NOBEGIN;
	*upper = DT_NOEND;
	*is_default = false;
	if (pd->nparts == 0 || bi == NULL)
		return InvalidOid;

	if (bi->ndatums > 0)
	{
		Datum		value = TimestampTzGetDatum(ts);
		bool		is_equal;
		int			off;
		int			index;

		off = partition_range_datum_bsearch(key->partsupfunc, key->partcollation,
											bi, 1, &value, &is_equal);
		index = bi->indexes[off + 1];
		if (index >= 0)
		{
			if (off >= 0 && bi->kind[off][0] == PARTITION_RANGE_DATUM_VALUE)
				*lower = DatumGetTimestampTz(bi->datums[off][0]);
			if (off + 1 < bi->ndatums && bi->kind[off + 1][0] == PARTITION_RANGE_DATUM_VALUE)
				*upper = DatumGetTimestampTz(bi->datums[off + 1][0]);
			return pd->oids[index];
		}
	}
	if (partition_bound_has_default(bi))
	{
		*is_default = true;
		return pd->oids[bi->default_index];
	}
	return InvalidOid;
}

static int
open_partition(WriteState *s, Oid relid, TimestampTz lower, TimestampTz upper,
			   bool is_default)
{
	MemoryContext old;
	ResourceOwner save = CurrentResourceOwner;
	OpenPartition *p;
	AttrNumber	attnums[lengthof(sample_columns)];

	for (int i = 0; i < s->nparts; i++)
		if (s->parts[i].relid == relid)
			return i;

	check_samples_table(relid, attnums);
	old = MemoryContextSwitchTo(s->cxt);
	if (s->nparts == s->maxparts)
	{
		s->maxparts *= 2;
		s->parts = repalloc(s->parts, sizeof(OpenPartition) * s->maxparts);
	}
	p = &s->parts[s->nparts];
	p->relid = relid;
	p->lower = lower;
	p->upper = upper;
	p->is_default = is_default;

	CurrentResourceOwner = TopTransactionResourceOwner;
	p->rel = table_open(relid, RowExclusiveLock);
	p->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(p->rri, p->rel, 1, NULL, 0);
	ExecOpenIndices(p->rri, false);
	/* the slot pins the tuple descriptor: same owner as the relation */
	p->slot = MakeSingleTupleTableSlot(RelationGetDescr(p->rel), &TTSOpsVirtual);
	p->bistate = GetBulkInsertState();
	p->buffered = NULL;
	p->nbuffered = 0;
	p->subid = GetCurrentSubTransactionId();
	CurrentResourceOwner = save;

	p->att_ts = attnums[0];
	p->att_series = attnums[1];
	p->att_value = attnums[2];
	p->att_lineage = attnums[3];
	p->brin_ts_only = only_brin_on_ts(p);
	MemoryContextSwitchTo(old);
	return s->nparts++;
}

static OpenPartition *
partition_for(TimestampTz ts)
{
	TimestampTz lower,
				upper;
	bool		is_default;
	Oid			relid;
	OpenPartition *p;

	if (ws != NULL && ws->last >= 0)
	{
		p = &ws->parts[ws->last];
		if (!p->is_default && ts >= p->lower && ts < p->upper)
			return p;
	}
	if (ws == NULL)
		ws = open_state();

	relid = route(ws->parent, ts, &lower, &upper, &is_default);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no partition of metrics_ex.samples takes a sample at %s",
						timestamptz_to_str(ts)),
				 errhint("metrics_ex.samples_default, the partition for samples outside the prepared days, is missing; ALTER EXTENSION metrics_ex UPDATE or reinstall the extension.")));
	ws->last = open_partition(ws, relid, lower, upper, is_default);
	if (is_default)
	{
		/*
		 * Opening the default partition waited for maintenance attaching a
		 * day partition (it locks the default one) and took in its
		 * invalidations: route again, as PostgreSQL checks the default
		 * partition's constraint again, so that no sample lands there for
		 * a day that has its own partition now (queries would not see it).
		 */
		Oid			again = route(ws->parent, ts, &lower, &upper, &is_default);

		if (OidIsValid(again) && again != relid)
			ws->last = open_partition(ws, again, lower, upper, is_default);
	}
	return &ws->parts[ws->last];
}

void
storage_insert(TimestampTz ts, int64 series_id, float8 value, Jsonb *lineage)
{
	OpenPartition *p;
	TupleTableSlot *slot;
	ResourceOwner save;
	bool		buffer;

	/* on Citus, through the executor (distributed.c) */
	if (unlikely(distributed_mode()))
	{
		distributed_add_sample(ts, series_id, value, lineage);
		return;
	}
	busy = true;
	p = partition_for(ts);
	buffer = bulk_mode && GetCurrentSubTransactionId() == bulk_subid;

	if (buffer)
	{
		if (p->buffered == NULL)
			p->buffered = MemoryContextAllocZero(ws->cxt, sizeof(TupleTableSlot *) * BULK_BATCH);
		if (p->buffered[p->nbuffered] == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(ws->cxt);

			save = CurrentResourceOwner;
			CurrentResourceOwner = TopTransactionResourceOwner;
			p->buffered[p->nbuffered] = table_slot_create(p->rel, NULL);
			CurrentResourceOwner = save;
			MemoryContextSwitchTo(oldcxt);
		}
		slot = p->buffered[p->nbuffered];
	}
	else
		slot = p->slot;

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	slot->tts_values[p->att_ts - 1] = TimestampTzGetDatum(ts);
	slot->tts_isnull[p->att_ts - 1] = false;
	slot->tts_values[p->att_series - 1] = Int64GetDatum(series_id);
	slot->tts_isnull[p->att_series - 1] = false;
	slot->tts_values[p->att_value - 1] = Float8GetDatum(value);
	slot->tts_isnull[p->att_value - 1] = false;
	if (lineage != NULL)
	{
		slot->tts_values[p->att_lineage - 1] = JsonbPGetDatum(lineage);
		slot->tts_isnull[p->att_lineage - 1] = false;
	}
	ExecStoreVirtualTuple(slot);

	if (buffer)
	{
		/* the row must outlive the caller's per-row memory */
		ExecMaterializeSlot(slot);
		if (++p->nbuffered == BULK_BATCH)
			flush_partition(p, ws->estate);
		busy = false;
		return;
	}

	/* the bulk-insert state's buffer pin belongs with the relation */
	save = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	table_tuple_insert(p->rel, slot, GetCurrentCommandId(true), 0, p->bistate);
	CurrentResourceOwner = save;
	if (p->rri->ri_NumIndices > 0)
	{
		List	   *recheck;

		recheck = ExecInsertIndexTuples(p->rri, slot, ws->estate,
										false, false, NULL, NIL);
		list_free(recheck);
		ResetPerTupleExprContext(ws->estate);
	}
	busy = false;
}
