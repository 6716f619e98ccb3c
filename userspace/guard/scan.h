/*
 * guard/scan: the guardrails' detectors and the engine that runs them all in one pass over a
 * text (Vectorscan: every expression in one database; numbers by a pass of the scanner's own,
 * see scan.c). What it finds is
 * checked before it is believed (a card number's Luhn digit, an IBAN's mod-97, an SSN's
 * ranges, a secret assignment's entropy), and overlaps are resolved, so a caller gets a
 * short ordered list of spans, each named by its detector.
 *
 * Detectors are built in (the table in scan.c: name, category, placeholder label) or the
 * policy's own patterns (guard_user_pattern), which come after the built-in ones in the
 * detector numbering. Injection detectors are signals, not spans to replace: each has a
 * weight and guard_scan() sums them into a score.
 *
 * Ownership: guard_scanner_new() returns a scanner the caller frees with
 * guard_scanner_free(); it holds its compiled database and one scratch space, so one
 * scanner is used by one thread at a time (the event loop that owns the policy snapshot).
 * Strings handed in are copied.
 */
#ifndef AIGW_GUARD_SCAN_H
#define AIGW_GUARD_SCAN_H

#include <stddef.h>
#include <stdint.h>

enum guard_category {
	GUARD_CAT_PII,	     /* email, phone, card, iban, ssn */
	GUARD_CAT_IP,	     /* ipv4, ipv6 (off unless the profile names "ip") */
	GUARD_CAT_SECRETS,   /* cloud and API keys, tokens, private keys, assignments */
	GUARD_CAT_INJECTION, /* scored signals of instructions hidden in content */
	GUARD_CAT_PATTERN,   /* the policy's own patterns */
	GUARD_CAT_COUNT
};

/* Which categories a scanner compiles in: a mask of (1u << enum guard_category). */
#define GUARD_MASK(cat) (1u << (cat))

struct guard_user_pattern {
	const char *name;  /* [A-Za-z0-9_-]{1,40}: names the detector in records and errors */
	const char *regex; /* Vectorscan syntax (PCRE without lookaround or backreferences);
			      its matches must be bounded: at most GUARD_MAX_WIDTH bytes */
};

#define GUARD_MAX_WIDTH 1024 /* no detector matches more bytes than this */

struct guard_match {
	uint32_t start, end; /* the span [start, end) of the text */
	uint16_t detector;   /* guard_detector_name(s, detector) */
};

struct guard_scanner;

/* How many databases this process has compiled. A scanner asking for exactly the
 * expressions of an earlier one (a policy reloaded, two profiles alike) reuses its database,
 * serialized in a cache of the last 32: a reload does not compile again. */
unsigned long guard_db_compiles(void);

/*
 * Compiles the detectors of the categories in MASK and the N user PATTERNS (used when MASK
 * has GUARD_CAT_PATTERN). Returns 0, or -EINVAL with ERR saying which pattern and why (a
 * syntax Vectorscan lacks, a match that can be longer than GUARD_MAX_WIDTH, a bad name), or
 * -ENOMEM.
 */
int guard_scanner_new(unsigned mask, const struct guard_user_pattern *patterns, size_t n,
		      struct guard_scanner **ret, char *err, size_t errlen);
void guard_scanner_free(struct guard_scanner *s);

/* The longest match any of S's span detectors can make (bytes): what a stream must hold
 * back so that a match split across its events is still found whole. */
size_t guard_scanner_max_width(const struct guard_scanner *s);

/* The number of detectors S knows (built-in first, then its user patterns), and each one's
 * name ("email", "card", "aws_access_key", "ignore_instructions", or the user's), category,
 * placeholder label ("EMAIL", "CARD", "SECRET", the user's name upper-cased) and, for
 * injection signals, weight. */
unsigned guard_detector_count(const struct guard_scanner *s);
const char *guard_detector_name(const struct guard_scanner *s, unsigned detector);
enum guard_category guard_detector_category(const struct guard_scanner *s, unsigned detector);
const char *guard_detector_label(const struct guard_scanner *s, unsigned detector);
double guard_detector_weight(const struct guard_scanner *s, unsigned detector);

struct guard_scan_result {
	struct guard_match *matches; /* spans (no injection signals): checked, non-overlapping,
					ordered by start; the caller's array of MAX */
	size_t max, n;		     /* n > max: more were found than fit (the first max kept) */
	double injection_score;	     /* the sum of the weights of the signals found */
	uint32_t signals;	     /* bit d set: injection detector d was seen (d < 32) */
};

/* Scans TEXT (LEN bytes, any bytes; UTF-8 expected) once for every detector of S. Returns 0
 * or -ENOMEM (scratch) / -EIO (the engine failed): the caller fails closed. */
int guard_scan(struct guard_scanner *s, const char *text, size_t len,
	       struct guard_scan_result *res);

/* The checks behind the detectors, for tests and for callers that validate alone. */
int guard_luhn_ok(const char *digits, size_t len);   /* separators (space, '-') skipped */
int guard_iban_ok(const char *text, size_t len);     /* spaces skipped; mod 97 == 1 */
double guard_entropy(const char *text, size_t len);  /* Shannon, bits per byte */

#endif
