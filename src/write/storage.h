/*
 * storage.h
 *		Writing samples into metrics_ex.samples, range-partitioned on ts.
 *
 * The write path inserts heap tuples straight into the right partition,
 * keeping the partitions it has opened for the rest of the transaction, so a
 * bulk load pays the executor's per-statement setup once, not per row.
 */
#ifndef METRICS_EX_STORAGE_H
#define METRICS_EX_STORAGE_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* Called from _PG_init: statement-end hooks that close opened partitions. */
extern void storage_install_hooks(void);

/* Check a sample's timestamp; raises the error naming argname. */
extern void storage_check_ts(TimestampTz ts, const char *argname);

/* Store one sample; lineage may be NULL.  Call catalog_begin_write() first. */
extern void storage_insert(TimestampTz ts, int64 series_id, float8 value,
						   Jsonb *lineage);

/*
 * Bulk mode, for one COPY: rows are buffered per partition and written with
 * multi-inserts; storage_end_bulk() writes the rest.  Nothing may read the
 * samples between the two calls.
 */
extern void storage_begin_bulk(void);
extern void storage_end_bulk(void);

#endif							/* METRICS_EX_STORAGE_H */
