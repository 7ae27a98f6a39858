/*
 * alert_data.c
 *		The data of alert rules, read as each rule's owner.
 *
 * Everything here runs inside run_as_role(owner) (alert_eval.c calls it
 * so), a security-restricted operation: a rule reads only what its owner
 * may read.  The queries of the built-in kinds run with search_path =
 * pg_catalog, pg_temp, so that no operator or function in a schema of the
 * owner can stand in for ours; the sql of an sql rule keeps the owner's
 * search_path, runs read-only and gets the evaluation time as $1.
 *
 * Batches.  Threshold rules that differ only in the values of their tags
 * filter (same owner, metric, aggregation, span, group_by and tag keys:
 * "error rate of service X" for many X) are answered by one query() grouped
 * by group_by and the filter's keys; a rule's rows are those whose filter
 * keys hold its values.  Each group is the same set of series as in the
 * rule's own query(), so the values are the same, for every aggregation.
 * query() of a rule without group_by returns a row even without data (count
 * 0, mean NULL); such a rule without a row in the batch is evaluated alone.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "maintenance/alerts.h"

/* more rows than this in a batch: its rules are evaluated one by one */
#define ALERT_MAX_BATCH_ROWS (20 * ALERT_MAX_LABEL_SETS)

/*
 * The data queries of the built-in kinds.  Parameters: $1 metric, $2
 * aggregation, $3 group_by, $4 tags, $5 at, $6 span, $7 baseline_windows,
 * $8 sigmas.  Columns: labels, value, holds (NULL: compare value with op
 * and threshold).
 */
static const Oid data_argtypes[ALERT_DATA_NARGS] = {
	TEXTOID, TEXTOID, TEXTARRAYOID, JSONBOID, TIMESTAMPTZOID, INTERVALOID, INT4OID, FLOAT8OID
};

static const char *const threshold_sql =
"SELECT q.labels, q.value, NULL::bool "
"  FROM metrics_ex.query($1, $2, $3, $4, since => $5 - $6, until => $5) q";

/*
 * Robust z-score of the current span against the baseline_windows spans
 * before it: (x - median) / (1.4826 MAD).  When more than half the baseline
 * is one value (MAD 0) the mean absolute deviation stands in (1.2533 MeanAD,
 * Iglewicz and Hoaglin); a perfectly flat baseline makes any other value an
 * anomaly.  A group needs values in at least half the baseline windows (and
 * 3) before it can fire.  query() reads rollups for the whole minutes,
 * hours and days of each span.
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

/*
 * A batch: $3 is group_by with the filter's keys, $4 '{}'; $7 the keys to
 * drop from the labels, $8 the filter's keys, whose values come back as a
 * text array.
 */
static const char *const batch_sql =
"SELECT q.labels - $7::text[], q.value, ARRAY(SELECT q.labels ->> k FROM unnest($8::text[]) k) "
"  FROM metrics_ex.query($1, $2, $3, '{}'::jsonb, since => $5 - $6, until => $5) q";

typedef struct BatchRow
{
	char	   *filter;			/* the filter values, encoded */
	Datum		labels;			/* jsonb: group_by keys only */
	float8		value;
	bool		isnull;
} BatchRow;

struct AlertBatch
{
	char	   *key;
	AlertRule  *first;			/* its owner and arguments make the query */
	int			nrules;
	MemoryContext cxt;
	bool		done;
	bool		alone;			/* too many rows: evaluate its rules alone */
	char	   *error;			/* the query failed: every rule records it */
	float8		ms;
	int			nrows;
	BatchRow   *rows;			/* sorted by filter */
};

/* search_path for our own queries, undone when run_as_role() ends */
static void
own_search_path(void)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* A metric that is gone is an error of the rule, not "no data". */
static void
check_metric(AlertRule *r)
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

/* the value column of a result row; other numbers of an sql rule by text */
static float8
value_of(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	if (*isnull)
		return 0;
	if (SPI_gettypeid(desc, col) == FLOAT8OID)
		return DatumGetFloat8(d);
	return DatumGetFloat8(DirectFunctionCall1(float8in,
											  CStringGetDatum(SPI_getvalue(tup, desc, col))));
}

static void
add_result(RuleData *rd, Datum labels, float8 value)
{
	if (rd->n >= ALERT_MAX_LABEL_SETS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("alert rule \"%s\" has more than %d results", rd->rule->name, ALERT_MAX_LABEL_SETS),
				 errhint("Narrow its tags or group_by, or its sql.")));
	if (rd->n == rd->max)
	{
		MemoryContext old = MemoryContextSwitchTo(rd->cxt);

		rd->max = rd->max == 0 ? 16 : rd->max * 2;
		rd->labels = rd->labels == NULL ? palloc(rd->max * sizeof(Datum)) :
			repalloc(rd->labels, rd->max * sizeof(Datum));
		rd->values = rd->values == NULL ? palloc(rd->max * sizeof(float8)) :
			repalloc(rd->values, rd->max * sizeof(float8));
		MemoryContextSwitchTo(old);
	}
	rd->labels[rd->n] = labels;
	rd->values[rd->n] = value;
	rd->n++;
}

void
alert_rule_data(void *arg)
{
	RuleData   *rd = arg;
	AlertRule  *r = rd->rule;
	bool		is_sql = strcmp(r->kind, "sql") == 0;
	TupleDesc	desc;
	int			ret;

	if (!is_sql)
		own_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (is_sql)					/* $1 is the evaluation time */
		ret = SPI_execute_with_args(r->sql, 1, (Oid *) &data_argtypes[4], &r->args[4], &r->nulls[4],
									true, ALERT_MAX_LABEL_SETS + 1);
	else
	{
		const char *sql = strcmp(r->kind, "anomaly") == 0 ? anomaly_sql :
		strcmp(r->kind, "absent") == 0 ? absent_sql : threshold_sql;

		if (strcmp(r->kind, "absent") != 0)
			check_metric(r);
		ret = SPI_execute_with_args(sql, ALERT_DATA_NARGS, (Oid *) data_argtypes, r->args, r->nulls,
									true, ALERT_MAX_LABEL_SETS + 1);
	}
	if (ret != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the sql of alert rule \"%s\" must be a SELECT", r->name)));
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
		MemoryContextSwitchTo(old);
		add_result(rd, labels, v);
	}
	SPI_finish();
}

/*
 * Filter values as one string, each length-prefixed so that no value can
 * run into the next; NULL when a value is NULL (a series without the tag,
 * which no filter matches).
 */
static char *
encode_filter(Datum *values, bool *nulls, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		char	   *v;

		if (nulls != NULL && nulls[i])
			return NULL;
		v = TextDatumGetCString(values[i]);
		appendStringInfo(&buf, "%zu:%s", strlen(v), v);
	}
	return buf.data;
}

static char *
encode_filter_array(Datum array)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT,
					  &values, &nulls, &n);
	return encode_filter(values, nulls, n);
}

void
alert_make_batches(List *rules, MemoryContext cxt)
{
	List	   *batches = NIL;
	ListCell   *lc;
	ListCell   *lb;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	foreach(lc, rules)
	{
		AlertRule  *r = lfirst(lc);
		AlertBatch *b = NULL;

		if (r->batch_key == NULL)
			continue;
		r->filter = encode_filter_array(r->filter_values);
		foreach(lb, batches)
			if (strcmp(((AlertBatch *) lfirst(lb))->key, r->batch_key) == 0)
				b = lfirst(lb);
		if (b == NULL)
		{
			b = palloc0(sizeof(AlertBatch));
			b->key = r->batch_key;
			b->first = r;
			b->cxt = cxt;
			batches = lappend(batches, b);
		}
		b->nrules++;
		r->batch = b;
	}
	/* a batch of one is a rule evaluated alone */
	foreach(lc, rules)
	{
		AlertRule  *r = lfirst(lc);

		if (r->batch != NULL && r->batch->nrules < 2)
			r->batch = NULL;
	}
	MemoryContextSwitchTo(old);
}

static int
batch_row_cmp(const void *a, const void *b)
{
	return strcmp(((const BatchRow *) a)->filter, ((const BatchRow *) b)->filter);
}

void
alert_batch_data(void *arg)
{
	AlertBatch *b = arg;
	AlertRule  *r = b->first;
	Datum		args[ALERT_DATA_NARGS];
	char		nulls[ALERT_DATA_NARGS];
	Oid			argtypes[ALERT_DATA_NARGS];
	TupleDesc	desc;
	MemoryContext old;

	memcpy(args, r->args, sizeof(args));
	memcpy(nulls, r->nulls, sizeof(nulls));
	memcpy(argtypes, data_argtypes, sizeof(argtypes));
	args[2] = r->batch_group_by;
	args[6] = r->batch_drop;
	argtypes[6] = TEXTARRAYOID;
	args[7] = r->filter_keys;
	argtypes[7] = TEXTARRAYOID;
	nulls[2] = nulls[6] = nulls[7] = ' ';

	own_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_metric(r);
	if (SPI_execute_with_args(batch_sql, ALERT_DATA_NARGS, argtypes, args, nulls,
							  true, ALERT_MAX_BATCH_ROWS + 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: the query of a batch of alert rules failed");
	if (SPI_processed > ALERT_MAX_BATCH_ROWS)
	{
		b->alone = true;
		SPI_finish();
		return;
	}
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(b->cxt);
	b->rows = palloc(Max(SPI_processed, 1) * sizeof(BatchRow));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		filter = SPI_getbinval(tup, desc, 3, &isnull);
		BatchRow   *row = &b->rows[b->nrows];

		row->filter = isnull ? NULL : encode_filter_array(filter);
		if (row->filter == NULL)
			continue;
		row->labels = datumCopy(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
		row->value = value_of(tup, desc, 2, &row->isnull);
		b->nrows++;
	}
	qsort(b->rows, b->nrows, sizeof(BatchRow), batch_row_cmp);
	MemoryContextSwitchTo(old);
	SPI_finish();
}

Oid
alert_batch_owner(AlertBatch *b)
{
	return b->first->owner;
}

bool
alert_batch_done(AlertBatch *b)
{
	return b->done;
}

void
alert_batch_finish(AlertBatch *b, const char *error, float8 ms)
{
	b->done = true;
	b->ms = ms;
	if (error != NULL)
		b->error = MemoryContextStrdup(b->cxt, error);
}

const char *
alert_batch_error(AlertBatch *b, float8 *ms)
{
	*ms = b->ms / b->nrules;
	return b->error;
}

bool
alert_rule_from_batch(RuleData *rd)
{
	AlertRule  *r = rd->rule;
	AlertBatch *b = r->batch;
	int			lo = 0;
	int			hi = b->nrows;
	int			seen = 0;

	if (b->alone)
		return false;
	/* the first row with this rule's filter values */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (strcmp(b->rows[mid].filter, r->filter) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (int i = lo; i < b->nrows && strcmp(b->rows[i].filter, r->filter) == 0; i++)
	{
		seen++;
		if (!b->rows[i].isnull && condition_holds(r->op, b->rows[i].value, r->threshold))
			add_result(rd, b->rows[i].labels, b->rows[i].value);
	}
	return seen > 0 || r->grouped;
}
