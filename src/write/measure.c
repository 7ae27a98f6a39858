/*
 * measure.c
 *		measure(name, statement, tags): run a statement, record its wall time
 *		in milliseconds as a histogram sample, return it.
 *
 * The statement runs as the caller, with the caller's search_path, in a
 * subtransaction so that its failure can be seen.  A failing statement's
 * sample (tag status=error) cannot be written in the transaction that the
 * re-raised error rolls back: it waits in the session and the session's next
 * write stores it (ingest_defer_sample).
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "write/ingest.h"

PG_FUNCTION_INFO_V1(metrics_ex_measure);

static double
ms_since(TimestampTz started)
{
	return (double) (GetCurrentTimestamp() - started) / 1000.0;
}

Datum
metrics_ex_measure(PG_FUNCTION_ARGS)
{
	text	   *name;
	char	   *statement;
	Jsonb	   *tags;
	TimestampTz started;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	double		ms;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("metric name must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("statement must not be NULL")));
	name = PG_GETARG_TEXT_PP(0);
	statement = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tags = PG_ARGISNULL(2) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))) :
		PG_GETARG_JSONB_P(2);

	started = GetCurrentTimestamp();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) SPI_execute(statement, false, 0);
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		Jsonb	   *failed;

		ms = ms_since(started);
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		failed = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(tags),
													DirectFunctionCall1(jsonb_in,
																		CStringGetDatum("{\"status\": \"error\"}"))));
		ingest_defer_sample(name, KIND_HISTOGRAM, ms, failed, GetCurrentTransactionStartTimestamp());
		ReThrowError(edata);
	}
	PG_END_TRY();

	ms = ms_since(started);
	ingest_record(name, KIND_HISTOGRAM, ms, tags, GetCurrentTransactionStartTimestamp());
	PG_RETURN_FLOAT8(ms);
}
