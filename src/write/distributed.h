/*
 * distributed.h
 *		The write path on Citus: once metrics_ex.distribute() has made the
 *		storage Citus tables, samples and late deltas go through the
 *		executor, so that Citus routes each to the shard of its series
 *		(see distributed.c).  On one node nothing here runs.
 */
#ifndef METRICS_EX_DISTRIBUTED_H
#define METRICS_EX_DISTRIBUTED_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "write/series_dict.h"

/*
 * Is metrics_ex.samples a Citus table in this database?  Cheap: known from
 * the catalog once, until a relcache invalidation of samples (Citus sends one
 * when it distributes or undistributes a table).  Call catalog_lookup() (or
 * catalog_begin_write()) first: its relcache callback tells us.
 */
extern bool distributed_mode(void);

/* catalog.c's relcache callback: relid (InvalidOid: any) was invalidated */
extern void distributed_relcache_invalidated(Oid relid);

/* Delete the series of deleted metrics (the foreign key's cascade). */
extern void distributed_cascade(void);

/* Writes go through the coordinator: an error on a Citus worker. */
extern void distributed_check_writer(void);

/*
 * series.c, on Citus: a series made under its metric's row lock gets its id
 * now and its row at the statement's end, with the samples.  -1: not taken
 * (the caller inserts it).  Run as the owner.
 */
extern int64 distributed_new_series(const SeriesKey *key, int32 metric_id, Jsonb *tags);
/* Such a series of key and bytes, not written yet? */
extern bool distributed_pending_series(const SeriesKey *key, const char *bytes, int64 *id);
/* How many of them the metric has */
extern int64 distributed_count_pending_series(int32 metric_id);

/* Buffer one sample of the statement (lineage may be NULL). */
extern void distributed_add_sample(TimestampTz ts, int64 series_id, float8 value,
								   Jsonb *lineage);

/*
 * Write the buffered new series and samples of the current subtransaction
 * level and deeper (statement end, before commit); an outer level's wait
 * for its own.
 */
extern void distributed_flush_samples(void);

/*
 * Late deltas (pending.c): add the rows of one flush, the columns of
 * metrics_ex.rollup_pending in its contract's order, then write them.
 */
extern void distributed_add_delta(const Datum *values, const bool *nulls, int natts);
extern void distributed_flush_deltas(void);

/* hooks.c, through storage.c: the transaction's rows are written; a
 * (sub)transaction aborted */
extern void distributed_xact_end(void);
extern void distributed_subxact_abort(SubTransactionId mySubid);
extern void distributed_xact_abort(void);

#endif							/* METRICS_EX_DISTRIBUTED_H */
