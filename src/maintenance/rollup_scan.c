/*
 * rollup_scan.c
 *		_raw_rollups(since, until): the rollup rows of the raw samples of
 *		[since, until), per series and UTC hour, and per series and minute
 *		for the metrics with minute rollups, in one pass over the samples.
 *
 * The rollup build (rollups.sql) merges these rows into the rollup tables.
 * Doing the pass here rather than as a GROUP BY of an SQL aggregate is what
 * makes maintenance cheap: the samples come straight from the executor
 * (partition pruning, the BRIN index, parallel workers) into a receiver that
 * adds each to its (series, bucket) state, with no per-row function call,
 * grouping key expression or aggregate state machinery in between, and each
 * sample is read once for both levels.
 *
 * It runs with the caller's rights (maintenance runs as the tables' owner)
 * and evaluates no user expression: the query is fixed, the tables are the
 * extension's own.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "sketch/rollup_row.h"

PG_FUNCTION_INFO_V1(metrics_ex_raw_rollups);

/* What a series needs beyond an hour row: minute rows, histogram bounds */
typedef struct SeriesExtra
{
	int64		series_id;
	bool		minute;
	int			nbounds;
	float8	   *bounds;			/* NULL: not a histogram */
} SeriesExtra;

typedef struct BucketKey
{
	int64		series_id;
	TimestampTz bucket;
	int64		minute;			/* 1: a minute row, 0: an hour row */
} BucketKey;

typedef struct BucketEntry
{
	BucketKey	key;
	char		status;			/* simplehash's */
	RollupAcc  *acc;			/* apart: the table stays small to probe */
} BucketEntry;

/* splitmix64's finalizer: every input bit moves every output bit */
static inline uint64
mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static inline uint32
bucket_hash(const BucketKey *k)
{
	return (uint32) mix64((uint64) k->series_id ^
						  mix64((uint64) k->bucket + (uint64) k->minute));
}

/*
 * An open-addressing table: the samples of a scrape visit every series
 * once, so lookups hit cold entries, and dynahash's chains made them most
 * of the pass.
 */
#define SH_PREFIX buckets
#define SH_ELEMENT_TYPE BucketEntry
#define SH_KEY_TYPE BucketKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) bucket_hash(&(k))
#define SH_EQUAL(tb, a, b) ((a).series_id == (b).series_id && (a).bucket == (b).bucket && \
							(a).minute == (b).minute)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* A sample waiting in the receiver's batch */
typedef struct PendingSample
{
	int64		series_id;
	TimestampTz ts;
	double		value;
	ItemPointerData tid;
	struct RecentBucket *slot;
	RollupAcc  *acc;
} PendingSample;

/* per series id (modulo), the hour state it used last, and its extra */
typedef struct RecentBucket
{
	int64		series_id;
	TimestampTz bucket;
	RollupAcc  *acc;
	SeriesExtra *extra;
} RecentBucket;

#define BATCH_SIZE 64

typedef struct ScanReceiver
{
	DestReceiver pub;
	MemoryContext cxt;
	HTAB	   *extras;			/* series_id -> SeriesExtra */
	buckets_hash *buckets;		/* BucketKey -> BucketEntry */
	RecentBucket *recent;
	int64		nsamples;
	int			nbatch;
	PendingSample batch[BATCH_SIZE];
} ScanReceiver;

/*
 * Series ids are dense, and a scrape visits every series once: indexed by
 * the id, the state of a series' current hour is one load away, where a
 * hash probe would miss the cache more than once.
 */
#define RECENT_SIZE 65536

static inline TimestampTz
bin(TimestampTz ts, int64 width)
{
	/* aligned to the UTC epoch (PostgreSQL's is 2000-01-01, a whole day off) */
	const int64 epoch = -((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
	int64		off = (ts - epoch) % width;

	if (off < 0)
		off += width;
	return ts - off;
}

static RollupAcc *
bucket_state(ScanReceiver *r, int64 series_id, TimestampTz bucket, bool minute,
			 const SeriesExtra *extra)
{
	BucketKey	key;
	BucketEntry *e;
	bool		found;

	key.series_id = series_id;
	key.bucket = bucket;
	key.minute = minute ? 1 : 0;
	e = buckets_insert(r->buckets, key, &found);
	if (!found)
	{
		e->acc = MemoryContextAlloc(r->cxt, sizeof(RollupAcc));
		rollup_acc_init(e->acc, r->cxt, extra ? extra->bounds : NULL, extra ? extra->nbounds : 0);
	}
	return e->acc;
}

/*
 * Add a batch of samples.  A scrape's samples each go to another series, so
 * every state is a cache miss: the batch asks for them all first
 * (prefetch), then adds, so that the misses overlap instead of queuing.
 */
static void
add_batch(ScanReceiver *r)
{
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	int			n = r->nbatch;

	for (int i = 0; i < n; i++)
	{
		r->batch[i].slot = &r->recent[(uint64) r->batch[i].series_id % RECENT_SIZE];
		__builtin_prefetch(r->batch[i].slot, 1);
	}
	for (int i = 0; i < n; i++)
	{
		PendingSample *p = &r->batch[i];
		RecentBucket *c = p->slot;
		TimestampTz hour = bin(p->ts, USECS_PER_HOUR);

		if (c->acc == NULL || c->series_id != p->series_id || c->bucket != hour)
		{
			if (c->acc == NULL || c->series_id != p->series_id)
				c->extra = hash_search(r->extras, &p->series_id, HASH_FIND, NULL);
			c->acc = bucket_state(r, p->series_id, hour, false, c->extra);
			c->series_id = p->series_id;
			c->bucket = hour;
		}
		p->acc = c->acc;
		__builtin_prefetch(p->acc, 1);
	}
	for (int i = 0; i < n; i++)
	{
		RollupAcc  *a = r->batch[i].acc;

		if (a->values != NULL)
			__builtin_prefetch(&a->values[a->nvalues], 1);
	}
	for (int i = 0; i < n; i++)
	{
		PendingSample *p = &r->batch[i];
		SeriesExtra *extra = p->slot->series_id == p->series_id ? p->slot->extra :
			hash_search(r->extras, &p->series_id, HASH_FIND, NULL);

		rollup_acc_add(p->acc, p->ts, p->value, &p->tid);
		if (extra != NULL && extra->minute)
			rollup_acc_add(bucket_state(r, p->series_id, bin(p->ts, USECS_PER_MINUTE), true, extra),
						   p->ts, p->value, &p->tid);
	}
	r->nsamples += n;
	r->nbatch = 0;
	MemoryContextSwitchTo(old);
}

static bool
scan_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ScanReceiver *r = (ScanReceiver *) self;
	PendingSample *p;

	slot_getallattrs(slot);
	if (slot->tts_isnull[0] || slot->tts_isnull[1] || slot->tts_isnull[2])
		return true;			/* NOT NULL columns: cannot happen */
	p = &r->batch[r->nbatch++];
	p->series_id = DatumGetInt64(slot->tts_values[0]);
	p->ts = DatumGetTimestampTz(slot->tts_values[1]);
	p->value = DatumGetFloat8(slot->tts_values[2]);
	ItemPointerCopy((ItemPointer) DatumGetPointer(slot->tts_values[3]), &p->tid);
	if (r->nbatch == BATCH_SIZE)
		add_batch(r);
	return true;
}

static void
scan_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
scan_shutdown(DestReceiver *self)
{
}

static void
scan_destroy(DestReceiver *self)
{
}

/* The series of histograms (their bounds) and of metrics with minute rollups. */
static HTAB *
load_extras(MemoryContext cxt)
{
	HASHCTL		ctl;
	HTAB	   *extras;

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SeriesExtra);
	ctl.hcxt = cxt;
	extras = hash_create("metrics_ex rollup series", 1024, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (SPI_execute("SELECT s.id, m.minute_rollups_from IS NOT NULL, "
					"CASE WHEN m.kind OPERATOR(pg_catalog.=) 'histogram' "
					"THEN COALESCE(m.buckets, metrics_ex._default_buckets()) END "
					"FROM metrics_ex.series s JOIN metrics_ex.metrics m "
					"ON m.id OPERATOR(pg_catalog.=) s.metric_id "
					"WHERE m.kind OPERATOR(pg_catalog.=) 'histogram' OR m.minute_rollups_from IS NOT NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the series of histograms and minute rollups");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		SeriesExtra *x = hash_search(extras, &id, HASH_ENTER, NULL);
		Datum		b;

		x->minute = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		x->bounds = NULL;
		x->nbounds = 0;
		b = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);
			Datum	   *elems;
			bool	   *enulls;

			deconstruct_array(DatumGetArrayTypeP(b), FLOAT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &elems, &enulls, &x->nbounds);
			x->bounds = palloc(sizeof(float8) * Max(x->nbounds, 1));
			for (int j = 0; j < x->nbounds; j++)
				x->bounds[j] = enulls[j] ? get_float8_infinity() : DatumGetFloat8(elems[j]);
			MemoryContextSwitchTo(old);
		}
	}
	return extras;
}

Datum
metrics_ex_raw_rollups(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ScanReceiver r;
	ParamListInfo params;
	SPIExecuteOptions opts;
	buckets_iterator it;
	BucketEntry *e;
	MemoryContext rowcxt;
	int			ret;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	InitMaterializedSRF(fcinfo, 0);

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = scan_receive;
	r.pub.rStartup = scan_startup;
	r.pub.rShutdown = scan_shutdown;
	r.pub.rDestroy = scan_destroy;
	r.pub.mydest = DestNone;
	r.cxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex raw rollups",
								  ALLOCSET_DEFAULT_SIZES);
	r.buckets = buckets_create(r.cxt, 16384, NULL);
	r.recent = MemoryContextAllocZero(r.cxt, sizeof(RecentBucket) * RECENT_SIZE);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	r.extras = load_extras(r.cxt);

	params = makeParamList(2);
	params->numParams = 2;
	for (int i = 0; i < 2; i++)
	{
		params->params[i].value = PG_GETARG_DATUM(i);
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = TIMESTAMPTZOID;
	}
	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &r;
	/* (SPI says "utility" for a SELECT whose rows go to a receiver of its own) */
	ret = SPI_execute_extended("SELECT x.series_id, x.ts, x.value, x.ctid FROM metrics_ex.samples x "
							   "WHERE x.ts OPERATOR(pg_catalog.>=) $1 AND x.ts OPERATOR(pg_catalog.<) $2",
							   &opts);
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "metrics_ex: could not read the raw samples to roll up");
	add_batch(&r);
	SPI_finish();

	/* every (series, bucket) becomes a row */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex raw rollup row",
								   ALLOCSET_DEFAULT_SIZES);
	buckets_start_iterate(r.buckets, &it);
	while ((e = buckets_iterate(r.buckets, &it)) != NULL)
	{
		Datum		values[3 + ROLLUP_ROW_NATTS];
		bool		nulls[3 + ROLLUP_ROW_NATTS];
		MemoryContext old = MemoryContextSwitchTo(rowcxt);

		values[0] = BoolGetDatum(e->key.minute != 0);
		values[1] = Int64GetDatum(e->key.series_id);
		values[2] = TimestampTzGetDatum(e->key.bucket);
		nulls[0] = nulls[1] = nulls[2] = false;
		rollup_acc_finish(e->acc, &values[3], &nulls[3]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	MemoryContextDelete(r.cxt);
	return (Datum) 0;
}
