/*
 * table_contract.c
 *		Checking a table's shape before writing it by hand (see
 *		table_contract.h).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "metrics_ex.h"
#include "write/table_contract.h"

static void
refuse(Relation rel, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("metrics_ex cannot write table \"%s.%s\": %s",
					get_namespace_name(RelationGetNamespace(rel)),
					RelationGetRelationName(rel), what),
			 errhint("metrics_ex writes this table below the executor; undo the change (or reinstall the extension).")));
}

/* The type a contract names: pg_catalog's, else metrics_ex's. */
static Oid
contract_type(const char *name)
{
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum(name),
										ObjectIdGetDatum(PG_CATALOG_NAMESPACE));

	if (!OidIsValid(typid))
		typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum(name),
								ObjectIdGetDatum(get_namespace_oid(METRICS_EX_SCHEMA, false)));
	if (!OidIsValid(typid))
		elog(ERROR, "metrics_ex: type \"%s\" does not exist", name);
	return typid;
}

void
table_contract_check(Relation rel, const ColumnContract *cols, int ncols,
					 bool indexes_ok, AttrNumber *attnums)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			found = 0;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		const ColumnContract *col = NULL;
		int			c;

		if (att->attisdropped)
			continue;
		for (c = 0; c < ncols && col == NULL; c++)
			if (strcmp(NameStr(att->attname), cols[c].name) == 0)
				col = &cols[c];
		if (col == NULL)
			refuse(rel, psprintf("column \"%s\" is not one of its own", NameStr(att->attname)));
		c--;
		if (att->atttypid != contract_type(col->type))
			refuse(rel, psprintf("column \"%s\" is of type %s, not %s", col->name,
								 format_type_be(att->atttypid), col->type));
		if (att->attnotnull && col->nullable)
			refuse(rel, psprintf("column \"%s\" has been made NOT NULL", col->name));
		if (att->atthasdef || att->attgenerated)
			refuse(rel, psprintf("column \"%s\" has a default or is generated", col->name));
		if (attnums)
			attnums[c] = att->attnum;
		found++;
	}
	if (found != ncols)
		refuse(rel, "one of its columns is missing");
	if (desc->constr && desc->constr->num_check > 0)
		refuse(rel, "it has a CHECK constraint");
	if (rel->trigdesc != NULL)
		refuse(rel, "it has a trigger");
	if (rel->rd_rules != NULL)
		refuse(rel, "it has a rule");
	if (rel->rd_rel->relrowsecurity)
		refuse(rel, "row level security is enabled on it");
	if (!indexes_ok && RelationGetIndexList(rel) != NIL)
		refuse(rel, "it has an index");
}
