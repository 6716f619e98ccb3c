/*
 * tool_ids: Gemini's thoughtSignature cut out of the tool call ids of a request for another
 * provider (see tool_ids.h). The body is walked as text with usage_int.h's readers, only down
 * the paths where its API keeps tool call ids; the cuts are gathered, then made in one copy.
 * A body without the mark anywhere costs one memmem().
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "providers/tool_ids.h"
#include "providers/translate.h"
#include "providers/usage_int.h"

#define MARK_LEN (sizeof(TRANSLATE_SIG_MARK) - 1)

enum shape { SHAPE_NONE, SHAPE_OPENAI, SHAPE_ANTHROPIC, SHAPE_CONVERSE };

/* The bytes [from, to) of the text to leave out. */
struct cut {
	size_t from, to;
};

struct cuts {
	struct cut *v; /* owned */
	size_t n, cap;
	int oom;
};

static enum shape shape_of(enum usage_api api)
{
	switch (api) {
	case USAGE_API_OPENAI_CHAT:
		return SHAPE_OPENAI;
	case USAGE_API_ANTHROPIC_MESSAGES:
	case USAGE_API_BEDROCK_INVOKE: /* Claude's InvokeModel body is Anthropic's */
	case USAGE_API_BEDROCK_INVOKE_STREAM:
		return SHAPE_ANTHROPIC;
	case USAGE_API_BEDROCK_CONVERSE:
	case USAGE_API_BEDROCK_CONVERSE_STREAM:
		return SHAPE_CONVERSE;
	default:
		return SHAPE_NONE;
	}
}

static void cut_add(struct cuts *c, size_t from, size_t to)
{
	struct cut *v;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;

		v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			c->oom = 1;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = (struct cut){from, to};
}

/* OBJ[KEY] of the object at OBJ, when it is a string holding the mark unescaped: cut from the
 * mark to its closing quote. */
static void id_cut(const char *s, size_t len, size_t obj, const char *key, struct cuts *c)
{
	struct member m;
	const char *mark;
	size_t n;

	if (obj >= len || s[obj] != '{' || !find_member(s, len, obj, key, &m))
		return;
	n = m.value_end - m.value;
	if (s[m.value] != '"' || n < 2 || memchr(s + m.value, '\\', n))
		return;
	mark = memmem(s + m.value + 1, n - 2, TRANSLATE_SIG_MARK, MARK_LEN);
	if (mark)
		cut_add(c, (size_t)(mark - s), m.value_end - 1);
}

/* The first element of OBJ[KEY] when that is an array (LEN past its end, or when it is not
 * one); array_next() the element after the one at I, LEN after the last. */
static size_t array_first(const char *s, size_t len, size_t obj, const char *key)
{
	struct member m;
	size_t i;

	if (obj >= len || s[obj] != '{' || !find_member(s, len, obj, key, &m) || s[m.value] != '[')
		return len;
	i = skip_ws(s, len, m.value + 1);
	return i < len && s[i] != ']' ? i : len;
}

static size_t array_next(const char *s, size_t len, size_t i)
{
	i = skip_ws(s, len, skip_value(s, len, i));
	return i < len && s[i] == ',' ? skip_ws(s, len, i + 1) : len;
}

/* A content block at B: Anthropic's tool_use id / tool_result tool_use_id, or Converse's. */
static void block_cut(enum shape shape, const char *s, size_t len, size_t b, struct cuts *c)
{
	struct member m;

	if (shape == SHAPE_ANTHROPIC) {
		id_cut(s, len, b, "id", c);
		id_cut(s, len, b, "tool_use_id", c);
		return;
	}
	if (s[b] == '{' && find_member(s, len, b, "toolUse", &m))
		id_cut(s, len, m.value, "toolUseId", c);
	if (s[b] == '{' && find_member(s, len, b, "toolResult", &m))
		id_cut(s, len, m.value, "toolUseId", c);
}

/* One message at M. */
static void message_cut(enum shape shape, const char *s, size_t len, size_t m, struct cuts *c)
{
	size_t i;

	if (shape == SHAPE_OPENAI) {
		for (i = array_first(s, len, m, "tool_calls"); i < len; i = array_next(s, len, i))
			id_cut(s, len, i, "id", c);
		id_cut(s, len, m, "tool_call_id", c);
		return;
	}
	for (i = array_first(s, len, m, "content"); i < len; i = array_next(s, len, i))
		block_cut(shape, s, len, i, c);
}

static int cut_cmp(const void *a, const void *b)
{
	const struct cut *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/* BODY without the cuts (sorted, apart) into *RET; returns how many. */
static int cuts_apply(const char *body, size_t len, struct cuts *c, char **ret, size_t *ret_len)
{
	size_t o = 0, at = 0, gone = 0;
	char *out;

	qsort(c->v, c->n, sizeof(*c->v), cut_cmp);
	for (size_t k = 0; k < c->n; k++)
		gone += c->v[k].to - c->v[k].from;
	out = malloc(len - gone + 1);
	if (!out)
		return -ENOMEM;
	for (size_t k = 0; k < c->n; k++) {
		memcpy(out + o, body + at, c->v[k].from - at);
		o += c->v[k].from - at;
		at = c->v[k].to;
	}
	memcpy(out + o, body + at, len - at);
	o += len - at;
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return c->n > INT_MAX ? INT_MAX : (int)c->n;
}

int tool_ids_strip(enum usage_api api, const char *body, size_t len, char **ret, size_t *ret_len)
{
	enum shape shape = shape_of(api);
	struct cuts c = {0};
	size_t obj, i;
	int r = 0;

	*ret = NULL;
	if (shape == SHAPE_NONE || !memmem(body, len, TRANSLATE_SIG_MARK, MARK_LEN))
		return 0;
	obj = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0; /* cJSON skips a BOM */
	obj = skip_ws(body, len, obj);
	for (i = array_first(body, len, obj, "messages"); i < len; i = array_next(body, len, i))
		message_cut(shape, body, len, i, &c);
	if (c.oom)
		r = -ENOMEM;
	else if (c.n)
		r = cuts_apply(body, len, &c, ret, ret_len);
	free(c.v);
	return r;
}
