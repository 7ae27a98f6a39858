/*
 * series.c
 *		Series ids of (metric, tag set): this backend's cache, the shared
 *		dictionary, the catalog (see series.h).
 *
 * The backend cache maps (metric, canonical jsonb bytes) and (metric, the
 * client's text of the tags) to ids.  An entry knows the dictionary's
 * generation it was learned at, and whether the open transaction made the
 * series: those are the backend's own until it commits, and are published to
 * the shared dictionary by its next lookup, in a later transaction.  What
 * comes from the catalog is read with the latest snapshot, so that it is
 * what other sessions see too, whatever the isolation level.
 *
 * A backend missing a series twice for one metric reads all that metric's
 * series in one query (up to LOAD_MAX), into the shared dictionary when there
 * is one and it has room, else into its own cache: a new session writing a
 * scrape of known series makes one or two queries, not one per series.
 *
 * Creating: the metric's row is locked FOR UPDATE once per transaction, its
 * series counted once under that lock and then counted here, so that the
 * limit stays exact with any number of concurrent creators (they wait for
 * the lock, and count what the holder made once it commits).  Each new
 * series is one INSERT ... ON CONFLICT DO NOTHING RETURNING id.  On Citus,
 * where an INSERT into the series reference table is a write on every node,
 * a series not committed once we hold the lock is ours to make: it takes its
 * id now and its row is written with the statement's samples, all new
 * series of a statement in one INSERT (distributed.c).  Once all the
 * metric's series were read under the lock, a series neither cache knows is
 * not looked for in the catalog (each look is a Citus query).  Statements
 * are prepared once per backend and kept; the plan cache re-plans them when
 * the tables change.
 *
 * Invalidation callbacks can run in the middle of any catalog access, so
 * they only mark the cache stale; it is flushed at the start of the next
 * lookup, never under a caller's feet.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "metrics_ex.h"
#include "write/distributed.h"
#include "write/series.h"
#include "write/series_cache.h"
#include "write/series_dict.h"

#define LOAD_MAX 100000

/* Per metric: how often we missed, and the transaction's lock and count. */
typedef struct MetricSeries
{
	int32		metric_id;		/* hash key */
	int			misses;
	bool		loaded;			/* all its series were read */
	uint32		locked_in;		/* lock_epoch when its row was locked */
	uint32		complete_in;	/* lock_epoch when all its series were read,
								 * under that lock, into the caches ... */
	uint64		complete_generation;	/* ... at this dictionary generation */
	int32		max_series;		/* its own limit, 0: the setting */
	int64		nseries;		/* series it has, counted under the lock */
} MetricSeries;

/* Series the open transaction made; after its commit, to be published. */
typedef struct Made
{
	struct Made *next;
	SeriesKey	key;
	int64		series_id;
	uint64		generation;
	char		bytes[FLEXIBLE_ARRAY_MEMBER];
} Made;

static MemoryContext cache_cxt = NULL;
static MemoryContext made_cxt = NULL;
static SeriesCache *local = NULL;
static CacheEntry *last_text = NULL;	/* of series_by_text(): guesses the next */
static HTAB *metric_states = NULL;
static bool local_stale = true;
static uint64 local_generation = 0;

static Made *made_head = NULL;	/* by the open transaction */
static Made *publish_head = NULL;	/* by committed ones */

static uint32 xact_serial = 1;	/* changes when a transaction ends */
static uint32 lock_epoch = 1;	/* changes when locks or limits may be gone */
static bool changed_in_xact = false;	/* we removed or changed series */
static bool in_catalog_statements = false;	/* see begin_statements() */

typedef enum SeriesPlan
{
	PLAN_FIND,
	PLAN_LOAD,
	PLAN_LOCK,
	PLAN_COUNT,
	PLAN_INSERT,
	NUM_PLANS
} SeriesPlan;

static const char *const plan_sql[NUM_PLANS] = {
	"SELECT id, xmin FROM metrics_ex.series "
	"WHERE metric_id OPERATOR(pg_catalog.=) $1 AND tags OPERATOR(pg_catalog.=) $2",
	"SELECT id, xmin, tags FROM metrics_ex.series "
	"WHERE metric_id OPERATOR(pg_catalog.=) $1 LIMIT $2",
	"SELECT coalesce(max_series, 0) FROM metrics_ex.metrics "
	"WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	"SELECT count(*) FROM metrics_ex.series WHERE metric_id OPERATOR(pg_catalog.=) $1",
	"INSERT INTO metrics_ex.series (metric_id, tags) VALUES ($1, $2) "
	"ON CONFLICT (metric_id, tags) DO NOTHING RETURNING id",
};
static const Oid plan_arg2[NUM_PLANS] = {JSONBOID, INT8OID, InvalidOid, InvalidOid, JSONBOID};
static SPIPlanPtr plans[NUM_PLANS];

static void
make_key(SeriesKey *key, int32 metric_id, bool raw, const char *bytes, Size len)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->relid = catalog_series_relid();
	key->metric_id = metric_id;
	key->raw = raw;
	key->len = (uint32) len;
	key->hash = hash_bytes_extended((const unsigned char *) bytes, (int) len, 0);
}

static bool
shared_usable(void)
{
	/* our own uncommitted change is not in the generation yet */
	return !changed_in_xact && series_dict_enabled();
}

/* Publish what committed transactions of ours made. */
static void
publish(void)
{
	while (publish_head != NULL)
	{
		Made	   *m = publish_head;

		(void) series_dict_add(&m->key, m->bytes, m->series_id, m->generation);
		publish_head = m->next;
		pfree(m);
	}
}

/* The start of every lookup: the one place the cache is flushed. */
static void
prepare_lookup(void)
{
	HASHCTL		ctl;

	if (cache_cxt == NULL)
	{
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex series cache",
										  ALLOCSET_DEFAULT_SIZES);
		made_cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex series made",
										 ALLOCSET_SMALL_SIZES);
	}
	if (local_stale)
	{
		MemoryContextReset(cache_cxt);
		local = series_cache_create(cache_cxt);
		last_text = NULL;
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(MetricSeries);
		ctl.hcxt = cache_cxt;
		metric_states = hash_create("metrics_ex series per metric", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		local_generation = series_dict_generation();
		local_stale = false;
	}
	if (publish_head != NULL && shared_usable())
		publish();
}

static inline void
begin_lookup(void)
{
	if (unlikely(local_stale || publish_head != NULL))
		prepare_lookup();
}

/* The entry now cached for key, or NULL (equal hash, other bytes) */
static CacheEntry *
local_add(const SeriesKey *key, const char *bytes, int64 series_id,
		  uint64 generation, bool made_here)
{
	CacheEntry *e = series_cache_enter(local, key, bytes);

	if (e != NULL)
	{
		e->series_id = series_id;
		e->generation = generation;
		e->made_in = made_here ? xact_serial : 0;
	}
	return e;
}

/*
 * Remember a series under key: in the shared dictionary when it is
 * committed (unless in_shared: it came from there), else after our commit;
 * here too when local_too, or when the dictionary does not take it.
 * Returns the entry cached here, if any.
 */
static CacheEntry *
remember(const SeriesKey *key, const char *bytes, int64 series_id,
		 uint64 generation, bool made_here, bool in_shared, bool local_too)
{
	if (made_here)
	{
		Made	   *m = MemoryContextAlloc(made_cxt, offsetof(Made, bytes) + key->len);

		m->key = *key;
		m->series_id = series_id;
		m->generation = generation;
		memcpy(m->bytes, bytes, key->len);
		m->next = made_head;
		made_head = m;
		local_too = true;
	}
	else if (!in_shared)
		in_shared = shared_usable() && series_dict_add(key, bytes, series_id, generation);
	if (local_too || !in_shared)
		return local_add(key, bytes, series_id, generation, made_here);
	return NULL;
}

static MetricSeries *
metric_state(int32 metric_id)
{
	bool		found;
	MetricSeries *ms = hash_search(metric_states, &metric_id, HASH_ENTER, &found);

	if (!found)
	{
		ms->misses = 0;
		ms->loaded = false;
		ms->locked_in = 0;
		ms->complete_in = 0;
	}
	return ms;
}

/*
 * Our statements run as the owner, prepared once.  Their ends are not the
 * ends of statements that wrote samples (series_catalog_statement()).
 */
static void
begin_statements(OwnerContext *oc)
{
	owner_begin(oc);
	in_catalog_statements = true;
	for (int i = 0; i < NUM_PLANS; i++)
	{
		Oid			argtypes[2] = {INT4OID, plan_arg2[i]};

		if (plans[i] != NULL)
			continue;
		plans[i] = SPI_prepare_cursor(plan_sql[i], OidIsValid(argtypes[1]) ? 2 : 1, argtypes,
									  CURSOR_OPT_GENERIC_PLAN);
		if (plans[i] == NULL || SPI_keepplan(plans[i]) != 0)
			elog(ERROR, "metrics_ex: could not prepare \"%s\": %s",
				 plan_sql[i], SPI_result_code_string(SPI_result));
	}
}

static void
end_statements(OwnerContext *oc)
{
	in_catalog_statements = false;
	owner_end(oc);
}

bool
series_catalog_statement(void)
{
	return in_catalog_statements;
}


/* Run a plan with the latest snapshot: what is committed now. */
static int
run_latest(SeriesPlan plan, Datum *args, long tcount)
{
	return SPI_execute_snapshot(plans[plan], args, NULL, GetLatestSnapshot(),
								InvalidSnapshot, false, false, tcount);
}

static int64
row_id(int row, bool *made_here)
{
	bool		isnull;
	HeapTuple	tup = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;

	if (made_here)
		*made_here = TransactionIdIsCurrentTransactionId(
														 DatumGetTransactionId(SPI_getbinval(tup, desc, 2, &isnull)));
	return DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
}

/* Read the metric's series (up to LOAD_MAX) into the caches. */
static void
load_metric(const MetricInfo *metric, MetricSeries *ms, uint64 generation)
{
	OwnerContext oc;
	Datum		args[2] = {Int32GetDatum(metric->id), Int64GetDatum(LOAD_MAX)};
	uint32		epoch = lock_epoch;
	bool		complete;

	ms->loaded = true;
	begin_statements(&oc);
	if (run_latest(PLAN_LOAD, args, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: series load failed");
	complete = SPI_processed < LOAD_MAX;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bool		made_here;
		int64		id = row_id(i, &made_here);
		Jsonb	   *tags = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 3, &isnull));
		SeriesKey	key;

		make_key(&key, metric->id, false, (const char *) tags, VARSIZE(tags));
		if (remember(&key, (const char *) tags, id, generation, made_here, false, false) == NULL &&
			!(shared_usable() && series_dict_find(&key, (const char *) tags, &id)))
			complete = false;	/* neither cache took it (a hash collision) */
	}
	end_statements(&oc);

	/*
	 * Read while we hold the metric's lock, which every creator takes: until
	 * the epoch moves (invalidations, the caches flushed, a subtransaction's
	 * abort) or the dictionary's generation does (it stops trusting its
	 * entries, also when it is full), a series that neither cache knows does
	 * not exist.
	 */
	if (complete && ms->locked_in == epoch && lock_epoch == epoch)
	{
		ms->complete_in = epoch;
		ms->complete_generation = generation;
	}
}

/* Are all the metric's series in the caches (see load_metric())? */
static bool
known_complete(const MetricSeries *ms)
{
	return ms->complete_in == lock_epoch &&
		series_dict_generation() == ms->complete_generation;
}

static bool
find_latest(Datum *args, int64 *id, bool *made_here)
{
	if (run_latest(PLAN_FIND, args, 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: series lookup failed");
	if (SPI_processed == 0)
		return false;
	*id = row_id(0, made_here);
	return true;
}

/* Find the series in the catalog, or make it within the metric's limit. */
static int64
series_from_catalog(const MetricInfo *metric, MetricSeries *ms, const SeriesKey *key,
					Jsonb *tags, bool *made_here)
{
	OwnerContext oc;
	Datum		args[2] = {Int32GetDatum(metric->id), JsonbPGetDatum(tags)};
	int64		id;
	int32		limit;
	bool		distributed = distributed_mode();

	/* on Citus: made by this transaction, its row not written yet */
	if (distributed && distributed_pending_series(key, (const char *) tags, &id))
	{
		*made_here = true;
		return id;
	}
	begin_statements(&oc);
	if (ms->locked_in != lock_epoch)
	{
		uint32		epoch = lock_epoch;
		bool		isnull;

		/* not creating in this transaction yet: it may well exist */
		if (find_latest(args, &id, made_here))
			goto done;

		/*
		 * Lock the metric's row so that concurrent creators count each
		 * other's series, and count them once; we count on from there.
		 */
		if (SPI_execute_plan(plans[PLAN_LOCK], args, NULL, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "metrics_ex: metric %d vanished", metric->id);
		ms->max_series = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull));
		if (run_latest(PLAN_COUNT, args, 1) != SPI_OK_SELECT)
			elog(ERROR, "metrics_ex: series count failed");
		ms->nseries = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
		if (distributed)
			ms->nseries += distributed_count_pending_series(metric->id);
		ms->locked_in = epoch;
	}

	limit = ms->max_series > 0 ? ms->max_series : metrics_ex_max_series_per_metric;
	if (ms->nseries >= limit)
	{
		char	   *tagtext;

		/* made by another session since we last looked? */
		if (find_latest(args, &id, made_here))
			goto done;
		tagtext = JsonbToCString(NULL, &tags->root, VARSIZE(tags));
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("metric has reached its limit of %d series; tags %s would make a new one",
						limit, tagtext),
				 errhint("Existing series keep recording.  Raise the limit with metrics_ex.define(name, kind, max_series => ...) or metrics_ex.max_series_per_metric, or move high-cardinality values to work_id, trace_id, plan_id or step_id.")));
	}
	if (distributed)
	{
		/*
		 * committed before we took the lock, or ours from an earlier flush:
		 * known already when all the metric's series were read under it
		 */
		if (!known_complete(ms) && find_latest(args, &id, made_here))
			goto done;
		if ((id = distributed_new_series(key, metric->id, tags)) >= 0)
		{
			*made_here = true;
			ms->nseries++;
			goto done;
		}
	}
	if (SPI_execute_plan(plans[PLAN_INSERT], args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "metrics_ex: series insert failed");
	if (SPI_processed == 1)
	{
		bool		isnull;

		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*made_here = true;
		ms->nseries++;
	}
	else if (!find_latest(args, &id, made_here))
		elog(ERROR, "metrics_ex: series of metric %d vanished while being made", metric->id);
done:
	end_statements(&oc);
	return id;
}

int64
series_resolve(const MetricInfo *metric, Jsonb *tags, const char *text, Size textlen)
{
	const char *bytes = (const char *) tags;
	SeriesKey	key;
	CacheEntry *e;
	int64		id;
	uint64		generation;
	bool		made_here = false;
	bool		in_shared = false;

	begin_lookup();
	make_key(&key, metric->id, false, bytes, VARSIZE(tags));
	if ((e = series_cache_find(local, &key, bytes)) != NULL)
	{
		id = e->series_id;
		generation = e->generation;
		made_here = e->made_in == xact_serial;
	}
	else
	{
		/* read before the lookup and the catalog's snapshot */
		generation = series_dict_generation();
		in_shared = shared_usable() && series_dict_find(&key, bytes, &id);
		if (!in_shared)
		{
			MetricSeries *ms = metric_state(metric->id);

			id = -1;
			if (!ms->loaded && ++ms->misses >= 2)
			{
				load_metric(metric, ms, generation);
				if ((e = series_cache_find(local, &key, bytes)) != NULL)
				{
					id = e->series_id;
					made_here = e->made_in == xact_serial;
				}
				else
					in_shared = shared_usable() && series_dict_find(&key, bytes, &id);
			}
			if (id < 0)
				id = series_from_catalog(metric, ms, &key, tags, &made_here);
		}
		if (e == NULL)
			(void) remember(&key, bytes, id, generation, made_here, in_shared, true);
	}
	if (text != NULL)
	{
		make_key(&key, metric->id, true, text, textlen);
		if ((e = remember(&key, text, id, generation, made_here, false, true)) != NULL)
			last_text = series_cache_follow(last_text, e);
	}
	return id;
}

int64
series_by_text(const MetricInfo *metric, const char *text, Size len)
{
	SeriesKey	key;
	CacheEntry *e;
	int64		id;
	uint64		generation;

	begin_lookup();
	/* a scrape comes in the order of the last one */
	e = series_cache_guess(last_text, metric->id, true, text, len);
	if (e != NULL)
	{
		last_text = series_cache_follow(last_text, e);
		return e->series_id;
	}

	make_key(&key, metric->id, true, text, len);
	if ((e = series_cache_find(local, &key, text)) == NULL)
	{
		if (!shared_usable())
			return -1;
		generation = series_dict_generation();
		if (!series_dict_find(&key, text, &id))
			return -1;
		if ((e = local_add(&key, text, id, generation, false)) == NULL)
			return id;
	}
	last_text = series_cache_follow(last_text, e);
	return e->series_id;
}

/* ---- invalidation and the transaction's end ---- */

void
series_invalidate(void)
{
	/* with the dictionary, only a new generation means series went away */
	if (!series_dict_enabled() || series_dict_generation() != local_generation)
		local_stale = true;
	lock_epoch++;
}

void
series_metrics_changed(void)
{
	lock_epoch++;
}

void
series_flush(void)
{
	local_stale = true;
	lock_epoch++;
}

void
series_catalog_changed(void)
{
	changed_in_xact = true;
	series_flush();
}

/* Forget the series the open transaction made: they are not committed. */
static void
forget_made(void)
{
	while (made_head != NULL)
	{
		Made	   *m = made_head;

		if (!local_stale)
		{
			CacheEntry *e = series_cache_find(local, &m->key, m->bytes);

			if (e != NULL && e->made_in == xact_serial)
				e->series_id = -1;
		}
		made_head = m->next;
		pfree(m);
	}
}

/*
 * A prepared transaction commits or rolls back later, elsewhere: what it
 * made is not ours to publish, and the generation could not be moved on
 * when it commits.
 */
void
series_pre_prepare(void)
{
	if (changed_in_xact && series_dict_enabled())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot PREPARE a transaction that deleted or changed metrics_ex series"),
				 errhint("Delete metrics and series in a transaction that commits directly.")));
	forget_made();
	local_stale = true;
}

void
series_xact_end(bool committed)
{
	if (committed)
	{
		if (changed_in_xact)
		{
			series_dict_next_generation();
			local_stale = true;
		}
		/* published by our next lookup, from another transaction */
		while (made_head != NULL)
		{
			Made	   *m = made_head;

			made_head = m->next;
			m->next = publish_head;
			publish_head = m;
		}
	}
	else
		forget_made();
	changed_in_xact = false;
	in_catalog_statements = false;
	xact_serial++;
	lock_epoch++;
}

void
series_subxact_abort(void)
{
	/* what it made, and locks it took, are gone; we forget all of ours */
	forget_made();
	in_catalog_statements = false;
	lock_epoch++;
}
