/*
 * cost: what one request cost, in integer micro-dollars, from its token counts (struct usage,
 * providers/usage.h) and its model's price (struct price, ledger/prices.h).
 *
 * The arithmetic is exact. A price P USD per million tokens is stored as p = P x 1e6, an
 * integer of micro-dollars per million tokens; N tokens at that price cost N x P
 * micro-dollars = N x p / 1e6 micro-dollars. So the sum
 *     pico = uncached x p_input + cached_input x p_cached + (cache_write - cache_write_1h)
 *            x p_cache_write + cache_write_1h x p_cache_write_1h + output x p_output
 *     (uncached = input - cached_input - cache_write)
 * is an exact integer of pico-dollars (1e-12 USD), and the cost is rounded half up once, at
 * the end: micro_usd = (pico + 500000) / 1000000. Example: 1,000 input tokens at $0.15 per
 * million: 1000 x 150000 = 150,000,000 pico = 150 micro-dollars = $0.00015.
 *
 * A cost is never guessed. It is unknown, with the reason in words, when the model has no
 * price; when the usage is not the provider's final word (no usage, or a stream cut short
 * before its final output count); when tokens of a kind have no price (cached tokens for a
 * model with no cached price, 1-hour cache writes without that price); when the response
 * used what per-token text prices do not cover (another service tier, audio tokens, server
 * tools: usage.unpriced); when the input is past the model's long_context_above; when the
 * counts contradict each other; or when the sum would not fit in 64 bits.
 *
 * Priced: standard-tier text tokens, prompt cache reads and writes. Not priced (unknown, as
 * above, where the usage shows it): batch, flex and priority tiers, long-context rates,
 * audio and image-generation tokens, per-call tool fees. OpenAI's Responses API web search
 * and file search calls are billed per call but not reported in usage: not seen here.
 */
#ifndef AIGW_LEDGER_COST_H
#define AIGW_LEDGER_COST_H

#include <stdint.h>

#include "ledger/prices.h"
#include "providers/usage.h"

#define COST_REASON_MAX 160

struct cost {
	int known;		      /* 1: micro_usd is the cost; 0: reason says why not */
	int64_t micro_usd;	      /* the cost in micro-dollars, rounded half up once */
	int64_t pico_usd;	      /* the exact sum before rounding, in pico-dollars */
	const struct price *price;    /* the price used, or NULL */
	enum price_match match;	      /* cost_for_model(): how the price was found */
	char reason[COST_REASON_MAX]; /* when !known: e.g. "no price for openai/gpt-9" */
};

/* A known cost in whole nano-dollars, rounded up (what budgets are charged); 0 if unknown. */
static inline int64_t cost_nano_usd(const struct cost *c)
{
	return c->known ? (c->pico_usd + 999) / 1000 : 0;
}

/*
 * The cost of U at price P (NULL: no price). Returns 0 with c->known set, or, with
 * c->known 0 and c->reason filled: -ENOENT (no price), -ENODATA (usage not final),
 * -EDOM (something the price cannot cover), -EBADMSG (contradictory counts), -EOVERFLOW.
 */
int cost_compute(const struct usage *u, const struct price *p, struct cost *c);

/* The same with the price found by prices_lookup(T, PROVIDER, MODEL). */
int cost_for_model(const struct price_table *t, const char *provider, const char *model,
		   const struct usage *u, struct cost *c);

#endif
