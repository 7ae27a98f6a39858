/*
 * copy.h
 *		The COPY metrics_ex.ingest fast path (see copy.c).
 */
#ifndef METRICS_EX_COPY_H
#define METRICS_EX_COPY_H

#include "nodes/plannodes.h"
#include "tcop/cmdtag.h"
#include "tcop/dest.h"
#include "utils/queryenvironment.h"

/*
 * hooks.c, in place of standard_ProcessUtility: run a COPY FROM into
 * metrics_ex.ingest; false when the statement is not one (run it normally).
 */
extern bool copy_fast_path(PlannedStmt *pstmt, const char *queryString,
						   QueryEnvironment *queryEnv, QueryCompletion *qc);

#endif							/* METRICS_EX_COPY_H */
