/*
 * prices: the table of what each model costs per token (policies/prices.json), loaded and
 * checked whole, and the rule that finds a model's price from the name a provider reports.
 *
 * The file is one JSON object; each key is "PROVIDER/MODEL" (PROVIDER up to the first '/';
 * MODEL may have '/'s of its own: "together/meta-llama/Llama-3.3-70B-Instruct-Turbo") and each
 * value an object:
 *   "input"        USD per million input tokens (required, a number)
 *   "output"       USD per million output tokens (required; null: the model has none,
 *                  e.g. embeddings)
 *   "cached_input" USD per million input tokens read from the prompt cache (required;
 *                  null: no such price)
 *   "cache_write"  USD per million input tokens written to the prompt cache, 5-minute
 *                  lifetime (required; null: no such price, as with OpenAI)
 *   "cache_write_1h"     the same for the 1-hour lifetime (optional; absent = null)
 *   "long_context_above" input tokens above which the provider charges long-context rates
 *                  for the whole request (optional): such a request is priced at
 *                  "long_context", or its cost is unknown when the entry has none
 *   "long_context" the rates of such a request (optional; only with long_context_above): an
 *                  object of "input" and "output" (required, as above) and "cached_input",
 *                  "cache_write", "cache_write_1h" (optional; absent = null), e.g. Gemini 2.5
 *                  Pro: {"input": 2.50, "output": 15.00} above 200,000 prompt tokens
 *   "request_fee_unpriced"  true: the provider also charges per request, by what the
 *                  response does not report (Perplexity's search fees, by search context
 *                  size), which the table cannot hold: every call's cost is unknown, its
 *                  tokens counted (optional; absent = false)
 *   "aliases"      more model names with this same price (optional), e.g. "claude-opus-4-0"
 *   "valid_from"   "YYYY-MM-DD", the day these prices took effect (required; informational:
 *                  lookups do not depend on it)
 * Prices are non-negative, at most PRICES_MAX_USD, with at most 6 decimals, so that each is
 * an exact integer of pico-dollars per token (price x 1e6). A null price is no
 * price: tokens of that kind make the cost unknown, never free (ledger/cost.h). Any other
 * key, a key given twice, a bad value: each is reported, with the entry and field named,
 * and the table is refused.
 *
 * Finding a price (prices_lookup()), for a provider and the model name it reported:
 *   1. the exact name, as a key or an alias: "gpt-4o-2024-05-13" has a price of its own;
 *   2. else the name without one dated-snapshot or "-latest" suffix: "-YYYY-MM-DD" (OpenAI:
 *      gpt-4o-mini-2024-07-18 -> gpt-4o-mini), "-YYYYMMDD" (Anthropic:
 *      claude-3-5-haiku-20241022 -> claude-3-5-haiku), "@YYYYMMDD" (Vertex:
 *      claude-sonnet-4-5@20250929 -> claude-sonnet-4-5) or "-latest"
 *      (claude-3-5-haiku-latest -> claude-3-5-haiku), looked up exactly again.
 * Nothing else: no prefixes, no case folding, no guessing (gpt-4o-mini-audio-preview is not
 * gpt-4o-mini). A model not found has no price.
 *
 * Ownership: prices_parse() and prices_load() return a table the caller frees with
 * prices_free(); struct price pointers from it live as long as the table.
 */
#ifndef AIGW_LEDGER_PRICES_H
#define AIGW_LEDGER_PRICES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PRICE_NONE (-1)		 /* no such price */
#define PRICES_MAX_USD 1000000.0 /* per million tokens: one dollar a token */
#define PRICES_FILE_MAX (4u << 20)

/* The rates of one band, pico-dollars per token (USD per million tokens x 1e6), or
 * PRICE_NONE. */
struct price_rates {
	int64_t input, output, cached_input, cache_write, cache_write_1h;
};

struct price {
	const char *key; /* "provider/model", as in the file */
	/* pico-dollars per token (USD per million tokens x 1e6), or PRICE_NONE */
	int64_t input, output, cached_input, cache_write, cache_write_1h;
	int64_t long_context_above;    /* input tokens; 0: no limit known */
	int has_long_context;	       /* long_context holds the rates above that limit */
	struct price_rates long_context; /* the whole request's rates above it */
	int request_fee_unpriced;   /* a per-request fee the table does not hold */
	char valid_from[11];	    /* "YYYY-MM-DD" */
};

struct price_table;

/*
 * Checks and loads the price table TEXT (LEN bytes; NAME is for messages). Every problem
 * goes to ERRS (if not NULL) as "NAME: KEY: FIELD: what is wrong". Returns 0 and *RET, or
 * -EINVAL (problems were reported), -EBADMSG (not JSON), -ENOMEM.
 */
int prices_parse(const char *name, const char *text, size_t len, FILE *errs,
		 struct price_table **ret);

/* The same for the file at PATH; also -errno from reading it, -EFBIG past PRICES_FILE_MAX. */
int prices_load(const char *path, FILE *errs, struct price_table **ret);

void prices_free(struct price_table *t);

/* Entries in the table (keys, not aliases). */
size_t prices_count(const struct price_table *t);

enum price_match {
	PRICE_MATCH_NONE,
	PRICE_MATCH_EXACT,    /* the name is a key or an alias */
	PRICE_MATCH_SNAPSHOT, /* found once a date or "-latest" suffix was taken off */
};

/* The price of MODEL as reported by PROVIDER ("openai", "anthropic"), or NULL; *HOW (if not
 * NULL) says how it was found. */
const struct price *prices_lookup(const struct price_table *t, const char *provider,
				  const char *model, enum price_match *how);

enum price_band {
	PRICE_BAND_UNHELD = -1, /* past long_context_above, and the entry holds no such rates */
	PRICE_BAND_STANDARD,
	PRICE_BAND_LONG, /* past long_context_above: "long_context" */
};

/* The band a request whose prompt is INPUT tokens (cached ones included, as Gemini and xAI
 * count it) is billed at under P, every token of it, and its rates in *RET (unset when
 * unheld). The one place that chooses: costs (cost.c) and budgets' worst cases use it. */
enum price_band price_band(const struct price *p, int64_t input, struct price_rates *ret);

/* The length of MODEL's name without a dated-snapshot or "-latest" suffix (rule 2 above), or
 * strlen(MODEL) when it has none. */
size_t prices_base_len(const char *model);

#endif
