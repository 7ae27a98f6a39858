/*
 * ingest.h
 *		One row of the metrics_ex.ingest view, shared by its INSTEAD OF
 *		trigger and the COPY fast path.
 */
#ifndef METRICS_EX_INGEST_H
#define METRICS_EX_INGEST_H

/* name, value, tags, ts, kind */
#define INGEST_NATTS 5

extern void ingest_row(Datum *values, bool *nulls);

#endif							/* METRICS_EX_INGEST_H */
