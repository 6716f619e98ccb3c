/*
 * suppressions.c: linked into build/aigw-tsan only. ThreadSanitizer reads this list at start
 * (as it would TSAN_OPTIONS=suppressions=FILE), so the e2e tests need no option.
 *
 * race:epoll_ctl — the reuse of a descriptor's number, not a race on shared state. A worker's
 * loop runs with EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST (proxy/workers.c): closing a connection
 * (bufferevent_free, BEV_OPT_CLOSE_ON_FREE) queues its EPOLL_CTL_DEL and closes the socket at
 * once; the DEL reaches the kernel at the loop's next wait. If the main thread's accept4 got
 * the same number in between, TSan pairs the worker's epoll_ctl with that accept4, with no
 * lock between them. The kernel keys an epoll set by (descriptor, open file): the closed file
 * left the worker's set when it was closed, so the late DEL on the new file is ENOENT, which
 * libevent ignores ("we closed the fd before we got around to calling epoll_dispatch"), and a
 * new connection given to that same worker merges into the same pending change (a MOD that
 * libevent retries as ADD on ENOENT). No registration of another loop is touched: each loop
 * has its own epoll descriptor. Reproduced in small (main accepts, posts each descriptor to a
 * worker through workers.c, the worker frees its bufferevent at EOF: 300 connections): one or
 * two reports a run with the changelist, none without it, and every connection served in both.
 */
const char *__tsan_default_suppressions(void);

const char *__tsan_default_suppressions(void)
{
	return "race:epoll_ctl\n";
}
