/*
 * catalog_watch.c
 *		Deletes, updates and truncates of metrics_ex.metrics and
 *		metrics_ex.series, seen by the executor and utility hooks (see
 *		catalog_watch.h).
 *
 * Backends cache metric and series ids, and the series dictionary hands
 * them to every session, so a statement that removes or changes rows of
 * these tables must tell them.  Triggers on the tables did that once; they
 * cannot do it on Citus: Citus makes no reference table of a table with
 * triggers, and a trigger on the coordinator's shell of a Citus table never
 * fires (the rows change in the shards).  The range table of a finished
 * statement says the same on one node and on Citus (a distributed plan
 * keeps the original range table for its permission checks): an entry
 * of one of our tables that needs DELETE rights or updates columns is a
 * DELETE, an UPDATE, an INSERT ... ON CONFLICT DO UPDATE, a MERGE or a
 * data-modifying CTE on it (SELECT ... FOR UPDATE, which series.c runs to
 * count a metric's series, asks for UPDATE rights but updates nothing).  A foreign key's cascade from metrics to series is a statement of its
 * own, which the hook sees too (on Citus it runs in the shards, so a delete
 * of metrics counts as one of series as well).  On Citus the series of
 * deleted metrics are deleted here, at the end of the statement, as the
 * foreign key's cascade would (distribute() drops the key).
 *
 * What follows is what the triggers did: the change becomes this
 * transaction's (series.c moves the dictionary's generation on at commit)
 * and every backend's relcache callback hears of it at commit.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "metrics_ex.h"
#include "write/catalog.h"
#include "write/catalog_watch.h"
#include "write/distributed.h"
#include "write/series.h"

/* Which of our two tables relid is: 'm', 's' or 0. */
static char
watched_table(Oid relid)
{
	Oid			nsp = get_namespace_oid(METRICS_EX_SCHEMA, true);
	char	   *name;
	char		which = 0;

	if (!OidIsValid(nsp) || get_rel_namespace(relid) != nsp)
		return 0;
	name = get_rel_name(relid);
	if (name != NULL && strcmp(name, "metrics") == 0)
		which = 'm';
	else if (name != NULL && strcmp(name, "series") == 0)
		which = 's';
	if (name != NULL)
		pfree(name);
	return which;
}

/*
 * A committed change of the table: removed or changed series (a delete of
 * metrics removes its series) must not be found again; an update of
 * metrics changes no series id, only what the metric cache holds.
 */
static void
table_changed(Oid relid, char which, bool removed)
{
	/* on Citus there is no foreign key to cascade with (distribute.sql) */
	if (which == 'm' && removed)
	{
		catalog_lookup();
		if (distributed_mode())
			distributed_cascade();
	}
	if (which == 's' || removed)
		series_catalog_changed();
	CacheInvalidateRelcacheByRelid(relid);
	if (which == 'm' && removed)
	{
		Oid			series = get_relname_relid("series", get_rel_namespace(relid));

		if (OidIsValid(series))
			CacheInvalidateRelcacheByRelid(series);
	}
}

void
catalog_watch_executor_end(QueryDesc *queryDesc)
{
	ListCell   *lc;

	if (queryDesc->plannedstmt == NULL ||
		(queryDesc->estate != NULL &&
		 (queryDesc->estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY)))
		return;
	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		char		which;

		bool		removes;

		if (rte->rtekind != RTE_RELATION)
			continue;
		/* an INSERT that adds rows changes no cached id */
		removes = (rte->requiredPerms & ACL_DELETE) != 0;
		if (!removes && bms_is_empty(rte->updatedCols))
			continue;
		if ((which = watched_table(rte->relid)) != 0)
			table_changed(rte->relid, which, removes);
	}
}

void
catalog_watch_utility(Node *parsetree)
{
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, TruncateStmt) || !IsTransactionState())
		return;
	foreach(lc, ((TruncateStmt *) parsetree)->relations)
	{
		Oid			relid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
		char		which;

		if (OidIsValid(relid) && (which = watched_table(relid)) != 0)
			table_changed(relid, which, true);
	}
}
