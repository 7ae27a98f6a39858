/*
 * catalog.c
 *		Metric definitions, the write path's relations, the owner's SPI
 *		(see catalog.h).
 *
 * Catalog rows are written with SPI as the owner of the extension's tables,
 * so a writer role needs no privilege on them: the gate is INSERT on
 * metrics_ex.ingest, checked once per transaction and role.  What runs as
 * the owner is fixed SQL over our own tables, in a security-restricted
 * operation with a pinned search_path: nothing a user defines.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "distributed.h"
#include "maintenance/watermark.h"
#include "metrics_ex.h"
#include "series.h"
#include "tags.h"

#define METRIC_NAME_MAX 200

PG_FUNCTION_INFO_V1(metrics_ex_invalidate_cache);

typedef struct MetricEntry
{
	char		name[METRIC_NAME_MAX + 1];	/* hash key */
	MetricInfo	info;
} MetricEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *metric_cache = NULL;
static bool callbacks_registered = false;
static MetricEntry *last_metric = NULL;	/* bulk loads repeat one name */

/* Relations we depend on; reset by invalidation, looked up per transaction. */
static Oid	metrics_relid = InvalidOid;
static Oid	series_relid = InvalidOid;
static Oid	samples_relid = InvalidOid;
static Oid	ingest_relid = InvalidOid;
static Oid	owner_oid = InvalidOid;
static Oid	extension_oid = InvalidOid;

/* Per-transaction state */
static bool xact_ready = false;
static Oid	xact_checked_user = InvalidOid;

static void
flush_metrics(void)
{
	if (cache_cxt != NULL)
		MemoryContextReset(cache_cxt);
	metric_cache = NULL;
	last_metric = NULL;
}

void
catalog_flush(void)
{
	flush_metrics();
	series_flush();
}

/*
 * A change of metrics_ex.metrics or metrics_ex.series, or of their
 * definitions, here or committed elsewhere (the statement trigger below);
 * also VACUUM, ANALYZE and DDL, which change no ids.  Metrics are few and
 * read again; series.c decides what its caches must forget.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	/* ids and owner are looked up again by the next catalog_begin_write() */
	if (relid == InvalidOid || relid == metrics_relid)
	{
		flush_metrics();
		series_metrics_changed();
		xact_ready = false;
	}
	if (relid == InvalidOid || relid == series_relid)
	{
		series_invalidate();
		xact_ready = false;
	}
	/* is samples a Citus table? (one callback for both: slots are few) */
	distributed_relcache_invalidated(relid);
}

void
catalog_xact_end(bool aborted)
{
	/* An aborted transaction may have created rows our caches point at. */
	if (aborted)
		flush_metrics();
	series_xact_end(!aborted);
	xact_ready = false;
}

void
catalog_subxact_abort(void)
{
	flush_metrics();
	series_subxact_abort();
}

void
catalog_pre_prepare(void)
{
	/* what it made commits later, or never */
	flush_metrics();
	series_pre_prepare();
}

static void
ensure_caches(void)
{
	HASHCTL		ctl;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		cache_cxt = AllocSetContextCreate(CacheMemoryContext,
										  "metrics_ex catalog cache",
										  ALLOCSET_DEFAULT_SIZES);
		callbacks_registered = true;
	}
	if (metric_cache == NULL)
	{
		ctl.keysize = METRIC_NAME_MAX + 1;
		ctl.entrysize = sizeof(MetricEntry);
		ctl.hcxt = cache_cxt;
		metric_cache = hash_create("metrics_ex metrics", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
}

static Oid
lookup_relid(Oid nsp, const char *relname)
{
	Oid			relid = get_relname_relid(relname, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", METRICS_EX_SCHEMA, relname),
				 errhint("Is the extension metrics_ex installed in this database?")));
	return relid;
}

/*
 * Look up our relations and their owner, once per transaction (and again
 * after an invalidation).
 */
void
catalog_lookup(void)
{
	Oid			nsp;
	Oid			old_metrics_relid;
	HeapTuple	tp;

	ensure_caches();
	if (xact_ready)
		return;
	nsp = get_namespace_oid(METRICS_EX_SCHEMA, false);
	old_metrics_relid = metrics_relid;
	metrics_relid = lookup_relid(nsp, "metrics");
	series_relid = lookup_relid(nsp, "series");
	/* the extension was dropped and made again: no id we know is valid */
	if (OidIsValid(old_metrics_relid) && old_metrics_relid != metrics_relid)
		catalog_flush();
	samples_relid = lookup_relid(nsp, "samples");
	ingest_relid = lookup_relid(nsp, "ingest");

	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(samples_relid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", samples_relid);
	owner_oid = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	extension_oid = get_extension_oid("metrics_ex", false);
	xact_ready = true;
	xact_checked_user = InvalidOid;
}

void
catalog_begin_write(void)
{
	catalog_begin_write_for(GetUserId());
}

void
catalog_begin_write_for(Oid role)
{
	/* we write heap tuples ourselves, so the executor's check is ours too */
	PreventCommandIfReadOnly("recording metrics");
	PreventCommandIfParallelMode("recording metrics");

	catalog_lookup();
	/* on Citus, the coordinator writes (distributed.c) */
	distributed_check_writer();
	/* the rollup watermark this transaction writes against (watermark.c) */
	watermark_begin_write(extension_oid);
	if (xact_checked_user == role)
		return;
	if (pg_class_aclcheck(ingest_relid, role, ACL_INSERT) != ACLCHECK_OK)
	{
		if (role == GetUserId())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to record metrics"),
					 errhint("Recording needs INSERT on metrics_ex.ingest: GRANT INSERT ON metrics_ex.ingest TO the writer role.")));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to record metrics on behalf of role \"%s\"",
						GetUserNameFromId(role, true) ? GetUserNameFromId(role, true) : "?"),
				 errhint("Recording needs INSERT on metrics_ex.ingest: GRANT INSERT ON metrics_ex.ingest TO that role.")));
	}
	xact_checked_user = role;
}

Oid
catalog_owner(void)
{
	Assert(OidIsValid(owner_oid));
	return owner_oid;
}

Oid
catalog_series_relid(void)
{
	Assert(OidIsValid(series_relid));
	return series_relid;
}

Oid
catalog_samples_relid(void)
{
	Assert(OidIsValid(samples_relid));
	return samples_relid;
}

MetricKind
kind_from_cstring(const char *s, const char *argname)
{
	if (s == NULL || s[0] == '\0')
		return KIND_NONE;
	if (strcmp(s, "counter") == 0)
		return KIND_COUNTER;
	if (strcmp(s, "gauge") == 0)
		return KIND_GAUGE;
	if (strcmp(s, "histogram") == 0)
		return KIND_HISTOGRAM;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\"", argname, s),
			 errhint("The kind is one of counter, gauge or histogram.")));
	return KIND_NONE;			/* keep compiler quiet */
}

const char *
kind_name(MetricKind kind)
{
	switch (kind)
	{
		case KIND_COUNTER:
			return "counter";
		case KIND_GAUGE:
			return "gauge";
		case KIND_HISTOGRAM:
			return "histogram";
		default:
			return NULL;
	}
}

void
check_metric_name(const char *name, int len, const char *argname)
{
	if (!is_prometheus_name(name, len, METRIC_NAME_MAX, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid metric %s \"%.*s\"", argname, Min(len, METRIC_NAME_MAX), name),
				 errhint("Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]* and be at most %d characters, as in Prometheus.",
						 METRIC_NAME_MAX)));
}

/* MetricsEx's guess at a kind from the name and the value's shape. */
static MetricKind
infer_kind(const char *name, int len, bool integral)
{
	static const char *const gauge_words[] = {"depth", "size", "active", "current"};

	if (len >= 6 && memcmp(name + len - 6, "_total", 6) == 0)
		return KIND_COUNTER;
	if (!integral)
		return KIND_HISTOGRAM;
	for (int i = 0; i < (int) lengthof(gauge_words); i++)
		if (strstr(name, gauge_words[i]) != NULL)
			return KIND_GAUGE;
	return KIND_COUNTER;
}

/*
 * SPI as the tables' owner.  A restricted security context keeps a hostile
 * caller's search_path and settings out of our statements.
 */
void
owner_begin(OwnerContext *oc)
{
	oc->caller_cxt = CurrentMemoryContext;
	GetUserIdAndSecContext(&oc->save_userid, &oc->save_sec);
	SetUserIdAndSecContext(owner_oid,
						   oc->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	oc->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
owner_end(OwnerContext *oc)
{
	SPI_finish();
	AtEOXact_GUC(false, oc->save_nestlevel);
	SetUserIdAndSecContext(oc->save_userid, oc->save_sec);
}

/* Prometheus' default histogram buckets */
static const float8 default_bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

/* bounds are copied with SPI_palloc, so they outlive SPI_finish() */
static void
metric_from_row(MetricInfo *info, const char *name)
{
	bool		isnull;
	char	   *kind;
	Datum		d;

	info->id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	info->kind = kind_from_cstring(kind, "kind");
	info->max_series = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (isnull)
		info->max_series = 0;

	info->nbounds = 0;
	info->bounds = NULL;
	if (info->kind != KIND_HISTOGRAM)
		return;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	if (isnull)
	{
		info->nbounds = lengthof(default_bounds);
		info->bounds = default_bounds;
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		float8	   *copy;

		deconstruct_array(DatumGetArrayTypeP(d), FLOAT8OID, 8, FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &elems, &nulls, &info->nbounds);
		copy = SPI_palloc(sizeof(float8) * Max(info->nbounds, 1));
		for (int i = 0; i < info->nbounds; i++)
			copy[i] = DatumGetFloat8(elems[i]);
		info->bounds = copy;
	}
}

/*
 * Bucket bounds live for the whole session, so that a MetricInfo copied by a
 * caller stays valid across cache flushes.  Equal arrays are shared; only a
 * redefinition of buckets adds one.
 */
static const float8 *
intern_bounds(const float8 *bounds, int n)
{
	static List *interned = NIL;
	ListCell   *lc;
	float8	   *copy;
	MemoryContext old;

	foreach(lc, interned)
	{
		float8	   *b = lfirst(lc);

		if ((int) b[0] == n && memcmp(b + 1, bounds, sizeof(float8) * n) == 0)
			return b + 1;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	copy = palloc(sizeof(float8) * (n + 1));
	copy[0] = n;
	memcpy(copy + 1, bounds, sizeof(float8) * n);
	interned = lappend(interned, copy);
	MemoryContextSwitchTo(old);
	return copy + 1;
}

MetricInfo
catalog_metric(const char *name, int len, MetricKind want, bool integral)
{
	char		key[METRIC_NAME_MAX + 1];
	MetricEntry *entry;
	bool		found;

	ensure_caches();
	if (last_metric != NULL && strncmp(last_metric->name, name, len) == 0 &&
		last_metric->name[len] == '\0')
	{
		entry = last_metric;
		memcpy(key, name, len);
		key[len] = '\0';
		goto check_kind;
	}

	check_metric_name(name, len, "name");
	memcpy(key, name, len);
	key[len] = '\0';
	entry = hash_search(metric_cache, key, HASH_FIND, NULL);

	if (entry == NULL)
	{
		OwnerContext oc;
		MetricInfo	info;
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		args[2];

		args[0] = PointerGetDatum(cstring_to_text(key));
		owner_begin(&oc);
		if (SPI_execute_with_args("SELECT id, kind, max_series, buckets FROM metrics_ex.metrics "
								  "WHERE name OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "metrics_ex: metric lookup failed");
		if (SPI_processed == 0)
		{
			MetricKind	kind = want != KIND_NONE ? want : infer_kind(key, len, integral);

			args[1] = PointerGetDatum(cstring_to_text(kind_name(kind)));
			if (SPI_execute_with_args("INSERT INTO metrics_ex.metrics (name, kind) VALUES ($1, $2) "
									  "ON CONFLICT (name) DO NOTHING RETURNING id, kind, max_series, buckets",
									  2, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "metrics_ex: metric insert failed");
			/* lost a race with a concurrent definition: read the winner */
			if (SPI_processed == 0 &&
				SPI_execute_with_args("SELECT id, kind, max_series, buckets FROM metrics_ex.metrics "
									  "WHERE name OPERATOR(pg_catalog.=) $1",
									  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
				elog(ERROR, "metrics_ex: metric lookup failed");
			if (SPI_processed == 0)
				elog(ERROR, "metrics_ex: metric \"%s\" vanished while being defined", key);
		}
		metric_from_row(&info, key);
		owner_end(&oc);

		/* The catalog lookup may have flushed the cache (invalidation). */
		ensure_caches();
		if (info.bounds != NULL && info.bounds != default_bounds)
			info.bounds = intern_bounds(info.bounds, info.nbounds);
		entry = hash_search(metric_cache, key, HASH_ENTER, &found);
		entry->info = info;
	}

	last_metric = entry;
check_kind:
	if (want != KIND_NONE && want != entry->info.kind)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("metric \"%s\" is a %s, not a %s", key,
						kind_name(entry->info.kind), kind_name(want)),
				 errhint("Record it as a %s, or use another metric name.",
						 kind_name(entry->info.kind))));
	return entry->info;
}

/*
 * Statement trigger on metrics_ex.metrics and metrics_ex.series (and the
 * experiment registry, whose cache is experiments.c's): a change other than
 * an insert may leave cached ids pointing at rows that are gone or changed,
 * so every backend's cache hears of it at commit, through a relcache
 * invalidation.  Series removed or changed also move the shared dictionary
 * to its next generation when the transaction commits; an UPDATE of metrics
 * changes no series id.
 */
Datum
metrics_ex_invalidate_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	const char *relname;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "metrics_ex_invalidate_cache: not called as a trigger");
	rel = trigdata->tg_relation;
	relname = RelationGetRelationName(rel);
	if (RelationGetNamespace(rel) == get_namespace_oid(METRICS_EX_SCHEMA, true) &&
		(strcmp(relname, "series") == 0 ||
		 (strcmp(relname, "metrics") == 0 && !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))))
		series_catalog_changed();
	CacheInvalidateRelcache(rel);
	return PointerGetDatum(NULL);
}
