/*
 * series_dict.h
 *		The series dictionary shared by all backends of the server:
 *		(database, metric, tag bytes) -> series id, in shared memory.
 *
 * It exists when the library is preloaded (shared_preload_libraries) and
 * metrics_ex.series_cache_size is not 0; otherwise every call here is a
 * cheap no-op and each backend relies on its own cache (series.c).
 *
 * Only committed series are ever added, stamped with the dictionary's
 * generation read before the catalog was read.  A committed change to the
 * catalog that may remove or change series (series_dict_catalog_changed())
 * moves to the next generation at commit, so every entry stamped earlier is
 * ignored from then on and swept out by the next writer.
 */
#ifndef METRICS_EX_SERIES_DICT_H
#define METRICS_EX_SERIES_DICT_H

/*
 * What a series is found by: its metric and the bytes of its tags, either
 * the canonical jsonb or (raw) the text a client sent.  The same key serves
 * the backend-local cache.  Zero the padding (memset) before filling it.
 */
typedef struct SeriesKey
{
	Oid			dbid;
	Oid			relid;			/* metrics_ex.series: a re-created extension
								 * starts afresh */
	int32		metric_id;
	uint32		raw;			/* 1: bytes are the client's text */
	uint32		len;			/* of the bytes */
	uint32		pad;
	uint64		hash;			/* of the bytes */
} SeriesKey;

/* GUC metrics_ex.series_cache_size, in MB; 0 turns the dictionary off */
extern int	metrics_ex_series_cache_size;

/* From _PG_init() when preloading: the setting and shared memory. */
extern void series_dict_init(void);

/* True when the dictionary exists (preloaded, size not 0). */
extern bool series_dict_enabled(void);

/*
 * The current generation.  Read it before the snapshot of a catalog read
 * whose rows are to be added; 0 when there is no dictionary.
 */
extern uint64 series_dict_generation(void);

/* The series id for key and bytes, if the dictionary has it. */
extern bool series_dict_find(const SeriesKey *key, const char *bytes, int64 *series_id);

/*
 * Add a committed series found at generation (from series_dict_generation()
 * before the catalog was read).  Does nothing when the generation has moved
 * on, when the dictionary is full, or when the key is there already.  True
 * when the dictionary has the entry afterwards.
 */
extern bool series_dict_add(const SeriesKey *key, const char *bytes, int64 series_id,
							uint64 generation);

/*
 * A committed transaction removed or changed series (DELETE, UPDATE or
 * TRUNCATE of metrics_ex.series, DELETE or TRUNCATE of metrics_ex.metrics):
 * move to the next generation.  Never fails (it runs after commit).
 */
extern void series_dict_next_generation(void);

/* For metrics_ex.series_dictionary(): what is in it. */
typedef struct SeriesDictStats
{
	bool		enabled;
	int64		entries;
	int64		bytes_used;		/* estimated, as counted against the limit */
	int64		bytes_limit;
	int64		generation;
} SeriesDictStats;

extern void series_dict_stats(SeriesDictStats *stats);

#endif							/* METRICS_EX_SERIES_DICT_H */
