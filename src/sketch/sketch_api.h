/*
 * sketch_api.h
 *		Building stats and ddsketch values from C, for the write path's
 *		late deltas (pending.c) and the rollup build (rollup_build.c).  The SQL-level functions live beside
 *		these in stats.c and ddsketch.c.
 */
#ifndef METRICS_EX_SKETCH_API_H
#define METRICS_EX_SKETCH_API_H

typedef struct DDSketch DDSketch;

/* An empty sketch with relative error rel_err, in CurrentMemoryContext. */
extern DDSketch *ddsketch_create(double rel_err);

/* Add a finite value; may return a grown copy (the old one is then garbage). */
extern DDSketch *ddsketch_add_value(DDSketch *s, double x);

/* A sketch of n finite values. */
extern DDSketch *ddsketch_build(double rel_err, const double *values, int n);

/* The canonical stored form, as a Datum of type metrics_ex.ddsketch. */
extern Datum ddsketch_to_datum(DDSketch *s);

/* A writable sketch from a stored one (any form, toasted or packed). */
extern DDSketch *ddsketch_copy_datum(Datum d);

/* Merge a stored sketch into a writable one; may return a grown copy. */
extern DDSketch *ddsketch_merge_datum(DDSketch *a, Datum b);

/* A metrics_ex.stats value from Welford accumulators. */
extern Datum stats_make(int64 count, double sum, double min, double max,
						double mean, double m2);

#endif							/* METRICS_EX_SKETCH_API_H */
