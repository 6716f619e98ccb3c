/*
 * audit_queue.c: the audit log's record queue in mmap'd blocks, and the pool that recycles
 * them (see audit_queue.h for why the bytes are copied and not kept in the caller's heap).
 *
 * A block holds records back to back, each a struct audit_entry followed by its text, every
 * entry aligned for the struct; `used` is where the next one goes.
 */
#include "ledger/audit_queue.h"

#include <errno.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct audit_qblock {
	struct audit_qblock *next;
	size_t size; /* of the mapping, this header included */
	size_t used; /* bytes of data[] taken by records */
	alignas(struct audit_entry) unsigned char data[];
};

#define AUDIT_QALIGN alignof(struct audit_entry)

static size_t audit_qalign(size_t n)
{
	return (n + AUDIT_QALIGN - 1) & ~(AUDIT_QALIGN - 1);
}

static size_t audit_qblock_room(const struct audit_qblock *b)
{
	return b->size - offsetof(struct audit_qblock, data) - b->used;
}

/* Bytes of data[] a block of SIZE bytes holds. */
static size_t audit_qblock_data(size_t size)
{
	return size - offsetof(struct audit_qblock, data);
}

/* The record size pushed for LEN bytes of text: the entry, the text, aligned. */
static size_t audit_qneed(size_t len)
{
	return audit_qalign(sizeof(struct audit_entry) + len);
}

struct audit_qblock *audit_qblock_map(size_t len)
{
	size_t size = AUDIT_QBLOCK_BYTES, page = (size_t)sysconf(_SC_PAGESIZE), need;
	struct audit_qblock *b;
	void *p;

	if (len > SIZE_MAX / 2)
		return NULL;
	need = audit_qneed(len);
	if (need > audit_qblock_data(size))
		size = (offsetof(struct audit_qblock, data) + need + page - 1) & ~(page - 1);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		 -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	b = p;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

void audit_qpool_add(struct audit_qpool *pool, struct audit_qblock *b)
{
	b->next = pool->free;
	b->used = 0;
	pool->free = b;
	pool->n++;
}

/* A block of POOL with room for NEED bytes, taken out of it, or NULL. */
static struct audit_qblock *audit_qpool_take(struct audit_qpool *pool, size_t need)
{
	struct audit_qblock **at = &pool->free, *b;

	for (; (b = *at); at = &b->next) /* the first, but for a record larger than a block */
		if (audit_qblock_data(b->size) >= need) {
			*at = b->next;
			pool->n--;
			b->next = NULL;
			b->used = 0;
			return b;
		}
	return NULL;
}

int audit_queue_push(struct audit_queue *q, struct audit_qpool *pool, cJSON *rec,
		     const char *text, size_t len, const struct timespec *when)
{
	struct audit_qblock *b = q->tail;
	struct audit_entry *e;
	size_t need;

	if (len > SIZE_MAX / 2)
		return -ENOMEM;
	need = audit_qneed(len);
	if (!b || audit_qblock_room(b) < need) {
		b = audit_qpool_take(pool, need);
		if (!b)
			return -EAGAIN;
		if (q->tail)
			q->tail->next = b;
		else
			q->head = b;
		q->tail = b;
	}
	e = (struct audit_entry *)(b->data + b->used);
	e->rec = rec;
	e->text = NULL;
	e->text_len = text ? len : 0;
	e->when = *when;
	if (text) {
		memcpy((char *)(e + 1), text, len);
		e->text = (const char *)(e + 1);
	}
	b->used += need;
	q->n++;
	q->bytes += need;
	return 0;
}

void audit_queue_first(const struct audit_queue *q, struct audit_qcursor *c)
{
	c->b = q->head;
	c->off = 0;
}

struct audit_entry *audit_queue_next(struct audit_qcursor *c)
{
	struct audit_entry *e;

	while (c->b && c->off >= c->b->used) {
		c->b = c->b->next;
		c->off = 0;
	}
	if (!c->b)
		return NULL;
	e = (struct audit_entry *)(c->b->data + c->off);
	c->off += audit_qalign(sizeof(*e) + e->text_len);
	return e;
}

void audit_queue_release(struct audit_queue *q, struct audit_qpool *pool,
			 struct audit_qblock **excess)
{
	struct audit_qblock *b = q->head, *next;

	for (; b; b = next) {
		next = b->next;
		if (b->size == AUDIT_QBLOCK_BYTES && pool->n < AUDIT_QPOOL_KEEP) {
			audit_qpool_add(pool, b);
		} else {
			b->next = *excess;
			*excess = b;
		}
	}
	*q = (struct audit_queue){0};
}

void audit_qblocks_unmap(struct audit_qblock *b)
{
	struct audit_qblock *next;

	for (; b; b = next) {
		next = b->next;
		munmap(b, b->size);
	}
}

void audit_qpool_free(struct audit_qpool *pool)
{
	audit_qblocks_unmap(pool->free);
	*pool = (struct audit_qpool){0};
}
