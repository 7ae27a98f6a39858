/*
 * series_dict.c
 *		The series dictionary shared by all backends (see series_dict.h).
 *
 * A dshash table in a DSA area that lives in the main shared memory segment,
 * set up by the postmaster: its size is fixed when the server starts
 * (metrics_ex.series_cache_size), it never asks the operating system for more
 * (no DSM segments, so no /dev/shm to run out of).  Entries are counted
 * against the size with room to spare for the allocator's rounding and the
 * hash table's bucket array, so that no write fails for want of room; when
 * it is full nothing more is added (see empty_for_room()): lookups of what
 * is there go on working, and the rest is found by each backend through its
 * own cache and the catalog.
 *
 * Protocol.  Every entry carries the generation it was added at; a lookup
 * trusts an entry only when that is the current generation, which it reads
 * first.  Adders read the generation before the snapshot of the catalog read
 * (or before the lookup) that gave them the series, and add nothing once it
 * has moved on.  A transaction that removes or changes series moves it on
 * after its commit became visible and before its invalidation messages are
 * sent: a reader whose snapshot still saw the old rows either finds the
 * generation moved on when it adds them, or added them before, stamped with
 * the old generation.  Old entries are swept out by the next adder (one at a
 * time, under sweep_lock); until then they are only taking space.
 *
 * The tag bytes are kept in each entry (beside it when long) and compared on
 * every lookup: trusting a 64-bit hash alone could, however rarely, put
 * samples into the wrong series.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/dshash.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "write/series_dict.h"

int			metrics_ex_series_cache_size = 64;

/* with the dshash item header, 160 bytes: one of DSA's size classes */
#define INLINE_BYTES	88

typedef struct DictEntry
{
	SeriesKey	key;
	int64		series_id;
	uint64		generation;
	dsa_pointer bytes;			/* when longer than INLINE_BYTES */
	char		inline_bytes[INLINE_BYTES];
} DictEntry;

StaticAssertDecl(sizeof(DictEntry) + 16 == 160, "a dictionary entry is 160 bytes with its header");

typedef struct DictShared
{
	int			tranche_id;
	LWLock		sweep_lock;
	dshash_table_handle table;
	Size		area_size;
	pg_atomic_uint64 generation;
	pg_atomic_uint64 swept;		/* no entry of an earlier generation left */
	pg_atomic_uint64 bytes_used;
	pg_atomic_uint64 entries;
	pg_atomic_uint64 peak_entries;	/* the bucket array never shrinks */
	pg_atomic_uint64 emptied_at;	/* TimestampTz when it was last emptied for room */
} DictShared;

#define AREA_OFFSET MAXALIGN(sizeof(DictShared))
#define DictArea(d) ((char *) (d) + AREA_OFFSET)

/*
 * Cost of an entry against the limit: the dshash item (entry and header),
 * longer tag bytes with DSA's rounding (at most a quarter up), and the
 * bucket array's share at its worst (a pointer per bucket, buckets at most
 * ~3 per entry, the old array alive while a resize copies it).  Tag sets
 * larger than MAX_BYTES stay out.
 */
#define ITEM_COST		160
#define BUCKET_COST		64
#define MAX_BYTES		4096
#define BytesCost(len)	((len) <= INLINE_BYTES ? 0 : (len) + (len) / 4 + 8)

#define EMPTY_INTERVAL	(60 * USECS_PER_SEC)

static DictShared *dict = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

/* this backend's mapping, made on first use */
static dsa_area *area = NULL;
static dshash_table *table = NULL;

static int
key_compare(const void *a, const void *b, size_t size, void *arg)
{
	return memcmp(a, b, sizeof(SeriesKey));
}

static dshash_hash
key_hash(const void *key, size_t size, void *arg)
{
	return (dshash_hash) ((const SeriesKey *) key)->hash;
}

static dshash_parameters
dict_params(int tranche_id)
{
	dshash_parameters params;

	params.key_size = sizeof(SeriesKey);
	params.entry_size = sizeof(DictEntry);
	params.compare_function = key_compare;
	params.hash_function = key_hash;
	params.tranche_id = tranche_id;
	return params;
}

static Size
area_size(void)
{
	return (Size) metrics_ex_series_cache_size * 1024 * 1024;
}

/*
 * What the entries may use: the area less its control data, a partly used
 * 64 kB span per size class and an eighth for the allocator's fragmentation.
 */
static uint64
budget(void)
{
	Size		reserve = dict->area_size / 8 + 1024 * 1024;

	return dict->area_size > reserve ? dict->area_size - reserve : 0;
}

static void
dict_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	if (metrics_ex_series_cache_size > 0)
		RequestAddinShmemSpace(add_size(AREA_OFFSET, area_size()));
}

static void
dict_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup)
		prev_shmem_startup();
	if (metrics_ex_series_cache_size <= 0)
		return;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dict = ShmemInitStruct("metrics_ex series dictionary",
						   add_size(AREA_OFFSET, area_size()), &found);
	if (!found)
	{
		dsa_area   *a;
		dshash_table *t;
		dshash_parameters params;

		memset(dict, 0, sizeof(DictShared));
		dict->tranche_id = LWLockNewTrancheId();
		LWLockInitialize(&dict->sweep_lock, dict->tranche_id);
		dict->area_size = area_size();
		pg_atomic_init_u64(&dict->generation, 1);
		pg_atomic_init_u64(&dict->swept, 1);
		pg_atomic_init_u64(&dict->bytes_used, 0);
		pg_atomic_init_u64(&dict->entries, 0);
		pg_atomic_init_u64(&dict->peak_entries, 0);
		pg_atomic_init_u64(&dict->emptied_at, 0);

		/* the area never grows beyond the main segment */
		a = dsa_create_in_place(DictArea(dict), dict->area_size, dict->tranche_id, NULL);
		dsa_pin(a);
		dsa_set_size_limit(a, dict->area_size);
		params = dict_params(dict->tranche_id);
		t = dshash_create(a, &params, NULL);
		dict->table = dshash_get_hash_table_handle(t);
		dshash_detach(t);
		dsa_detach(a);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
series_dict_init(void)
{
	/* a PGC_POSTMASTER setting: only the postmaster may define it */
	DefineCustomIntVariable("metrics_ex.series_cache_size",
							"Shared memory for the series dictionary that all sessions share.",
							"Maps metric and tags to series ids for every session; 0 turns it off.",
							&metrics_ex_series_cache_size,
							64, 0, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_MB,
							NULL, NULL, NULL);
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = dict_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = dict_shmem_startup;
}

/* Map the area into this backend, once. */
static bool
attach(void)
{
	MemoryContext old;
	dshash_parameters params;

	if (likely(table != NULL))
		return true;
	if (dict == NULL)
		return false;
	LWLockRegisterTranche(dict->tranche_id, "metrics_ex_series_dict");
	old = MemoryContextSwitchTo(TopMemoryContext);
	area = dsa_attach_in_place(DictArea(dict), NULL);
	dsa_pin_mapping(area);
	params = dict_params(dict->tranche_id);
	table = dshash_attach(area, &params, dict->table, NULL);
	MemoryContextSwitchTo(old);
	return true;
}

bool
series_dict_enabled(void)
{
	return dict != NULL;
}

uint64
series_dict_generation(void)
{
	return dict ? pg_atomic_read_u64(&dict->generation) : 0;
}

void
series_dict_next_generation(void)
{
	if (dict)
		pg_atomic_fetch_add_u64(&dict->generation, 1);
}

static inline const char *
entry_bytes(DictEntry *e)
{
	return e->key.len <= INLINE_BYTES ? e->inline_bytes : dsa_get_address(area, e->bytes);
}

bool
series_dict_find(const SeriesKey *key, const char *bytes, int64 *series_id)
{
	DictEntry  *e;
	uint64		generation;
	bool		found = false;

	if (!attach())
		return false;
	generation = pg_atomic_read_u64(&dict->generation);
	e = dshash_find(table, key, false);
	if (e == NULL)
		return false;
	if (e->generation == generation && memcmp(entry_bytes(e), bytes, key->len) == 0)
	{
		*series_id = e->series_id;
		found = true;
	}
	dshash_release_lock(table, e);
	return found;
}

static uint64
entry_cost(uint32 len)
{
	return ITEM_COST + BytesCost(len);
}

static void
forget_entry(DictEntry *e)
{
	if (e->key.len > INLINE_BYTES)
		dsa_free(area, e->bytes);
	pg_atomic_fetch_sub_u64(&dict->bytes_used, entry_cost(e->key.len));
	pg_atomic_fetch_sub_u64(&dict->entries, 1);
}

/*
 * Remove the entries of generations before this one, unless someone else is
 * at it: one pass, each partition locked in turn.
 */
static void
sweep(uint64 generation)
{
	dshash_seq_status status;
	DictEntry  *e;

	if (pg_atomic_read_u64(&dict->swept) >= generation ||
		!LWLockConditionalAcquire(&dict->sweep_lock, LW_EXCLUSIVE))
		return;
	if (pg_atomic_read_u64(&dict->swept) < generation)
	{
		dshash_seq_init(&status, table, true);
		while ((e = dshash_seq_next(&status)) != NULL)
		{
			if (e->generation < generation)
			{
				forget_entry(e);
				dshash_delete_current(&status);
			}
		}
		dshash_seq_term(&status);
		pg_atomic_write_u64(&dict->swept, generation);
	}
	LWLockRelease(&dict->sweep_lock);
}

/* Room for one more entry of len bytes, counting the bucket array's peak. */
static bool
has_room(uint32 len)
{
	uint64		entries = pg_atomic_read_u64(&dict->entries) + 1;
	uint64		peak = pg_atomic_read_u64(&dict->peak_entries);

	while (entries > peak &&
		   !pg_atomic_compare_exchange_u64(&dict->peak_entries, &peak, entries))
		;
	peak = Max(peak, entries);
	return pg_atomic_read_u64(&dict->bytes_used) + entry_cost(len) +
		peak * BUCKET_COST <= budget();
}

/*
 * Full: entries of dropped databases and extensions, and series no longer
 * written, may be taking the room, and nothing else ever removes them.  Move
 * to the next generation, so that the next adder sweeps everything out and
 * what is in use comes back on demand; at most once a minute, so that a
 * working set larger than the dictionary does not keep emptying it.
 */
static void
empty_for_room(void)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		last = pg_atomic_read_u64(&dict->emptied_at);

	if (now - (TimestampTz) last >= EMPTY_INTERVAL &&
		pg_atomic_compare_exchange_u64(&dict->emptied_at, &last, (uint64) now))
		pg_atomic_fetch_add_u64(&dict->generation, 1);
}

bool
series_dict_add(const SeriesKey *key, const char *bytes, int64 series_id,
				uint64 generation)
{
	DictEntry  *e;
	dsa_pointer dp = InvalidDsaPointer;
	bool		found;

	if (key->len > MAX_BYTES || !attach() ||
		pg_atomic_read_u64(&dict->generation) != generation)
		return false;
	sweep(generation);
	if (!has_room(key->len))
	{
		empty_for_room();
		return false;
	}

	/* long bytes first, so that no partition lock waits on the allocator */
	if (key->len > INLINE_BYTES)
	{
		dp = dsa_allocate_extended(area, key->len, DSA_ALLOC_NO_OOM);
		if (!DsaPointerIsValid(dp))
			return false;
		memcpy(dsa_get_address(area, dp), bytes, key->len);
	}

	e = dshash_find_or_insert(table, key, &found);
	if (found && e->generation >= generation)
	{
		/* someone was first (or, rarer than rare, the same hash) */
		bool		same = e->series_id == series_id &&
			memcmp(entry_bytes(e), bytes, key->len) == 0;

		dshash_release_lock(table, e);
		if (DsaPointerIsValid(dp))
			dsa_free(area, dp);
		return same;
	}
	if (found)
		forget_entry(e);		/* stale: reused in place */
	pg_atomic_fetch_add_u64(&dict->bytes_used, entry_cost(key->len));
	pg_atomic_fetch_add_u64(&dict->entries, 1);
	e->series_id = series_id;
	e->generation = generation;
	e->bytes = dp;
	if (key->len <= INLINE_BYTES)
		memcpy(e->inline_bytes, bytes, key->len);
	dshash_release_lock(table, e);
	return true;
}

void
series_dict_stats(SeriesDictStats *stats)
{
	memset(stats, 0, sizeof(*stats));
	if (dict == NULL)
		return;
	stats->enabled = true;
	stats->entries = (int64) pg_atomic_read_u64(&dict->entries);
	stats->bytes_used = (int64) (pg_atomic_read_u64(&dict->bytes_used) +
								 pg_atomic_read_u64(&dict->peak_entries) * BUCKET_COST);
	stats->bytes_limit = (int64) budget();
	stats->generation = (int64) pg_atomic_read_u64(&dict->generation);
}

PG_FUNCTION_INFO_V1(metrics_ex_series_dictionary);

Datum
metrics_ex_series_dictionary(PG_FUNCTION_ARGS)
{
	SeriesDictStats st;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "metrics_ex_series_dictionary: return type must be a row type");
	series_dict_stats(&st);
	values[0] = BoolGetDatum(st.enabled);
	values[1] = Int64GetDatum(st.entries);
	values[2] = Int64GetDatum(st.bytes_used);
	values[3] = Int64GetDatum(st.bytes_limit);
	values[4] = Int64GetDatum(st.generation);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
