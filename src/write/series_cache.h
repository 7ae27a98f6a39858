/*
 * series_cache.h
 *		A backend's table of series keys -> ids (the data structure of
 *		series.c's cache).
 *
 * Open addressing over entries that never move, with the tag bytes inline
 * when short, so that a lookup touches one or two cache lines.  Bulk loads
 * and scrapes write their series in the same order time after time, so
 * each entry also remembers the entry looked up after it: the next row's
 * series is usually found by comparing its bytes with that guess, without
 * hashing, and its memory is prefetched while the current row is stored.
 */
#ifndef METRICS_EX_SERIES_CACHE_H
#define METRICS_EX_SERIES_CACHE_H

#include "write/series_dict.h"

#define SERIES_CACHE_INLINE 56

typedef struct CacheEntry
{
	SeriesKey	key;
	int64		series_id;		/* -1: forgotten */
	uint64		generation;		/* of the shared dictionary when learned */
	uint32		made_in;		/* the transaction that made it, 0: not ours */
	struct CacheEntry *next;	/* looked up after this one last time */
	char	   *bytes;			/* inline_bytes, or allocated */
	char		inline_bytes[SERIES_CACHE_INLINE];
} CacheEntry;

typedef struct SeriesCache SeriesCache;

/* An empty cache in cxt; freed with the context. */
extern SeriesCache *series_cache_create(MemoryContext cxt);

/* The live entry of key and bytes, or NULL. */
extern CacheEntry *series_cache_find(SeriesCache *cache, const SeriesKey *key,
									 const char *bytes);

/* The entry of key, made if absent (then series_id is -1); NULL: same hash, other bytes. */
extern CacheEntry *series_cache_enter(SeriesCache *cache, const SeriesKey *key,
									  const char *bytes);

/* The guess for the lookup after the last one, if these are its bytes. */
static inline CacheEntry *
series_cache_guess(CacheEntry *last, int32 metric_id, bool raw,
				   const char *bytes, uint32 len)
{
	CacheEntry *e = last ? last->next : NULL;

	if (e != NULL && e->series_id >= 0 && e->key.metric_id == metric_id &&
		e->key.raw == (uint32) raw && e->key.len == len &&
		memcmp(e->bytes, bytes, len) == 0)
		return e;
	return NULL;
}

/* e was looked up after last: the guess next time.  Returns e. */
static inline CacheEntry *
series_cache_follow(CacheEntry *last, CacheEntry *e)
{
	if (last != NULL && last->next != e)
		last->next = e;
#if defined(__GNUC__) || defined(__clang__)
	if (e->next != NULL)
	{
		__builtin_prefetch(e->next);
		__builtin_prefetch((char *) e->next + 64);
	}
#endif
	return e;
}

#endif							/* METRICS_EX_SERIES_CACHE_H */
