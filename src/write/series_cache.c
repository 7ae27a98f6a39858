/*
 * series_cache.c
 *		A backend's table of series keys -> ids (see series_cache.h).
 *
 * Slots hold a pointer to the entry and 32 bits of its hash, so that most
 * probes that do not match are rejected without touching the entry.  The
 * table is kept at most half full and doubled when it gets there; entries
 * are allocated in blocks and never freed one by one (a forgotten entry is
 * kept with series_id -1 and can be entered again).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "write/series_cache.h"

#define INITIAL_SLOTS	1024
#define BLOCK_ENTRIES	256

typedef struct Slot
{
	uint32		tag;			/* high bits of the hash */
	CacheEntry *entry;			/* NULL: empty */
} Slot;

struct SeriesCache
{
	MemoryContext cxt;
	Slot	   *slots;
	uint64		mask;			/* nslots - 1 */
	uint64		nused;
	CacheEntry *block;			/* entries not handed out yet */
	int			block_left;
};

#define TagOf(hash) ((uint32) ((hash) >> 32))

SeriesCache *
series_cache_create(MemoryContext cxt)
{
	SeriesCache *c = MemoryContextAllocZero(cxt, sizeof(SeriesCache));

	c->cxt = cxt;
	c->slots = MemoryContextAllocZero(cxt, sizeof(Slot) * INITIAL_SLOTS);
	c->mask = INITIAL_SLOTS - 1;
	return c;
}

static bool
same_key(const CacheEntry *e, const SeriesKey *key, const char *bytes)
{
	return e->key.hash == key->hash && e->key.metric_id == key->metric_id &&
		e->key.raw == key->raw && e->key.len == key->len &&
		e->key.relid == key->relid && memcmp(e->bytes, bytes, key->len) == 0;
}

/* The slot of key's hash and bytes, or the empty slot where it would go. */
static Slot *
probe(SeriesCache *c, const SeriesKey *key, const char *bytes, bool *other_bytes)
{
	uint32		tag = TagOf(key->hash);

	*other_bytes = false;
	for (uint64 i = key->hash & c->mask;; i = (i + 1) & c->mask)
	{
		Slot	   *s = &c->slots[i];

		if (s->entry == NULL)
			return s;
		if (s->tag == tag && s->entry->key.hash == key->hash)
		{
			if (same_key(s->entry, key, bytes))
				return s;
			/* same 64-bit hash, same metric, other bytes: keep the first */
			if (s->entry->key.metric_id == key->metric_id &&
				s->entry->key.raw == key->raw && s->entry->key.relid == key->relid)
			{
				*other_bytes = true;
				return s;
			}
		}
	}
}

CacheEntry *
series_cache_find(SeriesCache *c, const SeriesKey *key, const char *bytes)
{
	bool		other;
	Slot	   *s = probe(c, key, bytes, &other);

	if (s->entry == NULL || other || s->entry->series_id < 0)
		return NULL;
	return s->entry;
}

static void
grow(SeriesCache *c)
{
	uint64		nslots = (c->mask + 1) * 2;
	Slot	   *old = c->slots;
	uint64		oldn = c->mask + 1;

	c->slots = MemoryContextAllocHuge(c->cxt, sizeof(Slot) * nslots);
	memset(c->slots, 0, sizeof(Slot) * nslots);
	c->mask = nslots - 1;
	for (uint64 i = 0; i < oldn; i++)
	{
		uint64		j;

		if (old[i].entry == NULL)
			continue;
		for (j = old[i].entry->key.hash & c->mask; c->slots[j].entry != NULL; j = (j + 1) & c->mask)
			;
		c->slots[j] = old[i];
	}
	pfree(old);
}

CacheEntry *
series_cache_enter(SeriesCache *c, const SeriesKey *key, const char *bytes)
{
	bool		other;
	Slot	   *s;
	CacheEntry *e;

	if ((c->nused + 1) * 2 > c->mask + 1)
		grow(c);
	s = probe(c, key, bytes, &other);
	if (other)
		return NULL;
	if (s->entry != NULL)
		return s->entry;

	/* allocate everything before the slot is taken: an error leaves no half entry */
	if (c->block_left == 0)
	{
		c->block = MemoryContextAlloc(c->cxt, sizeof(CacheEntry) * BLOCK_ENTRIES);
		c->block_left = BLOCK_ENTRIES;
	}
	e = c->block;
	e->bytes = key->len <= SERIES_CACHE_INLINE ? e->inline_bytes :
		MemoryContextAlloc(c->cxt, key->len);
	c->block++;
	c->block_left--;
	e->key = *key;
	memcpy(e->bytes, bytes, key->len);
	e->series_id = -1;
	e->generation = 0;
	e->made_in = 0;
	e->next = NULL;
	s->tag = TagOf(key->hash);
	s->entry = e;
	c->nused++;
	return e;
}
