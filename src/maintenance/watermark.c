/*
 * watermark.c
 *		The rollup watermark: the protocol between writers and maintenance.
 *
 * Maintenance rolls raw samples up to a watermark and publishes the next
 * one in metrics_ex.rollup_state: "published", after which a writer treats
 * a sample older than it as late and also leaves a delta for it (pending.c),
 * and "done", below which the rollups hold every sample.  The danger is a
 * writer that still believes an older watermark: its sample would be
 * neither rolled up from raw (the run's snapshot misses it) nor left as a
 * delta (it does not look late to that writer).
 *
 * So every writing transaction holds a ShareLock on the metrics_ex extension
 * object from its first write to its end, and reads the watermark after
 * taking it (our cached copy is invalidated, through a relcache invalidation
 * of rollup_state, when a new one is published).  A run then:
 *	1. waits, without queuing a lock of its own, until every transaction that
 *	   held that lock has ended (WaitForLockers, as CREATE INDEX CONCURRENTLY
 *	   waits): whoever could have used an older watermark is done, and what
 *	   it wrote is visible to the run's next statement;
 *	2. rolls up [done, published) from raw samples and merges older deltas;
 *	3. publishes the next watermark, seen by every writer that starts after
 *	   the run commits.
 * Writers never wait for maintenance; maintenance waits for writers, not the
 * other way round.  A run may instead take ExclusiveLock without waiting
 * (_hold_writers) when no writer is active: it can then also roll up to the
 * watermark it has just published, holding new writers back until it
 * commits.  DROP EXTENSION, which takes AccessExclusiveLock on the same
 * object, waits for writing transactions too.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "maintenance/watermark.h"
#include "write/catalog.h"
#include "metrics_ex.h"

PG_FUNCTION_INFO_V1(metrics_ex_watermark_published_here);
PG_FUNCTION_INFO_V1(metrics_ex_hold_writers);
PG_FUNCTION_INFO_V1(metrics_ex_wait_for_writers);
PG_FUNCTION_INFO_V1(metrics_ex_publish_watermark);

/* writers: the watermark read under this transaction's lock */
static bool locked_in_xact = false;
static TimestampTz cached_published = DT_NOBEGIN;
static bool cache_valid = false;
static bool callback_registered = false;
static Oid	state_relid = InvalidOid;

/* maintenance: this transaction published a new watermark */
static bool published_in_xact = false;

static void
state_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == state_relid)
		cache_valid = false;
}

static void
extension_locktag(LOCKTAG *tag, Oid extension)
{
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, ExtensionRelationId, extension, 0);
}

static Oid
our_extension(void)
{
	return get_extension_oid("metrics_ex", false);
}

/*
 * Read rollup_state.published (no row: -infinity), as the tables' owner.
 * With the latest snapshot, not the statement's or the transaction's: a
 * writer whose snapshot predates the last two runs would otherwise take a
 * watermark older than what the rollups already hold.
 */
static TimestampTz
read_published(void)
{
	TimestampTz result = DT_NOBEGIN;
	OwnerContext oc;
	bool		isnull;
	int			ret;

	owner_begin(&oc);
	PushActiveSnapshot(GetLatestSnapshot());
	ret = SPI_execute("SELECT published FROM metrics_ex.rollup_state "
					  "WHERE key OPERATOR(pg_catalog.=) 'watermark'", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the rollup watermark");
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = DatumGetTimestampTz(d);
	}
	PopActiveSnapshot();
	owner_end(&oc);
	return result;
}

void
watermark_begin_write(Oid extension)
{
	LOCKTAG		tag;

	if (locked_in_xact)
		return;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(state_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	extension_locktag(&tag, extension);
	/* held to the end of the transaction, through subtransaction aborts */
	{
		ResourceOwner save = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;
		(void) LockAcquire(&tag, ShareLock, false, false);
		CurrentResourceOwner = save;
	}
	locked_in_xact = true;
	/* a watermark published while we waited invalidates our copy */
	AcceptInvalidationMessages();
	if (!cache_valid)
	{
		state_relid = get_relname_relid("rollup_state",
										get_namespace_oid(METRICS_EX_SCHEMA, false));
		cache_valid = true;
		cached_published = read_published();
	}
}

/*
 * A watermark published after our first write (by this transaction's own
 * materialize(), or by a run that will wait for us) is read again: taking
 * more samples as late is always safe, fewer never.
 */
TimestampTz
watermark_published(void)
{
	Assert(locked_in_xact);
	if (!cache_valid)
	{
		cache_valid = true;
		cached_published = read_published();
	}
	return cached_published;
}

void
watermark_xact_end(void)
{
	locked_in_xact = false;
	published_in_xact = false;
}

/* _watermark_published_here(): did this transaction publish a watermark? */
Datum
metrics_ex_watermark_published_here(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(published_in_xact);
}

/*
 * _hold_writers(): ExclusiveLock on the extension until commit, only if no
 * writer holds its ShareLock now (never waits, so never queues writers).
 */
Datum
metrics_ex_hold_writers(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	extension_locktag(&tag, our_extension());
	PG_RETURN_BOOL(LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL);
}

/* _wait_for_writers(): until every transaction that is writing now is over. */
Datum
metrics_ex_wait_for_writers(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	extension_locktag(&tag, our_extension());
	WaitForLockers(tag, ExclusiveLock, false);
	PG_RETURN_VOID();
}

/* _publish_watermark(ts): writers that start after our commit use ts. */
Datum
metrics_ex_publish_watermark(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	Oid			relid;

	args[0] = PG_GETARG_DATUM(0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO metrics_ex.rollup_state AS s (key, published, done) "
							  "VALUES ('watermark', $1, '-infinity') "
							  "ON CONFLICT (key) DO UPDATE SET published = "
							  "greatest(s.published, excluded.published)",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "metrics_ex: could not publish the rollup watermark");
	SPI_finish();
	relid = get_relname_relid("rollup_state", get_namespace_oid(METRICS_EX_SCHEMA, false));
	CacheInvalidateRelcacheByRelid(relid);
	published_in_xact = true;
	PG_RETURN_VOID();
}
