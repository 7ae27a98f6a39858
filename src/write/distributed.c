/*
 * distributed.c
 *		The write path on Citus (see distributed.h).
 *
 * On one node samples and late deltas are inserted below the executor
 * (storage.c, pending.c).  Once metrics_ex.distribute() has made samples and
 * rollup_pending Citus tables, the coordinator's tables are empty shells:
 * rows inserted there by hand would never be read (Citus reads the shards),
 * so they must go through the executor, where Citus routes each row to the
 * shard of its series.  The rows of a statement are buffered here as they
 * come and written at its end (or every DIST_BATCH rows) by one
 * INSERT ... SELECT FROM unnest(arrays) as the tables' owner, which Citus
 * runs as a COPY into the shards.  Any failure is an error of the statement
 * that wrote them: a row is stored or its statement fails, never neither.
 *
 * Rows keep the subtransaction that wrote them, like the deltas do
 * (pending.c): a statement's end writes its own level's rows and deeper
 * ones, an outer level's rows wait for that level, and an aborted level's
 * rows are dropped with it.
 *
 * Series ids must be unique across the cluster, so series are made by one
 * node only, the coordinator (its identity sequence; metrics and series are
 * reference tables): writing on a worker is an error.  A new series takes
 * its id from that sequence at once (series.c) and its row waits here with
 * the samples, under the same rules, for one INSERT of all the statement's
 * new series: on Citus each INSERT into a reference table is a write on
 * every node.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "metrics_ex.h"
#include "write/catalog.h"
#include "write/distributed.h"
#include "write/series_cache.h"
#include "sketch/rollup_row.h"

PG_FUNCTION_INFO_V1(metrics_ex_distributed);
PG_FUNCTION_INFO_V1(metrics_ex_stop_writers);

/* Rows written per INSERT at most */
#define DIST_BATCH 10000

typedef struct DistSample
{
	TimestampTz ts;
	int64		series_id;
	float8		value;
	Jsonb	   *lineage;		/* NULL, or a copy in buffer_cxt */
	SubTransactionId subid;
} DistSample;

/* what the catalog said, for which samples relation */
static bool mode_valid = false;
static Oid	mode_relid = InvalidOid;
static bool mode_distributed = false;
static bool mode_on_worker = false;

static MemoryContext buffer_cxt = NULL; /* child of TopTransactionContext */
static DistSample *samples = NULL;
static int	nsamples = 0;
static int	maxsamples = 0;
static int	flush_at = DIST_BATCH;	/* rows buffered that make a flush */
static MemoryContext delta_cxt = NULL;	/* the deltas, emptied by each flush */
static Datum *deltas = NULL;
static int	ndeltas = 0;
static int	maxdeltas = 0;

/* new series, not in metrics_ex.series yet */
typedef struct DistSeries
{
	int64		id;
	int32		metric_id;
	Jsonb	   *tags;			/* a copy in buffer_cxt */
	CacheEntry *entry;			/* in new_index, the lookup by key */
	SubTransactionId subid;
} DistSeries;

static DistSeries *new_series = NULL;
static int	nnew = 0;
static int	maxnew = 0;
static SeriesCache *new_index = NULL;	/* in buffer_cxt */
static Oid	sequence_of = InvalidOid;	/* the series table whose ... */
static Oid	series_sequence = InvalidOid;	/* ... identity sequence this is */

static SPIPlanPtr insert_series_one = NULL;
static SPIPlanPtr insert_series = NULL;
static SPIPlanPtr insert_sample = NULL;	/* one row */
static SPIPlanPtr insert_samples = NULL;
static SPIPlanPtr insert_deltas = NULL;

/*
 * catalog.c's relcache callback passes every invalidation on (the server has
 * few callback slots, and Citus takes many of them).
 */
void
distributed_relcache_invalidated(Oid relid)
{
	if (relid == InvalidOid || relid == mode_relid)
		mode_valid = false;
	if (relid == InvalidOid || relid == sequence_of)
		sequence_of = InvalidOid;
}

/*
 * Read the mode from Citus' metadata, which every node with metadata has:
 * pg_dist_partition lists the Citus tables, pg_dist_local_group says which
 * node this is (group 0: the coordinator).
 */
static void
read_mode(Oid samples_relid)
{
	OwnerContext oc;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(samples_relid)};
	bool		isnull;

	mode_distributed = false;
	mode_on_worker = false;
	if (!OidIsValid(get_extension_oid("citus", true)))
		return;
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition "
							  "WHERE logicalrelid OPERATOR(pg_catalog.=) $1), "
							  "coalesce((SELECT groupid FROM pg_catalog.pg_dist_local_group), 0) "
							  "OPERATOR(pg_catalog.<>) 0",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "metrics_ex: could not read the Citus metadata");
	mode_distributed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	mode_on_worker = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2, &isnull));
	owner_end(&oc);
}

bool
distributed_mode(void)
{
	Oid			relid = catalog_samples_relid();

	if (likely(mode_valid && mode_relid == relid))
		return mode_distributed;
	/* an invalidation while we read makes the next call read again */
	mode_relid = relid;
	mode_valid = true;
	read_mode(relid);
	return mode_distributed;
}

void
distributed_check_writer(void)
{
	if (distributed_mode() && mode_on_worker)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("metrics_ex records metrics on the Citus coordinator only"),
				 errhint("This node is a Citus worker: connect to the coordinator to write; series ids are made there so that they are unique across the cluster.")));
}

/* _distributed(): is the storage distributed in this database? */
Datum
metrics_ex_distributed(PG_FUNCTION_ARGS)
{
	catalog_lookup();
	PG_RETURN_BOOL(distributed_mode());
}

/*
 * _stop_writers(): distribute() changes the tables that writers insert into
 * below the executor; every writing transaction holds a ShareLock on the
 * extension from its first sample on (watermark.c), so ExclusiveLock until
 * commit waits for them and keeps new ones out.  lock_timeout bounds it.
 */
Datum
metrics_ex_stop_writers(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId,
					   get_extension_oid("metrics_ex", false), 0);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}

/*
 * A statement deleted or truncated metrics: delete their series, as the
 * foreign key's ON DELETE CASCADE does on one node (on Citus there is no
 * key: distribute.sql says why).  As the tables' owner, like a cascade.
 */
void
distributed_cascade(void)
{
	OwnerContext oc;

	owner_begin(&oc);
	if (SPI_execute("DELETE FROM metrics_ex.series s WHERE NOT EXISTS "
					"(SELECT 1 FROM metrics_ex.metrics m WHERE m.id OPERATOR(pg_catalog.=) s.metric_id)",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "metrics_ex: could not delete the series of deleted metrics");
	owner_end(&oc);
}

static void
ensure_buffer(void)
{
	if (buffer_cxt == NULL)
		buffer_cxt = AllocSetContextCreate(TopTransactionContext, "metrics_ex distributed rows",
										   ALLOCSET_DEFAULT_SIZES);
}

void
distributed_add_sample(TimestampTz ts, int64 series_id, float8 value, Jsonb *lineage)
{
	DistSample *s;

	ensure_buffer();
	if (nsamples == maxsamples)
	{
		maxsamples = maxsamples == 0 ? 256 : maxsamples * 2;
		samples = samples == NULL
			? MemoryContextAlloc(buffer_cxt, sizeof(DistSample) * maxsamples)
			: repalloc(samples, sizeof(DistSample) * maxsamples);
	}
	s = &samples[nsamples++];
	s->ts = ts;
	s->series_id = series_id;
	s->value = value;
	s->lineage = NULL;
	if (lineage != NULL)
	{
		s->lineage = MemoryContextAlloc(buffer_cxt, VARSIZE(lineage));
		memcpy(s->lineage, lineage, VARSIZE(lineage));
	}
	s->subid = GetCurrentSubTransactionId();
	if (nsamples >= flush_at)
	{
		distributed_flush_samples();
		/* what an outer level keeps does not make every row a flush */
		flush_at = nsamples + DIST_BATCH;
	}
}

/* Prepare (once per backend) one of our INSERTs. */
static SPIPlanPtr
prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "metrics_ex: could not prepare \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}

/*
 * Citus runs our INSERT ... SELECT as a COPY into the shards, by default over
 * a new connection per shard (and 2PC over each), while it keeps only one
 * connection per worker for the next transaction: every flush would open
 * about one connection per shard.  Held to one connection per worker, Citus
 * multiplexes the shards of a worker over it (and still uses the connection
 * that an earlier statement of the transaction used for a shard).  Set in
 * owner_begin()'s GUC level, so owner_end() restores the caller's values,
 * as a function's SET clause would.
 */
static void
one_connection_per_worker(void)
{
	(void) set_config_option("citus.max_adaptive_executor_pool_size", "1",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("citus.force_max_query_parallelization", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Run an INSERT of n rows as the tables' owner (after owner_begin()); every
 * row must go in.
 */
static void
run_insert(SPIPlanPtr plan, Datum *args, const char *nulls, uint64 n)
{
	bool		pushed = false;
	int			ret;

	one_connection_per_worker();

	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	ret = SPI_execute_plan(plan, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT || SPI_processed != n)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("metrics_ex: %llu of %llu rows reached the Citus tables (%s)",
						(unsigned long long) SPI_processed, (unsigned long long) n,
						SPI_result_code_string(ret))));
	if (pushed)
		PopActiveSnapshot();
}

bool
distributed_pending_series(const SeriesKey *key, const char *bytes, int64 *id)
{
	CacheEntry *e;

	if (new_index == NULL || (e = series_cache_find(new_index, key, bytes)) == NULL)
		return false;
	*id = e->series_id;
	return true;
}

int64
distributed_count_pending_series(int32 metric_id)
{
	int64		n = 0;

	for (int i = 0; i < nnew; i++)
		n += new_series[i].metric_id == metric_id;
	return n;
}

int64
distributed_new_series(const SeriesKey *key, int32 metric_id, Jsonb *tags)
{
	Oid			relid = catalog_series_relid();
	DistSeries *d;
	CacheEntry *e;

	ensure_buffer();
	if (new_index == NULL)
		new_index = series_cache_create(buffer_cxt);
	/* another key of the same hash is pending: the caller inserts this one */
	if ((e = series_cache_enter(new_index, key, (const char *) tags)) == NULL)
		return -1;
	if (sequence_of != relid)
	{
		series_sequence = getIdentitySequence(relid, get_attnum(relid, "id"), false);
		sequence_of = relid;
	}
	if (nnew == maxnew)
	{
		maxnew = maxnew == 0 ? 64 : maxnew * 2;
		new_series = new_series == NULL
			? MemoryContextAlloc(buffer_cxt, sizeof(DistSeries) * maxnew)
			: repalloc(new_series, sizeof(DistSeries) * maxnew);
	}
	d = &new_series[nnew++];
	/* as the column's default would; the caller runs as the owner */
	d->id = nextval_internal(series_sequence, true);
	d->metric_id = metric_id;
	d->tags = MemoryContextAlloc(buffer_cxt, VARSIZE(tags));
	memcpy(d->tags, tags, VARSIZE(tags));
	d->entry = e;
	d->subid = GetCurrentSubTransactionId();
	e->series_id = d->id;
	return d->id;
}

/*
 * Write the new series of the current subtransaction level and deeper (an
 * outer level's wait, like its samples): one INSERT, every row must go in.
 * No other session can have made one of them since: series.c made each
 * under the metric's row lock, after reading the committed series.
 */
static void
flush_new_series(void)
{
	SubTransactionId current = GetCurrentSubTransactionId();
	OwnerContext oc;
	MemoryContext old;
	Datum	   *ids,
			   *metric_ids,
			   *tags;
	Datum		args[3];
	Oid			argtypes[3] = {INT8ARRAYOID, INT4ARRAYOID, JSONBARRAYOID};
	Oid			types[3] = {INT8OID, INT4OID, JSONBOID};
	int			n = 0,
				kept = 0;

	if (nnew == 0)
		return;
	old = MemoryContextSwitchTo(buffer_cxt);
	ids = palloc(sizeof(Datum) * nnew);
	metric_ids = palloc(sizeof(Datum) * nnew);
	tags = palloc(sizeof(Datum) * nnew);
	for (int i = 0; i < nnew; i++)
	{
		DistSeries *d = &new_series[i];

		if (d->subid < current)
		{
			new_series[kept++] = *d;
			continue;
		}
		ids[n] = Int64GetDatum(d->id);
		metric_ids[n] = Int32GetDatum(d->metric_id);
		tags[n] = JsonbPGetDatum(d->tags);
		/* from here on the catalog has it (or the statement fails) */
		d->entry->series_id = -1;
		n++;
	}
	nnew = kept;
	if (n == 1)
	{
		args[0] = ids[0];
		args[1] = metric_ids[0];
		args[2] = tags[0];
	}
	else if (n > 1)
	{
		args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(metric_ids, n, INT4OID, 4, true, TYPALIGN_INT));
		args[2] = PointerGetDatum(construct_array(tags, n, JSONBOID, -1, false, TYPALIGN_INT));
	}
	MemoryContextSwitchTo(old);

	if (n > 0)
	{
		owner_begin(&oc);
		if (n == 1)
			run_insert(prepare(&insert_series_one,
							   "INSERT INTO metrics_ex.series (id, metric_id, tags) "
							   "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3)", 3, types),
					   args, NULL, 1);
		else
			run_insert(prepare(&insert_series,
							   "INSERT INTO metrics_ex.series (id, metric_id, tags) "
							   "OVERRIDING SYSTEM VALUE "
							   "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
							   "pg_catalog.unnest($3))", 3, argtypes),
					   args, NULL, n);
		owner_end(&oc);
		if (n > 1)
			for (int i = 0; i < 3; i++)
				pfree(DatumGetPointer(args[i]));
	}
	for (int i = 0; i < n; i++)
		pfree(DatumGetPointer(tags[i]));
	pfree(ids);
	pfree(metric_ids);
	pfree(tags);
}

void
distributed_flush_samples(void)
{
	SubTransactionId current;
	OwnerContext oc;
	MemoryContext old;
	Datum	   *ts,
			   *ids,
			   *vals,
			   *lin;
	bool	   *linnull;
	int			n = 0,
				kept = 0;
	int			dims[1],
				lbs[1] = {1};
	Datum		args[4];
	Oid			argtypes[4] = {TIMESTAMPTZARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID, JSONBARRAYOID};

	flush_new_series();
	if (nsamples == 0)
		return;
	current = GetCurrentSubTransactionId();
	old = MemoryContextSwitchTo(buffer_cxt);
	ts = palloc(sizeof(Datum) * nsamples);
	ids = palloc(sizeof(Datum) * nsamples);
	vals = palloc(sizeof(Datum) * nsamples);
	lin = palloc(sizeof(Datum) * nsamples);
	linnull = palloc(sizeof(bool) * nsamples);
	for (int i = 0; i < nsamples; i++)
	{
		DistSample *s = &samples[i];

		/* an outer level's row: it waits for a statement of that level */
		if (s->subid < current)
		{
			samples[kept++] = *s;
			continue;
		}
		ts[n] = TimestampTzGetDatum(s->ts);
		ids[n] = Int64GetDatum(s->series_id);
		vals[n] = Float8GetDatum(s->value);
		lin[n] = s->lineage ? JsonbPGetDatum(s->lineage) : (Datum) 0;
		linnull[n] = s->lineage == NULL;
		n++;
	}
	nsamples = kept;
	if (n > 1)
	{
		dims[0] = n;
		args[0] = PointerGetDatum(construct_array(ts, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[2] = PointerGetDatum(construct_array(vals, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		args[3] = PointerGetDatum(construct_md_array(lin, linnull, 1, dims, lbs, JSONBOID, -1, false,
													 TYPALIGN_INT));
	}
	MemoryContextSwitchTo(old);

	if (n == 1)
	{
		/*
		 * One row (a statement that called increment(), say): Citus routes
		 * an INSERT ... VALUES straight to its shard, where INSERT ... SELECT
		 * costs a COPY set up through the coordinator (about 2 ms more).
		 */
		char		nulls[4] = {' ', ' ', ' ', linnull[0] ? 'n' : ' '};
		Oid			types[4] = {TIMESTAMPTZOID, INT8OID, FLOAT8OID, JSONBOID};

		args[0] = ts[0];
		args[1] = ids[0];
		args[2] = vals[0];
		args[3] = lin[0];
		owner_begin(&oc);
		prepare(&insert_sample,
				"INSERT INTO metrics_ex.samples (ts, series_id, value, lineage) "
				"VALUES ($1, $2, $3, $4)", 4, types);
		run_insert(insert_sample, args, nulls, 1);
		owner_end(&oc);
	}
	else if (n > 1)
	{
		owner_begin(&oc);
		prepare(&insert_samples,
				"INSERT INTO metrics_ex.samples (ts, series_id, value, lineage) "
				"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
				"pg_catalog.unnest($3), pg_catalog.unnest($4))", 4, argtypes);
		run_insert(insert_samples, args, NULL, n);
		owner_end(&oc);
		for (int i = 0; i < 4; i++)
			pfree(DatumGetPointer(args[i]));
	}
	for (int i = 0; i < n; i++)
		if (!linnull[i])
			pfree(DatumGetPointer(lin[i]));
	pfree(ts);
	pfree(ids);
	pfree(vals);
	pfree(lin);
	pfree(linnull);
}

/* The type of the deltas' rollup fields: metrics_ex._rollup_row (rollups.sql). */
static Oid
rollup_row_type(void)
{
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum("_rollup_row"),
										ObjectIdGetDatum(get_namespace_oid(METRICS_EX_SCHEMA, false)));

	if (!OidIsValid(typid))
		elog(ERROR, "metrics_ex: type metrics_ex._rollup_row does not exist");
	return typid;
}

/*
 * A delta is (series_id, bucket) and a metrics_ex._rollup_row; kept as
 * three Datums per delta, the row a composite in delta_cxt.
 */
void
distributed_add_delta(const Datum *values, const bool *nulls, int natts)
{
	TupleDesc	desc;
	HeapTuple	tup;
	MemoryContext old;

	Assert(natts == 2 + ROLLUP_ROW_NATTS);
	ensure_buffer();
	if (delta_cxt == NULL)
		delta_cxt = AllocSetContextCreate(buffer_cxt, "metrics_ex distributed deltas",
										  ALLOCSET_DEFAULT_SIZES);
	if (ndeltas == maxdeltas)
	{
		maxdeltas = maxdeltas == 0 ? 64 : maxdeltas * 2;
		deltas = deltas == NULL
			? MemoryContextAlloc(delta_cxt, sizeof(Datum) * 3 * maxdeltas)
			: repalloc(deltas, sizeof(Datum) * 3 * maxdeltas);
	}
	desc = lookup_rowtype_tupdesc(rollup_row_type(), -1);
	old = MemoryContextSwitchTo(delta_cxt);
	tup = heap_form_tuple(desc, (Datum *) values + 2, (bool *) nulls + 2);
	deltas[3 * ndeltas] = values[0];
	deltas[3 * ndeltas + 1] = values[1];
	deltas[3 * ndeltas + 2] = HeapTupleGetDatum(tup);
	ndeltas++;
	MemoryContextSwitchTo(old);
	ReleaseTupleDesc(desc);
}

void
distributed_flush_deltas(void)
{
	OwnerContext oc;
	MemoryContext old;
	Oid			rowtype;
	Datum	   *ids,
			   *buckets,
			   *rows;
	Datum		args[3];
	Oid			argtypes[3] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, InvalidOid};
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n = ndeltas;

	if (n == 0)
		return;
	rowtype = rollup_row_type();
	argtypes[2] = get_array_type(rowtype);
	get_typlenbyvalalign(rowtype, &typlen, &typbyval, &typalign);
	old = MemoryContextSwitchTo(delta_cxt);
	ids = palloc(sizeof(Datum) * n);
	buckets = palloc(sizeof(Datum) * n);
	rows = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		ids[i] = deltas[3 * i];
		buckets[i] = deltas[3 * i + 1];
		rows[i] = deltas[3 * i + 2];
	}
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(buckets, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(rows, n, rowtype, typlen, typbyval, typalign));
	MemoryContextSwitchTo(old);

	owner_begin(&oc);
	prepare(&insert_deltas,
			"INSERT INTO metrics_ex.rollup_pending (series_id, bucket, count, sum, min, max, "
			"last_ts, last_value, m2, sketch, buckets) "
			"SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
			"pg_catalog.unnest($3))",
			3, argtypes);
	run_insert(insert_deltas, args, NULL, n);
	owner_end(&oc);

	MemoryContextReset(delta_cxt);
	deltas = NULL;
	ndeltas = maxdeltas = 0;
}

void
distributed_subxact_abort(SubTransactionId mySubid)
{
	int			kept = 0;

	for (int i = 0; i < nsamples; i++)
		if (samples[i].subid < mySubid)
			samples[kept++] = samples[i];
	nsamples = kept;
	kept = 0;
	for (int i = 0; i < nnew; i++)
	{
		if (new_series[i].subid < mySubid)
			new_series[kept++] = new_series[i];
		else
			new_series[i].entry->series_id = -1;
	}
	nnew = kept;
}

void
distributed_xact_end(void)
{
	/* the last statement's rows are written: the memory goes with the transaction */
	Assert(nsamples == 0 && ndeltas == 0 && nnew == 0);
	distributed_xact_abort();
}

void
distributed_xact_abort(void)
{
	/* TopTransactionContext is going away with everything in it */
	buffer_cxt = NULL;
	samples = NULL;
	nsamples = maxsamples = 0;
	flush_at = DIST_BATCH;
	new_series = NULL;
	nnew = maxnew = 0;
	new_index = NULL;
	delta_cxt = NULL;
	deltas = NULL;
	ndeltas = maxdeltas = 0;
}
