/*
 * alert_eval.c
 *		evaluate_alerts(at): every due alert rule, as of at.
 *
 * Each rule is evaluated in its own subtransaction, in two steps:
 *   1. its data, read as the rule's owner (run_as_role(), see
 *      alert_data.c), never as the caller or the extension's owner: the
 *      label sets for which its condition holds, with their values;
 *   2. the state machine, metrics_ex._alert_apply(), run as the extension's
 *      owner: it writes alert_state and alert_log and queues the NOTIFYs.
 * An error anywhere rolls the subtransaction back, so the rule's alerts stay
 * exactly as they were (no flapping), and is recorded on the rule; the next
 * rule goes on.  A cancel is not an error of the rule: it stops everything.
 * Threshold rules that can share one query (alert_data.c) read it once, in
 * a subtransaction of its own, when the first of them is evaluated.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "maintenance/alerts.h"
#include "maintenance/run_as.h"
#include "write/catalog.h"

PG_FUNCTION_INFO_V1(metrics_ex_evaluate_alerts);

/*
 * The due rules with what batching needs: the tags filter's keys (sorted)
 * and values as text, the batch's group_by, and a key equal for the rules
 * that can share a query: threshold rules of one owner, metric,
 * aggregation, span, group_by and filter keys, none of them a lineage id.
 */
static const char *const due_sql =
"SELECT d.*, f.keys AS filter_keys, f.vals AS filter_values,"
"       EXISTS (SELECT 1 FROM metrics_ex.alert_state s WHERE s.rule_id = d.id) AS has_state,"
"       d.group_by || ARRAY(SELECT k FROM unnest(f.keys) k WHERE k <> ALL (d.group_by)) AS batch_group_by,"
"       ARRAY(SELECT k FROM unnest(f.keys) k WHERE k <> ALL (d.group_by)) AS batch_drop,"
"       CASE WHEN d.kind = 'threshold' AND NOT (d.group_by && l.ids) AND NOT (f.keys && l.ids)"
"            THEN jsonb_build_array(d.owner::oid, d.metric, d.aggregation, d.span, d.group_by, f.keys)::text"
"       END AS batch_key"
"  FROM metrics_ex._alerts_due($1, $2) d,"
"       (SELECT '{work_id,trace_id,plan_id,step_id}'::text[] AS ids) l,"
"       LATERAL (SELECT coalesce(array_agg(e.key ORDER BY e.key), '{}') AS keys,"
"                       coalesce(array_agg(e.value #>> '{}' ORDER BY e.key), '{}') AS vals"
"                  FROM jsonb_each(d.tags) e WHERE jsonb_typeof(e.value) <> 'null') f"
" ORDER BY d.name";

static Datum
copy_column(HeapTuple tup, TupleDesc desc, const char *name, bool *isnull)
{
	int			col = SPI_fnumber(desc, name);
	Form_pg_attribute att;
	Datum		d;

	if (col <= 0)
		elog(ERROR, "metrics_ex: the due alert rules have no column %s", name);
	att = TupleDescAttr(desc, col - 1);
	d = SPI_getbinval(tup, desc, col, isnull);
	return *isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
}

static char *
text_column(HeapTuple tup, TupleDesc desc, const char *name)
{
	bool		isnull;
	Datum		d = copy_column(tup, desc, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * The due rules of the roles whose privileges the caller has, locked, in
 * name order (history past its 7 days goes first).
 */
static List *
due_rules(TimestampTz at, MemoryContext cxt)
{
	static const char *const arg_columns[ALERT_DATA_NARGS] = {
		"metric", "aggregation", "group_by", "tags", NULL, "span", "baseline_windows", "sigmas"
	};
	OwnerContext oc;
	Oid			argtypes[2] = {TIMESTAMPTZOID, OIDOID};
	Datum		args[2];
	List	   *rules = NIL;

	args[0] = TimestampTzGetDatum(at);
	args[1] = ObjectIdGetDatum(GetUserId());
	owner_begin(&oc);
	if (SPI_execute_with_args(due_sql, 2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not read the due alert rules");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		AlertRule  *r = palloc0(sizeof(AlertRule));
		bool		isnull;
		Datum		d;

		r->id = DatumGetInt64(copy_column(tup, desc, "id", &isnull));
		r->name = text_column(tup, desc, "name");
		r->owner = DatumGetObjectId(copy_column(tup, desc, "owner", &isnull));
		r->kind = text_column(tup, desc, "kind");
		r->op = text_column(tup, desc, "op");
		d = copy_column(tup, desc, "threshold", &isnull);
		r->threshold = isnull ? 0 : DatumGetFloat8(d);
		r->sql = text_column(tup, desc, "sql");
		r->has_state = DatumGetBool(copy_column(tup, desc, "has_state", &isnull));
		for (int a = 0; a < ALERT_DATA_NARGS; a++)
		{
			r->nulls[a] = 'n';
			if (arg_columns[a] == NULL)
				continue;
			r->args[a] = copy_column(tup, desc, arg_columns[a], &isnull);
			r->nulls[a] = isnull ? 'n' : ' ';
		}
		r->args[4] = TimestampTzGetDatum(at);
		r->nulls[4] = ' ';
		r->grouped = ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(r->args[2])),
									ARR_DIMS(DatumGetArrayTypeP(r->args[2]))) > 0;
		r->batch_key = text_column(tup, desc, "batch_key");
		r->batch_group_by = copy_column(tup, desc, "batch_group_by", &isnull);
		r->batch_drop = copy_column(tup, desc, "batch_drop", &isnull);
		r->filter_keys = copy_column(tup, desc, "filter_keys", &isnull);
		r->filter_values = copy_column(tup, desc, "filter_values", &isnull);
		rules = lappend(rules, r);
		MemoryContextSwitchTo(old);
	}
	owner_end(&oc);
	return rules;
}

static float8
ms_since(TimestampTz start)
{
	return (float8) (GetCurrentTimestamp() - start) / 1000.0;
}

/*
 * fn(arg) in a subtransaction: NULL, or the message of its error (in cxt)
 * after rolling it back.  A cancel or shutdown is re-raised.
 */
static char *
run_guarded(void (*fn) (void *), void *arg, MemoryContext cxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		error = edata->message;
	}
	PG_END_TRY();
	return error;
}

typedef struct BatchStep
{
	AlertBatch *batch;
} BatchStep;

static void
batch_step(void *arg)
{
	AlertBatch *b = ((BatchStep *) arg)->batch;

	run_as_role(alert_batch_owner(b), alert_batch_data, b);
}

/* One rule's evaluation; its transitions are copied into cxt. */
typedef struct RuleStep
{
	RuleData	rd;
	TimestampTz at;
	TimestampTz start;
	float8		batch_ms;
	MemoryContext cxt;
	bool		quiet;			/* nothing holds, nothing was pending or firing */
	int			nrows;
	HeapTuple  *rows;
	TupleDesc	desc;
} RuleStep;

/*
 * The rules of this call that were quiet: nothing to apply but the
 * bookkeeping, done for all of them at the end in one statement.
 */
typedef struct QuietRules
{
	MemoryContext cxt;
	int			n;
	int			max;
	Datum	   *ids;
	Datum	   *ms;
} QuietRules;

static void
add_quiet(QuietRules *q, int64 id, float8 ms)
{
	if (q->n == q->max)
	{
		q->max = q->max == 0 ? 64 : q->max * 2;
		q->ids = q->ids == NULL ? MemoryContextAlloc(q->cxt, q->max * sizeof(Datum)) :
			repalloc(q->ids, q->max * sizeof(Datum));
		q->ms = q->ms == NULL ? MemoryContextAlloc(q->cxt, q->max * sizeof(Datum)) :
			repalloc(q->ms, q->max * sizeof(Datum));
	}
	q->ids[q->n] = Int64GetDatum(id);
	q->ms[q->n] = Float8GetDatum(ms);
	q->n++;
}

/* The bookkeeping of the quiet rules: evaluated at at, healthy. */
static void
finish_quiet(QuietRules *q, TimestampTz at)
{
	OwnerContext oc;
	Oid			argtypes[3] = {INT8ARRAYOID, TIMESTAMPTZOID, FLOAT8ARRAYOID};
	Datum		args[3];

	if (q->n == 0)
		return;
	args[0] = PointerGetDatum(construct_array(q->ids, q->n, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = TimestampTzGetDatum(at);
	args[2] = PointerGetDatum(construct_array(q->ms, q->n, FLOAT8OID, sizeof(float8),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT metrics_ex._alerts_evaluated($1, $2, $3)",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not record the evaluation of alert rules");
	owner_end(&oc);
}

static void
rule_step(void *arg)
{
	RuleStep   *st = arg;
	AlertRule  *r = st->rd.rule;
	OwnerContext oc;
	Oid			argtypes[5] = {INT8OID, TIMESTAMPTZOID, JSONBARRAYOID, FLOAT8ARRAYOID, FLOAT8OID};
	Datum		args[5];
	Datum	   *vals;
	MemoryContext old;

	if (r->batch == NULL || !alert_rule_from_batch(&st->rd))
		run_as_role(r->owner, alert_rule_data, &st->rd);
	if (st->rd.n == 0 && !r->has_state)
	{
		st->quiet = true;		/* the usual case: nothing to change */
		return;
	}

	args[0] = Int64GetDatum(r->id);
	args[1] = TimestampTzGetDatum(st->at);
	args[2] = PointerGetDatum(construct_array(st->rd.labels, st->rd.n, JSONBOID, -1, false, TYPALIGN_INT));
	vals = palloc(Max(st->rd.n, 1) * sizeof(Datum));
	for (int i = 0; i < st->rd.n; i++)
		vals[i] = Float8GetDatum(st->rd.values[i]);
	args[3] = PointerGetDatum(construct_array(vals, st->rd.n, FLOAT8OID,
											  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = Float8GetDatum(ms_since(st->start) + st->batch_ms);

	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT alert, labels, from_state, to_state, value "
							  "FROM metrics_ex._alert_apply($1, $2, $3, $4, $5)",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not apply alert rule \"%s\"", r->name);
	old = MemoryContextSwitchTo(st->cxt);
	st->nrows = (int) SPI_processed;
	st->rows = palloc(Max(st->nrows, 1) * sizeof(HeapTuple));
	for (int i = 0; i < st->nrows; i++)
		st->rows[i] = heap_copytuple(SPI_tuptable->vals[i]);
	st->desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	MemoryContextSwitchTo(old);
	owner_end(&oc);
}

/* The error of one evaluation, recorded on the rule; its alerts stay. */
static void
record_failure(AlertRule *r, TimestampTz at, const char *message, float8 ms)
{
	OwnerContext oc;
	Oid			argtypes[4] = {INT8OID, TIMESTAMPTZOID, TEXTOID, FLOAT8OID};
	Datum		args[4];

	args[0] = Int64GetDatum(r->id);
	args[1] = TimestampTzGetDatum(at);
	args[2] = CStringGetTextDatum(message);
	args[3] = Float8GetDatum(ms);
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT metrics_ex._alert_failed($1, $2, $3, $4)",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not record the error of alert rule \"%s\"", r->name);
	owner_end(&oc);
}

static void
evaluate_rule(AlertRule *r, TimestampTz at, MemoryContext cxt, ReturnSetInfo *rsinfo,
			  QuietRules *quiet)
{
	RuleStep	st;
	const char *error;

	memset(&st, 0, sizeof(st));
	st.rd.rule = r;
	st.rd.cxt = cxt;
	st.at = at;
	st.cxt = cxt;
	if (r->batch != NULL)
	{
		if (!alert_batch_done(r->batch))
		{
			BatchStep	bs = {r->batch};
			TimestampTz start = GetCurrentTimestamp();
			char	   *batch_error = run_guarded(batch_step, &bs, cxt);

			alert_batch_finish(r->batch, batch_error, ms_since(start));
		}
		error = alert_batch_error(r->batch, &st.batch_ms);
		if (error != NULL)
		{
			record_failure(r, at, error, st.batch_ms);
			return;
		}
	}
	st.start = GetCurrentTimestamp();
	error = run_guarded(rule_step, &st, cxt);
	if (error != NULL)
	{
		record_failure(r, at, error, ms_since(st.start) + st.batch_ms);
		return;
	}
	if (st.quiet)
	{
		add_quiet(quiet, r->id, ms_since(st.start) + st.batch_ms);
		return;
	}
	for (int i = 0; i < st.nrows; i++)
	{
		Datum		values[5];
		bool		nulls[5];

		heap_deform_tuple(st.rows[i], st.desc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * evaluate_alerts(at timestamptz DEFAULT now()) RETURNS TABLE (alert,
 * labels, from_state, to_state, value): every due rule of the roles whose
 * privileges the caller has (a superuser: every rule), as of at, each at
 * most once per its every.
 */
Datum
metrics_ex_evaluate_alerts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at;
	MemoryContext cxt;
	MemoryContext rule_cxt;
	List	   *rules;
	ListCell   *lc;
	QuietRules	quiet;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at must not be NULL"),
				 errhint("Omit it to evaluate as of now().")));
	at = PG_GETARG_TIMESTAMPTZ(0);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at must be a finite time")));
	PreventCommandIfParallelMode("evaluating alert rules");
	alert_check_manager("evaluate alert rules");
	InitMaterializedSRF(fcinfo, 0);

	/* rules and batches live in cxt, one rule's work in rule_cxt */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex alert rules",
								ALLOCSET_DEFAULT_SIZES);
	rule_cxt = AllocSetContextCreate(cxt, "metrics_ex alert rule", ALLOCSET_DEFAULT_SIZES);
	rules = due_rules(at, cxt);
	alert_make_batches(rules, cxt);
	memset(&quiet, 0, sizeof(quiet));
	quiet.cxt = cxt;
	foreach(lc, rules)
	{
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rule_cxt);
		evaluate_rule((AlertRule *) lfirst(lc), at, rule_cxt, rsinfo, &quiet);
	}
	finish_quiet(&quiet, at);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
