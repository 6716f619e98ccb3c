/*
 * cost: what one request cost, in integer nano-dollars, from its token counts (struct usage,
 * providers/usage.h) and its model's price (struct price, ledger/prices.h).
 *
 * The arithmetic is exact. A price P USD per million tokens (at most 6 decimals) is stored as
 * p = P x 1e6, an integer of pico-dollars (1e-12 USD) per token. So the sum
 *     pico = uncached x p_input + cached_input x p_cached + (cache_write - cache_write_1h)
 *            x p_cache_write + cache_write_1h x p_cache_write_1h + output x p_output
 *     (uncached = input - cached_input - cache_write)
 * is the exact cost in pico-dollars. The cost of record is nano_usd = ceil(pico / 1000): one
 * rounding per call, of the sum, never of a term, and up, so a budget is never charged less
 * than the call cost. Every price of the shipped table has at most 3 decimals (a whole number
 * of nano-dollars per token), so there the rounding never happens and nano_usd is exact;
 * a record whose cost was rounded also carries the exact pico sum. Examples: 10 input tokens
 * of gpt-5-nano at $0.05 per million: 10 x 50,000 = 500,000 pico = 500 nano = $0.000000500;
 * 1,000 at $0.15: 1000 x 150,000 = 150,000,000 pico = 150,000 nano = $0.000150000.
 *
 * A cost is never guessed. It is unknown, with the reason in words, when the model has no
 * price; when the usage is not the provider's final word (no usage, or a stream cut short
 * before its final output count); when tokens of a kind have no price (cached tokens for a
 * model with no cached price, 1-hour cache writes without that price); when the response
 * used what per-token text prices do not cover (another service tier, audio tokens, server
 * tools: usage.unpriced); when the model charges per request too (request_fee_unpriced:
 * Perplexity's search fees); when the input is past the model's long_context_above and the
 * entry has no long_context rates (with them, the whole request is priced at those, the way
 * Gemini and xAI bill a long prompt); when the counts contradict each other; or when the sum
 * would not fit in 64 bits.
 *
 * Priced: standard-tier text tokens, prompt cache reads and writes, long-context bands the
 * table holds. Not priced (unknown, as above, where the usage shows it): batch, flex and
 * priority tiers, long-context rates an entry does not hold, audio and image-generation tokens,
 * per-call tool fees. OpenAI's Responses API web search and file search calls are billed per
 * call but not reported in usage: not seen here.
 */
#ifndef AIGW_LEDGER_COST_H
#define AIGW_LEDGER_COST_H

#include <stdint.h>

#include "ledger/prices.h"
#include "providers/usage.h"

#define COST_REASON_MAX 160

struct cost {
	int known;		      /* 1: nano_usd is the cost; 0: reason says why not */
	int64_t nano_usd;	      /* the cost in nano-dollars: pico_usd rounded up, once */
	int64_t pico_usd;	      /* the exact sum before rounding, in pico-dollars */
	const struct price *price;    /* the price used, or NULL */
	enum price_match match;	      /* cost_for_model(): how the price was found */
	char reason[COST_REASON_MAX]; /* when !known: e.g. "no price for openai/gpt-9" */
};

/* A known cost in nano-dollars (what records, budgets and the ledger carry); 0 if unknown. */
static inline int64_t cost_nano_usd(const struct cost *c)
{
	return c->known ? c->nano_usd : 0;
}

#define COST_USD_TEXT_MAX 32

/* NANO nano-dollars as an exact decimal of USD with 9 decimals ("0.000000450", "-1.5..."
 * for a negative sum), written from the integer, never through a double. Returns BUF. */
char *cost_usd_text(int64_t nano, char buf[COST_USD_TEXT_MAX]);

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
