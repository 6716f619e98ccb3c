/*
 * evmem: libevent's memory, with a small per-thread cache of evbuffer chain blocks.
 *
 * libevent allocates an evbuffer's chains as powers of two from 1 KiB and frees a chain as soon
 * as a drain empties it: a kept-alive call fills and empties its four buffers (the app's and
 * the provider's, each way) and mallocs and frees some eight chains, all over glibc's tcache
 * limit (1,032 bytes), so each takes malloc's and free's slow paths (~350 instructions a
 * pair). evmem_install() gives libevent allocation functions (event_set_mem_functions) that
 * keep up to EVMEM_CACHE_MAX freed blocks of each size from 1 to 32 KiB per thread and hand
 * them out again; any other size goes to malloc as before.
 *
 * Ownership: every block libevent allocates is freed by libevent (or by the evmem_free() it
 * calls); memory libevent returns for its caller to free (evbuffer_readln(), evhttp's URI
 * decoding) must be freed with evmem_free(), never free(): aigw uses none of those. A thread's
 * cached blocks are freed when it exits.
 */
#ifndef AIGW_UTIL_EVMEM_H
#define AIGW_UTIL_EVMEM_H

#include <stddef.h>

#define EVMEM_CACHE_MAX 4 /* blocks kept per size and thread: 252 KiB at most */

/* Makes libevent allocate through the functions below. Call before any other libevent call
 * (libevent's rule for event_set_mem_functions); the daemon's main() does, first thing. In a
 * sanitized build (aigw-san, aigw-tsan) it does nothing, so that the sanitizers see every
 * chain's malloc and free (a cache would hide a use after free behind the block's reuse). */
void evmem_install(void);

void *evmem_malloc(size_t size);
void *evmem_realloc(void *p, size_t size);
void evmem_free(void *p);

/* Blocks the calling thread keeps now, over all sizes (for tests). */
unsigned evmem_cached(void);

#endif
