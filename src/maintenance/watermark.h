/*
 * watermark.h
 *		How writers and maintenance agree on which samples are late (see
 *		watermark.c).
 */
#ifndef METRICS_EX_WATERMARK_H
#define METRICS_EX_WATERMARK_H

#include "datatype/timestamp.h"

/*
 * Writers: once per transaction, before the first sample is stored (the
 * write path calls it from catalog_begin_write).  extension is the OID of
 * the metrics_ex extension.
 */
extern void watermark_begin_write(Oid extension);

/* The published watermark as this writer's transaction sees it. */
extern TimestampTz watermark_published(void);

/* hooks.c: the transaction ended */
extern void watermark_xact_end(void);

#endif							/* METRICS_EX_WATERMARK_H */
