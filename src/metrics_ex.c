/*
 * metrics_ex.c
 *		Module entry point and configuration (GUCs).
 *
 * The extension works without shared_preload_libraries; preloading only adds
 * the background workers.  Settings are therefore defined here, whenever the
 * library is first loaded, not only by the postmaster.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "hooks.h"
#include "miscadmin.h"
#include "maintenance/scheduler.h"
#include "metrics_ex.h"
#include "read/http.h"
#include "write/notify.h"
#include "write/series_dict.h"

PG_MODULE_MAGIC;

int			metrics_ex_max_series_per_metric = 10000;
char	   *metrics_ex_retention = NULL;
char	   *metrics_ex_maintenance_interval = NULL;
char	   *metrics_ex_job_timeout = NULL;
char	   *metrics_ex_rollup_delay = NULL;
int			metrics_ex_maintenance_lock_timeout = 200;
int			metrics_ex_partitions_ahead = 3;

void		_PG_init(void);

/* A GUC's interval text, or NULL when it does not parse. */
static Interval *
parse_interval_setting(const char *text)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	Interval   *volatile iv = NULL;

	/* interval_in reports bad text by ERROR; a check hook must return false */
	PG_TRY();
	{
		iv = (Interval *) DatumGetPointer(
										  DirectFunctionCall3(interval_in,
															  CStringGetDatum(text),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
	}
	PG_END_TRY();
	return iv;
}

/* Retention and intervals must parse as positive intervals. */
static bool
check_retention(char **newval, void **extra, GucSource source)
{
	Interval   *iv = parse_interval_setting(*newval);

	if (iv == NULL || iv->month < 0 || iv->day < 0 || iv->time < 0 ||
		(iv->month == 0 && iv->day == 0 && iv->time == 0))
	{
		GUC_check_errdetail("It must be a positive interval such as '24 hours'.");
		return false;
	}
	return true;
}

/* A delay may be zero. */
static bool
check_delay(char **newval, void **extra, GucSource source)
{
	Interval   *iv = parse_interval_setting(*newval);

	if (iv == NULL || iv->month < 0 || iv->day < 0 || iv->time < 0)
	{
		GUC_check_errdetail("It must be an interval of zero or more, such as '1 minute'.");
		return false;
	}
	return true;
}

void
_PG_init(void)
{
	DefineCustomIntVariable("metrics_ex.max_series_per_metric",
							"Default maximum number of tag sets (series) per metric.",
							"A metric's own max_series, set with metrics_ex.define(), wins.",
							&metrics_ex_max_series_per_metric,
							10000, 1, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("metrics_ex.retention",
							   "Default retention of raw samples.",
							   "A metric's own retention, set with metrics_ex.set_retention(), wins.",
							   &metrics_ex_retention,
							   "24 hours",
							   PGC_SIGHUP, 0,
							   check_retention, NULL, NULL);

	DefineCustomStringVariable("metrics_ex.maintenance_interval",
							   "How often the retention job runs.",
							   "A job's own schedule, set with metrics_ex.alter_job(), wins.",
							   &metrics_ex_maintenance_interval,
							   "5 minutes",
							   PGC_SIGHUP, 0,
							   check_retention, NULL, NULL);

	DefineCustomStringVariable("metrics_ex.job_timeout",
							   "How long a scheduled job may run before it is cancelled.",
							   "A job's own timeout, set with metrics_ex.add_job() or alter_job(), wins.",
							   &metrics_ex_job_timeout,
							   "1 hour",
							   PGC_SIGHUP, 0,
							   check_retention, NULL, NULL);

	DefineCustomStringVariable("metrics_ex.rollup_delay",
							   "How far behind the current time maintenance rolls samples up.",
							   "Samples older than the rollup watermark (now minus this, to the minute) are late: "
							   "they also leave a delta that the next maintenance run merges.",
							   &metrics_ex_rollup_delay,
							   "1 minute",
							   PGC_SUSET, 0,
							   check_delay, NULL, NULL);

	DefineCustomIntVariable("metrics_ex.maintenance_lock_timeout",
							"How long maintenance waits for a strong lock before it gives up and retries later.",
							"Bounds how long writers and readers can queue behind partition upkeep and retention.",
							&metrics_ex_maintenance_lock_timeout,
							200, 1, 60 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("metrics_ex.partitions_ahead",
							"How many UTC days of sample partitions maintenance prepares beyond today.",
							"Samples outside the prepared days wait in metrics_ex.samples_default.",
							&metrics_ex_partitions_ahead,
							3, 1, 366,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	/*
	 * Background workers and the shared series dictionary exist only when
	 * the postmaster loads us.
	 */
	if (process_shared_preload_libraries_in_progress)
	{
		scheduler_init();
		series_dict_init();
	}
	/* the scrape endpoint's settings; its worker only when preloading */
	http_init();

	MarkGUCPrefixReserved("metrics_ex");

	notify_init();
	hooks_install();
}
