/*
 * series.h
 *		Series ids of (metric, tag set), found or created within the series
 *		limit.
 *
 * Three levels: this backend's cache (also keyed by the client's text of
 * the tags, so that a bulk load finds a known tag set without parsing its
 * JSON), the dictionary shared by all backends (series_dict.h, when the
 * library is preloaded), and the catalog, where a backend that misses reads
 * all series of the metric at once.  Callers run catalog_begin_write()
 * first.
 */
#ifndef METRICS_EX_SERIES_H
#define METRICS_EX_SERIES_H

#include "utils/jsonb.h"

#include "write/catalog.h"

/*
 * Series id of (metric, canonical tags), created within the series limit.
 * text, when not NULL, is the client's text of exactly these tags (no
 * lineage ids): series_by_text() finds it from then on.
 */
extern int64 series_resolve(const MetricInfo *metric, Jsonb *tags,
							const char *text, Size textlen);

/* The series id known for the client's text of the tags, or -1. */
extern int64 series_by_text(const MetricInfo *metric, const char *text, Size len);

/*
 * hooks.c: is this the end of one of our own catalog statements (series
 * lookups and inserts)?  They read and write no samples, so the end of a
 * statement that wrote samples is still to come.
 */
extern bool series_catalog_statement(void);

/* catalog.c: invalidations and the transaction's end */
extern void series_invalidate(void);	/* metrics_ex.series may have changed */
extern void series_metrics_changed(void);	/* limits must be read again */
extern void series_catalog_changed(void);	/* this transaction changed or removed series */
extern void series_flush(void);
extern void series_pre_prepare(void);
extern void series_xact_end(bool committed);
extern void series_subxact_abort(void);

#endif							/* METRICS_EX_SERIES_H */
