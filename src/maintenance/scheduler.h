/*
 * scheduler.h
 *		Background workers: a launcher that starts one scheduler per database
 *		where metrics_ex is installed, and the schedulers that run the jobs
 *		of metrics_ex.job_defs.  Only with shared_preload_libraries.
 */
#ifndef METRICS_EX_SCHEDULER_H
#define METRICS_EX_SCHEDULER_H

#include "nodes/nodes.h"

/* From _PG_init, when preloading: shared memory, the launcher, hooks. */
extern void scheduler_init(void);

/* hooks.c: step aside for DROP/RENAME/copy of a database; wake at commit */
extern void scheduler_before_utility(Node *parsetree);
extern void scheduler_after_utility(Node *parsetree);
extern void scheduler_xact_end(bool committed);

/* Jobs changed: this database's scheduler looks at them again now. */
extern void scheduler_wake(void);

/* GUC metrics_ex.max_workers: schedulers at most (one per database) */
extern int	metrics_ex_max_workers;

#endif							/* METRICS_EX_SCHEDULER_H */
