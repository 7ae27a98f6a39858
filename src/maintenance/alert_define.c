/*
 * alert_define.c
 *		The alert definition calls: add_alert, alter_alert, remove_alert,
 *		silence and unsilence.
 *
 * A rule runs as its owner, so its owner must be the role that really called
 * add_alert(): a SQL function cannot know that (inside SECURITY DEFINER,
 * current_user is the definer), so these calls are C.  Each takes the
 * calling role from GetUserId(), never from an argument, then runs one fixed
 * statement as the extension's owner, metrics_ex._alert_define(caller, ...)
 * and the like, which checks the arguments and the caller's right to change
 * the rule and writes the tables.  Those functions are executable by the
 * extension's owner only.
 *
 * The sql of a rule is parsed here, as the caller, so that a query that can
 * never be evaluated is refused at once; it is only ever executed by
 * evaluate_alerts(), as the rule's owner.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

#include "maintenance/alerts.h"
#include "maintenance/run_as.h"
#include "metrics_ex.h"
#include "write/catalog.h"

PG_FUNCTION_INFO_V1(metrics_ex_alert_api);

typedef struct AlertCall
{
	const char *proname;		/* the SQL function */
	const char *inner;			/* metrics_ex.<inner>(caller, arguments...) */
	int			sql_arg;		/* argument holding a rule's sql, or -1 */
} AlertCall;

static const AlertCall alert_calls[] = {
	{"add_alert", "_alert_define($1, false", 14},
	{"alter_alert", "_alert_define($1, true", 14},
	{"remove_alert", "_alert_remove($1", -1},
	{"silence", "_alert_silence($1", -1},
	{"unsilence", "_alert_unsilence($1", -1},
};

void
alert_check_manager(const char *what)
{
	Oid			nsp = get_namespace_oid(METRICS_EX_SCHEMA, false);
	Oid			ingest = get_relname_relid("ingest", nsp);

	if (!OidIsValid(ingest))
		elog(ERROR, "metrics_ex: relation metrics_ex.ingest is missing");
	if (pg_class_aclcheck(ingest, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errhint("Alerting needs INSERT on metrics_ex.ingest, as experiments do: GRANT INSERT ON metrics_ex.ingest TO the role.")));
	/* the same check again, and it makes the tables' owner known */
	catalog_begin_write();
}

void
alert_check_sql_result(TupleDesc desc)
{
	Oid			labels_type;
	Oid			value_type;

	if (desc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the sql of an alert rule must return two columns (labels jsonb, value float8), not %d",
						desc->natts),
				 errhint("For example: SELECT jsonb_build_object('route', route) AS labels, errors / requests AS value FROM ...")));
	labels_type = TupleDescAttr(desc, 0)->atttypid;
	value_type = TupleDescAttr(desc, 1)->atttypid;
	if (labels_type != JSONBOID && labels_type != JSONOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the first column of an alert rule's sql must be jsonb (the labels), not %s",
						format_type_be(labels_type))));
	if (value_type != FLOAT8OID && value_type != FLOAT4OID && value_type != NUMERICOID &&
		value_type != INT2OID && value_type != INT4OID && value_type != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the second column of an alert rule's sql must be a number (the value), not %s",
						format_type_be(value_type))));
}

static void
sql_arg_context(void *arg)
{
	errcontext("sql argument of the alert rule");
}

/* Parse (never run) a rule's sql: one SELECT with the right columns. */
static void
check_sql_body(void *arg)
{
	const char *sql = arg;
	SPIPlanPtr	plan;
	List	   *sources;
	CachedPlanSource *ps;
	ErrorContextCallback errcb;

	errcb.callback = sql_arg_context;
	errcb.arg = NULL;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(sql, 1, (Oid[]) {TIMESTAMPTZOID});	/* $1: the evaluation time */
	if (plan == NULL)
		elog(ERROR, "metrics_ex: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	ps = list_length(sources) == 1 ? (CachedPlanSource *) linitial(sources) : NULL;
	if (ps == NULL || ps->commandTag != CMDTAG_SELECT || ps->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the sql of an alert rule must be one SELECT"),
				 errhint("It returns (labels jsonb, value float8) and changes nothing.")));
	alert_check_sql_result(ps->resultDesc);
	SPI_finish();

	error_context_stack = errcb.previous;
}

/*
 * add_alert(...), alter_alert(...), remove_alert(name), silence(...),
 * unsilence(id): one C function for all five, told apart by the name of the
 * SQL function that called it.
 */
Datum
metrics_ex_alert_api(PG_FUNCTION_ARGS)
{
	HeapTuple	proctup;
	Form_pg_proc proc;
	const AlertCall *call = NULL;
	int			nargs;
	Oid			rettype;
	Oid		   *argtypes;
	Datum	   *args;
	char	   *nulls;
	StringInfoData sql;
	OwnerContext oc;
	Oid			caller;
	Datum		result = (Datum) 0;
	bool		isnull = true;
	MemoryContext caller_cxt = CurrentMemoryContext;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(proctup);
	if (proc->pronamespace == get_namespace_oid(METRICS_EX_SCHEMA, false))
		for (int i = 0; i < (int) lengthof(alert_calls); i++)
			if (strcmp(NameStr(proc->proname), alert_calls[i].proname) == 0)
				call = &alert_calls[i];
	if (call == NULL)
		elog(ERROR, "metrics_ex_alert_api called from an unexpected function");
	nargs = proc->pronargs;
	rettype = proc->prorettype;
	argtypes = palloc((nargs + 1) * sizeof(Oid));
	argtypes[0] = OIDOID;
	memcpy(argtypes + 1, proc->proargtypes.values, nargs * sizeof(Oid));
	ReleaseSysCache(proctup);

	alert_check_manager(strcmp(call->proname, "silence") == 0 ||
						strcmp(call->proname, "unsilence") == 0 ?
						"manage silences" : "manage alert rules");
	caller = GetUserId();
	if (call->sql_arg >= 0 && call->sql_arg < nargs && !PG_ARGISNULL(call->sql_arg))
		run_as_role(caller, check_sql_body,
					text_to_cstring(PG_GETARG_TEXT_PP(call->sql_arg)));

	args = palloc((nargs + 1) * sizeof(Datum));
	nulls = palloc(nargs + 1);
	args[0] = ObjectIdGetDatum(caller);
	nulls[0] = ' ';
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT metrics_ex.%s", call->inner);
	for (int i = 0; i < nargs; i++)
	{
		args[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
		appendStringInfo(&sql, ", $%d", i + 2);
	}
	appendStringInfoChar(&sql, ')');

	owner_begin(&oc);
	if (SPI_execute_with_args(sql.data, nargs + 1, argtypes, args, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "metrics_ex: %s failed", call->proname);
	if (rettype != VOIDOID)
	{
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			int16		typlen;
			bool		typbyval;
			MemoryContext old = MemoryContextSwitchTo(caller_cxt);

			get_typlenbyval(rettype, &typlen, &typbyval);
			result = datumCopy(result, typbyval, typlen);
			MemoryContextSwitchTo(old);
		}
	}
	owner_end(&oc);

	if (rettype == VOIDOID)
		PG_RETURN_VOID();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
