/*
 * attach.c
 *		attach(), detach() and the trigger that records a sample for every
 *		row inserted into a user's table (see attach.sql).
 *
 * Who runs what.  The trigger is an ordinary (not SECURITY DEFINER) C
 * statement trigger, so everything that reads the user's rows runs as the
 * role that inserted them: a cast, an output function or any other code of
 * a column's type runs with that role's privileges, as it would in any
 * trigger of the table.  What this file does with the values it got is C
 * code that evaluates nothing of the user's: it records them through the
 * write path on behalf of the table's owner, who must be allowed to record
 * (INSERT on metrics_ex.ingest); catalog rows are written as the
 * extension's owner, as for every write.  Column types are looked at when
 * the rows arrive, not only at attach() time, so ALTER COLUMN ... TYPE after
 * attach() cannot smuggle anything in.
 *
 * The registry row that attach() writes is what makes a trigger ours: a
 * trigger on _attach_trigger() without one records nothing and fails the
 * insert.  attached_by is taken from GetUserId() here, never from an
 * argument, and the registry is dumped with the database, so a restore
 * brings triggers and rows back together.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "hooks.h"
#include "metrics_ex.h"
#include "write/catalog.h"
#include "write/ingest.h"
#include "write/storage.h"
#include "write/tags.h"

PG_FUNCTION_INFO_V1(metrics_ex_attach);
PG_FUNCTION_INFO_V1(metrics_ex_detach);
PG_FUNCTION_INFO_V1(metrics_ex_attach_trigger);

static const char *const lineage_columns[] = {"work_id", "trace_id", "plan_id", "step_id"};

/* ---- shared checks ---- */

static char *
qualified_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/* The table to attach to: it exists, is a table, and the caller owns it. */
static Relation
open_source(FunctionCallInfo fcinfo)
{
	Oid			relid;
	Relation	rel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be NULL")));
	relid = PG_GETARG_OID(0);
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(rel)),
				 errhint("attach() records rows inserted into an ordinary or partitioned table.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", qualified_name(rel)),
				 errhint("Only the table's owner may attach metrics to it or detach them.")));
	return rel;
}

/* The trigger attach() makes for a metric: metrics_ex_<name>, or a hash. */
static char *
trigger_name_for(const char *metric)
{
	if (strlen("metrics_ex_") + strlen(metric) < NAMEDATALEN)
		return psprintf("metrics_ex_%s", metric);
	return psprintf("metrics_ex_%s",
					TextDatumGetCString(DirectFunctionCall1(md5_text,
															CStringGetTextDatum(metric))));
}

static bool
is_numeric_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID || t == FLOAT4OID ||
		t == FLOAT8OID || t == NUMERICOID;
}

static bool
is_time_type(Oid t)
{
	return t == TIMESTAMPTZOID || t == TIMESTAMPOID || t == DATEOID;
}

/* ---- the registry, as the extension's owner ---- */

typedef struct Attachment
{
	char	   *name;
	MetricKind	kind;
	char	   *value_column;	/* NULL: counters count rows */
	char	   *time_column;	/* NULL: now() */
	int			ntags;
	char	  **tag_columns;
} Attachment;

/* The registry row of (relid, trigger), in CurrentMemoryContext; false if none. */
static bool
registry_lookup(Oid relid, const char *trigger, Attachment *a)
{
	MemoryContext cxt = CurrentMemoryContext;
	OwnerContext oc;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];
	bool		found;

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(trigger);
	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT name, kind, value_column, time_column, tag_columns::pg_catalog.text[] "
							  "FROM metrics_ex.attachment_registry "
							  "WHERE source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
							  "AND trigger_name::pg_catalog.text OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: attachment lookup failed");
	found = SPI_processed == 1;
	if (found)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		char	   *v;
		bool		isnull;
		Datum		tags = SPI_getbinval(tup, desc, 5, &isnull);

		a->name = pstrdup(SPI_getvalue(tup, desc, 1));
		a->kind = kind_from_cstring(SPI_getvalue(tup, desc, 2), "kind");
		v = SPI_getvalue(tup, desc, 3);
		a->value_column = v ? pstrdup(v) : NULL;
		v = SPI_getvalue(tup, desc, 4);
		a->time_column = v ? pstrdup(v) : NULL;
		a->ntags = 0;
		a->tag_columns = NULL;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;

			deconstruct_array(DatumGetArrayTypePCopy(tags), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &a->ntags);
			a->tag_columns = palloc(sizeof(char *) * Max(a->ntags, 1));
			for (int i = 0; i < a->ntags; i++)
				a->tag_columns[i] = TextDatumGetCString(elems[i]);
		}
		MemoryContextSwitchTo(old);
	}
	owner_end(&oc);
	return found;
}

static bool
registry_has(Oid relid, const char *metric)
{
	OwnerContext oc;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];
	bool		found;

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(metric);
	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute_with_args("SELECT 1 FROM metrics_ex.attachment_registry "
							  "WHERE source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
							  "AND name OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: attachment lookup failed");
	found = SPI_processed == 1;
	owner_end(&oc);
	return found;
}

/* ---- the trigger ---- */

/* A column of the source by name, as it is now. */
static AttrNumber
column_now(Relation rel, const char *column, const char *role)
{
	AttrNumber	att = get_attnum(RelationGetRelid(rel), column);

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of \"%s\", the %s of an attached metric, no longer exists",
						column, RelationGetRelationName(rel), role),
				 errhint("metrics_ex.detach() the metric and attach() it again.")));
	return att;
}

/* A stored value of a number column as float8: built-in conversions only. */
static float8
number_value(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return (float8) DatumGetInt16(d);
		case INT4OID:
			return (float8) DatumGetInt32(d);
		case INT8OID:
			return (float8) DatumGetInt64(d);
		case FLOAT4OID:
			return (float8) DatumGetFloat4(d);
		case FLOAT8OID:
			return DatumGetFloat8(d);
		default:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
	}
}

static TimestampTz
time_value(Datum d, Oid type)
{
	if (type == TIMESTAMPTZOID)
		return DatumGetTimestampTz(d);
	if (type == TIMESTAMPOID)
		return DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz, d));
	return DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, d));
}

typedef struct TagColumn
{
	const char *name;
	AttrNumber	att;
	FmgrInfo	out;
} TagColumn;

/*
 * AFTER INSERT FOR EACH STATEMENT, REFERENCING NEW TABLE AS new_rows, made
 * by attach(): one sample per inserted row.
 */
Datum
metrics_ex_attach_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	Attachment	a;
	Oid			owner;
	AttrNumber	value_att = InvalidAttrNumber,
				time_att = InvalidAttrNumber;
	Oid			value_type = InvalidOid,
				time_type = InvalidOid;
	TagColumn  *tags;
	int			ntags = 0;
	text	   *name;
	TupleTableSlot *slot;
	int			readptr;
	MemoryContext row_cxt,
				old;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		td->tg_newtable == NULL)
		elog(ERROR, "metrics_ex_attach_trigger: must be the AFTER INSERT statement trigger that attach() makes");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (!registry_lookup(RelationGetRelid(rel), td->tg_trigger->tgname, &a))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on \"%s\" was not made by metrics_ex.attach()",
						td->tg_trigger->tgname, RelationGetRelationName(rel)),
				 errhint("metrics_ex.detach() the metric (or DROP TRIGGER), and attach() it again to record.")));

	/* the samples are the table owner's, who must be allowed to record */
	owner = rel->rd_rel->relowner;
	catalog_begin_write_for(owner);

	/* columns as they are now: types may have changed since attach() */
	if (a.value_column)
	{
		value_att = column_now(rel, a.value_column, "value column");
		value_type = TupleDescAttr(desc, value_att - 1)->atttypid;
		if (!is_numeric_type(value_type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("value column \"%s\" of \"%s\" is of type %s, not a number",
							a.value_column, RelationGetRelationName(rel), format_type_be(value_type)),
					 errhint("The value column must be smallint, integer, bigint, real, double precision or numeric; metrics_ex.detach() the metric to insert anyway.")));
	}
	if (a.time_column)
	{
		time_att = column_now(rel, a.time_column, "time column");
		time_type = TupleDescAttr(desc, time_att - 1)->atttypid;
		if (!is_time_type(time_type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("time column \"%s\" of \"%s\" is of type %s, not a timestamp",
							a.time_column, RelationGetRelationName(rel), format_type_be(time_type)),
					 errhint("The time column must be timestamptz, timestamp or date; metrics_ex.detach() the metric to insert anyway.")));
	}
	/* tag columns, then the lineage columns the table has */
	tags = palloc(sizeof(TagColumn) * (a.ntags + lengthof(lineage_columns)));
	for (int i = 0; i < a.ntags + (int) lengthof(lineage_columns); i++)
	{
		const char *col = i < a.ntags ? a.tag_columns[i] : lineage_columns[i - a.ntags];
		AttrNumber	att = i < a.ntags ? column_now(rel, col, "tag column") :
			get_attnum(RelationGetRelid(rel), col);
		Oid			outfn;
		bool		isvarlena;
		bool		dup = false;

		if (att == InvalidAttrNumber)
			continue;
		for (int j = 0; j < ntags; j++)
			dup |= strcmp(tags[j].name, col) == 0;
		if (dup)
			continue;
		tags[ntags].name = col;
		tags[ntags].att = att;
		/* the type's output function runs as the inserting role, like any of its code */
		getTypeOutputInfo(TupleDescAttr(desc, att - 1)->atttypid, &outfn, &isvarlena);
		fmgr_info(outfn, &tags[ntags].out);
		ntags++;
	}

	name = cstring_to_text(a.name);
	/* the rows are buffered and multi-inserted until the user's statement ends */
	storage_begin_bulk(hooks_nesting_level() - 1);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	readptr = tuplestore_alloc_read_pointer(td->tg_newtable, 0);
	tuplestore_select_read_pointer(td->tg_newtable, readptr);
	tuplestore_rescan(td->tg_newtable);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_ex attach row",
									ALLOCSET_DEFAULT_SIZES);
	while (tuplestore_gettupleslot(td->tg_newtable, true, false, slot))
	{
		float8		value = 1;
		TimestampTz ts = GetCurrentTransactionStartTimestamp();
		bool		isnull;
		TagBuilder	tb;
		Jsonb	   *series,
				   *lineage;
		Datum		d;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(row_cxt);
		if (value_att != InvalidAttrNumber)
		{
			d = slot_getattr(slot, value_att, &isnull);
			if (isnull)
			{
				MemoryContextSwitchTo(old);
				MemoryContextReset(row_cxt);
				continue;		/* no value, no sample */
			}
			value = number_value(d, value_type);
		}
		if (time_att != InvalidAttrNumber)
		{
			d = slot_getattr(slot, time_att, &isnull);
			if (!isnull)
				ts = time_value(d, time_type);
		}
		tags_begin(&tb);
		for (int i = 0; i < ntags; i++)
		{
			JsonbValue	v;
			char	   *s;

			d = slot_getattr(slot, tags[i].att, &isnull);
			if (isnull)
				continue;		/* a NULL tag is no tag */
			s = OutputFunctionCall(&tags[i].out, d);
			v.type = jbvString;
			v.val.string.val = s;
			v.val.string.len = strlen(s);
			tags_add_pair(&tb, tags[i].name, strlen(tags[i].name), &v, "tag column");
		}
		tags_finish(&tb, &series, &lineage);
		record_sample_for(owner, name, a.kind, value, true, series, lineage, ts);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(row_cxt);
	return PointerGetDatum(NULL);
}

/* ---- attach() and detach() ---- */

/* Run a statement as the caller (DDL on the caller's table). */
static void
exec_as_caller(const char *sql)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "metrics_ex: could not run: %s", sql);
	SPI_finish();
}

/* A trigger of ours on relid by that name, left without its registry row? */
static bool
has_our_trigger(Relation rel, const char *tgname)
{
	TriggerDesc *trig = rel->trigdesc;
	Oid			nsp = get_namespace_oid(METRICS_EX_SCHEMA, false);

	for (int i = 0; trig != NULL && i < trig->numtriggers; i++)
	{
		Oid			fn = trig->triggers[i].tgfoid;
		char	   *fname = get_func_name(fn);

		if (strcmp(trig->triggers[i].tgname, tgname) == 0 && get_func_namespace(fn) == nsp &&
			fname != NULL && strcmp(fname, "_attach_trigger") == 0)
			return true;
	}
	return false;
}

static void
check_column(Relation rel, const char *col, const char *argname, bool (*type_ok) (Oid),
			 const char *wanted)
{
	AttrNumber	att = get_attnum(RelationGetRelid(rel), col);
	Oid			type;

	if (att == InvalidAttrNumber || att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of \"%s\" does not exist", col, RelationGetRelationName(rel))));
	type = get_atttype(RelationGetRelid(rel), att);
	if (type_ok != NULL && !type_ok(type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s \"%s\" of \"%s\" is of type %s, not %s", argname, col,
						RelationGetRelationName(rel), format_type_be(type), wanted)));
}

/*
 * attach(source, name, kind, value_column, tag_columns, time_column).  The
 * caller must own the table and be allowed to record; the table's owner
 * must stay allowed for inserts to go on being recorded.
 */
Datum
metrics_ex_attach(PG_FUNCTION_ARGS)
{
	Relation	rel = open_source(fcinfo);
	char	   *metric;
	char	   *kindstr;
	MetricKind	kind;
	char	   *value_column = PG_ARGISNULL(3) ? NULL : NameStr(*PG_GETARG_NAME(3));
	char	   *time_column = PG_ARGISNULL(5) ? NULL : NameStr(*PG_GETARG_NAME(5));
	ArrayType  *tagarr = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	Datum	   *tagelems = NULL;
	bool	   *tagnulls = NULL;
	int			ntags = 0;
	char	   *tgname;
	OwnerContext oc;
	Oid			argtypes[8] = {OIDOID, TEXTOID, TEXTOID, NAMEOID, NAMEARRAYOID, NAMEOID, NAMEOID, OIDOID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	catalog_begin_write();		/* the caller may record */
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric name must not be NULL")));
	metric = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_metric_name(metric, strlen(metric), "name");
	kindstr = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	kind = kind_from_cstring(kindstr, "kind");
	if (kind == KIND_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid kind \"%s\"", kindstr),
				 errhint("The kind is one of counter, gauge or histogram.")));
	if (kind != KIND_COUNTER && value_column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s needs value_column", kind_name(kind)),
				 errhint("Name the column that holds the value; a counter without one counts rows.")));
	if (value_column)
		check_column(rel, value_column, "value_column", is_numeric_type, "a number");
	if (time_column)
		check_column(rel, time_column, "time_column", is_time_type, "a timestamp");
	if (tagarr)
	{
		if (ARR_NDIM(tagarr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tag_columns must be a one-dimensional array")));
		deconstruct_array(tagarr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &tagelems, &tagnulls, &ntags);
	}
	for (int i = 0; i < ntags; i++)
	{
		char	   *col;

		if (tagnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tag_columns must not contain NULL")));
		col = NameStr(*DatumGetName(tagelems[i]));
		check_column(rel, col, "tag column", NULL, NULL);
		tags_check_key(col, strlen(col), "tag column");
	}
	if (registry_has(RelationGetRelid(rel), metric))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("metric \"%s\" is already attached to \"%s\"", metric, RelationGetRelationName(rel)),
				 errhint("metrics_ex.detach() it first to change how it is recorded.")));

	/* as the caller, who owns the table; a trigger left without its row goes */
	tgname = trigger_name_for(metric);
	if (has_our_trigger(rel, tgname))
		exec_as_caller(psprintf("DROP TRIGGER %s ON %s", quote_identifier(tgname), qualified_name(rel)));
	exec_as_caller(psprintf("CREATE TRIGGER %s AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows "
							"FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._attach_trigger()",
							quote_identifier(tgname), qualified_name(rel)));

	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = CStringGetTextDatum(metric);
	args[2] = CStringGetTextDatum(kind_name(kind));
	args[3] = value_column ? DirectFunctionCall1(namein, CStringGetDatum(value_column)) : (Datum) 0;
	nulls[3] = value_column ? ' ' : 'n';
	args[4] = tagarr ? PointerGetDatum(tagarr) :
		PointerGetDatum(construct_empty_array(NAMEOID));
	args[5] = time_column ? DirectFunctionCall1(namein, CStringGetDatum(time_column)) : (Datum) 0;
	nulls[5] = time_column ? ' ' : 'n';
	args[6] = DirectFunctionCall1(namein, CStringGetDatum(tgname));
	args[7] = ObjectIdGetDatum(GetUserId());
	owner_begin(&oc);
	if (SPI_execute_with_args("INSERT INTO metrics_ex.attachment_registry "
							  "(source, name, kind, value_column, tag_columns, time_column, trigger_name, attached_by) "
							  "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8::pg_catalog.regrole)",
							  8, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "metrics_ex: could not register the attachment");
	owner_end(&oc);
	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

/* detach(source, name): drop the trigger and forget the attachment. */
Datum
metrics_ex_detach(PG_FUNCTION_ARGS)
{
	Relation	rel = open_source(fcinfo);
	char	   *metric;
	char	   *tgname = NULL;
	OwnerContext oc;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric name must not be NULL")));
	metric = text_to_cstring(PG_GETARG_TEXT_PP(1));
	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = CStringGetTextDatum(metric);

	catalog_lookup();
	owner_begin(&oc);
	if (SPI_execute_with_args("DELETE FROM metrics_ex.attachment_registry "
							  "WHERE source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
							  "AND name OPERATOR(pg_catalog.=) $2 RETURNING trigger_name::pg_catalog.text",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "metrics_ex: could not forget the attachment");
	if (SPI_processed == 1)
		tgname = MemoryContextStrdup(oc.caller_cxt,
									 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	owner_end(&oc);

	/* no row: perhaps a trigger left without one (a restore), else nothing */
	if (tgname == NULL)
	{
		tgname = trigger_name_for(metric);
		if (!has_our_trigger(rel, tgname))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("metric \"%s\" is not attached to \"%s\"", metric, RelationGetRelationName(rel)),
					 errhint("SELECT * FROM metrics_ex.attach_events lists what is attached.")));
	}
	exec_as_caller(psprintf("DROP TRIGGER IF EXISTS %s ON %s", quote_identifier(tgname),
							qualified_name(rel)));
	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}
