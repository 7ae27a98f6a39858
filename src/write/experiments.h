/*
 * experiments.h
 *		The per-sample gate of paused and stopped experiments.
 *
 * A sample whose series is tagged experiment_id = <uuid of an experiment
 * that is paused or stopped> is not stored; it is counted instead.  The
 * check sits on the write path of every sample, so it is built to cost one
 * branch when no experiment is paused or stopped.
 */
#ifndef METRICS_EX_EXPERIMENTS_H
#define METRICS_EX_EXPERIMENTS_H

#include "utils/jsonb.h"

/*
 * May this sample be stored?  series_tags are the series' canonical tags
 * when the caller has them, else NULL (looked up by series_id if needed).
 * A refused sample is counted against its experiment.  Call after
 * catalog_begin_write().
 */
extern bool experiments_accept(int64 series_id, Jsonb *series_tags);

/* hooks.c: before commit (write the refused counts); transaction end */
extern void experiments_pre_commit(void);
extern void experiments_xact_end(void);

#endif							/* METRICS_EX_EXPERIMENTS_H */
