/*
 * hooks.c
 *		Every executor and utility hook and every transaction callback of
 *		metrics_ex, in one place.
 *
 * Each hook calls the hook that was installed before it (or the standard
 * function), so extensions loaded before or after us (pg_stat_statements,
 * pgaudit, auto_explain) see every statement.  The modules never install
 * hooks themselves: they export what should happen at these points, and this
 * file decides when.
 *
 * "Statement end" is defined here, once: when ExecutorEnd returns or a
 * utility command finishes, at any nesting level.  The write path closes its
 * state then (buffered rows and rollup deltas become visible to the next
 * statement, even inside a function); NOTIFY batches are sent only at the end
 * of a top-level statement, so that a function recording in a loop sends a
 * few batches, not one per call.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "tcop/utility.h"

#include "hooks.h"
#include "maintenance/scheduler.h"
#include "maintenance/watermark.h"
#include "write/catalog.h"
#include "write/catalog_watch.h"
#include "write/copy.h"
#include "write/experiments.h"
#include "write/notify.h"
#include "write/series.h"
#include "write/storage.h"

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static bool installed = false;

/* executor runs and utility commands in progress (see hooks.h) */
static int	nesting = 0;

int
hooks_nesting_level(void)
{
	return nesting;
}

static void
statement_end(void)
{
	/* the catalog's own statements in the middle of a write are not its end */
	if (series_catalog_statement())
		return;
	storage_statement_end(nesting);
	if (nesting == 0)
		notify_statement_end();
}

static void
mx_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
			   bool execute_once)
{
	nesting++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting--;
	}
	PG_END_TRY();
}

static void
mx_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting--;
	}
	PG_END_TRY();
}

static void
mx_ExecutorEnd(QueryDesc *queryDesc)
{
	/* run and finished (cascades included): did it change our catalog? */
	catalog_watch_executor_end(queryDesc);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	statement_end();
}

static void
mx_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	/* DDL must not find our partitions held open (DROP, TRUNCATE) */
	storage_before_utility();
	/* DROP, RENAME or copy of a database: its scheduler steps aside first */
	scheduler_before_utility(parsetree);

	nesting++;
	PG_TRY();
	{
		/*
		 * The COPY fast path replaces what standard_ProcessUtility would do,
		 * so it runs only when no other hook is below us: every hook above
		 * has seen the statement by now, and one below would not.
		 */
		if (prev_ProcessUtility == NULL &&
			copy_fast_path(pstmt, queryString, queryEnv, qc))
			 /* done */ ;
		else if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		nesting--;
		scheduler_after_utility(parsetree);
	}
	PG_END_TRY();
	catalog_watch_utility(parsetree);
	statement_end();
}

static void
mx_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			/* rows first: the counts and notifications describe them */
			storage_pre_commit();
			experiments_pre_commit();
			notify_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			catalog_pre_prepare();
			storage_pre_commit();
			experiments_pre_commit();
			/* PREPARE TRANSACTION cannot carry notifications */
			notify_discard();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			watermark_xact_end();
			catalog_xact_end(false);
			experiments_xact_end();
			scheduler_xact_end(event == XACT_EVENT_COMMIT);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			nesting = 0;
			watermark_xact_end();
			storage_xact_abort();
			catalog_xact_end(true);
			experiments_xact_end();
			notify_discard();
			scheduler_xact_end(false);
			break;
	}
}

static void
mx_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			notify_pre_commit();
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			storage_subxact_abort(mySubid);
			catalog_subxact_abort();
			notify_discard();
			break;
		default:
			break;
	}
}

void
hooks_install(void)
{
	if (installed)
		return;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = mx_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = mx_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = mx_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = mx_ProcessUtility;
	RegisterXactCallback(mx_xact_callback, NULL);
	RegisterSubXactCallback(mx_subxact_callback, NULL);
	installed = true;
}
