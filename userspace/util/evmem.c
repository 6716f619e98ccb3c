/*
 * evmem: libevent's allocation functions, with a per-thread cache of chain-sized blocks
 * (evmem.h says why). Each block carries a 16-byte header before what the caller gets: its
 * size, for realloc, and for free to know whether a cache takes it back.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "util/evmem.h"

/* Under a sanitizer the daemon does not install the cache (evmem_install()): a block handed
 * straight back would bypass ASan's quarantine (a stale chain pointer used after the block's
 * reuse read silently, a double free looped the list) and TSan's malloc hooks. The functions
 * still work there, for the unit tests, and a cached block is poisoned, so that a use before
 * its reuse is reported. */
#if defined(__SANITIZE_ADDRESS__)
#define EVMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVMEM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define EVMEM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EVMEM_TSAN 1
#endif
#endif
#ifdef EVMEM_ASAN
#include <sanitizer/asan_interface.h>
#define cached_poison(h) ASAN_POISON_MEMORY_REGION((h) + 1, (h)->size)
#define cached_unpoison(h, size) ASAN_UNPOISON_MEMORY_REGION((h) + 1, size)
#else
#define cached_poison(h) ((void)(h))
#define cached_unpoison(h, size) ((void)(h), (void)(size))
#endif

#define EVMEM_MIN_SHIFT 10 /* 1 KiB: libevent's smallest chain (MIN_BUFFER_SIZE) */
#define EVMEM_CLASSES 6	   /* 1 to 32 KiB: a 16 KiB read with its chain header is 32 */

struct evmem_head {
	size_t size; /* what the caller asked for */
	union {
		struct evmem_head *next; /* in a cache */
		size_t pad;
	};
};
_Static_assert(sizeof(struct evmem_head) == 16, "keeps the caller's block 16-byte aligned");

struct evmem_cache {
	struct evmem_head *free[EVMEM_CLASSES];
	unsigned n[EVMEM_CLASSES];
	int registered; /* its thread's exit frees it (evmem_key) */
};

static __thread struct evmem_cache cache;
static pthread_key_t evmem_key;
static pthread_once_t evmem_once = PTHREAD_ONCE_INIT;
static int evmem_key_ok; /* pthread_key_create succeeded: blocks may be cached */

/* The cache class of SIZE, or -1: only the exact powers of two libevent asks for chains. */
static int size_class(size_t size)
{
	for (int c = 0; c < EVMEM_CLASSES; c++)
		if (size == (size_t)1 << (EVMEM_MIN_SHIFT + c))
			return c;
	return -1;
}

static void cache_drain(void *arg)
{
	struct evmem_cache *k = arg;

	for (int c = 0; c < EVMEM_CLASSES; c++) {
		while (k->free[c]) {
			struct evmem_head *h = k->free[c];

			k->free[c] = h->next;
			cached_unpoison(h, h->size);
			free(h);
		}
		k->n[c] = 0;
	}
	k->registered = 0;
}

static void key_make(void)
{
	evmem_key_ok = !pthread_key_create(&evmem_key, cache_drain);
}

void *evmem_malloc(size_t size)
{
	int c = size_class(size);
	struct evmem_head *h;

	if (c >= 0 && cache.free[c]) {
		h = cache.free[c];
		cache.free[c] = h->next;
		cache.n[c]--;
		cached_unpoison(h, size);
	} else {
		if (size > (size_t)-1 - sizeof(*h))
			return NULL;
		h = malloc(sizeof(*h) + size);
		if (!h)
			return NULL;
	}
	h->size = size;
	return h + 1;
}

void evmem_free(void *p)
{
	struct evmem_head *h;
	int c;

	if (!p)
		return;
	h = (struct evmem_head *)p - 1;
	c = size_class(h->size);
	if (c < 0 || cache.n[c] >= EVMEM_CACHE_MAX) {
		free(h);
		return;
	}
	if (!cache.registered) { /* a thread that exits gives its blocks back */
		pthread_once(&evmem_once, key_make);
		if (!evmem_key_ok || pthread_setspecific(evmem_key, &cache)) {
			free(h);
			return;
		}
		cache.registered = 1;
	}
	h->next = cache.free[c];
	cache.free[c] = h;
	cache.n[c]++;
	cached_poison(h);
}

void *evmem_realloc(void *p, size_t size)
{
	struct evmem_head *h;
	void *n;

	if (!p)
		return evmem_malloc(size);
	h = (struct evmem_head *)p - 1;
	if (size_class(h->size) < 0 && size_class(size) < 0) { /* neither is cached: in place */
		if (size > (size_t)-1 - sizeof(*h))
			return NULL;
		h = realloc(h, sizeof(*h) + size);
		if (!h)
			return NULL;
		h->size = size;
		return h + 1;
	}
	n = evmem_malloc(size);
	if (!n)
		return NULL;
	memcpy(n, p, h->size < size ? h->size : size);
	evmem_free(p);
	return n;
}

unsigned evmem_cached(void)
{
	unsigned n = 0;

	for (int c = 0; c < EVMEM_CLASSES; c++)
		n += cache.n[c];
	return n;
}

void evmem_install(void)
{
#if !defined(EVMEM_ASAN) && !defined(EVMEM_TSAN)
	event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
#endif
}
