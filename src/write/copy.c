/*
 * copy.c
 *		COPY metrics_ex.ingest FROM ...: a fast path that skips the view's
 *		row trigger.
 *
 * COPY into a view calls its INSTEAD OF trigger once per row, which forms a
 * tuple, calls the trigger through fmgr and inserts rows one at a time.  For
 * bulk loads (the common way metrics arrive in volume) this hook runs the
 * COPY itself: PostgreSQL's own parser reads the rows (every COPY option and
 * format works), each row goes through the same ingest_row() as the trigger,
 * and samples are written with multi-inserts.  It applies only when the
 * library is loaded before the COPY starts (shared_preload_libraries, or an
 * earlier call in the session); otherwise the trigger does the same work,
 * more slowly.  Anything unusual (a WHERE clause, other triggers on the view,
 * column-level grants) takes the standard path.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/copy.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "copy.h"
#include "ingest.h"
#include "metrics_ex.h"
#include "storage.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Is this a COPY FROM that the fast path should run?  Returns the view. */
static Oid
fast_copy_target(CopyStmt *stmt)
{
	Oid			nsp;
	Oid			ingest;
	Oid			target;

	if (!stmt->is_from || stmt->relation == NULL || stmt->query != NULL ||
		stmt->whereClause != NULL)
		return InvalidOid;
	nsp = get_namespace_oid(METRICS_EX_SCHEMA, true);
	if (!OidIsValid(nsp))
		return InvalidOid;
	ingest = get_relname_relid("ingest", nsp);
	if (!OidIsValid(ingest))
		return InvalidOid;
	target = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (target != ingest)
		return InvalidOid;
	/* column-level grants and the like: let DoCopy check and report */
	if (pg_class_aclcheck(ingest, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		return InvalidOid;
	return ingest;
}

static uint64
run_fast_copy(ParseState *pstate, CopyStmt *stmt, Oid relid)
{
	Relation	rel;
	CopyFromState cstate;
	EState	   *estate;
	ExprContext *econtext;
	ErrorContextCallback errcallback;
	Datum		values[INGEST_NATTS];
	bool		nulls[INGEST_NATTS];
	uint64		processed = 0;
	MemoryContext oldcxt = CurrentMemoryContext;

	/* the checks DoCopy makes for COPY FROM a file or program */
	if (stmt->filename != NULL)
	{
		if (stmt->is_program &&
			!has_privs_of_role(GetUserId(), ROLE_PG_EXECUTE_SERVER_PROGRAM))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program")));
		if (!stmt->is_program &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be superuser or have privileges of the pg_read_server_files role to COPY from a file")));
	}
	PreventCommandIfReadOnly("COPY FROM");
	PreventCommandIfParallelMode("COPY FROM");

	rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(rel)->natts != INGEST_NATTS ||
		rel->trigdesc == NULL || rel->trigdesc->numtriggers != 1)
	{
		/* someone changed the view: not ours to shortcut */
		table_close(rel, RowExclusiveLock);
		return UINT64_MAX;
	}

	cstate = BeginCopyFrom(pstate, rel, NULL, stmt->filename, stmt->is_program,
						   NULL, stmt->attlist, stmt->options);
	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);

	errcallback.callback = CopyFromErrorCallback;
	errcallback.arg = (void *) cstate;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	storage_begin_bulk();
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		if (!NextCopyFrom(cstate, econtext, values, nulls))
			break;
		ingest_row(values, nulls);
		processed++;
	}
	MemoryContextSwitchTo(oldcxt);
	storage_end_bulk();

	error_context_stack = errcallback.previous;
	EndCopyFrom(cstate);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	return processed;
}

static void
copy_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			relid;

	if (IsA(parsetree, CopyStmt) && IsTransactionState() &&
		OidIsValid(relid = fast_copy_target((CopyStmt *) parsetree)))
	{
		ParseState *pstate = make_parsestate(NULL);
		uint64		processed;

		pstate->p_sourcetext = queryString;
		pstate->p_queryEnv = queryEnv;
		processed = run_fast_copy(pstate, (CopyStmt *) parsetree, relid);
		free_parsestate(pstate);
		if (processed != UINT64_MAX)
		{
			if (qc)
				SetQueryCompletion(qc, CMDTAG_COPY, processed);
			return;
		}
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

void
copy_install_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = copy_ProcessUtility;
}
