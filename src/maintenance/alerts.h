/*
 * alerts.h
 *		Alert rules: what their definition (alert_define.c) and their
 *		evaluation (alert_eval.c) share.
 */
#ifndef METRICS_EX_ALERTS_H
#define METRICS_EX_ALERTS_H

#include "access/tupdesc.h"

/* At most this many label sets per rule and evaluation. */
#define ALERT_MAX_LABEL_SETS 10000

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

#endif							/* METRICS_EX_ALERTS_H */
