/*
 * pending.h
 *		Deltas of late samples: a sample older than the published rollup
 *		watermark (watermark.c) is also aggregated per series and minute,
 *		and each (series, minute) of a statement leaves one row in
 *		metrics_ex.rollup_pending.  Maintenance merges those rows into the
 *		rollups and series totals (a late sample touches only its own
 *		series' buckets, and raw retention never matters), and queries and
 *		scrapes add them meanwhile.  On-time samples leave nothing: rollups
 *		are built from the raw samples.
 */
#ifndef METRICS_EX_PENDING_H
#define METRICS_EX_PENDING_H

#include "c.h"
#include "datatype/timestamp.h"

#include "catalog.h"

/* Account one stored late sample. */
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
