/*
 * run_as.h
 *		Running user-defined SQL as the role that defined it.
 *
 * Jobs (add_job) and alert rules of kind 'sql' hold SQL that a role wrote;
 * the scheduler, and whoever calls run_job() or evaluate_alerts() by hand,
 * must run it with that role's privileges and no more, never as themselves
 * and never as the extension's owner.
 */
#ifndef METRICS_EX_RUN_AS_H
#define METRICS_EX_RUN_AS_H

typedef void (*RunAsBody) (void *arg);

/*
 * Call body(arg) as role, the way PostgreSQL runs a table owner's code in
 * REFRESH MATERIALIZED VIEW: current user switched to role inside a
 * security-restricted operation (no SET ROLE or SESSION AUTHORIZATION, no
 * temporary objects, no LISTEN, no cursors WITH HOLD), with search_path at
 * PostgreSQL's default ("$user", public), and every setting the body changes
 * undone afterwards.  Errors propagate; the caller's subtransaction or
 * transaction abort restores the rest.  A role that no longer exists is an
 * error.  (Session-level advisory locks the body takes stay: the scheduler
 * releases them after each job.)
 */
extern void run_as_role(Oid role, RunAsBody body, void *arg);

#endif							/* METRICS_EX_RUN_AS_H */
