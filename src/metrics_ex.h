/*
 * metrics_ex.h
 *		Settings shared by every part of the extension.
 */
#ifndef METRICS_EX_H
#define METRICS_EX_H

#define METRICS_EX_SCHEMA "metrics_ex"

/* GUC metrics_ex.max_series_per_metric: default tag-set limit of a metric */
extern int	metrics_ex_max_series_per_metric;

/* GUC metrics_ex.retention: default raw-sample retention (an interval) */
extern char *metrics_ex_retention;

/* GUC metrics_ex.maintenance_interval: schedule of the retention job */
extern char *metrics_ex_maintenance_interval;

/* GUC metrics_ex.job_timeout: default time limit of a scheduled job */
extern char *metrics_ex_job_timeout;

/* GUC metrics_ex.maintenance_lock_timeout (ms): maintenance's lock waits */
extern int	metrics_ex_maintenance_lock_timeout;

/* GUC metrics_ex.partitions_ahead: UTC days prepared beyond today */
extern int	metrics_ex_partitions_ahead;

#endif							/* METRICS_EX_H */
