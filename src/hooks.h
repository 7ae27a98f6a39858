/*
 * hooks.h
 *		The one owner of metrics_ex's executor and utility hooks and its
 *		transaction callbacks (see hooks.c).
 */
#ifndef METRICS_EX_HOOKS_H
#define METRICS_EX_HOOKS_H

/* From _PG_init: install the hooks and callbacks, chaining to earlier ones. */
extern void hooks_install(void);

/*
 * How many executor runs and utility commands are in progress around the
 * caller: 0 between top-level statements, 1 inside a top-level statement,
 * more inside functions and triggers.  A statement that starts at level L
 * ends (hooks call storage_statement_end(L)) when the level is back to L.
 */
extern int	hooks_nesting_level(void);

#endif							/* METRICS_EX_HOOKS_H */
