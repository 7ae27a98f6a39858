/*
 * storage.h
 *		Writing samples into metrics_ex.samples, range-partitioned on ts.
 *
 * The write path inserts heap tuples straight into the right partition,
 * keeping the partitions it has opened for the rest of the statement, so a
 * bulk load pays the executor's per-statement setup once, not per row.
 */
#ifndef METRICS_EX_STORAGE_H
#define METRICS_EX_STORAGE_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* Check a sample's timestamp; raises the error naming argname. */
extern void storage_check_ts(TimestampTz ts, const char *argname);

/* Store one sample; lineage may be NULL.  Call catalog_begin_write() first. */
extern void storage_insert(TimestampTz ts, int64 series_id, float8 value,
						   Jsonb *lineage);

/*
 * Bulk mode, for one COPY or INSERT into metrics_ex.ingest: rows are
 * buffered per partition and written with multi-inserts.  It ends with
 * storage_end_bulk(), or when the statement that began it (at nesting level
 * level, see hooks.h) ends.  Nothing may read the samples in between.
 */
extern void storage_begin_bulk(int level);
extern void storage_end_bulk(void);

/* hooks.c: statement ends, utility commands and transaction events */
extern void storage_statement_end(int level);
extern void storage_before_utility(void);
extern void storage_pre_commit(void);
extern void storage_xact_abort(void);
extern void storage_subxact_abort(SubTransactionId mySubid);

#endif							/* METRICS_EX_STORAGE_H */
