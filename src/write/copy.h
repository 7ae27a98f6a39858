/*
 * copy.h
 *		The COPY metrics_ex.ingest fast path (see copy.c).
 */
#ifndef METRICS_EX_COPY_H
#define METRICS_EX_COPY_H

/* Called from _PG_init, after storage_install_hooks(). */
extern void copy_install_hook(void);

#endif							/* METRICS_EX_COPY_H */
