/*
 * bench_guard_scan: what the guardrails' scan costs, in MB/s on one core, for the request
 * detector set a profile turns on (PII, secrets, injection), on realistic prompts (English
 * prose with a few PII values, code with a key in it, JSON-ish tool output) of 4 KB and 64 KB,
 * through guard_scan() (one Vectorscan pass, then the checks and the overlap resolution).
 *
 * For the record of why Vectorscan: the same detector set written as one PCRE2 alternation,
 * JIT-compiled and run with pcre2_jit_match() from each match's end to the next, the way a
 * regex library is driven to find every match (its raw matches, unchecked: a lower bound of
 * what it would cost). A benchmark, never a test: nothing here passes or fails.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pcre2.h>

#include "guard/scan.h"

#define SECONDS 1.0

static const char *const PARTS[] = {
    "Hi team, following up on yesterday's call with the customer. Their contact is Maria "
    "Lopez (maria.lopez@example-corp.com, +44 20 7946 0958) and she asked us to refund the "
    "last invoice to GB82 WEST 1234 5698 7654 32 by Friday. Please summarise the thread below "
    "in three bullet points, keep the tone friendly, and suggest next steps for the account "
    "manager. The renewal is due on 2025-03-31 and the quote was 12,400 EUR for 40 seats.\n",
    "```python\nimport os\nfrom openai import OpenAI\n\nclient = OpenAI(api_key=os.environ["
    "\"OPENAI_API_KEY\"])\n\ndef summarise(text: str) -> str:\n    resp = client.chat."
    "completions.create(model=\"gpt-4o-mini\", messages=[{\"role\": \"user\", \"content\": "
    "text}], max_tokens=256)\n    return resp.choices[0].message.content\n\n# TODO: move "
    "AKIAIOSFODNN7EXAMPLE out of the repo before the 1.4.2 release\n```\n",
    "{\"tool\": \"search_orders\", \"result\": [{\"order_id\": \"ORD-2024-000123\", \"status\": "
    "\"shipped\", \"total\": 129.99, \"updated\": \"2024-01-15T12:30:45Z\"}, {\"order_id\": "
    "\"ORD-2024-000124\", \"status\": \"pending\", \"total\": 45.5, \"updated\": "
    "\"2024-01-16T08:02:11Z\", \"customer\": {\"name\": \"J. Smith\", \"phone\": "
    "\"(415) 555-2671\"}}], \"took_ms\": 37, \"version\": \"3.2.1\"}\n",
    "The quarterly report shows revenue up 12 percent while operating costs stayed flat. Two "
    "enterprise customers signed multi-year agreements, churn fell to 1.8 percent, and the "
    "support backlog was cleared ahead of schedule. Please turn this into a short update for "
    "the board, highlighting risks in the supply chain and the hiring plan for next year.\n",
};

/* The same detectors as one PCRE2 alternation, as they would be written for a regex library. */
static const char PCRE_ALTERNATION[] =
    "[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,170}\\.[A-Za-z]{2,18}"
    "|\\+[1-9][0-9 ().-]{6,22}[0-9]"
    "|\\(?[2-9][0-9]{2}\\)?[ .-]?[0-9]{3}[ .-][0-9]{4}"
    "|\\(?0[1-9][0-9]{0,3}\\)?(?:[ ./-]?[0-9]{2,8}){1,4}"
    "|[0-9](?:[ -]?[0-9]){12,18}"
    "|[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"
    "|[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}"
    "|(?:AKIA|ASIA)[A-Z0-9]{16}"
    "|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"
    "|glpat-[A-Za-z0-9_-]{20,64}|xox[abprs]-[A-Za-z0-9-]{10,120}"
    "|(?:sk|rk)_live_[A-Za-z0-9]{24,99}|sk_test_[A-Za-z0-9]{24,99}"
    "|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,250}|sk-[A-Za-z0-9]{40,200}"
    "|sk-ant-[A-Za-z0-9_-]{32,200}"
    "|eyJ[A-Za-z0-9_-]{8,200}\\.eyJ[A-Za-z0-9_-]{8,450}\\.[A-Za-z0-9_-]{8,350}"
    "|-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----"
    "|(?i:password|passwd|pwd|secret|token|api[_-]?key|key|access[_-]?key|client[_-]?secret)"
    "[\"']?[ \\t]{0,4}[:=][ \\t]{0,4}[\"']?[^\\s\"'`]{8,128}"
    "|(?i:\\b(?:ignore|disregard|forget)\\s{1,4}(?:(?:all|the|any|of|your)\\s{1,4}){0,3}"
    "(?:previous|prior|above|earlier|preceding)\\s{1,4}"
    "(?:instructions|prompts?|rules|directions|guidelines))"
    "|(?i:your\\s{1,4}new\\s{1,4}instructions\\s{1,4}are|from\\s{1,4}now\\s{1,4}on,?\\s{1,4}"
    "you\\s{1,4}(?:are|will)\\b)"
    "|(?im:^[ \\t]{0,8}(?:system|assistant)[ \\t]{0,4}:|^#{1,4}[ \\t]{0,4}(?:system|assistant)"
    "\\b)"
    "|<\\|im_start\\|>|<\\|im_end\\|>|\\[/?INST\\]|<\\|(?:system|user|assistant)\\|>|</s>|<<SYS>>"
    "|(?i:\\b(?:reveal|print|repeat|show|output|display)\\s{1,4}(?:me\\s{1,4})?(?:your|the)"
    "\\s{1,4}(?:full\\s{1,4}|entire\\s{1,4})?(?:system\\s{1,4}prompt|(?:initial\\s{1,4}|"
    "original\\s{1,4}|hidden\\s{1,4})?instructions))"
    "|\\xF3\\xA0[\\x80\\x81][\\x80-\\xBF]"
    "|(?:\\xE2\\x80[\\x8B-\\x8D]|\\xE2\\x81\\xA0|\\xEF\\xBB\\xBF){3}"
    "|!\\[[^\\]]{0,100}\\]\\(\\s{0,4}https?://[^)\\s]{1,200}\\?[^)\\s]{0,500}=";

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A text of SIZE bytes made of the parts in turn. */
static char *make_text(size_t size)
{
	char *t = malloc(size);
	size_t n = 0, i = 0;

	if (!t)
		exit(1);
	while (n < size) {
		size_t k = strlen(PARTS[i % 4]);

		if (k > size - n)
			k = size - n;
		memcpy(t + n, PARTS[i++ % 4], k);
		n += k;
	}
	return t;
}

static size_t matches_guard;
static double best_guard; /* MB/s of the fastest batch of 16 scans */

/* The mean over SECONDS, and in BEST_GUARD the fastest batch: on a shared machine the mean
 * carries the neighbours' load, the fastest batch is what one core does undisturbed. */
static double mbps_guard(struct guard_scanner *s, const char *t, size_t len)
{
	static struct guard_match m[4096];
	struct guard_scan_result r = {.matches = m, .max = 4096};
	double t0 = now(), el, best = 1e9;
	size_t iters = 0;

	do {
		double b0 = now();

		for (int i = 0; i < 16; i++, iters++)
			if (guard_scan(s, t, len, &r))
				exit(1);
		el = now();
		if (el - b0 < best)
			best = el - b0;
		el -= t0;
	} while (el < SECONDS);
	matches_guard = r.n;
	best_guard = (double)len * 16 / best / 1e6;
	return (double)len * (double)iters / el / 1e6;
}

static size_t matches_pcre;

static double mbps_pcre(pcre2_code *re, pcre2_match_data *md, const char *t, size_t len)
{
	double t0 = now(), el;
	size_t iters = 0, found = 0;

	do {
		for (int i = 0; i < 16; i++, iters++) {
			PCRE2_SIZE off = 0;

			found = 0;
			while (off <= len && pcre2_jit_match(re, (PCRE2_SPTR)t, len, off, 0, md,
							     NULL) >= 0) {
				PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

				found++;
				off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
			}
		}
		el = now() - t0;
	} while (el < SECONDS);
	matches_pcre = found;
	return (double)len * (double)iters / el / 1e6;
}

int main(void)
{
	unsigned mask = GUARD_MASK(GUARD_CAT_PII) | GUARD_MASK(GUARD_CAT_SECRETS) |
			GUARD_MASK(GUARD_CAT_INJECTION);
	static const size_t sizes[] = {4096, 65536};
	struct guard_scanner *s;
	pcre2_code *re;
	pcre2_match_data *md;
	char err[256];
	int ec;
	PCRE2_SIZE eo;

	if (guard_scanner_new(mask, NULL, 0, &s, err, sizeof(err))) {
		fprintf(stderr, "bench_guard_scan: %s\n", err);
		return 1;
	}
	re = pcre2_compile((PCRE2_SPTR)PCRE_ALTERNATION, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
	if (!re || pcre2_jit_compile(re, PCRE2_JIT_COMPLETE)) {
		fprintf(stderr, "bench_guard_scan: PCRE2 alternation does not compile (at %zu)\n",
			(size_t)eo);
		return 1;
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	printf("guardrails scan, PII + secrets + injection, one core (MB/s, higher is better):\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *t = make_text(sizes[i]);
		double g = mbps_guard(s, t, sizes[i]), p = mbps_pcre(re, md, t, sizes[i]);

		/* MB/s is bytes per microsecond: a scan takes size / MB/s us */
		printf("  %2zu KB prompt  Vectorscan guard_scan %7.0f MB/s %7.1f us/scan (%zu spans; "
		       "best batch %.0f MB/s %.1f us)   PCRE2 JIT alternation %7.0f MB/s (%zu raw "
		       "matches)   x%.1f\n",
		       sizes[i] / 1024, g, (double)sizes[i] / g, matches_guard, best_guard,
		       (double)sizes[i] / best_guard, p, matches_pcre, g / p);
		free(t);
	}
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	guard_scanner_free(s);
	return 0;
}
