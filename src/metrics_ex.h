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

#endif							/* METRICS_EX_H */
