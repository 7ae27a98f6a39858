/*
 * jobs.h
 *		Running jobs for the scheduler (see jobs.c).
 */
#ifndef METRICS_EX_JOBS_H
#define METRICS_EX_JOBS_H

/*
 * Run the job called name if it is still due, outside any transaction:
 * each part in a transaction of its own, the whole within the job's time
 * limit, its outcome logged.
 */
extern void jobs_run_scheduled(const char *name);

/* A scheduler starts: record the runs its predecessor left unfinished. */
extern void jobs_recover_crashed(void);

#endif							/* METRICS_EX_JOBS_H */
