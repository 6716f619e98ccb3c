/*
 * test_audit_queue.c: the audit log's record queue in mmap'd blocks: records come back in
 * the order pushed, whole, across blocks and in blocks of their own when larger than one;
 * a backlog's memory leaves the process once released, beyond the pool's few blocks; and the
 * pool's blocks are reused.
 */
#include "unit.h"
#include "ledger/audit_queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct timespec when0 = {1, 2};

/* The process's resident set in KiB, exact (smaps_rollup, not status's per-CPU estimate). */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Rss: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Pushes as the audit log does: when the pool has no block for it, maps one and offers it. */
static int push(struct audit_queue *q, struct audit_qpool *pool, cJSON *rec, const char *text,
		size_t len)
{
	struct audit_qblock *b;
	int r = audit_queue_push(q, pool, rec, text, len, &when0);

	if (r != -EAGAIN)
		return r;
	b = audit_qblock_map(len);
	if (!b)
		return -ENOMEM;
	audit_qpool_add(pool, b);
	return audit_queue_push(q, pool, rec, text, len, &when0);
}

/* Releases Q as the audit log does: what the pool does not keep is unmapped. */
static void release(struct audit_queue *q, struct audit_qpool *pool)
{
	struct audit_qblock *excess = NULL;

	audit_queue_release(q, pool, &excess);
	audit_qblocks_unmap(excess);
}

/* Record I's text: LEN bytes, each a function of I and its position. */
static void fill(char *buf, size_t len, unsigned i)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (char)('a' + (i * 31 + k) % 26);
}

static void test_records_come_back_in_order(void)
{
	struct audit_queue q = {0};
	struct audit_qpool pool = {0};
	unsigned long long seed = 0x5eed;
	static size_t lens[2000];
	char *buf = malloc(300 << 10), *want = malloc(300 << 10);
	struct audit_qcursor c;
	struct audit_entry *e;
	cJSON *recs[2000] = {0};
	unsigned i = 0;

	ASSERT_TRUE(buf && want);
	/* with no block in the pool, a push asks for one and does nothing else */
	ASSERT_EQ(audit_queue_push(&q, &pool, NULL, "{}", 2, &when0), -EAGAIN);
	ASSERT_TRUE(q.n == 0 && q.bytes == 0 && !q.head);
	for (i = 0; i < 2000; i++) {
		/* mostly records of a call's size, some empty, some larger than a block */
		lens[i] = i % 500 == 7 ? (200u << 10) + i : unit_rand(&seed, 3000);
		if (i % 97 == 3) { /* a cJSON record now and then */
			recs[i] = cJSON_CreateObject();
			ASSERT_OK(push(&q, &pool, recs[i], NULL, 0));
			continue;
		}
		fill(buf, lens[i], i);
		ASSERT_OK(push(&q, &pool, NULL, buf, lens[i]));
	}
	ASSERT_EQ(q.n, 2000);
	audit_queue_first(&q, &c);
	for (i = 0; (e = audit_queue_next(&c)); i++) {
		ASSERT_TRUE(i < 2000);
		ASSERT_EQ(e->when.tv_sec, 1);
		if (recs[i]) {
			ASSERT_TRUE(e->rec == recs[i] && !e->text);
			cJSON_Delete(recs[i]);
			continue;
		}
		ASSERT_TRUE(!e->rec && e->text);
		ASSERT_EQ(e->text_len, lens[i]);
		fill(want, lens[i], i);
		ASSERT_TRUE(memcmp(e->text, want, lens[i]) == 0);
	}
	ASSERT_EQ(i, 2000);
	ASSERT_TRUE(audit_queue_next(&c) == NULL); /* stays at the end */
	release(&q, &pool);
	ASSERT_TRUE(q.n == 0 && q.bytes == 0 && !q.head);
	ASSERT_EQ(pool.n, AUDIT_QPOOL_KEEP);
	audit_queue_first(&q, &c);
	ASSERT_TRUE(audit_queue_next(&c) == NULL);
	audit_qpool_free(&pool);
	free(buf);
	free(want);
}

/*
 * A writer 64 MiB behind (some 45,000 records of a call's size): the queue's memory grows by
 * about that, and once released the process is back where it was, but for the pool's blocks.
 */
static void test_backlog_memory_leaves_after_release(void)
{
	struct audit_queue q = {0};
	struct audit_qpool pool = {0};
	char rec[1500];
	long before, full, after;

	fill(rec, sizeof(rec), 1);
	before = rss_kib();
	ASSERT_TRUE(before > 0);
	while (q.bytes < (64u << 20))
		ASSERT_OK(push(&q, &pool, NULL, rec, sizeof(rec)));
	full = rss_kib();
	ASSERT_TRUE(full - before >= 60 * 1024);
	release(&q, &pool);
	after = rss_kib();
	printf("  rss: %ld KiB, %ld KiB with the backlog, %ld KiB released\n", before, full,
	       after);
	ASSERT_TRUE(after - before <= (long)(AUDIT_QPOOL_KEEP * AUDIT_QBLOCK_BYTES / 1024) + 512);
	audit_qpool_free(&pool);
}

/*
 * Steady load, as many blocks a batch as the pool keeps: after the first batch every block
 * comes from the pool (a push maps only when the pool has none) and goes back to it.
 */
static void test_pool_blocks_are_reused(void)
{
	const size_t batch = (AUDIT_QPOOL_KEEP - 1) * AUDIT_QBLOCK_BYTES; /* fills KEEP blocks */
	struct audit_queue q = {0};
	struct audit_qpool pool = {0};
	char rec[1500];
	long before, after;

	fill(rec, sizeof(rec), 2);
	while (q.bytes < batch)
		ASSERT_OK(push(&q, &pool, NULL, rec, sizeof(rec)));
	release(&q, &pool);
	ASSERT_EQ(pool.n, AUDIT_QPOOL_KEEP);
	before = rss_kib();
	for (int round = 0; round < 200; round++) {
		while (q.bytes < batch)
			ASSERT_OK(audit_queue_push(&q, &pool, NULL, rec, sizeof(rec), &when0));
		ASSERT_EQ(pool.n, 0); /* all taken from it, none mapped */
		release(&q, &pool);
		ASSERT_EQ(pool.n, AUDIT_QPOOL_KEEP); /* all back */
	}
	after = rss_kib();
	ASSERT_TRUE(after - before <= 256);
	audit_qpool_free(&pool);
	ASSERT_TRUE(pool.n == 0 && !pool.free);
}

UNIT_MAIN(UNIT_CASE(test_records_come_back_in_order),
	  UNIT_CASE(test_backlog_memory_leaves_after_release), UNIT_CASE(test_pool_blocks_are_reused))
