/*
 * jobs.c
 *		Running jobs and changing them (see jobs.sql).
 *
 * Who runs what:
 *	- Bookkeeping (job_defs, job_runs) and the built-in jobs (materialize,
 *	  retention) run as the extension's owner, through owner_begin(): fixed
 *	  SQL over our own tables, nothing a user defines.
 *	- A job added with add_job() runs as the role that added it, in a
 *	  security-restricted operation (run_as.c), whoever triggers the run:
 *	  the scheduler, or a superuser calling run_job().
 *	- A job may be changed, run by hand or removed only by a role with the
 *	  privileges of its owner (for built-in jobs, of the extension's owner),
 *	  or a superuser.  The owner is taken from GetUserId() here, in C, never
 *	  from an argument.
 *
 * run_job() runs a job in the caller's transaction, catching its errors in a
 * subtransaction.  The scheduler instead calls jobs_run_scheduled() outside
 * any transaction: it marks the job running in a transaction of its own (so
 * that a run the server did not survive is found and recorded as crashed),
 * runs it with the job's time limit, retention one partition per
 * transaction with a lock timeout, and logs the outcome in a last one.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "maintenance/jobs.h"
#include "maintenance/run_as.h"
#include "maintenance/scheduler.h"
#include "metrics_ex.h"
#include "write/catalog.h"

PG_FUNCTION_INFO_V1(metrics_ex_run_job);
PG_FUNCTION_INFO_V1(metrics_ex_add_job);
PG_FUNCTION_INFO_V1(metrics_ex_alter_job);
PG_FUNCTION_INFO_V1(metrics_ex_remove_job);

#define JOB_NAME_MAX 200

typedef struct Job
{
	char	   *name;
	char	   *kind;			/* materialize, retention, sql */
	char	   *command;		/* sql jobs */
	Oid			owner;			/* sql jobs; built-in: InvalidOid */
	double		timeout_ms;		/* scheduler runs only */
} Job;

/* ---- SQL as the extension's owner ---- */

/*
 * Run one statement as the extension's owner; with want_result, return the
 * first column of the first row as text, allocated in CurrentMemoryContext
 * (NULL for no row or a NULL).
 */
static char *
owner_exec(const char *sql, int nargs, Oid *argtypes, Datum *args,
		   const char *nulls, bool want_result)
{
	MemoryContext cxt = CurrentMemoryContext;
	OwnerContext oc;
	char	   *result = NULL;

	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute_with_args(sql, nargs, argtypes, args, nulls, false, 0) < 0)
		elog(ERROR, "metrics_ex: job statement failed: %s", sql);
	if (want_result && SPI_tuptable != NULL && SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = MemoryContextStrdup(cxt, v);
	}
	owner_end(&oc);
	return result;
}

static char *
owner_exec1(const char *sql, const char *arg)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(arg);
	return owner_exec(sql, 1, argtypes, args, NULL, true);
}

/*
 * A job from a row of (kind, command, owner oid, timeout in ms), in cxt.
 * The timeout column may be absent (run_job() by hand has none).
 */
static void
job_from_row(Job *job, const char *name, HeapTuple tup, TupleDesc desc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *command = SPI_getvalue(tup, desc, 2);
	char	   *owner = SPI_getvalue(tup, desc, 3);
	char	   *timeout = desc->natts >= 4 ? SPI_getvalue(tup, desc, 4) : NULL;

	job->name = pstrdup(name);
	job->kind = pstrdup(SPI_getvalue(tup, desc, 1));
	job->command = command ? pstrdup(command) : NULL;
	job->owner = owner ? atooid(owner) : InvalidOid;
	job->timeout_ms = timeout ? strtod(timeout, NULL) : 0;
	MemoryContextSwitchTo(old);
}

/* The job called name; false when there is none.  lock: FOR UPDATE. */
static bool
job_load(const char *name, Job *job, bool lock)
{
	MemoryContext cxt = CurrentMemoryContext;
	OwnerContext oc;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		found;

	args[0] = CStringGetTextDatum(name);
	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute_with_args(lock ?
							  "SELECT kind, command, owner::oid FROM metrics_ex.job_defs "
							  "WHERE job OPERATOR(pg_catalog.=) $1 FOR UPDATE" :
							  "SELECT kind, command, owner::oid FROM metrics_ex.job_defs "
							  "WHERE job OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: job lookup failed");
	found = SPI_processed == 1;
	if (found)
		job_from_row(job, name, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, cxt);
	owner_end(&oc);
	return found;
}

/* The role the job runs as. */
static Oid
job_runner(const Job *job)
{
	return OidIsValid(job->owner) ? job->owner : catalog_owner();
}

static void
check_may_manage(const Job *job)
{
	if (superuser() || has_privs_of_role(GetUserId(), job_runner(job)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be the owner of job \"%s\"", job->name),
			 errhint(OidIsValid(job->owner) ?
					 "Only the role that added a job (or a superuser) may change, run or remove it." :
					 "Built-in jobs belong to the extension's owner.")));
}

static void
job_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("job \"%s\" does not exist", name),
			 errhint("SELECT job FROM metrics_ex.jobs lists the jobs.")));
}

/* Log a run and plan the next one. */
static void
job_record(const char *name, TimestampTz started, const char *status,
		   const char *err, const char *details, bool retry_soon)
{
	Oid			argtypes[6] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	args[0] = CStringGetTextDatum(name);
	args[1] = TimestampTzGetDatum(started);
	args[2] = CStringGetTextDatum(status);
	args[3] = err ? CStringGetTextDatum(err) : (Datum) 0;
	nulls[3] = err ? ' ' : 'n';
	args[4] = details ? CStringGetTextDatum(details) : (Datum) 0;
	nulls[4] = details ? ' ' : 'n';
	args[5] = BoolGetDatum(retry_soon);
	(void) owner_exec("SELECT metrics_ex._job_finish($1, $2, $3, $4, $5::pg_catalog.jsonb, $6)",
					  6, argtypes, args, nulls, false);
}

/* ---- a job's work ---- */

static void
exec_sql_body(void *arg)
{
	const char *sql = arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "metrics_ex: the job's SQL could not be run");
	SPI_finish();
}

/*
 * Alert evaluation as the caller: the scheduler's superuser session, or
 * whoever runs the job by hand.  evaluate_alerts() reads each rule's data
 * as the rule's owner and evaluates the rules of the roles the caller has
 * the privileges of (a superuser: all).
 */
static char *
exec_alerts(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *result = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT pg_catalog.json_build_object('transitions', pg_catalog.count(*))::pg_catalog.text "
					"FROM metrics_ex.evaluate_alerts()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not evaluate the alert rules");
	if (SPI_processed == 1)
		result = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return result;
}

/*
 * Do the job in the current transaction; returns its details (JSON text) or
 * NULL.  Retention here is prune(): the scheduler runs it step by step.
 */
static char *
job_body(const Job *job)
{
	if (strcmp(job->kind, "materialize") == 0)
		/* never holds writers back: the next run rolls up what this one publishes */
		return owner_exec("SELECT metrics_ex.materialize(false)::pg_catalog.text", 0, NULL, NULL, NULL, true);
	if (strcmp(job->kind, "retention") == 0)
		return owner_exec("SELECT metrics_ex.prune()::pg_catalog.text", 0, NULL, NULL, NULL, true);
	if (strcmp(job->kind, "alerts") == 0)
		return exec_alerts();
	run_as_role(job->owner, exec_sql_body, job->command);
	return NULL;
}

/* ---- SQL-callable ---- */

/* run_job(job): run it now, in this transaction; 'succeeded' or 'failed'. */
Datum
metrics_ex_run_job(PG_FUNCTION_ARGS)
{
	char	   *name;
	Job			job;
	TimestampTz started;
	char	   *volatile details = NULL;
	char	   *volatile err = NULL;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!job_load(name, &job, true))
		job_not_found(name);
	check_may_manage(&job);

	started = GetCurrentTimestamp();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		details = job_body(&job);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		err = edata->message;
	}
	PG_END_TRY();

	job_record(name, started, err ? "failed" : "succeeded", err, details, false);
	PG_RETURN_TEXT_P(cstring_to_text(err ? "failed" : "succeeded"));
}

static void
check_interval_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	Interval   *iv;

	if (PG_ARGISNULL(argno))
		return;
	iv = PG_GETARG_INTERVAL_P(argno);
	if (iv->month < 0 || iv->day < 0 || iv->time < 0 ||
		(iv->month == 0 && iv->day == 0 && iv->time <= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", argname),
				 errhint("For example '1 minute'.")));
}

/* add_job(job, command, schedule, timeout): SQL of the caller's, as the caller. */
Datum
metrics_ex_add_job(PG_FUNCTION_ARGS)
{
	Oid			argtypes[5] = {TEXTOID, TEXTOID, OIDOID, INTERVALOID, INTERVALOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char	   *name;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job, command and schedule must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strlen(name) == 0 || strlen(name) > JOB_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job must be a name of 1 to %d bytes", JOB_NAME_MAX)));
	check_interval_arg(fcinfo, 2, "schedule");
	check_interval_arg(fcinfo, 3, "timeout");

	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = ObjectIdGetDatum(GetUserId());
	args[3] = PG_GETARG_DATUM(2);
	args[4] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[4] = PG_ARGISNULL(3) ? 'n' : ' ';
	if (owner_exec("INSERT INTO metrics_ex.job_defs (job, kind, command, owner, schedule, timeout, next_run) "
				   "VALUES ($1, 'sql', $2, $3::pg_catalog.regrole, $4, $5, "
				   "pg_catalog.now() OPERATOR(pg_catalog.+) $4) "
				   "ON CONFLICT (job) DO NOTHING RETURNING 1",
				   5, argtypes, args, nulls, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("job \"%s\" already exists", name),
				 errhint("Pick another name, or change it with metrics_ex.alter_job().")));
	scheduler_wake();
	PG_RETURN_VOID();
}

/* alter_job(job, schedule, enabled, timeout): NULL keeps what is set. */
Datum
metrics_ex_alter_job(PG_FUNCTION_ARGS)
{
	Oid			argtypes[4] = {TEXTOID, INTERVALOID, BOOLOID, INTERVALOID};
	Datum		args[4];
	char		nulls[4];
	Job			job;
	char	   *name;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_interval_arg(fcinfo, 1, "schedule");
	check_interval_arg(fcinfo, 3, "timeout");
	if (!job_load(name, &job, true))
		job_not_found(name);
	check_may_manage(&job);

	for (int i = 0; i < 4; i++)
	{
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	(void) owner_exec("UPDATE metrics_ex.job_defs d SET "
					  "schedule = coalesce($2, d.schedule), "
					  "enabled = coalesce($3, d.enabled), "
					  "timeout = coalesce($4, d.timeout), "
					  "next_run = CASE WHEN $2 IS NOT NULL THEN "
					  "least(d.next_run, pg_catalog.now() OPERATOR(pg_catalog.+) $2) "
					  "ELSE d.next_run END "
					  "WHERE d.job OPERATOR(pg_catalog.=) $1",
					  4, argtypes, args, nulls, false);
	scheduler_wake();
	PG_RETURN_VOID();
}

/* remove_job(job): jobs added with add_job() only. */
Datum
metrics_ex_remove_job(PG_FUNCTION_ARGS)
{
	Job			job;
	char	   *name;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("job must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!job_load(name, &job, true))
		job_not_found(name);
	if (strcmp(job.kind, "sql") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("job \"%s\" is built in and cannot be removed", name),
				 errhint("Disable it with metrics_ex.alter_job('%s', enabled => false).", name)));
	check_may_manage(&job);
	(void) owner_exec1("DELETE FROM metrics_ex.job_defs WHERE job OPERATOR(pg_catalog.=) $1 RETURNING 1", name);
	PG_RETURN_VOID();
}

/* ---- the scheduler's runs: transactions of their own ---- */

typedef char *(*StepFn) (void *arg);

typedef struct StepOutcome
{
	char	   *result;			/* what fn returned */
	char	   *error;			/* NULL: committed */
	bool		lock_busy;		/* the error was a lock timeout */
} StepOutcome;

/* The end of the job's time limit (scheduler runs). */
static TimestampTz job_deadline;

/*
 * One transaction around fn(arg), with what is left of the job's time
 * limit as statement timeout and, with lock_timeout, the maintenance lock
 * timeout.  Errors are caught: the transaction is rolled back and the error
 * reported in the outcome, allocated in cxt.
 */
static StepOutcome
run_step(StepFn fn, void *arg, bool lock_timeout, MemoryContext cxt)
{
	StepOutcome out = {NULL, NULL, false};
	long		left_ms = (long) ((job_deadline - GetCurrentTimestamp()) / 1000);

	if (left_ms <= 0)
	{
		out.error = MemoryContextStrdup(cxt, "the job ran longer than its timeout");
		return out;
	}
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		char	   *r;

		PushActiveSnapshot(GetTransactionSnapshot());
		if (lock_timeout)
			(void) set_config_option("lock_timeout",
									 GetConfigOption("metrics_ex.maintenance_lock_timeout", false, false),
									 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
		enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(left_ms, INT_MAX));
		r = fn(arg);
		disable_timeout(STATEMENT_TIMEOUT, false);
		if (r != NULL)
			out.result = MemoryContextStrdup(cxt, r);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		out.lock_busy = edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && GetCurrentTimestamp() >= job_deadline)
			out.error = MemoryContextStrdup(cxt, "the job ran longer than its timeout");
		else
			out.error = MemoryContextStrdup(cxt, edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return out;
}

static char *
step_body(void *arg)
{
	return job_body((const Job *) arg);
}

/* A retention step runs only while no prune() by hand runs. */
static bool
retention_lock(void)
{
	char	   *got = owner_exec("SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('metrics_ex.prune'))",
								 0, NULL, NULL, NULL, true);

	return got != NULL && strcmp(got, "t") == 0;
}

static char *
step_prune_rows(void *arg)
{
	if (!retention_lock())
		return NULL;
	(void) owner_exec("SELECT metrics_ex.materialize(false)", 0, NULL, NULL, NULL, false);
	return owner_exec("SELECT metrics_ex._prune_rows()::pg_catalog.text", 0, NULL, NULL, NULL, true);
}

/* The text values of a one-column query, in the step's memory. */
static List *
owner_list(const char *sql, MemoryContext cxt)
{
	OwnerContext oc;
	List	   *result = NIL;

	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: %s failed", sql);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		result = lappend(result, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(old);
	}
	owner_end(&oc);
	return result;
}

typedef struct ListStep
{
	const char *sql;
	MemoryContext cxt;
	List	   *result;
} ListStep;

static char *
step_list(void *arg)
{
	ListStep   *ls = arg;

	ls->result = owner_list(ls->sql, ls->cxt);
	return NULL;
}

typedef struct OneStep
{
	const char *sql;
	const char *arg;
} OneStep;

static char *
step_one(void *arg)
{
	OneStep    *os = arg;

	if (!retention_lock())
		return "busy";
	return owner_exec1(os->sql, os->arg);
}

/* What one kind of retention step did. */
typedef struct StepTally
{
	int			done;			/* steps that did something */
	int			skipped;		/* steps whose lock was busy */
	int64		sum;			/* of the numbers they returned */
	char	   *error;			/* the first other error: stop */
} StepTally;

/*
 * For each value of list_sql (a one-column query), a transaction of its
 * own running step_sql with that value as $1, with the maintenance lock
 * timeout.  A step that returns NULL did nothing.
 */
static void
run_each(const char *list_sql, const char *step_sql, MemoryContext cxt, StepTally *t)
{
	ListStep	ls = {list_sql, cxt, NIL};
	StepOutcome out;
	ListCell   *lc;

	out = run_step(step_list, &ls, false, cxt);
	if (out.error)
	{
		t->error = out.error;
		return;
	}
	foreach(lc, ls.result)
	{
		OneStep		os = {step_sql, lfirst(lc)};

		out = run_step(step_one, &os, true, cxt);
		if (out.lock_busy || (out.result && strcmp(out.result, "busy") == 0))
			t->skipped++;
		else if (out.error)
		{
			t->error = out.error;
			return;
		}
		else if (out.result)
		{
			t->done++;
			t->sum += strtoll(out.result, NULL, 10);
		}
	}
}

/*
 * Retention, one short transaction per step: rows (and materialize), then
 * each coming day's partition, then each expired partition, counted and
 * dropped in one transaction.  A step whose lock is busy is skipped and the
 * job comes back soon.
 */
static char *
run_retention(Job *job, MemoryContext cxt, char **error, bool *retry_soon)
{
	StepOutcome out;
	StepTally	made = {0, 0, 0, NULL},
				dropped = {0, 0, 0, NULL};

	out = run_step(step_prune_rows, NULL, false, cxt);
	if (out.error)
	{
		*error = out.error;
		return NULL;
	}
	run_each("SELECT d::pg_catalog.text FROM metrics_ex._partition_days_wanted() d",
			 "SELECT metrics_ex._create_day_partition($1::pg_catalog.timestamptz)", cxt, &made);
	if (made.error == NULL)
		run_each("SELECT p::pg_catalog.oid::pg_catalog.text FROM metrics_ex._expired_partitions() p",
				 "SELECT metrics_ex._drop_expired_partition($1::pg_catalog.oid::pg_catalog.regclass)",
				 cxt, &dropped);
	*error = made.error ? made.error : dropped.error;
	*retry_soon = made.skipped + dropped.skipped > 0;
	return psprintf("{\"rows\": %s, \"partitions_created\": %d, \"samples_moved\": " INT64_FORMAT ", "
					"\"partitions_dropped\": %d, \"samples_dropped\": " INT64_FORMAT ", \"partitions_skipped\": %d}",
					out.result ? out.result : "{}", made.done, made.sum,
					dropped.done, dropped.sum, made.skipped + dropped.skipped);
}

/*
 * materialize(false) twice, each in a transaction of its own: the first
 * rolls up to the watermark an earlier run published and publishes the
 * next; the second, once the writers that began before that commit are
 * done, rolls up to it.  The rollups then lag by metrics_ex.rollup_delay
 * plus at most the job's interval, and no writer ever waits for either.
 */
static char *
run_materialize(Job *job, MemoryContext cxt, char **error)
{
	StepOutcome first,
				second;

	first = run_step(step_body, job, false, cxt);
	if (first.error)
	{
		*error = first.error;
		return NULL;
	}
	second = run_step(step_body, job, false, cxt);
	*error = second.error;
	return psprintf("{\"published\": %s, \"caught_up\": %s}",
					first.result ? first.result : "null",
					second.result ? second.result : "null");
}

typedef struct StartStep
{
	const char *name;
	Job		   *job;
	MemoryContext cxt;
	bool		due;
} StartStep;

static char *
step_start(void *arg)
{
	StartStep  *ss = arg;
	OwnerContext oc;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(ss->name);
	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT kind, command, owner, timeout_ms FROM metrics_ex._job_start($1)",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: could not start job \"%s\"", ss->name);
	ss->due = SPI_processed == 1;
	if (ss->due)
		job_from_row(ss->job, ss->name, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ss->cxt);
	owner_end(&oc);
	return NULL;
}

typedef struct FinishStep
{
	const char *name;
	TimestampTz started;
	const char *status;
	const char *error;
	const char *details;
	bool		retry_soon;
} FinishStep;

static char *
step_finish(void *arg)
{
	FinishStep *fs = arg;

	job_record(fs->name, fs->started, fs->status, fs->error, fs->details, fs->retry_soon);
	return NULL;
}

static char *
step_recover(void *arg)
{
	return owner_exec("SELECT metrics_ex._job_recover()::pg_catalog.text", 0, NULL, NULL, NULL, true);
}

void
jobs_run_scheduled(const char *name)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex job run",
											  ALLOCSET_DEFAULT_SIZES);
	Job			job;
	StartStep	ss = {name, &job, cxt, false};
	FinishStep	fs;
	StepOutcome out;
	char	   *details = NULL;
	char	   *error = NULL;
	bool		retry_soon = false;

	/* bookkeeping has a minute, whatever the job's own limit */
	job_deadline = GetCurrentTimestamp() + 60 * USECS_PER_SEC;
	out = run_step(step_start, &ss, false, cxt);
	if (out.error != NULL || !ss.due)
	{
		if (out.error)
			ereport(WARNING,
					(errmsg("metrics_ex scheduler: could not start job \"%s\": %s", name, out.error)));
		MemoryContextDelete(cxt);
		return;
	}

	fs.started = GetCurrentTimestamp();
	job_deadline = fs.started + (TimestampTz) (job.timeout_ms * 1000);
	if (strcmp(job.kind, "retention") == 0)
		details = run_retention(&job, cxt, &error, &retry_soon);
	else if (strcmp(job.kind, "materialize") == 0)
		details = run_materialize(&job, cxt, &error);
	else
	{
		out = run_step(step_body, &job, false, cxt);
		details = out.result;
		error = out.error;
	}
	/* a job's session-level advisory locks must not outlive it */
	LockReleaseAll(USER_LOCKMETHOD, true);

	fs.name = name;
	fs.status = error ? "failed" : "succeeded";
	fs.error = error;
	fs.details = details;
	fs.retry_soon = retry_soon;
	job_deadline = GetCurrentTimestamp() + 60 * USECS_PER_SEC;
	out = run_step(step_finish, &fs, false, cxt);
	if (out.error)
		ereport(WARNING,
				(errmsg("metrics_ex scheduler: could not log the run of job \"%s\": %s", name, out.error)));
	MemoryContextDelete(cxt);
}

void
jobs_recover_crashed(void)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex job recovery",
											  ALLOCSET_SMALL_SIZES);
	StepOutcome out;

	job_deadline = GetCurrentTimestamp() + 60 * USECS_PER_SEC;
	out = run_step(step_recover, NULL, false, cxt);
	if (out.error)
		ereport(WARNING,
				(errmsg("metrics_ex scheduler: could not check for unfinished job runs: %s", out.error)));
	else if (out.result && strcmp(out.result, "0") != 0)
		ereport(LOG,
				(errmsg("metrics_ex scheduler: %s job run(s) did not finish and were recorded as crashed",
						out.result)));
	MemoryContextDelete(cxt);
}
