/*
 * cost: exact integer cost of one request from its usage and price (see cost.h).
 *
 * Owns the pricing formula and every reason a cost is unknown. All arithmetic is int64 with
 * overflow checks; nothing is a float.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ledger/cost.h"

#define PICO_PER_NANO 1000
#define NANO_PER_USD 1000000000LL

static int unknown(struct cost *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int unknown(struct cost *c, int err, const char *fmt, ...)
{
	va_list ap;

	c->known = 0;
	c->nano_usd = 0;
	c->pico_usd = 0;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	return err;
}

/* Adds N tokens at PRICE to *SUM. Returns 0, -EDOM (tokens but no price), -EOVERFLOW. */
static int add(int64_t *sum, int64_t n, int64_t price)
{
	int64_t term;

	if (!n)
		return 0;
	if (price == PRICE_NONE)
		return -EDOM;
	if (__builtin_mul_overflow(n, price, &term) || __builtin_add_overflow(*sum, term, sum))
		return -EOVERFLOW;
	return 0;
}

/* Why U cannot be priced at all, or NULL. */
static const char *usage_problem(const struct usage *u, int *err)
{
	*err = -ENODATA;
	if (!(u->known & USAGE_KNOWN_INPUT))
		return u->known ? "input tokens not reported" : "no usage reported";
	if (!(u->known & USAGE_KNOWN_OUTPUT))
		return "output tokens not final (the stream ended early)";
	*err = -EDOM;
	if (u->unpriced & USAGE_UNPRICED_TIER)
		return "served in a service tier other than standard, which the table does not "
		       "price";
	if (u->unpriced & USAGE_UNPRICED_AUDIO)
		return "audio tokens, which the table does not price";
	if (u->unpriced & USAGE_UNPRICED_TOOLS)
		return "server tool calls, billed per call, which the table does not price";
	if (u->unpriced & USAGE_UNPRICED_SPEED)
		return "served in fast mode, which the table does not price";
	if (u->unpriced & USAGE_UNPRICED_GEO)
		return "inference pinned to a region, priced apart, which the table does not price";
	*err = -EBADMSG;
	if (u->input < 0 || u->output < 0 || u->cached_input < 0 || u->cache_write < 0 ||
	    u->cache_write_1h < 0 || u->reasoning < 0)
		return "negative token counts";
	if (u->cached_input > u->input - u->cache_write || u->cache_write_1h > u->cache_write)
		return "cached tokens exceed input tokens";
	return NULL;
}

/* The five terms: tokens and their price, with the price's name for a message. */
struct term {
	int64_t tokens, price;
	const char *what;
};

int cost_compute(const struct usage *u, const struct price *p, struct cost *c)
{
	struct term terms[5];
	struct price_rates r;
	enum price_band band;
	const char *why;
	int64_t sum = 0;
	size_t i;
	int err;

	memset(c, 0, sizeof(*c));
	c->price = p;
	if (!p)
		return unknown(c, -ENOENT, "no price");
	why = usage_problem(u, &err);
	if (why)
		return unknown(c, err, "%s", why);
	if (p->request_fee_unpriced)
		return unknown(c, -EDOM,
			       "%s also charges a fee per request (e.g. for web search) that the "
			       "table does not hold",
			       p->key);
	band = price_band(p, u->input, &r);
	if (band == PRICE_BAND_UNHELD)
		return unknown(c, -EDOM,
			       "%lld input tokens, above %lld: %s charges long-context rates the "
			       "table does not hold",
			       (long long)u->input, (long long)p->long_context_above, p->key);
	terms[0] = (struct term){u->input - u->cached_input - u->cache_write, r.input, "input"};
	terms[1] = (struct term){u->cached_input, r.cached_input, "cached_input"};
	terms[2] = (struct term){u->cache_write - u->cache_write_1h, r.cache_write, "cache_write"};
	terms[3] = (struct term){u->cache_write_1h, r.cache_write_1h, "cache_write_1h"};
	terms[4] = (struct term){u->output, r.output, "output"};
	for (i = 0; i < 5; i++) {
		err = add(&sum, terms[i].tokens, terms[i].price);
		if (err == -EDOM)
			return unknown(c, err, "%lld %s tokens but %s has no%s %s price",
				       (long long)terms[i].tokens, terms[i].what, p->key,
				       band == PRICE_BAND_LONG ? " long-context" : "", terms[i].what);
		if (err)
			return unknown(c, err, "cost overflows 64 bits");
	}
	if (__builtin_add_overflow(sum, PICO_PER_NANO - 1, &c->nano_usd))
		return unknown(c, -EOVERFLOW, "cost overflows 64 bits");
	c->nano_usd /= PICO_PER_NANO;
	c->pico_usd = sum;
	c->known = 1;
	return 0;
}

int cost_for_model(const struct price_table *t, const char *provider, const char *model,
		   const struct usage *u, struct cost *c)
{
	enum price_match how;
	const struct price *p = prices_lookup(t, provider, model, &how);
	int err;

	if (!p) {
		memset(c, 0, sizeof(*c));
		return unknown(c, -ENOENT, "no price for %s/%s", provider ? provider : "?",
			       model && *model ? model : "(no model)");
	}
	err = cost_compute(u, p, c);
	c->match = how;
	return err;
}

/* Every record with a cost writes one: digits from the right into a scratch buffer, not
 * snprintf ("%s%llu.%09llu" of sign, dollars and nano-dollars). */
char *cost_usd_text(int64_t nano, char buf[COST_USD_TEXT_MAX])
{
	uint64_t u = nano < 0 ? -(uint64_t)nano : (uint64_t)nano;
	char tmp[COST_USD_TEXT_MAX], *p = tmp + sizeof(tmp);
	size_t len;

	*--p = '\0';
	for (int i = 0; i < 9; i++, u /= 10)
		*--p = (char)('0' + u % 10);
	*--p = '.';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (nano < 0)
		*--p = '-';
	len = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(buf, p, len);
	return buf;
}
