/*
 * usage: reads token counts from provider responses, whole or streamed (see usage.h), through
 * the provider adapters (api.h: openai.c, anthropic.c own their shapes), and the small JSON
 * readers they share (usage_int.h). A whole answer is checked by one walk that also locates
 * the members its adapter reads (json_locate_accepted_in()); the counts are then read from
 * their text, or, where that could differ from cJSON in the least (escapes, duplicates, odd
 * numbers), from a cJSON tree of only the root's members the adapter reads (answer_root()).
 * Streamed events are parsed with cJSON only when they can matter (by event name, or a cheap
 * look at the data), since most are text deltas.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "policy/json_locate.h"
#include "providers/api.h"
#include "providers/usage_int.h"
#include "util/strcopy.h"

#define COUNT_MAX (1LL << 53) /* JSON numbers past this are not exact integers in cJSON */

/*
 * The scratch arena. A whole answer read for its usage is parsed into a tree, read and freed
 * at once; the tree's hundred-odd nodes and strings cost a malloc and a free each. Inside
 * scratch_begin() .. scratch_end() on a thread, cJSON allocates from this thread's fixed
 * buffer instead (a pointer bump); what does not fit goes to malloc as before. Freeing a
 * scratch pointer only counts it, and the buffer is reused only once every scratch pointer
 * has been freed, so a tree that outlived its scope (on this thread) is never overwritten.
 * A tree made in a scope must be freed on the thread that made it (all of ours are freed
 * before the scope ends). The hooks are installed before main() and any thread: outside a
 * scope they are malloc and free.
 */
#define SCRATCH_BYTES (64 * 1024)

struct scratch {
	_Alignas(16) char buf[SCRATCH_BYTES];
	size_t used;	/* bytes handed out since the buffer was last empty */
	size_t live;	/* scratch pointers not yet freed */
	unsigned depth; /* scratch_begin() calls not yet ended */
	struct usage_tree *tree; /* usage_tree_parse() or usage_tree_free() under way */
};

static _Thread_local struct scratch scratch;

/*
 * A kept tree's block (usage_tree_parse()): the request a call is decided on is parsed once
 * and read until the call ends, its few dozen nodes and strings a malloc and a free each. In
 * a tree's scope cJSON allocates from its block (a pointer bump) and what does not fit goes
 * to malloc; freeing a pointer inside the block does nothing, so usage_tree_free() runs
 * cJSON_Delete() in the scope (freeing what went to malloc) and then frees the block.
 */
#define TREE_BYTES_MIN 2048
#define TREE_BYTES_MAX (64 * 1024)

struct usage_tree {
	size_t cap;  /* bytes of buf */
	size_t used; /* bytes handed out */
	_Alignas(16) char buf[];
};

static int tree_holds(const struct usage_tree *t, const void *p)
{
	return (const char *)p >= t->buf && (const char *)p < t->buf + t->cap;
}

static void *tree_malloc(struct usage_tree *t, size_t n)
{
	size_t at = (t->used + 15) & ~(size_t)15;

	if (at > t->cap || n > t->cap - at)
		return malloc(n);
	t->used = at + n;
	return t->buf + at;
}

static void *scratch_malloc(size_t n)
{
	struct scratch *s = &scratch;
	size_t at = (s->used + 15) & ~(size_t)15;

	if (s->tree)
		return tree_malloc(s->tree, n);
	if (!s->depth || n > SCRATCH_BYTES - at)
		return malloc(n);
	s->used = at + n;
	s->live++;
	return s->buf + at;
}

static void scratch_free(void *p)
{
	struct scratch *s = &scratch;

	if (s->tree && tree_holds(s->tree, p))
		return;
	if ((char *)p < s->buf || (char *)p >= s->buf + SCRATCH_BYTES) {
		free(p);
		return;
	}
	if (--s->live == 0)
		s->used = 0;
}

__attribute__((constructor)) static void scratch_install(void)
{
	cJSON_Hooks h = {.malloc_fn = scratch_malloc, .free_fn = scratch_free};

	cJSON_InitHooks(&h);
}

static void scratch_begin(void)
{
	scratch.depth++;
}

static void scratch_end(void)
{
	scratch.depth--;
}

cJSON *usage_tree_parse(const char *text, size_t len, struct usage_tree **ret_tree)
{
	size_t cap = len < (TREE_BYTES_MAX - TREE_BYTES_MIN) / 2 ? 2 * len + TREE_BYTES_MIN
								  : TREE_BYTES_MAX;
	struct usage_tree *t = malloc(sizeof(*t) + cap);
	cJSON *root;

	*ret_tree = NULL;
	if (!t) /* a tree of its own, as before */
		return cJSON_ParseWithLength(text, len);
	t->cap = cap;
	t->used = 0;
	scratch.tree = t;
	root = cJSON_ParseWithLength(text, len);
	scratch.tree = NULL;
	if (!root) {
		free(t);
		return NULL;
	}
	*ret_tree = t;
	return root;
}

void usage_tree_free(cJSON *root, struct usage_tree *tree)
{
	struct usage_tree *outer = scratch.tree;

	scratch.tree = tree;
	cJSON_Delete(root);
	scratch.tree = outer;
	free(tree);
}

const cJSON *json_item(const cJSON *obj, const char *key)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *json_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(json_item(obj, key));
}

/* Copies SRC (NULL: "") into DST of SIZE bytes, cut to fit. */
void copy_str(char *dst, size_t size, const char *src)
{
	if (dst && size)
		str_copy(dst, size, src ? src : "");
}

int json_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* TEXT[0..LEN) as one JSON value and nothing but whitespace after it, or NULL. */
cJSON *json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	if (!text || !len)
		return NULL;
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return NULL;
	while (end < text + len && json_is_space(*end))
		end++;
	if (end != text + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* 1 and *V: KEY is a count; 0: absent or null; -EBADMSG: anything else. */
int json_count(const cJSON *obj, const char *key, int64_t *v)
{
	const cJSON *it = json_item(obj, key);
	double d;

	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsNumber(it))
		return -EBADMSG;
	d = it->valuedouble;
	if (!(d >= 0 && d <= (double)COUNT_MAX) || (double)(int64_t)d != d)
		return -EBADMSG;
	*v = (int64_t)d;
	return 1;
}

/* The same for OBJ[DETAILS][KEY]; details that are not an object count as absent. */
int json_sub_count(const cJSON *obj, const char *details, const char *key, int64_t *v)
{
	return json_count(json_item(obj, details), key, v);
}

/* USAGE_UNPRICED_TIER when OBJ[KEY] names a tier not in STANDARD. */
int tier_flag(const cJSON *obj, const char *const *standard)
{
	const char *t = json_str(obj, "service_tier");

	if (!t)
		return 0;
	for (; *standard; standard++)
		if (!strcmp(t, *standard))
			return 0;
	return USAGE_UNPRICED_TIER;
}

/* The first final event wins; WHY (NULL: "") says what kind of end, when not a good one. */
void stream_set_end(struct usage_stream *s, enum usage_end end, const char *why)
{
	if (s->end != USAGE_END_NONE)
		return;
	s->end = end;
	copy_str(s->error_type, sizeof(s->error_type), why);
}

void stream_take_model(struct usage_stream *s, const cJSON *obj)
{
	if (!s->model[0])
		copy_str(s->model, sizeof(s->model), json_str(obj, "model"));
}

int text_has(const char *data, size_t len, const char *needle)
{
	return memmem(data, len, needle, strlen(needle)) != NULL;
}

int text_has_any(const char *data, size_t len, const char *const *needles)
{
	for (; *needles; needles++)
		if (text_has(data, len, *needles))
			return 1;
	return 0;
}

int name_is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

/* Whether DATA has a member "usage" whose value is an object (not the usual null). */
int text_has_usage_object(const char *data, size_t len)
{
	const char *end = data + len, *p = data, *q;

	while ((q = memmem(p, end - p, "\"usage\"", 7))) {
		q += 7;
		while (q < end && json_is_space(*q))
			q++;
		if (q < end && *q == ':') {
			q++;
			while (q < end && json_is_space(*q))
				q++;
			if (q < end && *q == '{')
				return 1;
		}
		p = q;
	}
	return 0;
}

/* "error": {"type": ..., "code": ...} or {"type":"error","code":...}: the best name. */
const char *error_kind(const cJSON *e, const char *fallback)
{
	const char *k = json_str(e, "type");

	if (!k || !strcmp(k, "error"))
		k = json_str(e, "code");
	return k && *k ? k : fallback;
}

#define ROOT_KEYS_MAX 8 /* "model" and the members an adapter's usage_body reads */
#define SHORT_TEXT_MAX 256 /* a key or string copied on the stack to make its item */

static cJSON *answer_value(const char *t, size_t len, size_t *i);

/* The length of the string whose opening quote is at T[I] when it holds no escape and is
 * shorter than SHORT_TEXT_MAX bytes, else -1: its first quote, if no backslash comes before
 * it, is its closing one. Keys and short values: two short memchr(), not skip_string()'s. */
static long plain_string_len(const char *t, size_t len, size_t i)
{
	size_t room = len - i - 1;
	const char *q = memchr(t + i + 1, '"', room < SHORT_TEXT_MAX ? room : SHORT_TEXT_MAX);
	size_t n = q ? (size_t)(q - (t + i + 1)) : 0;

	return q && !memchr(t + i + 1, '\\', n) ? (long)n : -1;
}

/* The string (quotes included) at T[*I..) as its text, NUL-terminated, into BUF (SHORT_TEXT_MAX
 * bytes) when it holds no escape and fits; else NULL (the caller has cJSON read it). */
static const char *answer_plain_string(const char *t, size_t len, size_t *i, char *buf)
{
	long n = plain_string_len(t, len, *i);

	if (n < 0)
		return NULL;
	memcpy(buf, t + *i + 1, (size_t)n);
	buf[n] = '\0';
	*i += (size_t)n + 2;
	return buf;
}

/* A number of at most 15 digits (exact in a double), no sign, point or exponent: its value
 * into *V, as strtod() reads it; 0: another kind, left to cJSON. */
static int answer_small_count(const char *t, size_t len, size_t *i, double *v)
{
	size_t k = *i;
	int64_t x = 0;

	while (k < len && k - *i <= 15 && t[k] >= '0' && t[k] <= '9')
		x = x * 10 + (t[k++] - '0');
	if (k - *i > 15 || (k < len && (t[k] == '+' || t[k] == '-' || t[k] == '.' ||
					t[k] == 'e' || t[k] == 'E')))
		return 0;
	*v = (double)x;
	*i = k;
	return 1;
}

/* The key (quotes included) at T[*I..), unescaped as cJSON reads it, in memory of cJSON's
 * allocator, as cJSON_AddItemToObject() would have copied it (cJSON_Delete() of the member
 * frees it); *I past it. NULL: out of memory, or a key cJSON does not read. */
static char *answer_key(const char *t, size_t len, size_t *i)
{
	long n = plain_string_len(t, len, *i);
	size_t at = *i;
	cJSON *name;
	char *key;

	if (n >= 0) {
		if ((key = cJSON_malloc((size_t)n + 1))) {
			memcpy(key, t + at + 1, (size_t)n);
			key[n] = '\0';
		}
		*i += (size_t)n + 2;
		return key;
	}
	*i = skip_string(t, len, at); /* escapes: cJSON's own unescaping */
	name = cJSON_ParseWithLength(t + at, *i - at);
	key = cJSON_IsString(name) ? name->valuestring : NULL;
	if (key)
		name->valuestring = NULL; /* the member's now */
	cJSON_Delete(name);
	return key;
}

/* The members or elements of the container at T[*I], into ITEM: each member linked with its
 * key already copied (answer_key()), not copied again by cJSON_AddItemToObject(). */
static int answer_children(const char *t, size_t len, size_t *i, cJSON *item)
{
	char close = t[*i] == '{' ? '}' : ']';
	char *key = NULL;
	cJSON *child;

	*i = skip_ws(t, len, *i + 1);
	while (t[*i] != close) {
		if (close == '}') {
			if (!(key = answer_key(t, len, i)))
				return -ENOMEM;
			*i = skip_ws(t, len, skip_ws(t, len, *i) + 1); /* past the ':' */
		}
		if (!(child = answer_value(t, len, i))) {
			cJSON_free(key);
			return -ENOMEM;
		}
		child->string = key;
		if (!cJSON_AddItemToArray(item, child)) {
			cJSON_Delete(child);
			return -ENOMEM;
		}
		*i = skip_ws(t, len, *i);
		if (t[*i] == ',')
			*i = skip_ws(t, len, *i + 1);
	}
	(*i)++;
	return 0;
}

/*
 * The tree cJSON would make of the value at T[*I..) (text json_locate_accepted() accepted),
 * made without cJSON's parser where that is cheap: short plain strings and keys copied, small
 * counts read as integers, containers built item by item; escapes and other numbers are still
 * read by cJSON, from their own text. Advances *I past the value; NULL: out of memory.
 */
static cJSON *answer_value(const char *t, size_t len, size_t *i)
{
	char buf[SHORT_TEXT_MAX];
	const char *str;
	size_t at = *i;
	cJSON *item;
	double v;

	switch (t[at]) {
	case '{':
	case '[':
		item = t[at] == '{' ? cJSON_CreateObject() : cJSON_CreateArray();
		if (item && answer_children(t, len, i, item)) {
			cJSON_Delete(item);
			item = NULL;
		}
		return item;
	case '"':
		str = answer_plain_string(t, len, i, buf);
		if (str)
			return cJSON_CreateString(str);
		break;
	case 't':
		*i += 4;
		item = cJSON_CreateTrue();
		if (item)
			item->valueint = 1; /* as cJSON's parser sets it */
		return item;
	case 'f':
		*i += 5;
		return cJSON_CreateFalse();
	case 'n':
		*i += 4;
		return cJSON_CreateNull();
	default:
		if (answer_small_count(t, len, i, &v))
			return cJSON_CreateNumber(v);
	}
	*i = skip_value(t, len, at);
	return cJSON_ParseWithLength(t + at, *i - at);
}

/*
 * The answer BODY as the adapter P reads it, once json_locate_accepted() has accepted it (its
 * value at AT, POS[k] the first member named KEYS[k] of N): an object of only those members
 * (the first of each name, as cJSON finds it), parsed from their text. NULL when the answer
 * is no object (or out of memory).
 */
static cJSON *answer_root(const char *body, size_t at, const char *const *keys, size_t n,
			  const struct json_locate_pos *pos)
{
	cJSON *root, *item;

	if (body[at] != '{')
		return NULL; /* JSON, but no object: not an answer, as json_parse()'s tree says */
	root = cJSON_CreateObject();
	for (size_t k = 0; root && k < n; k++) {
		if (pos[k].value == JSON_LOCATE_NONE)
			continue;
		at = pos[k].value;
		item = answer_value(body, pos[k].end, &at);
		if (!item || !cJSON_AddItemToObjectCS(root, keys[k], item)) {
			cJSON_Delete(item);
			cJSON_Delete(root);
			return NULL;
		}
	}
	return root;
}

/* The answer's "model" (POS) into MODEL from its text: 0, or USAGE_TEXT_UNSURE when it is a
 * string cJSON would read otherwise (escapes, a NUL) or too long to copy here. */
static int answer_model(const char *body, const struct json_locate_pos *pos, char *model,
			size_t model_size)
{
	char buf[SHORT_TEXT_MAX];
	const char *s;
	size_t n;
	int r = text_plain_str(body, pos, &s, &n);

	if (r == USAGE_TEXT_UNSURE || (r == 1 && n >= sizeof(buf)))
		return USAGE_TEXT_UNSURE;
	if (r == 1) {
		memcpy(buf, s, n);
		buf[n] = '\0';
	}
	copy_str(model, model_size, r == 1 ? buf : NULL);
	return 0;
}

/*
 * The fast path: the usage read from the answer's text, with no tree, when the adapter can
 * (usage_text) and the answer holds nothing it cannot read exactly as the tree would be read.
 * Returns what usage_body() would, or USAGE_TEXT_UNSURE (*U and MODEL then undefined).
 */
static int answer_usage_text(const struct provider_api *p, enum usage_api api, const char *body,
			     size_t at, const struct json_locate_pos *pos, struct usage *u,
			     char *model, size_t model_size)
{
	if (body[at] != '{')
		return -EBADMSG;
	if (answer_model(body, &pos[0], model, model_size))
		return USAGE_TEXT_UNSURE;
	return p->usage_text(api, body, pos + 1, u);
}

/* The slow path: the tree of what the adapter reads (the whole answer when it does not say
 * what it reads), its "model" and the adapter's usage_body(). */
static int answer_usage_tree(const struct provider_api *p, enum usage_api api, const char *body,
			     size_t len, size_t at, const char *const *keys, size_t n,
			     const struct json_locate_pos *pos, struct usage *u, char *model,
			     size_t model_size)
{
	cJSON *root = n ? answer_root(body, at, keys, n, pos) : json_parse(body, len);
	int err = -EBADMSG;

	copy_str(model, model_size, NULL);
	if (cJSON_IsObject(root)) {
		copy_str(model, model_size, json_str(root, "model"));
		err = p ? p->usage_body(api, root, u) : -EINVAL;
	}
	cJSON_Delete(root);
	return err;
}

#define ANSWER_KEYS_MAX 24 /* ROOT_KEYS_MAX and the members below the root read from text */

/* The members of an answer for API to locate: KEYS[0] "model", then the adapter's
 * usage_body_keys (*N_ROOT in all, of the root), then its usage_text_shape (when it has one
 * for API: *SHAPED, with their PARENTS). Returns how many. */
static size_t answer_keys(const struct provider_api *p, enum usage_api api, const char **keys,
			  int *parents, size_t *n_root, int *shaped)
{
	const struct usage_text_shape *sh = p->usage_text_shape ? p->usage_text_shape(api) : NULL;
	size_t n = 1;

	keys[0] = "model";
	parents[0] = -1;
	for (; p->usage_body_keys[n - 1] && n < ROOT_KEYS_MAX; n++) {
		keys[n] = p->usage_body_keys[n - 1];
		parents[n] = -1;
	}
	*n_root = n;
	*shaped = sh && !p->usage_body_keys[n - 1] && n + sh->n <= ANSWER_KEYS_MAX; /* none cut */
	for (size_t k = 0; *shaped && k < sh->n; k++, n++) {
		keys[n] = sh->keys[k];
		parents[n] = sh->parents[k] + 1; /* past "model" */
	}
	return n;
}

/*
 * A whole answer is accepted or refused by one walk (json_locate_accepted_in(), which notes
 * where "model" and the members the adapter reads are, below the root too); its usage is then
 * read from their text (answer_usage_text()) or, when that is unsure, from a tree of the root's
 * members it reads (answer_usage_tree()).
 */
int usage_from_body(enum usage_api api, const char *body, size_t len, struct usage *u, char *model,
		    size_t model_size)
{
	const struct provider_api *p = provider_api_of_usage(api);
	const char *keys[ANSWER_KEYS_MAX];
	struct json_locate_pos pos[ANSWER_KEYS_MAX];
	int parents[ANSWER_KEYS_MAX], shaped = 0, odd = 0;
	size_t n = 0, n_root = 0, at = 0;
	int err = -EBADMSG;

	memset(u, 0, sizeof(*u));
	copy_str(model, model_size, NULL);
	if (p && p->usage_body_keys) {
		n = answer_keys(p, api, keys, parents, &n_root, &shaped);
		if (json_locate_accepted_in(body, len, keys, parents, n, pos, &at, &odd))
			goto out;
		if (shaped && !odd) {
			err = answer_usage_text(p, api, body, at, pos, u, model, model_size);
			if (err != USAGE_TEXT_UNSURE)
				goto out;
			memset(u, 0, sizeof(*u));
		}
	}
	scratch_begin();
	err = answer_usage_tree(p, api, body, len, at, keys, n_root, pos, u, model, model_size);
	scratch_end();
out:
	if (err)
		memset(u, 0, sizeof(*u));
	return err;
}

const char *usage_end_name(enum usage_end end)
{
	switch (end) {
	case USAGE_END_OK:
		return "ok";
	case USAGE_END_INCOMPLETE:
		return "incomplete";
	case USAGE_END_ERROR:
		return "error";
	default:
		return "none";
	}
}

void usage_stream_init(struct usage_stream *s, enum usage_api api, unsigned flags)
{
	memset(s, 0, sizeof(*s));
	s->api = api;
	s->flags = flags;
}

int usage_stream_event(struct usage_stream *s, const char *event, const char *data, size_t data_len)
{
	const struct provider_api *p;
	int rc;

	if (!s || !data)
		return USAGE_EVENT_FORWARD;
	s->events++;
	p = provider_api_of_usage(s->api);
	if (!p)
		return USAGE_EVENT_FORWARD;
	scratch_begin();
	rc = p->usage_event(s, event, data, data_len);
	scratch_end();
	return rc;
}

/* ---- editing JSON text in place: the client's other bytes stay as they came ---- */

size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (unsigned char)s[i] <= 0x20) /* as cJSON skips: every control byte */
		i++;
	return i;
}

/* From the opening quote at I to just past the closing one (LEN when none): the first quote
 * no backslash escapes, found a run at a time (memchr) rather than a byte at a time. A quote
 * is looked for again only once an escape has passed the last one found: searching on from
 * every backslash would read a string of escapes once per escape (a hostile app's 1 MB
 * string of "\n" took 6 s). */
size_t skip_string(const char *s, size_t len, size_t i)
{
	const char *quote = NULL, *bs;

	for (i++; i < len; i = (size_t)(bs - s) + 2) {
		if (!quote || s + i > quote)
			quote = memchr(s + i, '"', len - i);
		if (!quote)
			return len;
		bs = memchr(s + i, '\\', (size_t)(quote - (s + i)));
		if (!bs)
			return (size_t)(quote - s) + 1;
	}
	return len;
}

/* From the value's first byte at I to just past its last. The text is valid JSON. */
size_t skip_value(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	if (i < len && s[i] == '"')
		return skip_string(s, len, i);
	if (i < len && s[i] != '{' && s[i] != '[') {
		while (i < len && !json_is_space(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
			i++;
		return i;
	}
	while (i < len) {
		if (s[i] == '"') {
			i = skip_string(s, len, i);
			continue;
		}
		if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return len;
}

/* Whether the JSON string RAW (N bytes, quotes included) is KEY once unescaped. */
int key_is(const char *raw, size_t n, const char *key)
{
	cJSON *k;
	int eq;

	if (!memchr(raw, '\\', n))
		return n == strlen(key) + 2 && !memcmp(raw + 1, key, n - 2);
	k = cJSON_ParseWithLength(raw, n);
	eq = cJSON_IsString(k) && !strcmp(k->valuestring, key);
	cJSON_Delete(k);
	return eq;
}

/* Finds the first member KEY of the object whose '{' is at OBJ, as cJSON does. */
int find_member(const char *s, size_t len, size_t obj, const char *key, struct member *m)
{
	size_t i = skip_ws(s, len, obj + 1);

	while (i < len && s[i] == '"') {
		m->key = i;
		m->key_end = skip_string(s, len, i);
		i = skip_ws(s, len, m->key_end);
		if (i >= len || s[i] != ':')
			return 0;
		m->value = skip_ws(s, len, i + 1);
		m->value_end = skip_value(s, len, m->value);
		if (key_is(s + m->key, m->key_end - m->key, key))
			return 1;
		i = skip_ws(s, len, m->value_end);
		if (i >= len || s[i] != ',')
			return 0;
		i = skip_ws(s, len, i + 1);
	}
	return 0;
}

/* ---- reading an accepted answer from its text (usage_int.h) ---- */

/* Whether the string body T[I..END) reads in cJSON's tree as its raw bytes: no escape, and
 * no NUL (where cJSON's C string would end). */
static int text_is_plain(const char *t, size_t i, size_t end)
{
	return !memchr(t + i, '\\', end - i) && !memchr(t + i, '\0', end - i);
}

int text_count(const char *t, const struct json_locate_pos *pos, int64_t *v)
{
	size_t i = pos->value, end = pos->end;
	int64_t x = 0;

	if (i == JSON_LOCATE_NONE || t[i] == 'n')
		return 0; /* absent or null */
	if (t[i] != '-' && (t[i] < '0' || t[i] > '9'))
		return -EBADMSG; /* a string, true, false, an object or an array */
	if (t[i] == '-' || end - i > 15 || (t[i] == '0' && end - i > 1))
		return USAGE_TEXT_UNSURE;
	for (; i < end; i++) {
		if (t[i] < '0' || t[i] > '9')
			return USAGE_TEXT_UNSURE; /* a point, an exponent */
		x = x * 10 + (t[i] - '0');
	}
	*v = x;
	return 1;
}

int text_plain_str(const char *t, const struct json_locate_pos *pos, const char **s, size_t *n)
{
	size_t i = pos->value;

	if (i == JSON_LOCATE_NONE || t[i] != '"')
		return 0;
	if (!text_is_plain(t, i + 1, pos->end - 1))
		return USAGE_TEXT_UNSURE;
	*s = t + i + 1;
	*n = pos->end - i - 2;
	return 1;
}

int text_str_flag(const char *t, const struct json_locate_pos *pos, const char *const *standard,
		  int flag)
{
	const char *str;
	size_t n;
	int r = text_plain_str(t, pos, &str, &n);

	if (r != 1)
		return r; /* 0: no string, or unsure */
	for (; *standard; standard++)
		if (!strncmp(str, *standard, n) && !(*standard)[n])
			return 0;
	return flag;
}

/* *RET = BODY with [AT, CUT) replaced by INS. */
int usage_edit(const char *body, size_t len, size_t at, size_t cut, const char *ins, char **ret,
	       size_t *ret_len)
{
	size_t n = strlen(ins), total = at + n + (len - cut);
	char *out = malloc(total + 1);

	if (!out)
		return -ENOMEM;
	memcpy(out, body, at);
	memcpy(out + at, ins, n);
	memcpy(out + at + n, body + cut, len - cut);
	out[total] = '\0';
	*ret = out;
	*ret_len = total;
	return 1;
}

int request_set_model(const char *body, size_t len, const char *model, char **ret, size_t *ret_len)
{
	cJSON *name = cJSON_CreateString(model);
	char *value = name ? cJSON_PrintUnformatted(name) : NULL;
	struct member m;
	size_t obj;
	int r = -ENOENT;

	*ret = NULL;
	if (!value) {
		cJSON_Delete(name);
		return -ENOMEM;
	}
	obj = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0; /* cJSON skips a BOM */
	obj = skip_ws(body, len, obj);
	if (obj < len && body[obj] == '{' && find_member(body, len, obj, "model", &m))
		r = usage_edit(body, len, m.value, m.value_end, value, ret, ret_len) < 0 ? -ENOMEM
											 : 0;
	free(value);
	cJSON_Delete(name);
	return r;
}

int request_set_int(const char *body, size_t len, const char *key, int64_t value, char **ret,
		    size_t *ret_len)
{
	char text[300];
	struct member m;
	size_t obj, first;

	*ret = NULL;
	obj = len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3) ? 3 : 0; /* cJSON skips a BOM */
	obj = skip_ws(body, len, obj);
	if (obj >= len || body[obj] != '{')
		return -EINVAL;
	snprintf(text, sizeof(text), "%lld", (long long)value);
	if (find_member(body, len, obj, key, &m))
		return usage_edit(body, len, m.value, m.value_end, text, ret, ret_len) < 0 ? -ENOMEM
											   : 0;
	first = skip_ws(body, len, obj + 1);
	snprintf(text, sizeof(text), "\"%s\":%lld%s", key, (long long)value,
		 first < len && body[first] == '}' ? "" : ",");
	return usage_edit(body, len, obj + 1, obj + 1, text, ret, ret_len) < 0 ? -ENOMEM : 0;
}

/* ---- the adapters' table ---- */

const struct provider_api *provider_api_of_family(enum policy_api family)
{
	if (family == POLICY_API_BEDROCK)
		return &provider_bedrock;
	/* Vertex serves Anthropic's models with Anthropic's answers and errors */
	return family == POLICY_API_ANTHROPIC || family == POLICY_API_VERTEX ? &provider_anthropic
	       : family == POLICY_API_GEMINI				     ? &provider_gemini
									     : &provider_openai;
}

const struct provider_api *provider_api_of_usage(enum usage_api api)
{
	switch (api) {
	case USAGE_API_OPENAI_CHAT:
	case USAGE_API_OPENAI_RESPONSES:
	case USAGE_API_OPENAI_EMBEDDINGS:
		return &provider_openai;
	case USAGE_API_ANTHROPIC_MESSAGES:
		return &provider_anthropic;
	case USAGE_API_GEMINI_GENERATE:
	case USAGE_API_GEMINI_STREAM:
	case USAGE_API_GEMINI_COUNT_TOKENS:
	case USAGE_API_GEMINI_EMBED:
		return &provider_gemini;
	case USAGE_API_BEDROCK_CONVERSE:
	case USAGE_API_BEDROCK_CONVERSE_STREAM:
	case USAGE_API_BEDROCK_INVOKE:
	case USAGE_API_BEDROCK_INVOKE_STREAM:
		return &provider_bedrock;
	}
	return NULL;
}

/* The usage API of URL (N bytes of path) when adapter P reads it, else -1. */
static int path_api_of(const struct provider_api *p, const char *url, size_t n)
{
	return url ? p->path_api(url, n) : -1;
}

int provider_api_for_path(const char *url, const struct provider_api **ret)
{
	static const struct provider_api *const all[] = {&provider_openai, &provider_anthropic,
							 &provider_gemini, &provider_bedrock};
	size_t n = url ? strcspn(url, "?") : 0;

	*ret = NULL;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int api = path_api_of(all[i], url, n);

		if (api >= 0) {
			*ret = all[i];
			return api;
		}
	}
	return -1;
}

int provider_api_for_family_path(enum policy_api family, const char *url,
				 const struct provider_api **ret)
{
	const struct provider_api *p = provider_api_of_family(family);
	size_t n = url ? strcspn(url, "?") : 0;
	int api = path_api_of(p, url, n);

	/* Vertex's calls are read as Anthropic's or Gemini's (vertex_canonicalise() makes them) */
	if (api < 0 && family == POLICY_API_VERTEX) {
		p = &provider_gemini;
		api = path_api_of(p, url, n);
	}
	*ret = api >= 0 ? p : NULL;
	return api;
}

const struct provider_path *provider_inference_call(enum policy_api family, const char *method,
						    const char *path, size_t len)
{
	const struct provider_api *p = provider_api_of_family(family);
	char buf[1024];

	if (family == POLICY_API_VERTEX || len >= sizeof(buf)) /* Vertex: vertex_path_parse() */
		return NULL;
	memcpy(buf, path, len);
	buf[len] = '\0';
	for (size_t i = 0; i < p->n_inference; i++)
		if (!strcasecmp(p->inference[i].method, method) &&
		    fnmatch(p->inference[i].glob, buf, FNM_PATHNAME) == 0)
			return &p->inference[i];
	return NULL;
}
