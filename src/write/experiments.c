/*
 * experiments.c
 *		The gate of paused and stopped experiments (see experiments.h), and
 *		the lifecycle calls that change an experiment's status.
 *
 * Each backend caches the ids of the experiments that are not running.  The
 * cache is rebuilt after a relcache invalidation of the experiment registry,
 * which a statement trigger sends whenever an experiment's status changes
 * (the same scheme as the metric and series caches in catalog.c).  When no
 * experiment is paused or stopped, the usual case, a sample costs a test of
 * two static variables.  Otherwise the verdict for each series is cached, so
 * a bulk load looks at a series' tags once.
 *
 * Refused samples are counted in backend memory and added to the registry's
 * samples_rejected once per transaction, just before commit: updating a row
 * per sample would cost more than storing the sample.  An aborted
 * transaction stores nothing and counts nothing.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "experiments.h"
#include "metrics_ex.h"


/* text form of a uuid: 36 characters */
#define UUID_TEXT_LEN 36

typedef struct SeriesVerdict
{
	int64		series_id;		/* hash key */
	int			blocked;		/* index into blocked_ids, or -1: store it */
} SeriesVerdict;

typedef struct PendingReject
{
	char		id[UUID_TEXT_LEN + 1];
	int64		count;
} PendingReject;

static bool callbacks_registered = false;
static bool gate_valid = false;
static Oid	registry_relid = InvalidOid;
static MemoryContext gate_cxt = NULL;
static int	nblocked = 0;
static char (*blocked_ids)[UUID_TEXT_LEN + 1] = NULL;
static HTAB *verdicts = NULL;

/* refused samples of this transaction, per experiment (a handful at most) */
static PendingReject *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;

static void
gate_relcache_callback(Datum arg, Oid relid)
{
	/* only mark: the cache may be in the middle of being rebuilt */
	if (relid == InvalidOid || relid == registry_relid)
		gate_valid = false;
}

/*
 * Add this transaction's refused samples to the registry, as the tables'
 * owner (the writer needs no privilege on the registry).
 */
static void
flush_pending(void)
{
	OwnerContext oc;
	Oid			argtypes[2] = {TEXTOID, INT8OID};

	/* before commit no statement is running: the update needs a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());
	owner_begin(&oc);
	for (int i = 0; i < npending; i++)
	{
		Datum		args[2];

		args[0] = CStringGetTextDatum(pending[i].id);
		args[1] = Int64GetDatum(pending[i].count);
		if (SPI_execute_with_args("UPDATE metrics_ex.experiment_registry "
								  "SET samples_rejected = samples_rejected OPERATOR(pg_catalog.+) $2 "
								  "WHERE id OPERATOR(pg_catalog.=) $1::pg_catalog.uuid",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "metrics_ex: could not count rejected samples");
	}
	owner_end(&oc);
	PopActiveSnapshot();
	npending = 0;
}

void
experiments_pre_commit(void)
{
	if (npending > 0)
		flush_pending();
}

void
experiments_xact_end(void)
{
	npending = 0;
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(gate_relcache_callback, (Datum) 0);
	gate_cxt = AllocSetContextCreate(CacheMemoryContext, "metrics_ex experiment gate",
									 ALLOCSET_SMALL_SIZES);
	callbacks_registered = true;
}

/* Read the ids of the experiments that are not running. */
static void
build_gate(void)
{
	OwnerContext oc;
	Oid			nsp;

	register_callbacks();
	MemoryContextReset(gate_cxt);
	blocked_ids = NULL;
	verdicts = NULL;
	nblocked = 0;

	nsp = get_namespace_oid(METRICS_EX_SCHEMA, false);
	registry_relid = get_relname_relid("experiment_registry", nsp);
	if (!OidIsValid(registry_relid))
		elog(ERROR, "metrics_ex: relation metrics_ex.experiment_registry is missing");

	/* an invalidation during the query clears this again: rebuilt next time */
	gate_valid = true;
	owner_begin(&oc);
	if (SPI_execute("SELECT id::pg_catalog.text FROM metrics_ex.experiment_registry "
					"WHERE status OPERATOR(pg_catalog.<>) 'running'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: experiment lookup failed");
	if (SPI_processed > 0)
	{
		HASHCTL		ctl;

		blocked_ids = MemoryContextAllocZero(gate_cxt, SPI_processed * sizeof(*blocked_ids));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

			strlcpy(blocked_ids[i], id, sizeof(blocked_ids[i]));
		}
		nblocked = (int) SPI_processed;

		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(SeriesVerdict);
		ctl.hcxt = gate_cxt;
		verdicts = hash_create("metrics_ex experiment verdicts", 256, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	owner_end(&oc);
}

/* Index of the blocked experiment whose id is this text, or -1. */
static int
blocked_index(const char *id, int len)
{
	if (len != UUID_TEXT_LEN)
		return -1;
	for (int i = 0; i < nblocked; i++)
		if (memcmp(blocked_ids[i], id, UUID_TEXT_LEN) == 0)
			return i;
	return -1;
}

/* The experiment_id tag of a series, from its tags or from the catalog. */
static int
series_blocked(int64 series_id, Jsonb *series_tags)
{
	if (series_tags != NULL)
	{
		JsonbValue	key;
		JsonbValue *v;

		key.type = jbvString;
		key.val.string.val = "experiment_id";
		key.val.string.len = strlen("experiment_id");
		v = findJsonbValueFromContainer(&series_tags->root, JB_FOBJECT, &key);
		if (v == NULL || v->type != jbvString)
			return -1;
		return blocked_index(v->val.string.val, v->val.string.len);
	}
	else
	{
		OwnerContext oc;
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1];
		int			result = -1;

		/* not read-only: the series may have been made by this very statement */
		args[0] = Int64GetDatum(series_id);
		owner_begin(&oc);
		if (SPI_execute_with_args("SELECT tags OPERATOR(pg_catalog.->>) 'experiment_id' "
								  "FROM metrics_ex.series WHERE id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "metrics_ex: series lookup failed");
		if (SPI_processed == 1)
		{
			char	   *id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (id != NULL)
				result = blocked_index(id, strlen(id));
		}
		owner_end(&oc);
		return result;
	}
}

static void
count_reject(const char *id)
{
	for (int i = 0; i < npending; i++)
		if (strcmp(pending[i].id, id) == 0)
		{
			pending[i].count++;
			return;
		}
	if (npending == maxpending)
	{
		int			newmax = maxpending == 0 ? 4 : maxpending * 2;

		pending = pending == NULL ?
			MemoryContextAlloc(TopMemoryContext, newmax * sizeof(PendingReject)) :
			repalloc(pending, newmax * sizeof(PendingReject));
		maxpending = newmax;
	}
	strlcpy(pending[npending].id, id, sizeof(pending[npending].id));
	pending[npending].count = 1;
	npending++;
}

bool
experiments_accept(int64 series_id, Jsonb *series_tags)
{
	SeriesVerdict *v;
	bool		found;
	int			blocked;

	if (likely(gate_valid && nblocked == 0))
		return true;
	if (!gate_valid)
		build_gate();
	if (nblocked == 0)
		return true;

	v = hash_search(verdicts, &series_id, HASH_FIND, NULL);
	if (v != NULL)
		blocked = v->blocked;
	else
	{
		blocked = series_blocked(series_id, series_tags);
		/* the lookup may have processed an invalidation: verdicts are gone */
		if (!gate_valid)
			return experiments_accept(series_id, series_tags);
		v = hash_search(verdicts, &series_id, HASH_ENTER, &found);
		v->blocked = blocked;
	}
	if (blocked < 0)
		return true;
	count_reject(blocked_ids[blocked]);
	return false;
}

/*
 * _experiment_call(action, id, name, hypothesis, condition, tags,
 * sample_size, metadata, keep_data): the lifecycle functions' way into the
 * registry.  Like the write API, it lets a caller with INSERT on
 * metrics_ex.ingest write the registry as the tables' owner; the statements
 * it runs are fixed here, and the SQL functions they call can be executed by
 * the owner only.  'start' records the caller as the experiment's creator,
 * 'delete' passes the caller on to be checked against it.
 */
PG_FUNCTION_INFO_V1(metrics_ex_experiment_call);

Datum
metrics_ex_experiment_call(PG_FUNCTION_ARGS)
{
	char	   *action;
	char	   *caller;
	OwnerContext oc;
	Datum		result = (Datum) 0;
	bool		isnull = true;
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		elog(ERROR, "metrics_ex: _experiment_call needs an action");
	action = text_to_cstring(PG_GETARG_TEXT_PP(0));

	catalog_begin_write();		/* may the caller record metrics? */
	caller = GetUserNameFromId(GetUserId(), false);
	owner_begin(&oc);
	if (strcmp(action, "start") == 0)
	{
		Oid			argtypes[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID,
		JSONBOID, NAMEOID};
		Datum		args[7];
		char		nulls[7];

		/* name, hypothesis, condition, tags, sample_size, metadata */
		for (int i = 0; i < 6; i++)
		{
			args[i] = PG_ARGISNULL(i + 2) ? (Datum) 0 : PG_GETARG_DATUM(i + 2);
			nulls[i] = PG_ARGISNULL(i + 2) ? 'n' : ' ';
		}
		args[6] = DirectFunctionCall1(namein, CStringGetDatum(caller));
		nulls[6] = ' ';
		if (SPI_execute_with_args("SELECT metrics_ex._experiment_insert($1, $2, $3, $4, $5, $6, $7)",
								  7, argtypes, args, nulls, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "metrics_ex: could not start the experiment");
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			/* a uuid is by reference: copy it out of SPI's memory */
			MemoryContext old = MemoryContextSwitchTo(caller_cxt);

			result = datumCopy(result, false, 16);
			MemoryContextSwitchTo(old);
		}
	}
	else if (strcmp(action, "stop") == 0 || strcmp(action, "pause") == 0 ||
			 strcmp(action, "resume") == 0)
	{
		Oid			argtypes[2] = {UUIDOID, TEXTOID};
		Datum		args[2];
		char		nulls[2] = {' ', ' '};

		args[0] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
		nulls[0] = PG_ARGISNULL(1) ? 'n' : ' ';
		args[1] = PG_GETARG_DATUM(0);
		if (SPI_execute_with_args("SELECT metrics_ex._experiment_transition($1, $2)",
								  2, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "metrics_ex: could not change the experiment");
	}
	else if (strcmp(action, "delete") == 0)
	{
		Oid			argtypes[3] = {UUIDOID, BOOLOID, NAMEOID};
		Datum		args[3];
		char		nulls[3] = {' ', ' ', ' '};

		args[0] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
		nulls[0] = PG_ARGISNULL(1) ? 'n' : ' ';
		args[1] = PG_ARGISNULL(8) ? BoolGetDatum(false) : PG_GETARG_DATUM(8);
		args[2] = DirectFunctionCall1(namein, CStringGetDatum(caller));
		if (SPI_execute_with_args("SELECT metrics_ex._experiment_delete($1, $2, $3)",
								  3, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "metrics_ex: could not delete the experiment");
	}
	else
		elog(ERROR, "metrics_ex: unknown experiment action \"%s\"", action);
	owner_end(&oc);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
