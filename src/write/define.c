/*
 * define.c
 *		metrics_ex.define(): create or update a metric's definition.
 *
 * Runs its catalog statement as the tables' owner after checking that the
 * caller may write metrics, like the record path, so a writer role can
 * describe its own metrics without privileges on the catalog tables.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "metrics_ex.h"

PG_FUNCTION_INFO_V1(metrics_ex_define);

#define HELP_MAX	4096
#define UNIT_MAX	64
#define BUCKETS_MAX	256

/* Histogram bucket bounds: finite, strictly increasing, no NULLs. */
static void
check_buckets(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets must be a one-dimensional array")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n == 0 || n > BUCKETS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("buckets must have between 1 and %d bounds", BUCKETS_MAX),
				 errhint("Give the upper bounds without +Inf, which is always added.")));
	for (int i = 0; i < n; i++)
	{
		float8		b;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("buckets must not contain NULL")));
		b = DatumGetFloat8(elems[i]);
		if (isnan(b) || isinf(b))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("buckets must be finite numbers"),
					 errhint("+Inf is always the last bucket; do not list it.")));
		if (i > 0 && b <= DatumGetFloat8(elems[i - 1]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("buckets must be strictly increasing"),
					 errhint("For example '{0.005, 0.01, 0.1, 1, 10}'.")));
	}
}

static void
check_length(FunctionCallInfo fcinfo, int argno, const char *argname, int max)
{
	if (!PG_ARGISNULL(argno) && (int) VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(argno)) > max)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long", argname),
				 errhint("At most %d bytes.", max)));
}

/*
 * A metric's series limit protects the database from a writer that mints
 * tag sets without end.  Writers may lower it; raising it above the server's
 * metrics_ex.max_series_per_metric (a superuser's setting) takes the
 * administrator's grant: UPDATE on metrics_ex.metrics, which the extension's
 * owner has.
 */
static void
check_may_raise_limit(int32 max_series)
{
	Oid			metrics;

	if (max_series <= metrics_ex_max_series_per_metric)
		return;
	catalog_lookup();
	metrics = get_relname_relid("metrics", get_namespace_oid(METRICS_EX_SCHEMA, false));
	if (pg_class_aclcheck(metrics, GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to raise max_series to %d", max_series),
				 errdetail("The server's limit, metrics_ex.max_series_per_metric, is %d.",
						   metrics_ex_max_series_per_metric),
				 errhint("A limit above it needs UPDATE on metrics_ex.metrics (an administrator's grant).")));
}

/*
 * define(name, kind, help, unit, buckets, max_series).  On an existing
 * metric, NULL arguments keep what is defined.  The kind of a metric that
 * already has series cannot change: its samples mean something else.
 */
Datum
metrics_ex_define(PG_FUNCTION_ARGS)
{
	text	   *name;
	char	   *namestr;
	MetricKind	kind;
	OwnerContext oc;
	Oid			argtypes[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8ARRAYOID, INT4OID, BOOLOID,
	TIMESTAMPTZOID};
	Datum		args[8];
	char		nulls[8];
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric name must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind must not be NULL"),
				 errhint("The kind is one of counter, gauge or histogram.")));
	name = PG_GETARG_TEXT_PP(0);
	namestr = text_to_cstring(name);
	check_metric_name(namestr, strlen(namestr), "name");
	kind = kind_from_cstring(text_to_cstring(PG_GETARG_TEXT_PP(1)), "kind");
	if (kind == KIND_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid kind \"\""),
				 errhint("The kind is one of counter, gauge or histogram.")));
	check_length(fcinfo, 2, "help", HELP_MAX);
	check_length(fcinfo, 3, "unit", UNIT_MAX);
	if (!PG_ARGISNULL(4))
	{
		if (kind != KIND_HISTOGRAM)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("buckets are only for histograms"),
					 errhint("Define \"%s\" as a histogram, or pass buckets => NULL.", namestr)));
		check_buckets(PG_GETARG_ARRAYTYPE_P(4));
	}
	if (!PG_ARGISNULL(5) && PG_GETARG_INT32(5) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_series must be positive"),
				 errhint("Pass NULL to use metrics_ex.max_series_per_metric.")));
	if (!PG_ARGISNULL(5))
		check_may_raise_limit(PG_GETARG_INT32(5));

	for (int i = 0; i < 7; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	args[1] = CStringGetTextDatum(kind_name(kind));

	catalog_begin_write();
	owner_begin(&oc);

	/* an existing metric with series keeps its kind */
	if (SPI_execute_with_args("SELECT m.kind, EXISTS (SELECT 1 FROM metrics_ex.series s "
							  "WHERE s.metric_id OPERATOR(pg_catalog.=) m.id), "
							  "$5 IS NOT NULL AND m.buckets IS DISTINCT FROM $5 "
							  "FROM metrics_ex.metrics m WHERE m.name OPERATOR(pg_catalog.=) $1 FOR UPDATE OF m",
							  5, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "metrics_ex: metric lookup failed");
	if (SPI_processed == 1)
	{
		char	   *oldkind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		bool		has_series = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 2, &isnull));

		bool		new_buckets = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 3, &isnull));

		/* rollups and totals add bucket counts up: the bounds must stay */
		if (has_series && new_buckets)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("metric \"%s\" has recorded series; its buckets cannot change", namestr),
					 errhint("Bucket counts of different bounds cannot be added up.  Use another metric name.")));
		if (has_series && strcmp(oldkind, kind_name(kind)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("metric \"%s\" is a %s with recorded series; it cannot become a %s",
							namestr, oldkind, kind_name(kind)),
					 errhint("Use another metric name for the new kind.")));
	}

	/*
	 * Minute rollups start at the rollup watermark: rows before it were
	 * rolled up without them, and queries must not look for them there.
	 * (Read first: Citus takes no subquery in an INSERT's VALUES.)
	 */
	if (SPI_execute("SELECT w.done FROM metrics_ex.watermarks() w", false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "metrics_ex: could not read the rollup watermark");
	args[7] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	nulls[7] = ' ';
	if (SPI_execute_with_args("INSERT INTO metrics_ex.metrics AS m "
							  "(name, kind, help, unit, buckets, max_series, minute_rollups_from) "
							  "VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN $8 END) "
							  "ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, "
							  "help = coalesce(EXCLUDED.help, m.help), "
							  "unit = coalesce(EXCLUDED.unit, m.unit), "
							  "buckets = CASE WHEN EXCLUDED.kind OPERATOR(pg_catalog.=) 'histogram' "
							  "THEN coalesce(EXCLUDED.buckets, m.buckets) END, "
							  "max_series = coalesce(EXCLUDED.max_series, m.max_series), "
							  "minute_rollups_from = CASE WHEN $7 IS NULL THEN m.minute_rollups_from "
							  "WHEN $7 THEN coalesce(m.minute_rollups_from, EXCLUDED.minute_rollups_from) END",
							  8, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "metrics_ex: could not define metric \"%s\"", namestr);
	owner_end(&oc);

	/* our own cache may hold the old kind; other backends hear the trigger */
	catalog_flush();
	PG_RETURN_VOID();
}
