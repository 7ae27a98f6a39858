/*
 * tags.h
 *		Validation and canonical form of tag sets.
 *
 * A series is identified by its metric and its tags: a flat JSON object whose
 * values are all strings.  jsonb already stores object keys sorted and
 * de-duplicated, so a jsonb built from string pairs is the canonical form and
 * equal tag sets are byte-identical.  Lineage ids (work_id, trace_id, plan_id,
 * step_id) are split off: they are stored per sample, not per series.
 */
#ifndef METRICS_EX_TAGS_H
#define METRICS_EX_TAGS_H

#include "utils/jsonb.h"

typedef struct TagBuilder
{
	JsonbParseState *series;	/* pairs that identify the series */
	JsonbParseState *lineage;	/* per-sample lineage ids */
	int			nseries;
	int			nlineage;
} TagBuilder;

extern void tags_begin(TagBuilder *tb);

/*
 * Add every pair of a JSON object.  argname names the SQL argument in error
 * messages.  Later additions win over earlier ones for the same key.
 */
extern void tags_add_object(TagBuilder *tb, JsonbContainer *obj,
							const char *argname);

/* Add one pair; a JSON null value is dropped. */
extern void tags_add_pair(TagBuilder *tb, const char *key, int keylen,
						  JsonbValue *val, const char *argname);

/* Finish; *series is never NULL (may be {}), *lineage is NULL when empty. */
extern void tags_finish(TagBuilder *tb, Jsonb **series, Jsonb **lineage);

/*
 * True when obj can serve as a series key as it is: an object of string
 * values with valid, non-lineage keys.  The cheap path of bulk ingest.
 */
extern bool tags_is_canonical(Jsonb *obj);

/*
 * Prometheus's name rule: [a-zA-Z_][a-zA-Z0-9_]* for labels, with ':' also
 * allowed (allow_colon) for metric names; at most maxlen bytes.
 */
extern bool is_prometheus_name(const char *name, int len, int maxlen, bool allow_colon);

/* Check one label name; raises the error that names argname. */
extern void tags_check_key(const char *key, int keylen, const char *argname);

#endif							/* METRICS_EX_TAGS_H */
