/*
 * catalog_watch.h
 *		Statements that delete, update or truncate metrics_ex.metrics or
 *		metrics_ex.series, seen by the hooks (hooks.c), so that every
 *		backend forgets the ids it cached (see catalog_watch.c).
 */
#ifndef METRICS_EX_CATALOG_WATCH_H
#define METRICS_EX_CATALOG_WATCH_H

#include "executor/execdesc.h"
#include "nodes/nodes.h"

/* A statement is over (ExecutorEnd): did it change our catalog? */
extern void catalog_watch_executor_end(QueryDesc *queryDesc);

/* A utility command completed: was it a TRUNCATE of our catalog? */
extern void catalog_watch_utility(Node *parsetree);

#endif							/* METRICS_EX_CATALOG_WATCH_H */
