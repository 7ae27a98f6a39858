/*
 * ingest.h
 *		One row of the metrics_ex.ingest view, shared by its INSTEAD OF
 *		trigger and the COPY fast path.
 */
#ifndef METRICS_EX_INGEST_H
#define METRICS_EX_INGEST_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "write/catalog.h"

/* name, value, tags, ts, kind */
#define INGEST_NATTS 5

extern void ingest_row(Datum *values, bool *nulls);

/*
 * Record one sample on behalf of role, which must be allowed to record (the
 * caller for the write API; a table's owner for attach()).  series_tags are
 * canonical; lineage may be NULL.
 */
extern void record_sample_for(Oid role, text *name, MetricKind want, float8 value,
							  bool integral, Jsonb *series_tags, Jsonb *lineage,
							  TimestampTz ts);

/* Record one sample of the caller's with raw tags (lineage ids split off). */
extern void ingest_record(text *name, MetricKind kind, float8 value, Jsonb *tags,
						  TimestampTz ts);

/*
 * Keep a sample until the session's next write: for a sample whose
 * transaction is about to roll back (measure() of a failing statement).
 */
extern void ingest_defer_sample(text *name, MetricKind kind, float8 value,
								Jsonb *tags, TimestampTz ts);

#endif							/* METRICS_EX_INGEST_H */
