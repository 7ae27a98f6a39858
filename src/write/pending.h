/*
 * pending.h
 *		Rollup deltas: the write path aggregates what it stores per series
 *		and minute, and leaves one row per (series, minute) and statement in
 *		metrics_ex.rollup_pending.  The materialize job merges those rows into
 *		the minute, hour and day rollups and the series totals, so rollups
 *		never rescan raw samples, and a late sample touches only its own
 *		series' buckets.
 */
#ifndef METRICS_EX_PENDING_H
#define METRICS_EX_PENDING_H

#include "c.h"
#include "datatype/timestamp.h"

#include "catalog.h"

/* Account one stored sample. */
extern void pending_add(const MetricInfo *metric, int64 series_id,
						TimestampTz ts, double value);

extern void pending_flush(void);

/*
 * Write the deltas of the current subtransaction level and deeper (statement
 * end, before commit); deltas of outer levels wait for theirs.
 */

/* Drop all of them. */
extern void pending_discard(void);

/* Drop those of subtransaction subid and deeper: it aborted. */
extern void pending_discard_sub(SubTransactionId subid);

/* The transaction aborted: its memory is gone already. */
extern void pending_forget(void);

#endif							/* METRICS_EX_PENDING_H */
