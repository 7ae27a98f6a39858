/*
 * scheduler.c
 *		The launcher and the per-database schedulers (see scheduler.h).
 *
 * The launcher connects to no database.  Every few seconds, and when woken
 * by CREATE EXTENSION, it lists the databases and starts a scheduler for
 * each that has none, within metrics_ex.max_workers.  A scheduler that finds
 * no metrics_ex in its database says so in its slot and exits; it is started
 * again only when CREATE EXTENSION wakes the launcher.  DROP DATABASE asks
 * the database's scheduler to leave before PostgreSQL checks for other
 * sessions, and DROP EXTENSION is noticed by the scheduler itself.
 *
 * A scheduler runs due jobs one at a time, each in its own transaction,
 * through metrics_ex.run_job(), which logs and catches the job's errors and
 * plans its next run; it sleeps until the next job is due (at most 10 s, so
 * it notices a dropped extension).  If it dies (SIGTERM, FATAL), the
 * postmaster starts it again; the jobs table says where it left off.
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "access/table.h"
#include "access/tableam.h"

#include "scheduler.h"

PG_FUNCTION_INFO_V1(metrics_ex_wake_launcher);
PG_FUNCTION_INFO_V1(metrics_ex_wake_scheduler);
PG_FUNCTION_INFO_V1(metrics_ex_workers);

PGDLLEXPORT void metrics_ex_launcher_main(Datum arg);
PGDLLEXPORT void metrics_ex_scheduler_main(Datum arg);

int			metrics_ex_max_workers = 8;

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_STARTING,				/* registered, not yet connected */
	SLOT_RUNNING,
	SLOT_NO_EXTENSION,			/* metrics_ex is not installed there */
	SLOT_STOPPED				/* DROP DATABASE asked it to leave */
} SlotState;

typedef struct SchedulerSlot
{
	Oid			dboid;
	SlotState	state;
	bool		wanted;			/* CREATE EXTENSION: start it again */
	bool		stop;			/* leave at the next chance */
	pid_t		pid;
	PGPROC	   *proc;
	TimestampTz retry_after;	/* SLOT_STOPPED: look again after this */
} SchedulerSlot;

typedef struct SchedulerShared
{
	slock_t		mutex;
	PGPROC	   *launcher;
	int			nslots;
	SchedulerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} SchedulerShared;

#define LAUNCHER_NAP_MS		5000
#define SCHEDULER_NAP_MS	10000
#define DROPDB_WAIT_MS		10000

static SchedulerShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static SchedulerSlot *my_slot = NULL;

static Size
shared_size(void)
{
	return add_size(offsetof(SchedulerShared, slots),
					mul_size(sizeof(SchedulerSlot), metrics_ex_max_workers));
}

static void
scheduler_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(shared_size());
}

static void
scheduler_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("metrics_ex schedulers", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		SpinLockInit(&shared->mutex);
		shared->nslots = metrics_ex_max_workers;
	}
	LWLockRelease(AddinShmemInitLock);
}

static SchedulerSlot *
find_slot(Oid dboid)
{
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].state != SLOT_FREE && shared->slots[i].dboid == dboid)
			return &shared->slots[i];
	return NULL;
}

/* Ask the scheduler of dboid, if any, to leave; wait until it has. */
static void
stop_scheduler(Oid dboid)
{
	SchedulerSlot *slot;
	pid_t		pid = 0;

	if (shared == NULL || !OidIsValid(dboid))
		return;
	SpinLockAcquire(&shared->mutex);
	slot = find_slot(dboid);
	if (slot != NULL)
	{
		slot->state = SLOT_STOPPED;
		slot->stop = true;
		slot->retry_after = GetCurrentTimestamp() + 60 * USECS_PER_SEC;
		pid = slot->pid;
		if (slot->proc)
			SetLatch(&slot->proc->procLatch);
	}
	SpinLockRelease(&shared->mutex);

	for (int waited = 0; pid != 0 && waited < DROPDB_WAIT_MS; waited += 100)
	{
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100 * 1000L);
		SpinLockAcquire(&shared->mutex);
		pid = slot->dboid == dboid ? slot->pid : 0;
		SpinLockRelease(&shared->mutex);
	}
	/* a job that does not end: interrupt it (it exits cleanly on SIGTERM) */
	if (pid != 0)
		kill(pid, SIGTERM);
}

static void
scheduler_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	/* a connected scheduler would make DROP DATABASE fail */
	if (IsA(parsetree, DropdbStmt) && !IsTransactionBlock())
	{
		Oid			dboid = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);

		/* only someone DROP DATABASE will let through may stop it */
		if (OidIsValid(dboid) && pg_database_ownercheck(dboid, GetUserId()))
			stop_scheduler(dboid);
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

void
scheduler_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("metrics_ex.max_workers",
							"Maximum number of metrics_ex schedulers (one per database).",
							"Each database with metrics_ex installed needs one; the launcher is extra.",
							&metrics_ex_max_workers,
							8, 1, 128,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = scheduler_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = scheduler_shmem_startup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = scheduler_ProcessUtility;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_ex");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "metrics_ex_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_ex launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_ex launcher");
	RegisterBackgroundWorker(&worker);
}

/* ---- launcher ---- */

static bool
start_scheduler(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;	/* after a crash or SIGTERM; exit(0) is final */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_ex");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "metrics_ex_scheduler_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_ex scheduler for database %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_ex scheduler");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

/* One pass: a scheduler for every database that wants one. */
static void
launcher_scan(MemoryContext pass_cxt)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbs = NIL;
	Oid		   *to_start;
	int			nstart = 0;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		/* connlimit -2 marks a database left half-dropped */
		if (db->datallowconn && !db->datistemplate && db->datconnlimit != -2)
		{
			/* the list must outlive the transaction */
			MemoryContext old = MemoryContextSwitchTo(pass_cxt);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();

	/* no allocation under the spinlock: room for every slot up front */
	to_start = MemoryContextAlloc(pass_cxt, sizeof(Oid) * shared->nslots);
	SpinLockAcquire(&shared->mutex);
	/* forget databases that are gone */
	for (int i = 0; i < shared->nslots; i++)
	{
		SchedulerSlot *s = &shared->slots[i];

		if (s->state != SLOT_FREE && s->pid == 0 && !list_member_oid(dbs, s->dboid))
			memset(s, 0, sizeof(*s));
	}
	foreach(lc, dbs)
	{
		Oid			dboid = lfirst_oid(lc);
		SchedulerSlot *s = find_slot(dboid);
		bool		start = false;

		if (s == NULL)
		{
			for (int i = 0; i < shared->nslots && s == NULL; i++)
				if (shared->slots[i].state == SLOT_FREE)
					s = &shared->slots[i];
			if (s == NULL)
				continue;		/* budget spent: metrics_ex.max_workers */
			memset(s, 0, sizeof(*s));
			s->dboid = dboid;
			start = true;
		}
		else if (s->state == SLOT_NO_EXTENSION && s->wanted)
			start = true;
		else if (s->state == SLOT_STOPPED && s->pid == 0 && now >= s->retry_after)
			start = true;

		if (start)
		{
			s->state = SLOT_STARTING;
			s->wanted = false;
			s->stop = false;
			to_start[nstart++] = dboid;
		}
	}
	SpinLockRelease(&shared->mutex);

	/* registering takes a lock: not under the spinlock */
	for (int i = 0; i < nstart; i++)
	{
		Oid			dboid = to_start[i];

		if (!start_scheduler(dboid))
		{
			/* no bgworker slot free: try again on the next pass */
			SpinLockAcquire(&shared->mutex);
			{
				SchedulerSlot *s = find_slot(dboid);

				if (s != NULL && s->state == SLOT_STARTING && s->pid == 0)
					memset(s, 0, sizeof(*s));
			}
			SpinLockRelease(&shared->mutex);
		}
	}
	MemoryContextReset(pass_cxt);
}

void
metrics_ex_launcher_main(Datum arg)
{
	MemoryContext pass_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	SpinLockAcquire(&shared->mutex);
	shared->launcher = MyProc;
	SpinLockRelease(&shared->mutex);
	pass_cxt = AllocSetContextCreate(TopMemoryContext, "metrics_ex launcher pass",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		launcher_scan(pass_cxt);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- scheduler ---- */

static void
scheduler_detach(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	my_slot->pid = 0;
	my_slot->proc = NULL;
	if (my_slot->state == SLOT_RUNNING || my_slot->state == SLOT_STARTING)
		my_slot->state = code == 0 ? SLOT_NO_EXTENSION : SLOT_STARTING;
	SpinLockRelease(&shared->mutex);
}

/* Leave for good: exit code 0 unregisters a dynamic worker. */
static void
scheduler_leave(SlotState state)
{
	SpinLockAcquire(&shared->mutex);
	if (my_slot != NULL && my_slot->state != SLOT_STOPPED)
		my_slot->state = state;
	SpinLockRelease(&shared->mutex);
	proc_exit(0);
}

/* One transaction: is metrics_ex here, and which job is due when? */
static bool
next_job(char **job, long *wait_ms)
{
	bool		installed;
	bool		isnull;

	*job = NULL;
	*wait_ms = SCHEDULER_NAP_MS;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "metrics_ex: looking for due jobs");

	/* an older version without jobs counts as not installed */
	SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'metrics_ex' "
				"AND pg_catalog.to_regclass('metrics_ex.job_defs') IS NOT NULL", true, 1);
	installed = SPI_processed == 1;
	if (installed &&
		SPI_execute("SELECT job, greatest(0, extract(epoch FROM next_run - pg_catalog.clock_timestamp()) * 1000)::float8 "
					"FROM metrics_ex.job_defs WHERE enabled ORDER BY next_run LIMIT 1", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		double		ms = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

		if (ms <= 0)
			*job = MemoryContextStrdup(TopMemoryContext,
									   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		else if (ms < *wait_ms)
			*wait_ms = (long) ms + 1;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return installed;
}

static void
run_job(const char *job)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, psprintf("metrics_ex: running job %s", job));
		args[0] = CStringGetTextDatum(job);
		SPI_execute_with_args("SELECT metrics_ex.run_job($1)", 1, argtypes, args, NULL, false, 1);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		/* run_job() catches the job's own errors; this is everything else */
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		pg_usleep(1000 * 1000L);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
metrics_ex_scheduler_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* only a scheduler the launcher still wants may connect */
	SpinLockAcquire(&shared->mutex);
	my_slot = find_slot(dboid);
	if (my_slot != NULL && (my_slot->state == SLOT_STARTING || my_slot->state == SLOT_RUNNING) &&
		!my_slot->stop)
	{
		my_slot->state = SLOT_RUNNING;
		my_slot->pid = MyProcPid;
		my_slot->proc = MyProc;
	}
	else
		my_slot = NULL;
	SpinLockRelease(&shared->mutex);
	if (my_slot == NULL)
		proc_exit(0);
	before_shmem_exit(scheduler_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, BOOTSTRAP_SUPERUSERID, 0);
	pgstat_report_appname("metrics_ex scheduler");
	/* we run as superuser: no object of a user's schema may stand in for ours */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		char	   *job;
		long		wait_ms;
		bool		stop;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		SpinLockAcquire(&shared->mutex);
		stop = my_slot->stop;
		SpinLockRelease(&shared->mutex);
		if (stop)
			scheduler_leave(SLOT_STOPPED);

		if (!next_job(&job, &wait_ms))
		{
			ereport(LOG, (errmsg("metrics_ex scheduler: extension not installed in this database, exiting")));
			scheduler_leave(SLOT_NO_EXTENSION);
		}
		if (job != NULL)
		{
			run_job(job);
			pfree(job);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- SQL-callable ---- */

/*
 * Wake the launcher when the transaction that installed metrics_ex commits:
 * a scheduler started earlier would not see the extension yet.
 */
static bool wake_at_commit = false;

static void
wake_launcher_at_commit(XactEvent event, void *arg)
{
	SchedulerSlot *slot;

	if (!wake_at_commit)
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = false;
	if (event != XACT_EVENT_COMMIT)
		return;
	wake_at_commit = false;
	SpinLockAcquire(&shared->mutex);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL)
		slot->wanted = true;
	if (shared->launcher)
		SetLatch(&shared->launcher->procLatch);
	SpinLockRelease(&shared->mutex);
}

/* CREATE EXTENSION calls this: start this database's scheduler. */
Datum
metrics_ex_wake_launcher(PG_FUNCTION_ARGS)
{
	static bool registered = false;

	if (shared == NULL)
		PG_RETURN_BOOL(false);	/* not preloaded: run_maintenance() it is */
	if (!registered)
	{
		RegisterXactCallback(wake_launcher_at_commit, NULL);
		registered = true;
	}
	wake_at_commit = true;
	PG_RETURN_BOOL(true);
}

/* alter_job() and add_job() call this: look at the jobs again now. */
Datum
metrics_ex_wake_scheduler(PG_FUNCTION_ARGS)
{
	SchedulerSlot *slot;

	if (shared == NULL)
		PG_RETURN_BOOL(false);
	SpinLockAcquire(&shared->mutex);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL && slot->proc != NULL)
		SetLatch(&slot->proc->procLatch);
	SpinLockRelease(&shared->mutex);
	PG_RETURN_BOOL(slot != NULL);
}

/* workers(): the launcher's view of every database, for monitoring. */
Datum
metrics_ex_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const names[] = {"free", "starting", "running", "no extension", "stopped"};
	SchedulerSlot *copy;
	int			nslots;

	SetSingleFuncCall(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	/* copy under the spinlock, build rows after: no allocation while held */
	copy = palloc(sizeof(SchedulerSlot) * shared->nslots);
	SpinLockAcquire(&shared->mutex);
	nslots = shared->nslots;
	memcpy(copy, shared->slots, sizeof(SchedulerSlot) * nslots);
	SpinLockRelease(&shared->mutex);

	for (int i = 0; i < nslots; i++)
	{
		SchedulerSlot *s = &copy[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (s->state == SLOT_FREE)
			continue;
		values[0] = ObjectIdGetDatum(s->dboid);
		values[1] = CStringGetTextDatum(names[s->state]);
		values[2] = Int32GetDatum(s->pid);
		nulls[2] = s->pid == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
