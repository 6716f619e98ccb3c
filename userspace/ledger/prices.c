/*
 * prices: loads and checks the price table and finds a model's price (see prices.h).
 *
 * Owns the file's schema (a table of fields: name, whether required, whether null is
 * allowed, the check), the conversion of USD per million tokens to pico-dollars per token
 * and the name matching rule. Like the policy loader it reports every problem it finds
 * before refusing the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ledger/prices.h"

#define NAME_MAX_LEN 200 /* "provider/model" */

struct price_name {
	char *name; /* "provider/model", a key or an alias */
	const struct price *price;
};

struct price_table {
	struct price *prices;
	size_t n;
	struct price_name *names; /* sorted by name */
	size_t n_names;
};

/* The state of one load. */
struct ctx {
	const char *name;
	FILE *errs;
	unsigned problems;
	int oom;
	struct price_table *t;
	size_t cap_names;
};

static void problem(struct ctx *c, const char *key, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(struct ctx *c, const char *key, const char *field, const char *fmt, ...)
{
	va_list ap;

	c->problems++;
	if (!c->errs)
		return;
	fprintf(c->errs, "%s: ", c->name);
	if (key)
		fprintf(c->errs, "\"%s\": ", key);
	if (field)
		fprintf(c->errs, "%s: ", field);
	va_start(ap, fmt);
	vfprintf(c->errs, fmt, ap);
	va_end(ap);
	fputc('\n', c->errs);
}

/* USD per million tokens -> pico-dollars per token (the same number x 1e6), exactly, or -1. */
static int64_t to_pico_per_token(double usd)
{
	double m;
	int64_t r;

	if (!(usd >= 0 && usd <= PRICES_MAX_USD))
		return -1;
	m = usd * 1e6;
	r = (int64_t)(m + 0.5);
	if (m - (double)r > 1e-3 || (double)r - m > 1e-3)
		return -1; /* more than 6 decimals */
	return r;
}

static void check_price(struct ctx *c, const char *key, const cJSON *v, const char *field,
			int nullable, int64_t *out)
{
	if (cJSON_IsNull(v) && nullable) {
		*out = PRICE_NONE;
		return;
	}
	if (!cJSON_IsNumber(v)) {
		problem(c, key, field, "not a number; expected USD per million tokens%s",
			nullable ? ", or null" : "");
		return;
	}
	if (v->valuedouble < 0) {
		problem(c, key, field, "negative price %g", v->valuedouble);
		return;
	}
	*out = to_pico_per_token(v->valuedouble);
	if (*out < 0)
		problem(c, key, field,
			"%.9g is not a price of at most %.0f USD per million tokens with at most 6 "
			"decimals",
			v->valuedouble, PRICES_MAX_USD);
}

static int is_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int valid_date(const char *s)
{
	int month, day;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !is_digits(s, 4) ||
	    !is_digits(s + 5, 2) || !is_digits(s + 8, 2))
		return 0;
	month = (s[5] - '0') * 10 + (s[6] - '0');
	day = (s[8] - '0') * 10 + (s[9] - '0');
	return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static void check_date(struct ctx *c, const char *key, const cJSON *v, struct price *p)
{
	const char *s = cJSON_GetStringValue(v);

	if (!s || !valid_date(s)) {
		problem(c, key, "valid_from", "expected a date \"YYYY-MM-DD\"");
		return;
	}
	memcpy(p->valid_from, s, 11);
}

static void check_limit(struct ctx *c, const char *key, const cJSON *v, struct price *p)
{
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;

	if (!(d >= 1 && d <= (double)(1LL << 53)) || (double)(int64_t)d != d) {
		problem(c, key, "long_context_above", "expected a positive number of tokens");
		return;
	}
	p->long_context_above = (int64_t)d;
}

/* The fields of "long_context": name, required, where in struct price_rates. */
static const struct {
	const char *name;
	int required;
	size_t off;
} long_fields[] = {
    {"input", 1, offsetof(struct price_rates, input)},
    {"output", 1, offsetof(struct price_rates, output)},
    {"cached_input", 0, offsetof(struct price_rates, cached_input)},
    {"cache_write", 0, offsetof(struct price_rates, cache_write)},
    {"cache_write_1h", 0, offsetof(struct price_rates, cache_write_1h)},
};

#define N_LONG_FIELDS (sizeof(long_fields) / sizeof(long_fields[0]))

/* "long_context": {"input": N, "output": N|null, ...}; every rate null until given. */
static void check_long(struct ctx *c, const char *key, const cJSON *v, struct price *p)
{
	struct price_rates *r = &p->long_context;
	const cJSON *f;
	unsigned seen = 0;
	char what[64];
	size_t i;

	r->input = r->output = r->cached_input = r->cache_write = r->cache_write_1h = PRICE_NONE;
	if (!cJSON_IsObject(v)) {
		problem(c, key, "long_context", "expected an object of prices, like {\"input\": "
			"2.50, \"output\": 15.00}");
		return;
	}
	cJSON_ArrayForEach(f, v)
	{
		for (i = 0; i < N_LONG_FIELDS && strcmp(long_fields[i].name, f->string); i++)
			;
		snprintf(what, sizeof(what), "long_context.%s", f->string);
		if (i == N_LONG_FIELDS) {
			problem(c, key, what, "unknown field");
			continue;
		}
		if (seen & (1u << i)) {
			problem(c, key, what, "given twice");
			continue;
		}
		seen |= 1u << i;
		check_price(c, key, f, what, i != 0, (int64_t *)((char *)r + long_fields[i].off));
	}
	for (i = 0; i < N_LONG_FIELDS; i++)
		if (long_fields[i].required && !(seen & (1u << i)))
			problem(c, key, "long_context", "%s: missing", long_fields[i].name);
	p->has_long_context = 1;
}

static void check_flag(struct ctx *c, const char *key, const cJSON *v, struct price *p)
{
	if (!cJSON_IsBool(v)) {
		problem(c, key, "request_fee_unpriced", "expected true or false");
		return;
	}
	p->request_fee_unpriced = cJSON_IsTrue(v);
}

/* A model name: printable ASCII, no space; '/' only between two non-empty parts, as the
 * clouds that host others' models name them ("meta-llama/Llama-3.3-70B-Instruct-Turbo"). The
 * provider of a key is what comes before its first '/', so the key stays unambiguous. */
static int valid_model(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > NAME_MAX_LEN || s[0] == '/' || s[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || (s[i] == '/' && s[i + 1] == '/'))
			return 0;
	return 1;
}

/* "provider/model": provider of [a-z0-9_-], one '/', a model name. */
static int valid_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *q;

	if (!slash || slash == s || strlen(s) > NAME_MAX_LEN)
		return 0;
	for (q = s; q < slash; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_' ||
		      *q == '-'))
			return 0;
	return valid_model(slash + 1);
}

static int add_name(struct ctx *c, const char *provider, size_t plen, const char *model,
		    const struct price *p)
{
	struct price_table *t = c->t;
	struct price_name *nn;
	size_t n = plen + 1 + strlen(model);
	char *name;

	if (t->n_names == c->cap_names) {
		nn = realloc(t->names, (c->cap_names ? c->cap_names * 2 : 32) * sizeof(*nn));
		if (!nn)
			goto oom;
		t->names = nn;
		c->cap_names = c->cap_names ? c->cap_names * 2 : 32;
	}
	name = malloc(n + 1);
	if (!name)
		goto oom;
	memcpy(name, provider, plen);
	name[plen] = '/';
	strcpy(name + plen + 1, model);
	t->names[t->n_names].name = name;
	t->names[t->n_names].price = p;
	t->n_names++;
	return 0;
oom:
	c->oom = 1;
	return -ENOMEM;
}

static void check_aliases(struct ctx *c, const char *key, const cJSON *v, const struct price *p)
{
	const char *slash = strchr(key, '/');
	const cJSON *a;

	if (!slash)
		return; /* the key itself was reported */
	if (!cJSON_IsArray(v)) {
		problem(c, key, "aliases", "expected an array of model names");
		return;
	}
	cJSON_ArrayForEach(a, v)
	{
		if (!cJSON_IsString(a) || !valid_model(a->valuestring)) {
			problem(c, key, "aliases",
				"expected model names like \"claude-opus-4-0\" (no provider, no "
				"space)");
			continue;
		}
		add_name(c, key, slash - key, a->valuestring, p);
	}
}

enum field_kind { F_PRICE, F_DATE, F_LIMIT, F_LONG, F_ALIASES, F_FLAG };

struct field {
	const char *name;
	int required;
	enum field_kind kind;
	int nullable; /* F_PRICE: null means "no such price" */
	size_t off;   /* F_PRICE: where in struct price */
};

#define PRICE_FIELD(n, req, null)                                                                  \
	{                                                                                          \
#n, req, F_PRICE, null, offsetof(struct price, n)                                  \
	}

static const struct field fields[] = {
    PRICE_FIELD(input, 1, 0),	       PRICE_FIELD(output, 1, 1),
    PRICE_FIELD(cached_input, 1, 1),   PRICE_FIELD(cache_write, 1, 1),
    PRICE_FIELD(cache_write_1h, 0, 1), {"long_context_above", 0, F_LIMIT, 0, 0},
    {"aliases", 0, F_ALIASES, 0, 0},   {"valid_from", 1, F_DATE, 0, 0},
    {"request_fee_unpriced", 0, F_FLAG, 0, 0}, {"long_context", 0, F_LONG, 0, 0},
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static const struct field *find_field(const char *name)
{
	size_t i;

	for (i = 0; i < N_FIELDS; i++)
		if (!strcmp(fields[i].name, name))
			return &fields[i];
	return NULL;
}

static void check_field(struct ctx *c, const char *key, const struct field *f, const cJSON *v,
			struct price *p)
{
	switch (f->kind) {
	case F_PRICE:
		check_price(c, key, v, f->name, f->nullable, (int64_t *)((char *)p + f->off));
		break;
	case F_DATE:
		check_date(c, key, v, p);
		break;
	case F_LIMIT:
		check_limit(c, key, v, p);
		break;
	case F_LONG:
		check_long(c, key, v, p);
		break;
	case F_ALIASES:
		check_aliases(c, key, v, p);
		break;
	case F_FLAG:
		check_flag(c, key, v, p);
		break;
	}
}

static void check_entry(struct ctx *c, const cJSON *e, struct price *p)
{
	const char *key = e->string;
	unsigned seen = 0;
	const struct field *f;
	const cJSON *v;
	size_t i;

	p->key = key;
	p->input = p->output = p->cached_input = p->cache_write = p->cache_write_1h = PRICE_NONE;
	if (!valid_key(key))
		problem(c, key, NULL, "expected a key \"provider/model\", like \"openai/gpt-4o\"");
	if (!cJSON_IsObject(e)) {
		problem(c, key, NULL, "expected an object of prices");
		return;
	}
	cJSON_ArrayForEach(v, e)
	{
		f = find_field(v->string);
		if (!f) {
			problem(c, key, v->string, "unknown field");
			continue;
		}
		if (seen & (1u << (f - fields))) {
			problem(c, key, v->string, "given twice");
			continue;
		}
		seen |= 1u << (f - fields);
		check_field(c, key, f, v, p);
	}
	for (i = 0; i < N_FIELDS; i++)
		if (fields[i].required && !(seen & (1u << i)))
			problem(c, key, fields[i].name, "missing");
	if (p->has_long_context && !cJSON_GetObjectItemCaseSensitive(e, "long_context_above"))
		problem(c, key, "long_context", "needs long_context_above, the input tokens above "
			"which it applies");
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct price_name *)a)->name, ((const struct price_name *)b)->name);
}

/* Sorts the names and reports any given twice (a key twice, or an alias taken). */
static void check_names(struct ctx *c)
{
	struct price_table *t = c->t;
	size_t i;

	if (!t->n_names)
		return;
	qsort(t->names, t->n_names, sizeof(*t->names), name_cmp);
	for (i = 1; i < t->n_names; i++)
		if (!strcmp(t->names[i].name, t->names[i - 1].name))
			problem(c, t->names[i].name, NULL, "names two entries (%s and %s)",
				t->names[i - 1].price->key, t->names[i].price->key);
}

static void report_syntax(struct ctx *c, const char *text, size_t len, const char *at)
{
	size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : len;
	unsigned line = 1;
	size_t i;

	for (i = 0; i < off; i++)
		line += text[i] == '\n';
	problem(c, NULL, NULL, "not valid JSON (line %u, byte %zu)", line, off);
}

static struct price_table *table_new(size_t n)
{
	struct price_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->prices = calloc(n ? n : 1, sizeof(*t->prices));
	if (!t->prices) {
		free(t);
		return NULL;
	}
	return t;
}

/* Checks each entry of ROOT and adds its key to the names. */
static void check_table(struct ctx *c, const cJSON *root)
{
	const cJSON *e;
	size_t i = 0;

	cJSON_ArrayForEach(e, root)
	{
		struct price *p = &c->t->prices[i++];
		const char *slash = strchr(e->string, '/');

		check_entry(c, e, p);
		if (slash)
			add_name(c, e->string, slash - e->string, slash + 1, p);
	}
	c->t->n = i;
}

int prices_parse(const char *name, const char *text, size_t len, FILE *errs,
		 struct price_table **ret)
{
	struct ctx c = {.name = name ? name : "prices", .errs = errs};
	const char *end = NULL;
	cJSON *root;
	size_t i;
	int err;

	*ret = NULL;
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root)
		while (end < text + len &&
		       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
			end++;
	if (!root || end != text + len) {
		report_syntax(&c, text, len, end); /* cJSON sets END on errors too */
		cJSON_Delete(root);
		return -EBADMSG;
	}
	if (!cJSON_IsObject(root)) {
		problem(&c, NULL, NULL, "expected an object of \"provider/model\": {prices}");
		err = -EINVAL;
		goto out_root;
	}
	c.t = table_new(cJSON_GetArraySize(root));
	if (!c.t) {
		err = -ENOMEM;
		goto out_root;
	}
	check_table(&c, root);
	check_names(&c);
	err = c.oom ? -ENOMEM : c.problems ? -EINVAL : 0;
	if (err)
		goto out_table;
	/* The keys point into the cJSON tree: give them their own copies. */
	for (i = 0; i < c.t->n; i++) {
		const struct price_name key = {.name = (char *)c.t->prices[i].key};
		struct price_name *nm =
		    bsearch(&key, c.t->names, c.t->n_names, sizeof(key), name_cmp);

		c.t->prices[i].key = nm->name;
	}
	cJSON_Delete(root);
	*ret = c.t;
	return 0;
out_table:
	prices_free(c.t);
out_root:
	cJSON_Delete(root);
	return err;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	char *buf = NULL;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (st.st_size > PRICES_FILE_MAX) {
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += n;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

int prices_load(const char *path, FILE *errs, struct price_table **ret)
{
	size_t len = 0;
	char *text = NULL;
	int err;

	*ret = NULL;
	err = read_file(path, &text, &len);
	if (err) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, strerror(-err));
		return err;
	}
	err = prices_parse(path, text, len, errs, ret);
	free(text);
	return err;
}

void prices_free(struct price_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n_names; i++)
		free(t->names[i].name);
	free(t->names);
	free(t->prices);
	free(t);
}

size_t prices_count(const struct price_table *t)
{
	return t ? t->n : 0;
}

/* Whether S[0..N) ends with PATTERN ('9' standing for any digit) after at least one byte. */
static int ends_with_pattern(const char *s, size_t n, const char *pattern)
{
	size_t m = strlen(pattern), i;

	if (n <= m)
		return 0;
	s += n - m;
	for (i = 0; i < m; i++) {
		if (pattern[i] == '9' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
			return 0;
	}
	return 1;
}

size_t prices_base_len(const char *model)
{
	static const char *const suffixes[] = {"-latest", "-9999-99-99", "-99999999",
					       "@99999999", NULL}; /* Vertex: "@YYYYMMDD" */
	size_t n = strlen(model);
	const char *const *s;

	for (s = suffixes; *s; s++)
		if (ends_with_pattern(model, n, *s))
			return n - strlen(*s);
	return n;
}

static const struct price *find(const struct price_table *t, const char *provider,
				const char *model, size_t mlen)
{
	char name[NAME_MAX_LEN + 2];
	struct price_name key = {.name = name};
	const struct price_name *hit;
	size_t plen = strlen(provider);

	/* a provider's name has no '/': "together/meta-llama" + "x" is not together's model */
	if (!t->n_names || plen + 1 + mlen >= sizeof(name) || memchr(provider, '/', plen))
		return NULL;
	memcpy(name, provider, plen);
	name[plen] = '/';
	memcpy(name + plen + 1, model, mlen);
	name[plen + 1 + mlen] = '\0';
	hit = bsearch(&key, t->names, t->n_names, sizeof(key), name_cmp);
	return hit ? hit->price : NULL;
}

enum price_band price_band(const struct price *p, int64_t input, struct price_rates *ret)
{
	if (!p->long_context_above || input <= p->long_context_above) {
		*ret = (struct price_rates){p->input, p->output, p->cached_input, p->cache_write,
					    p->cache_write_1h};
		return PRICE_BAND_STANDARD;
	}
	if (!p->has_long_context)
		return PRICE_BAND_UNHELD;
	*ret = p->long_context;
	return PRICE_BAND_LONG;
}

const struct price *prices_lookup(const struct price_table *t, const char *provider,
				  const char *model, enum price_match *how)
{
	const struct price *p = NULL;
	size_t n, base;

	if (how)
		*how = PRICE_MATCH_NONE;
	if (!t || !provider || !model)
		return NULL;
	n = strlen(model);
	p = find(t, provider, model, n);
	if (p) {
		if (how)
			*how = PRICE_MATCH_EXACT;
		return p;
	}
	base = prices_base_len(model);
	if (base == n)
		return NULL;
	p = find(t, provider, model, base);
	if (p && how)
		*how = PRICE_MATCH_SNAPSHOT;
	return p;
}
