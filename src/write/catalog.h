/*
 * catalog.h
 *		Metric definitions: name -> id and kind, with a backend cache; the
 *		relations of the write path; running statements as their owner.
 *
 * Resolving a metric name is on the path of every sample, so it is cached
 * per backend (series ids: series.h).  Caches are flushed when the catalog
 * tables change (a statement trigger sends a relcache invalidation) and when
 * a (sub)transaction that may have created entries aborts.
 */
#ifndef METRICS_EX_CATALOG_H
#define METRICS_EX_CATALOG_H

#include "utils/jsonb.h"

typedef enum MetricKind
{
	KIND_NONE = 0,				/* not given: infer or take the definition */
	KIND_COUNTER,
	KIND_GAUGE,
	KIND_HISTOGRAM
} MetricKind;

typedef struct MetricInfo
{
	int32		id;
	MetricKind	kind;
	int32		max_series;		/* 0: use metrics_ex.max_series_per_metric */
	int			nbounds;		/* histogram bucket upper bounds, +Inf implied */
	const float8 *bounds;		/* valid for the session */
} MetricInfo;

/*
 * Per-transaction setup of the write path: look up our relations, check that
 * the current user may write (INSERT on metrics_ex.ingest).  Cheap after the
 * first call in a transaction.  _for(role): the samples are recorded on
 * behalf of role (attach(): the table's owner), which must be allowed.
 */
extern void catalog_begin_write(void);
extern void catalog_begin_write_for(Oid role);

/* Look up our relations and the owner only, checking nobody (jobs, rules). */
extern void catalog_lookup(void);

/* Owner of the extension's tables: catalog writes run as this role. */
extern Oid	catalog_owner(void);
extern Oid	catalog_samples_relid(void);
extern Oid	catalog_series_relid(void);

/*
 * Run SPI statements as the owner of the extension's tables, with a fixed
 * search_path, between owner_begin() and owner_end() (which also connect and
 * finish SPI).  Call catalog_begin_write() first when the caller must be
 * allowed to write, else catalog_lookup().
 */
typedef struct OwnerContext
{
	MemoryContext caller_cxt;	/* CurrentMemoryContext at owner_begin() */
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
} OwnerContext;

extern void owner_begin(OwnerContext *oc);
extern void owner_end(OwnerContext *oc);

/* Parse and check a kind argument; NULL or "" gives KIND_NONE. */
extern MetricKind kind_from_cstring(const char *s, const char *argname);
extern const char *kind_name(MetricKind kind);

/* Check a metric name (Prometheus rules); raises the error. */
extern void check_metric_name(const char *name, int len, const char *argname);

/*
 * The metric called name.  When it is not defined yet, it is defined with
 * kind want, or when want is KIND_NONE with the kind MetricsEx infers from
 * the name and whether the value was written as an integer.  A want that
 * conflicts with the definition is an error.
 */
extern MetricInfo catalog_metric(const char *name, int len,
								  MetricKind want, bool integral);

/* Forget every cached metric and series (after define() and the like). */
extern void catalog_flush(void);

/* hooks.c: the transaction ended; a subtransaction aborted; PREPARE */
extern void catalog_xact_end(bool aborted);
extern void catalog_subxact_abort(void);
extern void catalog_pre_prepare(void);

#endif							/* METRICS_EX_CATALOG_H */
