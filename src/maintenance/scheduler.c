/*
 * scheduler.c
 *		The launcher and the per-database schedulers (see scheduler.h).
 *
 * The launcher connects to no database.  Every few seconds, and when woken,
 * it lists the databases and gives a scheduler slot (of
 * metrics_ex.max_workers) to each that may have metrics_ex.  Whether one has
 * it is known only from inside: a scheduler started for a database it has
 * not checked yet looks, and where metrics_ex is missing it says so in the
 * shared table of databases, gives its slot back and exits.  Such a
 * database is looked at again when CREATE EXTENSION wakes the launcher, and
 * every ten minutes.  So only databases with the extension keep a slot; one
 * that finds every slot taken is logged with a WARNING and listed by
 * workers().
 *
 * A scheduler runs due jobs one at a time through jobs.c, which gives each
 * run transactions of its own and a time limit.  It sleeps until the next
 * job is due (at most 10 s, so it notices a dropped extension) and does not
 * run jobs while pg_restore is loading its database.  If it dies (SIGTERM,
 * FATAL), the postmaster starts it again; job_defs says where it left off,
 * and a run it left unfinished is recorded as crashed.
 *
 * DROP DATABASE, ALTER DATABASE RENAME or SET TABLESPACE and CREATE DATABASE
 * ... TEMPLATE need the database to themselves: a scheduler there is asked
 * to leave first (hooks.c calls scheduler_before_utility()) and may come back
 * once the command is over.  Nothing starts under pg_upgrade.
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
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
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "maintenance/jobs.h"
#include "maintenance/scheduler.h"

PG_FUNCTION_INFO_V1(metrics_ex_wake_launcher);
PG_FUNCTION_INFO_V1(metrics_ex_workers);

PGDLLEXPORT void metrics_ex_launcher_main(Datum arg);
PGDLLEXPORT void metrics_ex_scheduler_main(Datum arg);

int			metrics_ex_max_workers = 8;

typedef enum SlotState
{
	SLOT_FREE = 0,
	SLOT_STARTING,				/* registered, not yet connected */
	SLOT_RUNNING,
	SLOT_STOPPED				/* asked to leave (DROP DATABASE and the like) */
} SlotState;

typedef struct SchedulerSlot
{
	Oid			dboid;
	SlotState	state;
	bool		stop;			/* leave at the next chance */
	pid_t		pid;
	PGPROC	   *proc;
	TimestampTz retry_after;	/* SLOT_STOPPED: start again after this */
} SchedulerSlot;

/* What the launcher knows of a database. */
typedef enum DbKnown
{
	DB_UNCHECKED = 0,
	DB_NO_EXTENSION,
	DB_HAS_EXTENSION
} DbKnown;

typedef struct DbEntry
{
	Oid			dboid;			/* InvalidOid: unused */
	DbKnown		known;
	bool		wanted;			/* CREATE EXTENSION committed there */
	bool		left_out;		/* wanted a slot and found none */
	bool		warned;			/* logged as left out though it has metrics_ex */
	TimestampTz checked_at;
} DbEntry;

/* Databases remembered; when full, the longest-checked one is forgotten. */
#define MAX_DB_ENTRIES 1024

typedef struct SchedulerShared
{
	slock_t		mutex;
	PGPROC	   *launcher;
	int			nslots;
	DbEntry		dbs[MAX_DB_ENTRIES];
	SchedulerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} SchedulerShared;

#define LAUNCHER_NAP_MS		5000
#define SCHEDULER_NAP_MS	10000
#define STOP_GRACE_MS		2000	/* then SIGTERM */
#define STOP_WAIT_MS		10000
#define RECHECK_USECS		(600 * USECS_PER_SEC)

static SchedulerShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static SchedulerSlot *my_slot = NULL;

/* the database a utility command made its scheduler leave, for after it */
static Oid	stepped_aside = InvalidOid;

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

/* ---- shared state; the caller holds the spinlock ---- */

static SchedulerSlot *
find_slot(Oid dboid)
{
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].state != SLOT_FREE && shared->slots[i].dboid == dboid)
			return &shared->slots[i];
	return NULL;
}

static SchedulerSlot *
free_slot(void)
{
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].state == SLOT_FREE)
			return &shared->slots[i];
	return NULL;
}

/* The entry of dboid; with create, a new one (forgetting the stalest). */
static DbEntry *
db_entry(Oid dboid, bool create)
{
	DbEntry    *oldest = NULL;

	for (int i = 0; i < MAX_DB_ENTRIES; i++)
	{
		DbEntry    *e = &shared->dbs[i];

		if (e->dboid == dboid)
			return e;
		if (oldest == NULL || e->dboid == InvalidOid ||
			(oldest->dboid != InvalidOid && e->checked_at < oldest->checked_at))
			oldest = e;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	oldest->dboid = dboid;
	return oldest;
}

/* ---- stepping aside for commands that need the database alone ---- */

/* Ask the scheduler of dboid, if any, to leave; wait until it has. */
static void
stop_scheduler(Oid dboid)
{
	SchedulerSlot *slot;
	pid_t		pid = 0;

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

	for (int waited = 0; pid != 0 && waited < STOP_WAIT_MS; waited += 100)
	{
		/* a job that does not end: interrupt it (it exits cleanly on SIGTERM) */
		if (waited == STOP_GRACE_MS)
			kill(pid, SIGTERM);
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100 * 1000L);
		SpinLockAcquire(&shared->mutex);
		pid = slot->dboid == dboid ? slot->pid : 0;
		SpinLockRelease(&shared->mutex);
	}
}

/* The database a utility command needs to itself, if the caller may run it. */
static Oid
database_wanted_alone(Node *parsetree)
{
	const char *dbname = NULL;
	Oid			dboid;

	if (IsA(parsetree, DropdbStmt))
		dbname = ((DropdbStmt *) parsetree)->dbname;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		dbname = ((RenameStmt *) parsetree)->subname;
	else if (IsA(parsetree, CreatedbStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreatedbStmt *) parsetree)->options)
		{
			DefElem    *opt = lfirst(lc);

			if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
				dbname = defGetString(opt);
		}
	}
	else if (IsA(parsetree, AlterDatabaseStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
				dbname = ((AlterDatabaseStmt *) parsetree)->dbname;
	}
	if (dbname == NULL)
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	/* only someone the command will let through may make a scheduler leave */
	if (!OidIsValid(dboid) || !pg_database_ownercheck(dboid, GetUserId()))
		return InvalidOid;
	return dboid;
}

void
scheduler_before_utility(Node *parsetree)
{
	Oid			dboid;

	if (shared == NULL)
		return;
	dboid = database_wanted_alone(parsetree);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId)
		return;
	stop_scheduler(dboid);
	stepped_aside = dboid;
}

/* The command is over (done or failed): the scheduler may come back now. */
void
scheduler_after_utility(Node *parsetree)
{
	SchedulerSlot *slot;

	if (shared == NULL || !OidIsValid(stepped_aside))
		return;
	SpinLockAcquire(&shared->mutex);
	slot = find_slot(stepped_aside);
	if (slot != NULL && slot->state == SLOT_STOPPED)
		slot->retry_after = 0;
	if (shared->launcher)
		SetLatch(&shared->launcher->procLatch);
	SpinLockRelease(&shared->mutex);
	stepped_aside = InvalidOid;
}

/* ---- setup ---- */

void
scheduler_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("metrics_ex.max_workers",
							"Maximum number of metrics_ex schedulers (one per database with the extension).",
							"The launcher is one more background worker.",
							&metrics_ex_max_workers,
							8, 1, 128,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	/* pg_upgrade runs the server to copy catalogs: nothing may start */
	if (IsBinaryUpgrade)
		return;

	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = scheduler_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = scheduler_shmem_startup;

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

typedef struct DbName
{
	Oid			oid;
	NameData	name;
} DbName;

/* The databases a scheduler may connect to (DbName), in pass_cxt. */
static List *
list_databases(MemoryContext pass_cxt)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbs = NIL;

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
			MemoryContext old = MemoryContextSwitchTo(pass_cxt);
			DbName	   *d = palloc(sizeof(DbName));

			d->oid = db->oid;
			d->name = db->datname;
			dbs = lappend(dbs, d);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return dbs;
}

/* Does this database want a slot now, and how badly (higher first)? */
static int
db_priority(DbEntry *e, TimestampTz now)
{
	if (e->known == DB_HAS_EXTENSION)
		return 3;
	if (e->wanted)
		return 2;
	if (e->known == DB_UNCHECKED || now - e->checked_at >= RECHECK_USECS)
		return 1;
	return 0;
}

static bool
db_listed(List *dbs, Oid dboid)
{
	ListCell   *lc;

	foreach(lc, dbs)
		if (((DbName *) lfirst(lc))->oid == dboid)
			return true;
	return false;
}

/* One pass: a scheduler for every database that wants one, best first. */
static void
launcher_scan(MemoryContext pass_cxt)
{
	List	   *dbs = list_databases(pass_cxt);
	Oid		   *to_start;
	DbName	  **to_warn;
	int			nstart = 0,
				nwarn = 0,
				nunchecked = 0;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	/* no allocation under the spinlock: room for everything up front */
	to_start = MemoryContextAlloc(pass_cxt, sizeof(Oid) * (list_length(dbs) + shared->nslots));
	to_warn = MemoryContextAlloc(pass_cxt, sizeof(DbName *) * (list_length(dbs) + 1));

	SpinLockAcquire(&shared->mutex);
	/* forget databases that are gone */
	for (int i = 0; i < shared->nslots; i++)
	{
		SchedulerSlot *s = &shared->slots[i];

		if (s->state != SLOT_FREE && s->pid == 0 && !db_listed(dbs, s->dboid))
			memset(s, 0, sizeof(*s));
	}
	for (int i = 0; i < MAX_DB_ENTRIES; i++)
		if (shared->dbs[i].dboid != InvalidOid && !db_listed(dbs, shared->dbs[i].dboid))
			memset(&shared->dbs[i], 0, sizeof(DbEntry));

	/* a stopped scheduler whose wait is over comes back */
	for (int i = 0; i < shared->nslots; i++)
	{
		SchedulerSlot *s = &shared->slots[i];

		if (s->state == SLOT_STOPPED && s->pid == 0 && now >= s->retry_after)
		{
			s->state = SLOT_STARTING;
			s->stop = false;
			to_start[nstart++] = s->dboid;
		}
	}

	for (int prio = 3; prio >= 1; prio--)
	{
		foreach(lc, dbs)
		{
			DbName	   *d = lfirst(lc);
			DbEntry    *e = db_entry(d->oid, true);
			SchedulerSlot *s;

			if (find_slot(d->oid) != NULL || db_priority(e, now) != prio)
				continue;
			s = free_slot();
			if (s == NULL)
			{
				/* say so once, until it gets a slot */
				if (prio >= 2 && !e->warned)
				{
					to_warn[nwarn++] = d;
					e->warned = true;
				}
				else if (prio < 2 && !e->left_out)
					nunchecked++;
				e->left_out = true;
				continue;
			}
			memset(s, 0, sizeof(*s));
			s->dboid = d->oid;
			s->state = SLOT_STARTING;
			e->left_out = false;
			e->warned = false;
			e->wanted = false;
			to_start[nstart++] = d->oid;
		}
	}
	SpinLockRelease(&shared->mutex);

	/* registering takes a lock, logging allocates: not under the spinlock */
	for (int i = 0; i < nstart; i++)
	{
		if (!start_scheduler(to_start[i]))
		{
			/* no background worker slot free: try again on the next pass */
			SpinLockAcquire(&shared->mutex);
			{
				SchedulerSlot *s = find_slot(to_start[i]);

				if (s != NULL && s->state == SLOT_STARTING && s->pid == 0)
					memset(s, 0, sizeof(*s));
			}
			SpinLockRelease(&shared->mutex);
		}
	}
	for (int i = 0; i < nwarn; i++)
		ereport(WARNING,
				(errmsg("metrics_ex: database \"%s\" has metrics_ex but gets no scheduler: all %d metrics_ex.max_workers slots are in use",
						NameStr(to_warn[i]->name), shared->nslots),
				 errhint("Raise metrics_ex.max_workers (server restart), or run SELECT * FROM metrics_ex.run_maintenance() in that database from cron.")));
	if (nunchecked > 0)
		ereport(WARNING,
				(errmsg("metrics_ex: %d database(s) could not be checked for metrics_ex: all %d metrics_ex.max_workers slots are in use",
						nunchecked, shared->nslots),
				 errhint("SELECT * FROM metrics_ex.workers() lists them; raise metrics_ex.max_workers (server restart) if one of them has the extension.")));
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
	/* the postmaster restarts us after an error exit: keep the slot */
	if (my_slot->state == SLOT_RUNNING)
		my_slot->state = SLOT_STARTING;
	SpinLockRelease(&shared->mutex);
}

/*
 * Leave for good (exit code 0 unregisters a dynamic worker).  Without the
 * extension here, the slot goes back to the pool and the launcher learns
 * not to start us again until CREATE EXTENSION says so.
 */
static void
scheduler_leave(bool no_extension)
{
	SpinLockAcquire(&shared->mutex);
	if (no_extension)
	{
		DbEntry    *e = db_entry(MyDatabaseId, true);

		e->known = DB_NO_EXTENSION;
		e->checked_at = GetCurrentTimestamp();
	}
	if (my_slot != NULL && my_slot->state != SLOT_STOPPED)
		memset(my_slot, 0, sizeof(*my_slot));
	else if (my_slot != NULL)
	{
		my_slot->pid = 0;
		my_slot->proc = NULL;
	}
	my_slot = NULL;
	if (shared->launcher)
		SetLatch(&shared->launcher->procLatch);
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

	/* no job while pg_restore is loading the tables it would work on */
	if (installed &&
		SPI_execute("SELECT 1 FROM pg_catalog.pg_stat_activity a "
					"WHERE a.datid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d "
					"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
					"AND a.application_name OPERATOR(pg_catalog.=) 'pg_restore' "
					"AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		*wait_ms = 1000;
	else if (installed &&
			 SPI_execute("SELECT job, greatest(0, extract(epoch FROM next_run "
						 "OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) * 1000)::pg_catalog.float8 "
						 "FROM metrics_ex.job_defs WHERE enabled AND running_since IS NULL "
						 "ORDER BY next_run LIMIT 1", true, 1) == SPI_OK_SELECT &&
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

void
metrics_ex_scheduler_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		recovered = false;

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
	/*
	 * We connect as superuser and act as the extension's owner or a job's
	 * owner: no object of a user's schema may stand in for ours.  (Jobs get
	 * a search_path of their own, and what they set is undone.)
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

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
			scheduler_leave(false);

		if (!next_job(&job, &wait_ms))
		{
			ereport(LOG, (errmsg("metrics_ex scheduler: extension not installed in this database, exiting")));
			scheduler_leave(true);
		}
		if (!recovered)
		{
			SpinLockAcquire(&shared->mutex);
			db_entry(MyDatabaseId, true)->known = DB_HAS_EXTENSION;
			SpinLockRelease(&shared->mutex);
			jobs_recover_crashed();
			recovered = true;
			continue;
		}
		if (job != NULL)
		{
			pgstat_report_activity(STATE_RUNNING, psprintf("metrics_ex: running job %s", job));
			jobs_run_scheduled(job);
			pgstat_report_activity(STATE_IDLE, NULL);
			pfree(job);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- wake-ups ---- */

/*
 * Wake the launcher when the transaction that installed metrics_ex commits:
 * a scheduler started earlier would not see the extension yet.
 */
static bool wake_at_commit = false;

void
scheduler_xact_end(bool committed)
{
	if (!wake_at_commit)
		return;
	wake_at_commit = false;
	if (!committed || shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	db_entry(MyDatabaseId, true)->wanted = true;
	if (shared->launcher)
		SetLatch(&shared->launcher->procLatch);
	SpinLockRelease(&shared->mutex);
}

/* CREATE EXTENSION calls this: start this database's scheduler. */
Datum
metrics_ex_wake_launcher(PG_FUNCTION_ARGS)
{
	if (shared == NULL)
		PG_RETURN_BOOL(false);	/* not preloaded: run_maintenance() it is */
	wake_at_commit = true;
	PG_RETURN_BOOL(true);
}

void
scheduler_wake(void)
{
	SchedulerSlot *slot;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	slot = find_slot(MyDatabaseId);
	if (slot != NULL && slot->proc != NULL)
		SetLatch(&slot->proc->procLatch);
	SpinLockRelease(&shared->mutex);
}

/* workers(): the launcher's view of every database, for monitoring. */
Datum
metrics_ex_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const names[] = {"free", "starting", "running", "stopped"};
	SchedulerSlot *slots;
	DbEntry    *dbs;
	int			nslots;

	SetSingleFuncCall(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;
	/* copy under the spinlock, build rows after: no allocation while held */
	slots = palloc(sizeof(SchedulerSlot) * shared->nslots);
	dbs = palloc(sizeof(DbEntry) * MAX_DB_ENTRIES);
	SpinLockAcquire(&shared->mutex);
	nslots = shared->nslots;
	memcpy(slots, shared->slots, sizeof(SchedulerSlot) * nslots);
	memcpy(dbs, shared->dbs, sizeof(DbEntry) * MAX_DB_ENTRIES);
	SpinLockRelease(&shared->mutex);

	for (int i = 0; i < nslots; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (slots[i].state == SLOT_FREE)
			continue;
		values[0] = ObjectIdGetDatum(slots[i].dboid);
		values[1] = CStringGetTextDatum(names[slots[i].state]);
		values[2] = Int32GetDatum(slots[i].pid);
		nulls[2] = slots[i].pid == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	/* those left out for want of a slot */
	for (int i = 0; i < MAX_DB_ENTRIES; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, true};

		if (dbs[i].dboid == InvalidOid || !dbs[i].left_out)
			continue;
		values[0] = ObjectIdGetDatum(dbs[i].dboid);
		values[1] = CStringGetTextDatum(dbs[i].known == DB_HAS_EXTENSION || dbs[i].wanted ?
										"no slot" : "unchecked");
		values[2] = (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
