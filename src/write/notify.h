/*
 * notify.h
 *		Live streaming: NOTIFY for every recorded sample (metrics_ex.notify).
 */
#ifndef METRICS_EX_NOTIFY_H
#define METRICS_EX_NOTIFY_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

#include "catalog.h"

typedef enum NotifyMode
{
	NOTIFY_OFF = 0,
	NOTIFY_ON,					/* channel metrics_ex */
	NOTIFY_PER_METRIC			/* channel metrics_ex_<name> */
} NotifyMode;

/* GUC metrics_ex.notify; test it before calling notify_sample() */
extern int	metrics_ex_notify;

/* Called from _PG_init: the GUC. */
extern void notify_init(void);

/* hooks.c: a top-level statement ended; commit; abort or PREPARE */
extern void notify_statement_end(void);
extern void notify_pre_commit(void);
extern void notify_discard(void);

/*
 * Announce a sample that is being stored.  series_tags may be NULL (looked
 * up by series_id); lineage may be NULL.  Samples are batched and sent with
 * NOTIFY at statement end, when a payload is full, or before commit.
 */
extern void notify_sample(const char *name, int namelen, MetricKind kind,
						  float8 value, int64 series_id, Jsonb *series_tags,
						  Jsonb *lineage, TimestampTz ts);

#endif							/* METRICS_EX_NOTIFY_H */
