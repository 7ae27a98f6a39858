/*
 * alert_eval.c
 *		evaluate_alerts(at): every due alert rule, as of at.
 *
 * Each rule is evaluated in its own subtransaction, in three steps:
 *   1. its data, read as the rule's owner (run_as_role(), a security-
 *      restricted operation): query() for a threshold rule; query() over
 *      the current span and baseline_windows spans before it for an anomaly
 *      rule; the series catalog and query() for an absent rule; the owner's
 *      own sql for an sql rule.  Never as the caller, never as the
 *      extension's owner, so a rule reads only what its owner may read.
 *   2. the label sets for which the condition holds (value op threshold is
 *      compared here, with Prometheus' NaN rules);
 *   3. the state machine, metrics_ex._alert_apply(), run as the extension's
 *      owner: it writes alert_state and alert_log and queues the NOTIFYs.
 * An error anywhere rolls the subtransaction back, so the rule's alerts stay
 * exactly as they were (no flapping), and is recorded on the rule; the next
 * rule goes on.  A cancel is not an error of the rule: it stops everything.
 */
#include "postgres.h"

#include <math.h>

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
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "maintenance/alerts.h"
#include "maintenance/run_as.h"
#include "write/catalog.h"

PG_FUNCTION_INFO_V1(metrics_ex_evaluate_alerts);

/*
 * The data queries of the built-in kinds.  Parameters: $1 metric, $2
 * aggregation, $3 group_by, $4 tags, $5 at, $6 span, $7 baseline_windows,
 * $8 sigmas.  Columns: labels, value, holds (NULL: compare value with op
 * and threshold).  They run with search_path = pg_catalog, pg_temp, so no
 * operator or function of the owner's schemas can stand in for ours.
 */
static const char *const threshold_sql =
"SELECT q.labels, q.value, NULL::bool "
"  FROM metrics_ex.query($1, $2, $3, $4, since => $5 - $6, until => $5) q";

/*
 * Robust z-score of the current span against the baseline_windows spans
 * before it: (x - median) / (1.4826 MAD).  When more than half the baseline
 * is one value (MAD 0) the mean absolute deviation stands in (1.2533 MeanAD,
 * Iglewicz and Hoaglin); a perfectly flat baseline makes any other value an
 * anomaly.  A group needs values in at least half the baseline windows (and
 * 3) before it can fire.
 */
static const char *const anomaly_sql =
"WITH w AS ("
"    SELECT k, q.labels, q.value"
"      FROM generate_series(0, $7) k,"
"           LATERAL metrics_ex.query($1, $2, $3, $4, since => $5 - (k + 1) * $6, until => $5 - k * $6) q"
"     WHERE q.value IS NOT NULL AND q.value <> 'NaN'::float8"
"), b AS ("
"    SELECT w.labels, percentile_cont(0.5) WITHIN GROUP (ORDER BY w.value) AS med, count(*) AS n"
"      FROM w WHERE w.k > 0 GROUP BY w.labels"
"), d AS ("
"    SELECT b.labels, b.med, b.n,"
"           percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(w.value - b.med)) AS mad,"
"           avg(abs(w.value - b.med)) AS meanad"
"      FROM b JOIN w ON w.labels = b.labels AND w.k > 0"
"     GROUP BY b.labels, b.med, b.n"
")"
"SELECT c.labels, c.value,"
"       d.n >= greatest(3, ceil($7 / 2.0)) AND"
"       abs(CASE WHEN d.mad > 0 THEN (c.value - d.med) / (1.4826 * d.mad)"
"                WHEN d.meanad > 0 THEN (c.value - d.med) / (1.2533 * d.meanad)"
"                WHEN c.value = d.med THEN 0"
"                ELSE 'Infinity'::float8 END) > $8"
"  FROM w c JOIN d ON d.labels = c.labels"
" WHERE c.k = 0";

/*
 * Absent: each group of the metric's series (matching tags) without a
 * sample in the span; without group_by, or when no series matches, the
 * metric itself.
 */
static const char *const absent_sql =
"WITH f AS ("
"    SELECT jsonb_object_agg(e.key, e.value #>> '{}') AS tags"
"      FROM jsonb_each($4) e WHERE jsonb_typeof(e.value) <> 'null'"
"), known AS ("
"    SELECT DISTINCT (SELECT jsonb_object_agg(g, s.tags -> g) FROM unnest($3) g) AS labels"
"      FROM metrics_ex.series s"
"      JOIN metrics_ex.metrics m ON m.id = s.metric_id AND m.name = $1, f"
"     WHERE cardinality($3) > 0 AND (f.tags IS NULL OR s.tags @> f.tags)"
"), present AS ("
"    SELECT q.labels FROM metrics_ex.query($1, 'count', $3, $4, since => $5 - $6, until => $5) q"
"     WHERE q.value > 0"
")"
"SELECT k.labels, 1::float8, true FROM known k"
" WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.labels = k.labels)"
" UNION ALL "
"SELECT '{}'::jsonb, 1::float8, true"
" WHERE NOT EXISTS (SELECT 1 FROM known) AND NOT EXISTS (SELECT 1 FROM present)";

#define DATA_NARGS 8
static const Oid data_argtypes[DATA_NARGS] = {
	TEXTOID, TEXTOID, TEXTARRAYOID, JSONBOID, TIMESTAMPTZOID, INTERVALOID, INT4OID, FLOAT8OID
};

typedef struct AlertRule
{
	int64		id;
	char	   *name;
	Oid			owner;
	char	   *kind;
	char	   *op;
	bool		has_threshold;
	float8		threshold;
	char	   *sql;
	Datum		args[DATA_NARGS];	/* of the data queries, $5 (at) set later */
	char		nulls[DATA_NARGS];
} AlertRule;

/* Step 1's work area: the label sets that hold and their values. */
typedef struct RuleData
{
	AlertRule  *rule;
	MemoryContext cxt;
	int			n;
	int			max;
	Datum	   *labels;
	float8	   *values;
} RuleData;

static Datum
copy_column(HeapTuple tup, TupleDesc desc, const char *name, bool *isnull)
{
	int			col = SPI_fnumber(desc, name);
	Form_pg_attribute att;
	Datum		d;

	if (col <= 0)
		elog(ERROR, "metrics_ex: alert_defs has no column %s", name);
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
 * name order; history past its 7 days goes first.
 */
static List *
due_rules(TimestampTz at, MemoryContext cxt)
{
	static const char *const arg_columns[DATA_NARGS] = {
		"metric", "aggregation", "group_by", "tags", NULL, "span", "baseline_windows", "sigmas"
	};
	OwnerContext oc;
	Oid			argtypes[2] = {TIMESTAMPTZOID, OIDOID};
	Datum		args[2];
	List	   *rules = NIL;

	args[0] = TimestampTzGetDatum(at);
	args[1] = ObjectIdGetDatum(GetUserId());
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT * FROM metrics_ex._alerts_due($1, $2)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
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
		r->has_threshold = !isnull;
		r->threshold = isnull ? 0 : DatumGetFloat8(d);
		r->sql = text_column(tup, desc, "sql");
		for (int a = 0; a < DATA_NARGS; a++)
		{
			r->nulls[a] = 'n';
			if (arg_columns[a] == NULL)
				continue;
			r->args[a] = copy_column(tup, desc, arg_columns[a], &isnull);
			r->nulls[a] = isnull ? 'n' : ' ';
		}
		r->args[4] = TimestampTzGetDatum(at);
		r->nulls[4] = ' ';
		rules = lappend(rules, r);
		MemoryContextSwitchTo(old);
	}
	owner_end(&oc);
	return rules;
}

/* value op threshold, as PromQL compares: NaN is unequal to everything */
static bool
condition_holds(const char *op, float8 v, float8 t)
{
	if (isnan(v) || isnan(t))
		return strcmp(op, "!=") == 0;
	if (strcmp(op, ">") == 0)
		return v > t;
	if (strcmp(op, ">=") == 0)
		return v >= t;
	if (strcmp(op, "<") == 0)
		return v < t;
	if (strcmp(op, "<=") == 0)
		return v <= t;
	if (strcmp(op, "=") == 0)
		return v == t;
	return v != t;
}

static float8
value_of(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);
	Oid			type = SPI_gettypeid(desc, col);

	if (*isnull)
		return 0;
	if (type == FLOAT8OID)
		return DatumGetFloat8(d);
	/* other numbers of an sql rule, through their text */
	return DatumGetFloat8(DirectFunctionCall1(float8in,
											  CStringGetDatum(SPI_getvalue(tup, desc, col))));
}

/* Step 1, as the rule's owner. */
static void
rule_data_body(void *arg)
{
	RuleData   *rd = arg;
	AlertRule  *r = rd->rule;
	bool		is_sql = strcmp(r->kind, "sql") == 0;
	TupleDesc	desc;
	int			ret;

	/* the owner's sql resolves names in the owner's search_path, ours not */
	if (!is_sql)
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (is_sql)
		ret = SPI_execute(r->sql, true, ALERT_MAX_LABEL_SETS + 1);
	else
	{
		const char *sql = strcmp(r->kind, "anomaly") == 0 ? anomaly_sql :
		strcmp(r->kind, "absent") == 0 ? absent_sql : threshold_sql;

		/* a metric that is gone is an error of the rule, not "no data" */
		if (strcmp(r->kind, "absent") != 0)
		{
			if (SPI_execute_with_args("SELECT 1 FROM metrics_ex.metrics WHERE name = $1",
									  1, (Oid *) data_argtypes, r->args, r->nulls,
									  true, 1) != SPI_OK_SELECT)
				elog(ERROR, "metrics_ex: metric lookup failed");
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("metric \"%s\" does not exist", TextDatumGetCString(r->args[0])),
						 errhint("The metric was dropped or has not been recorded yet; an absent rule fires for a missing metric.")));
		}
		ret = SPI_execute_with_args(sql, DATA_NARGS, (Oid *) data_argtypes, r->args, r->nulls,
									true, ALERT_MAX_LABEL_SETS + 1);
	}
	if (ret != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the sql of alert rule \"%s\" must be a SELECT", r->name)));
	if (SPI_processed > ALERT_MAX_LABEL_SETS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("alert rule \"%s\" has more than %d results", r->name, ALERT_MAX_LABEL_SETS),
				 errhint("Narrow its tags or group_by, or its sql.")));
	desc = SPI_tuptable->tupdesc;
	if (is_sql)
		alert_check_sql_result(desc);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		bool		holds;
		float8		v = value_of(tup, desc, 2, &isnull);
		Datum		labels;
		MemoryContext old;

		if (isnull)
			continue;			/* no value: nothing to compare */
		if (is_sql)
			holds = condition_holds(r->op, v, r->threshold);
		else
		{
			Datum		h = SPI_getbinval(tup, desc, 3, &isnull);

			holds = isnull ? condition_holds(r->op, v, r->threshold) : DatumGetBool(h);
		}
		if (!holds)
			continue;

		labels = SPI_getbinval(tup, desc, 1, &isnull);
		old = MemoryContextSwitchTo(rd->cxt);
		if (isnull)
			labels = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		else if (SPI_gettypeid(desc, 1) == JSONOID)
			labels = DirectFunctionCall1(jsonb_in, CStringGetDatum(SPI_getvalue(tup, desc, 1)));
		else
			labels = datumCopy(labels, false, -1);
		if (rd->n == rd->max)
		{
			rd->max = rd->max == 0 ? 16 : rd->max * 2;
			rd->labels = rd->labels == NULL ? palloc(rd->max * sizeof(Datum)) :
				repalloc(rd->labels, rd->max * sizeof(Datum));
			rd->values = rd->values == NULL ? palloc(rd->max * sizeof(float8)) :
				repalloc(rd->values, rd->max * sizeof(float8));
		}
		rd->labels[rd->n] = labels;
		rd->values[rd->n] = v;
		rd->n++;
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
}

/*
 * Step 3, as the extension's owner; the transitions are copied into cxt
 * and their count returned.
 */
static int
apply_rule(AlertRule *r, TimestampTz at, RuleData *rd, float8 ms,
		   MemoryContext cxt, HeapTuple **rows, TupleDesc *rowdesc)
{
	OwnerContext oc;
	Oid			argtypes[5] = {INT8OID, TIMESTAMPTZOID, JSONBARRAYOID, FLOAT8ARRAYOID, FLOAT8OID};
	Datum		args[5];
	Datum	   *vals;
	int			n;
	MemoryContext old;

	args[0] = Int64GetDatum(r->id);
	args[1] = TimestampTzGetDatum(at);
	args[2] = PointerGetDatum(construct_array(rd->labels, rd->n, JSONBOID, -1, false, TYPALIGN_INT));
	vals = palloc(Max(rd->n, 1) * sizeof(Datum));
	for (int i = 0; i < rd->n; i++)
		vals[i] = Float8GetDatum(rd->values[i]);
	args[3] = PointerGetDatum(construct_array(vals, rd->n, FLOAT8OID,
											  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = Float8GetDatum(ms);

	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT alert, labels, from_state, to_state, value "
							  "FROM metrics_ex._alert_apply($1, $2, $3, $4, $5)",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not apply the alert rule");
	n = (int) SPI_processed;
	old = MemoryContextSwitchTo(cxt);
	*rows = palloc(Max(n, 1) * sizeof(HeapTuple));
	for (int i = 0; i < n; i++)
		(*rows)[i] = heap_copytuple(SPI_tuptable->vals[i]);
	*rowdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	MemoryContextSwitchTo(old);
	owner_end(&oc);
	return n;
}

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

static float8
ms_since(TimestampTz start)
{
	return (float8) (GetCurrentTimestamp() - start) / 1000.0;
}

/* Evaluate one rule; its transitions go into the result. */
static void
evaluate_rule(AlertRule *r, TimestampTz at, MemoryContext cxt, ReturnSetInfo *rsinfo)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	TimestampTz start = GetCurrentTimestamp();
	RuleData	rd;
	HeapTuple  *rows = NULL;
	TupleDesc	rowdesc = NULL;
	int			nrows = 0;

	memset(&rd, 0, sizeof(rd));
	rd.rule = r;
	rd.cxt = cxt;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		run_as_role(r->owner, rule_data_body, &rd);
		nrows = apply_rule(r, at, &rd, ms_since(start), cxt, &rows, &rowdesc);
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
		record_failure(r, at, edata->message, ms_since(start));
		return;
	}
	PG_END_TRY();

	for (int i = 0; i < nrows; i++)
	{
		Datum		values[5];
		bool		nulls[5];

		heap_deform_tuple(rows[i], rowdesc, values, nulls);
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

	cxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex alert rules",
								ALLOCSET_DEFAULT_SIZES);
	rule_cxt = AllocSetContextCreate(cxt, "metrics_ex alert rule", ALLOCSET_DEFAULT_SIZES);
	rules = due_rules(at, cxt);
	foreach(lc, rules)
	{
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rule_cxt);
		evaluate_rule((AlertRule *) lfirst(lc), at, rule_cxt, rsinfo);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
