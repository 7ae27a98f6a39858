/*
 * copy.c
 *		COPY metrics_ex.ingest FROM ...: a fast path that skips the view's
 *		row trigger.
 *
 * COPY into a view calls its INSTEAD OF trigger once per row, which forms a
 * tuple, calls the trigger through fmgr and deforms it again.  For bulk
 * loads (the common way metrics arrive in volume) hooks.c lets this file run
 * the COPY itself: PostgreSQL's own parser reads the rows (every COPY option
 * and format works), each row goes through the same ingest_row() as the
 * trigger, and samples are written with multi-inserts.
 *
 * It replaces standard_ProcessUtility's COPY, so hooks.c uses it only when no
 * other extension's hook sits between us and standard_ProcessUtility; it
 * makes the checks DoCopy makes (ExecCheckRTPerms, which also calls
 * ExecutorCheckPerms_hook for auditing extensions, and column privileges).
 * Anything unusual (a WHERE clause, triggers on the view that are not ours)
 * takes the standard path, which gives the same result more slowly.
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
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hooks.h"
#include "copy.h"
#include "ingest.h"
#include "metrics_ex.h"
#include "storage.h"


/* Is this a COPY FROM that the fast path should run?  Returns the view. */
static Oid
fast_copy_target(CopyStmt *stmt)
{
	Oid			nsp;
	Oid			ingest;

	if (!stmt->is_from || stmt->relation == NULL || stmt->query != NULL ||
		stmt->whereClause != NULL)
		return InvalidOid;
	nsp = get_namespace_oid(METRICS_EX_SCHEMA, true);
	if (!OidIsValid(nsp))
		return InvalidOid;
	ingest = get_relname_relid("ingest", nsp);
	if (!OidIsValid(ingest) || RangeVarGetRelid(stmt->relation, NoLock, true) != ingest)
		return InvalidOid;
	return ingest;
}

/* Does the view have our triggers and no others? */
static bool
only_our_triggers(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	Oid			nsp = get_namespace_oid(METRICS_EX_SCHEMA, false);

	if (td == NULL)
		return false;
	for (int i = 0; i < td->numtriggers; i++)
	{
		Oid			fn = td->triggers[i].tgfoid;
		char	   *name = get_func_name(fn);

		if (get_func_namespace(fn) != nsp || name == NULL ||
			(strcmp(name, "_ingest_trigger") != 0 && strcmp(name, "_ingest_statement") != 0))
			return false;
	}
	return true;
}

/*
 * The permission checks of DoCopy for COPY FROM a relation: server files and
 * programs, then INSERT on the view's columns through ExecCheckRTPerms (which
 * gives ExecutorCheckPerms_hook its say, as for any COPY).
 */
static void
check_copy_permissions(ParseState *pstate, CopyStmt *stmt, Relation rel)
{
	ParseNamespaceItem *nsitem;
	RangeTblEntry *rte;
	ListCell   *lc;

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
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	rte = nsitem->p_rte;
	rte->requiredPerms = ACL_INSERT;
	foreach(lc, CopyGetAttnums(RelationGetDescr(rel), rel, stmt->attlist))
		rte->insertedCols = bms_add_member(rte->insertedCols,
										   lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber);
	ExecCheckRTPerms(pstate->p_rtable, true);
}

/* Run the COPY; UINT64_MAX when the view is not ours to shortcut. */
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

	rel = table_open(relid, RowExclusiveLock);
	if (RelationGetDescr(rel)->natts != INGEST_NATTS || !only_our_triggers(rel))
	{
		/* someone changed the view: not ours to shortcut */
		table_close(rel, RowExclusiveLock);
		return UINT64_MAX;
	}
	check_copy_permissions(pstate, stmt, rel);
	PreventCommandIfReadOnly("COPY FROM");
	PreventCommandIfParallelMode("COPY FROM");

	cstate = BeginCopyFrom(pstate, rel, NULL, stmt->filename, stmt->is_program,
						   NULL, stmt->attlist, stmt->options);
	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);

	errcallback.callback = CopyFromErrorCallback;
	errcallback.arg = (void *) cstate;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	storage_begin_bulk(hooks_nesting_level() - 1);
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

bool
copy_fast_path(PlannedStmt *pstmt, const char *queryString,
			   QueryEnvironment *queryEnv, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	ParseState *pstate;
	Oid			relid;
	uint64		processed;

	if (!IsA(parsetree, CopyStmt) || !IsTransactionState() ||
		!OidIsValid(relid = fast_copy_target((CopyStmt *) parsetree)))
		return false;

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = queryString;
	pstate->p_queryEnv = queryEnv;
	processed = run_fast_copy(pstate, (CopyStmt *) parsetree, relid);
	free_parsestate(pstate);
	if (processed == UINT64_MAX)
		return false;
	if (qc)
		SetQueryCompletion(qc, CMDTAG_COPY, processed);
	return true;
}
