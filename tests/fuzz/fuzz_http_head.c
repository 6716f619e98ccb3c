/*
 * fuzz_http_head: libFuzzer target for the header list of an HTTP/1 head as the proxy keeps
 * it (userspace/proxy/headers.c), fed by http_parser exactly as http1.c (requests) and
 * response.c (answers) feed it, against what it answered before names had ids
 * (tests/unit/headers_ref.h).
 *
 * The first input byte picks a request or an answer and where the rest (the head) is cut in
 * two; the head is parsed whole, cut there, and byte by byte. Beyond what ASan/UBSan catch it
 * checks:
 *   - the three ways accept or refuse alike; a head accepted ends at the same offset and
 *     gives the same list: names, values (up to their first NUL, as they are read), order,
 *     ids, dropped flags;
 *   - each field's id is the id of its name, and every name with an id has it in any case;
 *   - headers_get / headers_count of every name in the head, of each name with an id and of
 *     near misses answer as the strncasecmp scans did, and headers_find as headers_get;
 *   - a field is dropped exactly when its name is hop-by-hop or a token of the first
 *     Connection field;
 *   - headers_drop drops exactly the fields of that name, any case.
 *
 *   clang -D_GNU_SOURCE -Iuserspace -Itests/unit -g -O1 -fsanitize=fuzzer,address,undefined \
 *	tests/fuzz/fuzz_http_head.c userspace/proxy/headers.c userspace/util/decimal.c \
 *	-levent -lhttp_parser -o /tmp/fuzz_http_head
 *   /tmp/fuzz_http_head -max_len=4096 tests/fuzz/corpus/http_request
 */
#include <string.h>
#include <strings.h>
#include <http_parser.h>

#include "fuzz.h"
#include "headers_ref.h"
#include "proxy/headers.h"

/* One parse: the list, how far the parser went, whether the head ended. */
struct parse {
	http_parser p;
	struct headers h;
	size_t used;
	int errno_, complete;
};

static int on_field(http_parser *p, const char *at, size_t len)
{
	return headers_piece(&((struct parse *)p->data)->h, 0, at, len);
}

static int on_value(http_parser *p, const char *at, size_t len)
{
	return headers_piece(&((struct parse *)p->data)->h, 1, at, len);
}

static int on_complete(http_parser *p)
{
	struct parse *r = p->data;

	headers_complete(&r->h);
	r->complete = 1;
	http_parser_pause(p, 1); /* only the head is looked at, not what follows it */
	return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_complete,
};

/* Parses HEAD (LEN bytes) in pieces of at most STEP bytes, the first one CUT long. */
static void parse(struct parse *r, enum http_parser_type type, const char *head, size_t len,
		  size_t cut, size_t step)
{
	size_t at = 0;

	memset(r, 0, sizeof(*r));
	http_parser_init(&r->p, type);
	r->p.data = r;
	while (at < len && !r->complete) {
		size_t n = at ? (len - at < step ? len - at : step) : (cut < len ? cut : len);
		size_t used = http_parser_execute(&r->p, &settings, head + at, n);

		r->used += used;
		at += n;
		if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK || used != n)
			break;
	}
	r->errno_ = HTTP_PARSER_ERRNO(&r->p);
}

static const char *name_of(const struct headers *h, unsigned i)
{
	return h->arena + h->v[i].name;
}

static const char *value_of(const struct headers *h, unsigned i)
{
	return h->v[i].value == UINT32_MAX ? "" : h->arena + h->v[i].value;
}

static void check_same(const struct parse *a, const struct parse *b)
{
	CHECK(a->complete == b->complete);
	if (!a->complete) /* refused either way; which error first may depend on the cuts (a
			     129th field is refused as its first piece comes) */
		return;
	CHECK(a->errno_ == b->errno_ && a->used == b->used);
	CHECK(a->h.n == b->h.n && a->h.seen == b->h.seen);
	for (unsigned i = 0; i < a->h.n; i++) {
		CHECK(!strcmp(name_of(&a->h, i), name_of(&b->h, i)));
		CHECK(!strcmp(value_of(&a->h, i), value_of(&b->h, i)));
		CHECK(a->h.v[i].id == b->h.v[i].id && a->h.v[i].dropped == b->h.v[i].dropped);
	}
}

/* NAME's lookups answer as the scans did; it and its other case are dropped alike. */
static void check_name(const struct headers *h, const char *name)
{
	unsigned count;
	const char *want = ref_get(h, name, &count);
	enum header_id id = header_id_of(name, strlen(name));

	CHECK(headers_get(h, name) == want);
	CHECK(headers_count(h, name) == count);
	if (id != HDR_OTHER)
		CHECK(headers_find(h, id) == want);
}

static void check_list(struct headers *h)
{
	unsigned count;
	const char *conn = ref_get(h, "connection", &count);
	char near[40];

	for (unsigned i = 0; i < h->n; i++) {
		const char *name = name_of(h, i);
		enum header_id want = HDR_OTHER;

		if (strlen(name) != h->v[i].name_len) /* a NUL in the name: never read as one */
			continue;
		for (size_t k = 0; k < N_IDS; k++)
			if (!strcasecmp(name, ids[k].name))
				want = ids[k].id;
		CHECK(h->v[i].id == want);
		CHECK(h->v[i].dropped == ref_dropped(name, conn));
		check_name(h, name);
	}
	for (size_t k = 0; k < N_IDS; k++) {
		size_t n = strlen(ids[k].name);

		check_name(h, ids[k].name);
		memcpy(near, ids[k].name, n + 1);
		near[0] ^= 0x20; /* the other case, or a control byte for a digit or '-' */
		check_name(h, near);
		near[n - 1] = 0;
		check_name(h, near);
	}
	if (h->n) { /* dropping a name drops it in every case, and nothing else */
		char name[64];
		unsigned before[HEADERS_MAX];

		snprintf(name, sizeof(name), "%s", name_of(h, h->n - 1));
		for (unsigned i = 0; i < h->n; i++)
			before[i] = h->v[i].dropped;
		headers_drop(h, name);
		for (unsigned i = 0; i < h->n; i++)
			CHECK(h->v[i].dropped ==
			      (before[i] || (h->v[i].name_len == strlen(name) &&
					     !strncasecmp(name_of(h, i), name, strlen(name)))));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct parse whole, cut, bytes;
	enum http_parser_type type;
	const char *head = (const char *)data + 1;
	size_t len;

	if (size < 1)
		return 0;
	type = data[0] & 1 ? HTTP_RESPONSE : HTTP_REQUEST;
	len = size - 1;
	parse(&whole, type, head, len, len, len);
	parse(&cut, type, head, len, 1 + (data[0] >> 1), len);
	parse(&bytes, type, head, len, 1, 1);
	check_same(&whole, &cut);
	check_same(&whole, &bytes);
	if (whole.complete)
		check_list(&whole.h);
	headers_free(&whole.h);
	headers_free(&cut.h);
	headers_free(&bytes.h);
	return 0;
}
