/*
 * table_contract.h
 *		The shape a table must have for the write path to write it by hand.
 *
 * The write path inserts tuples below the executor (heap and multi-inserts),
 * which skips what the executor would do for a row: defaults, CHECK
 * constraints, triggers, rules, row security, type coercion.  Before it
 * writes a table it therefore checks that there is nothing of the kind to
 * skip and that every column is the one it means to write, and refuses
 * anything else with an error that says what is wrong.
 */
#ifndef METRICS_EX_TABLE_CONTRACT_H
#define METRICS_EX_TABLE_CONTRACT_H

#include "utils/rel.h"

typedef struct ColumnContract
{
	const char *name;
	const char *type;			/* pg_catalog type, or a metrics_ex one */
	bool		nullable;		/* we may write NULL into it */
} ColumnContract;

/*
 * Check rel against cols: each column present with its type, no other
 * column, nothing the write would bypass.  With indexes_ok false, any index
 * is refused too (the caller maintains none).  attnums (may be NULL) gets
 * each contract column's attribute number.
 */
extern void table_contract_check(Relation rel, const ColumnContract *cols, int ncols,
								 bool indexes_ok, AttrNumber *attnums);

#endif							/* METRICS_EX_TABLE_CONTRACT_H */
