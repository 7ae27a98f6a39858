/*
 * run_as.c
 *		Running user-defined SQL as the role that defined it (see run_as.h).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "maintenance/run_as.h"

void
run_as_role(Oid role, RunAsBody body, void *arg)
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role),
				 errhint("The role that defined this job or rule was dropped; remove the job or rule.")));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "\"$user\", public",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/* on error the (sub)transaction abort restores user and settings */
	body(arg);

	/* undo every setting the body changed, SET and SET LOCAL alike */
	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
}
