/*
 * alerts.h
 *		Alert rules: what their definition (alert_define.c), their data
 *		(alert_data.c) and their evaluation (alert_eval.c) share.
 */
#ifndef METRICS_EX_ALERTS_H
#define METRICS_EX_ALERTS_H

#include "access/tupdesc.h"
#include "nodes/pg_list.h"

/* At most this many label sets per rule and evaluation. */
#define ALERT_MAX_LABEL_SETS 10000

/* Arguments of the data queries: see alert_data.c. */
#define ALERT_DATA_NARGS 8

typedef struct AlertBatch AlertBatch;

/* A due rule, as evaluate_alerts() read it. */
typedef struct AlertRule
{
	int64		id;
	char	   *name;
	Oid			owner;
	char	   *kind;
	char	   *op;
	float8		threshold;		/* kinds threshold and sql */
	char	   *sql;			/* kind sql */
	bool		grouped;		/* group_by is not empty */
	bool		has_state;		/* it has alerts pending or firing */
	/* metric, aggregation, group_by, tags, at, span, baseline_windows, sigmas */
	Datum		args[ALERT_DATA_NARGS];
	char		nulls[ALERT_DATA_NARGS];
	/* a threshold rule that shares one query with others (see alert_data.c) */
	char	   *batch_key;
	Datum		batch_group_by;	/* group_by and the keys of tags */
	Datum		batch_drop;		/* the keys of tags not in group_by */
	Datum		filter_keys;	/* the keys of tags, sorted */
	Datum		filter_values;	/* their values, as text */
	char	   *filter;			/* those values, encoded */
	AlertBatch *batch;			/* NULL: evaluated alone */
} AlertRule;

/* A rule's result: the label sets for which its condition holds. */
typedef struct RuleData
{
	AlertRule  *rule;
	MemoryContext cxt;			/* where labels and values live */
	int			n;
	int			max;
	Datum	   *labels;			/* jsonb */
	float8	   *values;
} RuleData;

/*
 * May the current user manage (what: "manage alert rules", ...) alerts?
 * Like experiments, alerting needs the writer privilege, INSERT on
 * metrics_ex.ingest.  On success the extension's owner is known, so
 * owner_begin() can be called.
 */
extern void alert_check_manager(const char *what);

/*
 * The result of a rule's sql must be (labels jsonb or json, value of a
 * numeric type); raises the error otherwise.
 */
extern void alert_check_sql_result(TupleDesc desc);

/* alert_data.c: run as the rule's owner (run_as_role()). */
extern void alert_rule_data(void *rule_data);	/* RuleData *: one rule alone */
extern void alert_batch_data(void *batch);	/* AlertBatch *: one query for all */

/*
 * Group the rules that can share a query; a batch of one rule is none.
 * Allocates in cxt.
 */
extern void alert_make_batches(List *rules, MemoryContext cxt);

/* The batch's owner (run its alert_batch_data as this role). */
extern Oid	alert_batch_owner(AlertBatch *b);
extern bool alert_batch_done(AlertBatch *b);
extern void alert_batch_finish(AlertBatch *b, const char *error, float8 ms);
/* NULL, or the error of the batch's query; *ms: one rule's share of its time */
extern const char *alert_batch_error(AlertBatch *b, float8 *ms);

/*
 * The rule's result from its batch's rows.  False when the batch cannot
 * answer for it (too many rows; no row for a rule without group_by, whose
 * query() would return one): evaluate it alone.
 */
extern bool alert_rule_from_batch(RuleData *rd);

#endif							/* METRICS_EX_ALERTS_H */
