/* test_evmem.c: libevent's allocation functions (util/evmem.h): a chain-sized block freed is
 * handed out again, up to EVMEM_CACHE_MAX of a size per thread; other sizes and the rest go
 * back to malloc; realloc keeps the contents across cached and uncached sizes; a thread's
 * cache is freed when it exits (ASan's leak check would see it otherwise); and evbuffers work
 * through them. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "unit.h"
#include "util/evmem.h"

static void test_chain_block_reused(void)
{
	char *held[EVMEM_CACHE_MAX], *a, *b;
	unsigned before;

	for (int i = 0; i < EVMEM_CACHE_MAX; i++) /* the size's cache empty, whatever it held */
		ASSERT_TRUE((held[i] = evmem_malloc(4096)) != NULL);
	before = evmem_cached();
	a = evmem_malloc(4096);
	ASSERT_TRUE(a != NULL);
	ASSERT_EQ((uintptr_t)a % 16, 0);
	memset(a, 'x', 4096); /* all of it is the caller's (ASan would see an overflow) */
	evmem_free(a);
	ASSERT_EQ(evmem_cached(), before + 1);
	b = evmem_malloc(4096);
	ASSERT_TRUE(b == a);
	ASSERT_EQ(evmem_cached(), before);
	evmem_free(b);
	for (int i = 0; i < EVMEM_CACHE_MAX; i++)
		evmem_free(held[i]);
}

static void test_other_sizes_not_kept(void)
{
	unsigned before = evmem_cached();
	char *a = evmem_malloc(100), *b = evmem_malloc(4097), *c = evmem_malloc(65536);

	ASSERT_TRUE(a && b && c);
	evmem_free(a);
	evmem_free(b);
	evmem_free(c);
	evmem_free(NULL);
	ASSERT_EQ(evmem_cached(), before);
}

static void test_cache_bounded(void)
{
	char *p[EVMEM_CACHE_MAX + 4];
	unsigned before = evmem_cached();

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		ASSERT_TRUE((p[i] = evmem_malloc(1024)) != NULL);
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		evmem_free(p[i]);
	ASSERT_TRUE(evmem_cached() <= before + EVMEM_CACHE_MAX);
	ASSERT_TRUE(evmem_cached() >= EVMEM_CACHE_MAX);
}

static void test_realloc_keeps_contents(void)
{
	char *p = evmem_realloc(NULL, 10);

	ASSERT_TRUE(p != NULL);
	memcpy(p, "0123456789", 10);
	p = evmem_realloc(p, 2048); /* into a cached size */
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(!memcmp(p, "0123456789", 10));
	memset(p + 10, 'y', 2038);
	p = evmem_realloc(p, 3000); /* out of it */
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(!memcmp(p, "0123456789", 10) && p[2047] == 'y');
	p = evmem_realloc(p, 5000); /* uncached to uncached */
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(!memcmp(p, "0123456789", 10) && p[2047] == 'y');
	p = evmem_realloc(p, 4); /* shrinking */
	ASSERT_TRUE(p != NULL);
	ASSERT_TRUE(!memcmp(p, "0123", 4));
	evmem_free(p);
}

static void *fill_and_exit(void *arg)
{
	unsigned *ret_cached = arg;

	for (int i = 0; i < 4; i++)
		evmem_free(evmem_malloc(8192));
	evmem_free(evmem_malloc(32768));
	*ret_cached = evmem_cached();
	return NULL;
}

static void test_thread_exit_frees_cache(void)
{
	pthread_t t;
	unsigned cached = 0;

	ASSERT_OK(pthread_create(&t, NULL, fill_and_exit, &cached));
	ASSERT_OK(pthread_join(t, NULL));
	ASSERT_EQ(cached, 2); /* one of each size it freed; LeakSanitizer checks the rest */
}

/* An evbuffer through them (libevent's own calls are only evmem's once installed, which a
 * process does before any other libevent call: here, this test's first). */
static void test_evbuffer_through_them(void)
{
	struct evbuffer *b = evbuffer_new();
	char chunk[3000], out[3000];

	ASSERT_TRUE(b != NULL);
	memset(chunk, 'z', sizeof(chunk));
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 10; i++)
			ASSERT_OK(evbuffer_add(b, chunk, sizeof(chunk)));
		ASSERT_EQ(evbuffer_get_length(b), 10 * sizeof(chunk));
		for (int i = 0; i < 10; i++) {
			ASSERT_EQ(evbuffer_remove(b, out, sizeof(out)), (int)sizeof(out));
			ASSERT_TRUE(!memcmp(out, chunk, sizeof(out)));
		}
	}
	ASSERT_TRUE(evmem_cached() > 0);
	evbuffer_free(b);
}

/* Under AddressSanitizer (the unit tests' build) a block in the cache is poisoned, so that
 * libevent or aigw touching a chain after its free is still reported. */
static void test_cached_block_poisoned(void)
{
#ifdef TEST_ASAN
	char *held[EVMEM_CACHE_MAX], *a;

	for (int i = 0; i < EVMEM_CACHE_MAX; i++)
		ASSERT_TRUE((held[i] = evmem_malloc(2048)) != NULL);
	a = evmem_malloc(2048);
	ASSERT_TRUE(a != NULL);
	ASSERT_TRUE(!__asan_address_is_poisoned(a + 2047));
	evmem_free(a);
	ASSERT_TRUE(__asan_address_is_poisoned(a));
	ASSERT_TRUE(__asan_address_is_poisoned(a + 2047));
	ASSERT_TRUE(evmem_malloc(2048) == a);
	ASSERT_TRUE(!__asan_address_is_poisoned(a) && !__asan_address_is_poisoned(a + 2047));
	evmem_free(a);
	for (int i = 0; i < EVMEM_CACHE_MAX; i++)
		evmem_free(held[i]);
#endif
}

int main(void)
{
	static const struct unit_case cases[] = {
	    UNIT_CASE(test_evbuffer_through_them),  UNIT_CASE(test_chain_block_reused),
	    UNIT_CASE(test_other_sizes_not_kept),   UNIT_CASE(test_cache_bounded),
	    UNIT_CASE(test_realloc_keeps_contents), UNIT_CASE(test_thread_exit_frees_cache),
	    UNIT_CASE(test_cached_block_poisoned),
	};

	/* the functions themselves: evmem_install() installs nothing under a sanitizer */
	event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
	return unit_run("evmem", cases, sizeof(cases) / sizeof(cases[0]));
}
