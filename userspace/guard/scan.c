/*
 * guard/scan: the detector table, its one Vectorscan database, and the pass that turns the
 * engine's reports into checked, non-overlapping spans.
 *
 * Every detector is one or more expressions (the table EXPRS); all the scanner's
 * expressions are compiled into one block-mode database, span detectors with
 * HS_FLAG_SOM_LEFTMOST (injection signals need no start: HS_FLAG_SINGLEMATCH instead).
 * Vectorscan reports every end offset at which an expression matches, each with the leftmost
 * start, so the regular expressions are deliberately loose and the code decides: a check
 * per detector sees each candidate [start, end) and the text around it, may narrow the span
 * (a secret assignment's value, a card found after a shorter number) and accepts or refuses
 * it. A candidate followed by more of what the detector matches is refused: a longer report
 * with a later end carries the whole value.
 *
 * Accepted candidates of one detector with one start collapse to the longest as they come.
 * After the pass, overlaps are resolved greedily: a secret beats anything else, then the
 * longer span, then the earlier one; a byte map of what is taken makes each test O(width).
 * The survivors are sorted by start.
 *
 * Built-in expressions are byte-oriented (no HS_FLAG_UTF8): the text may hold any bytes and
 * Vectorscan's UTF-8 mode is undefined on invalid UTF-8. A user pattern with non-ASCII bytes
 * is compiled in UTF-8 mode so that its classes mean characters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hs/hs.h>

#include "guard/scan.h"

/* ---- the checks ---- */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_upper(int c)
{
	return c >= 'A' && c <= 'Z';
}

static int is_alnum(int c)
{
	return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z');
}

static int is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A byte of a token (key, id): what may not touch a token's either end. */
static int is_token(int c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

/* The byte at I of TEXT, or 0 outside it (so a text's ends read as a neutral byte). */
static int byte_at(const char *text, size_t len, size_t i)
{
	return i < len ? (unsigned char)text[i] : 0;
}

/* The byte before I, or 0 at the start. */
static int byte_before(const char *text, size_t i)
{
	return i ? (unsigned char)text[i - 1] : 0;
}

int guard_luhn_ok(const char *digits, size_t len)
{
	unsigned sum = 0, n = 0;
	size_t i;

	for (i = len; i-- > 0;) {
		unsigned d;

		if (digits[i] == ' ' || digits[i] == '-')
			continue;
		if (!is_digit(digits[i]))
			return 0;
		d = (unsigned)(digits[i] - '0');
		if (n++ & 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return n > 1 && sum % 10 == 0;
}

/* An IBAN's length by country (ISO 13616 registry, the countries met most). */
static const struct {
	char cc[3];
	unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BR", 29}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IS", 26}, {"IT", 27},
    {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31},
    {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25},
    {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VG", 24}, {"XK", 20},
};

/* The registered length for the country CC, or 0 when the table does not know it. */
static unsigned iban_country_length(const char *cc)
{
	size_t i;

	for (i = 0; i < sizeof(iban_lengths) / sizeof(iban_lengths[0]); i++)
		if (iban_lengths[i].cc[0] == cc[0] && iban_lengths[i].cc[1] == cc[1])
			return iban_lengths[i].len;
	return 0;
}

/* The compact IBAN (spaces dropped) into OUT (at most 34 characters); its length or 0. */
static size_t iban_compact(const char *text, size_t len, char out[34])
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (text[i] == ' ')
			continue;
		if (n == 34 || !(is_digit(text[i]) || is_upper(text[i])))
			return 0;
		out[n++] = text[i];
	}
	return n;
}

int guard_iban_ok(const char *text, size_t len)
{
	char c[34];
	size_t n = iban_compact(text, len, c), i;
	unsigned rem = 0;

	if (n < 5 || !is_upper(c[0]) || !is_upper(c[1]) || !is_digit(c[2]) || !is_digit(c[3]))
		return 0;
	/* mod 97 of the number made by moving the first four to the end, letters as 10..35 */
	for (i = 0; i < n; i++) {
		char ch = c[(i + 4) % n];

		if (is_digit(ch))
			rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
		else
			rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
	}
	return rem == 1;
}

double guard_entropy(const char *text, size_t len)
{
	unsigned counts[256] = {0};
	double h = 0;
	size_t i;

	if (!len)
		return 0;
	for (i = 0; i < len; i++)
		counts[(unsigned char)text[i]]++;
	for (i = 0; i < 256; i++) {
		double p;

		if (!counts[i])
			continue;
		p = (double)counts[i] / (double)len;
		h -= p * log2(p);
	}
	return h;
}

/*
 * A check sees a candidate [*start, *end) of TEXT and returns 1 to accept it (after
 * narrowing the span if the detector replaces less than it matched) or 0.
 */
typedef int (*guard_check_fn)(const char *text, size_t len, uint32_t *start, uint32_t *end);

static int is_email_local(int c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* The domain part: labels of [A-Za-z0-9-], none empty, none starting or ending with '-'. */
static int email_domain_ok(const char *d, size_t n)
{
	size_t i, label = 0;

	for (i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (!label || d[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (d[i] == '-' && !label)
			return 0;
		label++;
	}
	return label > 0;
}

static int is_domain_byte(int c)
{
	return is_alnum(c) || c == '.' || c == '-';
}

/*
 * The expression is only "x@y" (Vectorscan cannot track the start of a long local part);
 * the address is read out from the '@' both ways: a local part of at most 64 bytes, a
 * domain of at most 190 ending in an alphabetic top-level label.
 */
static int check_email(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t at = *start + 1, s = at, e = at + 1, tld;

	while (s > 0 && at - s < 65 && is_email_local(text[s - 1]))
		s--;
	if (at - s > 64)
		return 0;
	while (s < at && text[s] == '.') /* leading dots are punctuation */
		s++;
	while (e < len && e - at <= 190 && is_domain_byte(text[e]))
		e++;
	if (e - at > 190 && is_domain_byte(byte_at(text, len, e)))
		return 0;
	while (text[e - 1] == '.' || text[e - 1] == '-') /* trailing punctuation */
		e--;
	for (tld = e; tld > at + 1 && text[tld - 1] != '.'; tld--)
		;
	if (s == at || text[at - 1] == '.' || memmem(text + s, at - s, "..", 2) ||
	    e - s > 254 || tld == at + 1 || e - tld < 2 || e - tld > 18 ||
	    byte_at(text, len, e) == '@' || byte_at(text, len, e) == '_')
		return 0;
	for (; tld < e; tld++)
		if (is_digit(text[tld]) || text[tld] == '-')
			return 0;
	if (!email_domain_ok(text + at + 1, e - at - 1))
		return 0;
	*start = s;
	*end = e;
	return 1;
}

/* Numbers in running text: what may not touch a number's ends (a longer number, a word, a
 * decimal or dotted version, a time). */
static int number_touches(const char *text, size_t len, uint32_t s, uint32_t e)
{
	int b = byte_before(text, s), b2 = s > 1 ? (unsigned char)text[s - 2] : 0;
	int a = byte_at(text, len, e), a2 = byte_at(text, len, e + 1);

	if (is_alnum(b) || b == '_' || is_alnum(a) || a == '_')
		return 1;
	if ((b == '.' || b == '-' || b == '/' || b == ':' || b == '+') && is_digit(b2))
		return 1;
	if ((a == '.' || a == '-' || a == '/' || a == ':') && is_digit(a2))
		return 1;
	return a == ':';
}

/*
 * A phone number's shape: digit groups with one separator (' ', '-', '.', '/') between them,
 * one pair of parentheses at most around a group; separators not next to a parenthesis all
 * the same. Returns the digit count, or -1. *GROUPS gets the group sizes (up to 8).
 */
static int phone_shape(const char *p, size_t n, unsigned groups[8], unsigned *ngroups)
{
	int digits = 0, open = 0, closed = 0;
	char sep = 0;
	size_t i;

	*ngroups = 0;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (is_digit(c)) {
			if (!i || !is_digit(p[i - 1])) {
				if (*ngroups == 8)
					return -1;
				groups[(*ngroups)++] = 0;
			}
			groups[*ngroups - 1]++;
			digits++;
			continue;
		}
		if (c == '(') {
			if (open++ || (i && p[i - 1] != ' '))
				return -1;
			continue;
		}
		if (c == ')') {
			if (!open || closed++ || !is_digit(p[i - 1]))
				return -1;
			continue;
		}
		/* a separator: between digits, or beside a parenthesis */
		if (i && !is_digit(p[i - 1]) && p[i - 1] != ')')
			return -1;
		if (p[i - 1] != ')' && i + 1 < n && p[i + 1] != '(') {
			if (sep && sep != c)
				return -1;
			sep = c;
		}
	}
	return open == closed ? digits : -1;
}

static int check_phone(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t s = *start, e = *end;
	unsigned groups[8], ng, i;
	int digits, lead = text[s] == '+';

	if (number_touches(text, len, s, e))
		return 0;
	digits = phone_shape(text + s + lead, e - s - lead, groups, &ng);
	if (digits < 9)
		return 0;
	if (lead) /* E.164: at most 15 digits */
		return digits <= 15 && ng >= 2;
	if (digits > 12 || ng < 2)
		return 0;
	/* US: 3-3-4 with an area code from 2 */
	if (ng == 3 && groups[0] == 3 && groups[1] == 3 && groups[2] == 4)
		return text[s] != '0';
	/* European national forms start with a trunk 0, groups of two or more */
	if (text[s] != '0' && !(text[s] == '(' && text[s + 1] == '0'))
		return 0;
	for (i = 0; i < ng; i++)
		if (groups[i] < 2)
			return 0;
	return 1;
}

static int check_card(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t s = *start, e = *end, p;

	if (is_digit(byte_at(text, len, e)) || is_alnum(byte_at(text, len, e)))
		return 0;
	/*
	 * The engine's leftmost start may take in a shorter number before the card ("qty 2
	 * 4111 ..."): try each group start, longest first.
	 */
	for (p = s; p + 12 < e; p++) {
		size_t i, n = 0;
		char sep = 0;
		int ok = 1;

		if (p > s ? is_digit(text[p - 1]) : is_alnum(byte_before(text, p)))
			continue;
		if (!is_digit(text[p]) || text[p] == '0')
			continue;
		for (i = p; i < e && ok; i++) {
			if (is_digit(text[i])) {
				n++;
				continue;
			}
			if (sep && text[i] != sep)
				ok = 0;
			sep = text[i];
		}
		if (ok && n >= 13 && n <= 19 && guard_luhn_ok(text + p, e - p)) {
			*start = p;
			return 1;
		}
	}
	return 0;
}

static int check_iban(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t s = *start, e = *end, i, n = 0;
	unsigned want;

	if (is_alnum(byte_before(text, s)) || is_alnum(byte_at(text, len, e)))
		return 0;
	/* spaces only between groups of four */
	for (i = s; i < e; i++) {
		if (text[i] != ' ')
			n++;
		else if (n % 4)
			return 0;
	}
	want = iban_country_length(text + s);
	if (want ? n != want : n < 15)
		return 0;
	return guard_iban_ok(text + s, e - s);
}

static unsigned digits_value(const char *p, size_t n)
{
	unsigned v = 0;

	while (n--)
		v = v * 10 + (unsigned)(*p++ - '0');
	return v;
}

/* AAA-GG-SSSS (the regular expression fixes the shape) */
static int check_ssn(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	const char *p = text + *start;
	unsigned area = digits_value(p, 3), group = digits_value(p + 4, 2),
		 serial = digits_value(p + 7, 4);

	if (number_touches(text, len, *start, *end) || p[3] != p[6])
		return 0;
	return area && area != 666 && area < 900 && group && serial;
}

static int check_ipv4(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t s = *start, e = *end, i;
	unsigned v = 0, n = 0;

	if (number_touches(text, len, s, e) || byte_before(text, s) == '.' ||
	    (byte_at(text, len, e) == '.' && is_digit(byte_at(text, len, e + 1))))
		return 0;
	for (i = s; i <= e; i++) {
		if (i == e || text[i] == '.') {
			if (v > 255 || (n > 1 && text[i - n] == '0'))
				return 0;
			v = n = 0;
			continue;
		}
		v = v * 10 + (unsigned)(text[i] - '0');
		n++;
	}
	return 1;
}

static int is_ipv6_byte(int c)
{
	return is_hex(c) || c == ':' || c == '.';
}

static int check_ipv6(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t s = *start, e = *end, i, groups = 0;
	char buf[64];
	struct in6_addr a;

	if (e - s >= sizeof(buf) || is_ipv6_byte(byte_before(text, s)) ||
	    is_alnum(byte_before(text, s)) || is_ipv6_byte(byte_at(text, len, e)) ||
	    is_alnum(byte_at(text, len, e)))
		return 0;
	/* two hex groups at least: "::" or "::1" alone are not addresses in running text */
	for (i = s; i < e; i++)
		if (is_hex(text[i]) && (i == s || text[i - 1] == ':'))
			groups++;
	if (groups < 2)
		return 0;
	memcpy(buf, text + s, e - s);
	buf[e - s] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A key or token: nothing of a token touches either end (else it is part of a longer one). */
static int check_token(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	return !is_token(byte_before(text, *start)) && !is_token(byte_at(text, len, *end));
}

/*
 * A token whose expression is its prefix and the shortest body (Vectorscan cannot track the
 * start of a long body that can hold its own prefix's bytes): the body is read on while
 * IS_BODY holds, to at most MAX bytes in all; a longer run is not this token.
 */
static int token_extend(const char *text, size_t len, uint32_t *start, uint32_t *end,
			int (*is_body)(int), uint32_t max)
{
	uint32_t e = *end;

	if (is_token(byte_before(text, *start)) || byte_before(text, *start) == '.')
		return 0;
	while (e < len && e - *start < max && is_body((unsigned char)text[e]))
		e++;
	if (is_token(byte_at(text, len, e)))
		return 0;
	*end = e;
	return 1;
}

static int is_slack_body(int c)
{
	return is_alnum(c) || c == '-';
}

static int check_gitlab(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	return token_extend(text, len, start, end, is_token, 70);
}

static int check_slack(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	return token_extend(text, len, start, end, is_slack_body, 130);
}

static int has_prefix(const char *text, uint32_t start, uint32_t end, const char *prefix)
{
	size_t n = strlen(prefix);

	return end - start >= n && !memcmp(text + start, prefix, n);
}

/* sk-proj-, sk-svcacct-, sk-admin- keys are read on; a legacy sk- key is matched whole. */
static int check_openai(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	if (has_prefix(text, *start, *end, "sk-ant-"))
		return 0;
	if (has_prefix(text, *start, *end, "sk-proj-") ||
	    has_prefix(text, *start, *end, "sk-svcacct-") ||
	    has_prefix(text, *start, *end, "sk-admin-"))
		return token_extend(text, len, start, end, is_token, 260);
	return check_token(text, len, start, end);
}

static int check_anthropic(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	return token_extend(text, len, start, end, is_token, 210);
}

/* The length of the run of base64url bytes at P (at most MAX + 1). */
static uint32_t b64url_run(const char *text, size_t len, uint32_t p, uint32_t max)
{
	uint32_t n = 0;

	while (p + n < len && n <= max && is_token(text[p + n]))
		n++;
	return n;
}

/* HEADER.PAYLOAD.SIGNATURE, both JSON parts "eyJ" ('{"' in base64url), from the header's
 * anchor on. */
static int check_jwt(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t p = *start, h, pl, sig;

	if (is_token(byte_before(text, p)) || byte_before(text, p) == '.')
		return 0;
	h = b64url_run(text, len, p, 200);
	if (h < 11 || h > 200 || byte_at(text, len, p + h) != '.')
		return 0;
	p += h + 1;
	if (len - p < 3 || memcmp(text + p, "eyJ", 3))
		return 0;
	pl = b64url_run(text, len, p, 450);
	if (pl < 11 || pl > 450 || byte_at(text, len, p + pl) != '.')
		return 0;
	p += pl + 1;
	sig = b64url_run(text, len, p, 350);
	if (sig < 8 || sig > 350 || byte_at(text, len, p + sig) == '.')
		return 0;
	*end = p + sig;
	return 1;
}

static int is_value_byte(int c)
{
	return c > ' ' && c != '"' && c != '\'' && c != '`' && c != 0x7f;
}

/*
 * KEY [:=]: the expression ends at the operator; the value is read on from there (spaces,
 * an optional quote, then value bytes). Only the value is a secret (the span narrows to
 * it), and only when it looks random: 8..128 bytes of entropy >= 3 bits per byte.
 */
static int check_assignment(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t v = *end, e;

	if (is_alnum(byte_before(text, *start)))
		return 0;
	while (v < len && v - *end < 4 && (text[v] == ' ' || text[v] == '\t'))
		v++;
	if (v < len && (text[v] == '"' || text[v] == '\''))
		v++;
	for (e = v; e < len && e - v <= 128 && is_value_byte((unsigned char)text[e]); e++)
		;
	if (e - v < 8 || e - v > 128 || guard_entropy(text + v, e - v) < 3.0)
		return 0;
	*start = v;
	*end = e;
	return 1;
}

/* ---- the detector table ---- */

enum {
	DET_EMAIL,
	DET_PHONE,
	DET_CARD,
	DET_IBAN,
	DET_SSN,
	DET_IPV4,
	DET_IPV6,
	DET_AWS,
	DET_GITHUB,
	DET_GITLAB,
	DET_SLACK,
	DET_STRIPE,
	DET_OPENAI,
	DET_ANTHROPIC,
	DET_JWT,
	DET_PRIVATE_KEY,
	DET_ASSIGNMENT,
	DET_IGNORE,
	DET_NEW_INSTRUCTIONS,
	DET_ROLE,
	DET_EXFILTRATION,
	DET_TAGS,
	DET_ZERO_WIDTH,
	DET_MARKDOWN,
	DET_BUILTIN_COUNT
};

struct guard_detector_def {
	const char *name, *label;
	enum guard_category cat;
	double weight;	     /* injection signals */
	guard_check_fn check; /* NULL: a match is believed */
	unsigned width;	     /* the widest span its check reads out past its expressions'
				(0: the expressions' own width) */
};

static const struct guard_detector_def builtins[DET_BUILTIN_COUNT] = {
    [DET_EMAIL] = {"email", "EMAIL", GUARD_CAT_PII, 0, check_email, 254},
    [DET_PHONE] = {"phone", "PHONE", GUARD_CAT_PII, 0, check_phone, 0},
    [DET_CARD] = {"card", "CARD", GUARD_CAT_PII, 0, check_card, 0},
    [DET_IBAN] = {"iban", "IBAN", GUARD_CAT_PII, 0, check_iban, 0},
    [DET_SSN] = {"ssn", "SSN", GUARD_CAT_PII, 0, check_ssn, 0},
    [DET_IPV4] = {"ipv4", "IP", GUARD_CAT_IP, 0, check_ipv4, 0},
    [DET_IPV6] = {"ipv6", "IP", GUARD_CAT_IP, 0, check_ipv6, 0},
    [DET_AWS] = {"aws_access_key", "SECRET", GUARD_CAT_SECRETS, 0, check_token, 0},
    [DET_GITHUB] = {"github_token", "SECRET", GUARD_CAT_SECRETS, 0, check_token, 0},
    [DET_GITLAB] = {"gitlab_token", "SECRET", GUARD_CAT_SECRETS, 0, check_gitlab, 70},
    [DET_SLACK] = {"slack_token", "SECRET", GUARD_CAT_SECRETS, 0, check_slack, 130},
    [DET_STRIPE] = {"stripe_key", "SECRET", GUARD_CAT_SECRETS, 0, check_token, 0},
    [DET_OPENAI] = {"openai_key", "SECRET", GUARD_CAT_SECRETS, 0, check_openai, 260},
    [DET_ANTHROPIC] = {"anthropic_key", "SECRET", GUARD_CAT_SECRETS, 0, check_anthropic, 210},
    [DET_JWT] = {"jwt", "SECRET", GUARD_CAT_SECRETS, 0, check_jwt, 1002},
    [DET_PRIVATE_KEY] = {"private_key", "SECRET", GUARD_CAT_SECRETS, 0, NULL, 0},
    [DET_ASSIGNMENT] = {"secret_assignment", "SECRET", GUARD_CAT_SECRETS, 0, check_assignment,
			/* key, quote, spaces, operator, spaces, quote, value */ 13 + 1 + 4 + 1 + 4 + 1 + 128},
    [DET_IGNORE] = {"ignore_instructions", "INJECTION", GUARD_CAT_INJECTION, 1.0, NULL, 0},
    [DET_NEW_INSTRUCTIONS] = {"new_instructions", "INJECTION", GUARD_CAT_INJECTION, 0.6, NULL, 0},
    [DET_ROLE] = {"role_impersonation", "INJECTION", GUARD_CAT_INJECTION, 0.6, NULL, 0},
    [DET_EXFILTRATION] = {"prompt_exfiltration", "INJECTION", GUARD_CAT_INJECTION, 0.6, NULL, 0},
    [DET_TAGS] = {"unicode_tags", "INJECTION", GUARD_CAT_INJECTION, 1.0, NULL, 0},
    [DET_ZERO_WIDTH] = {"zero_width", "INJECTION", GUARD_CAT_INJECTION, 0.6, NULL, 0},
    [DET_MARKDOWN] = {"markdown_exfil", "INJECTION", GUARD_CAT_INJECTION, 0.8, NULL, 0},
};

/*
 * The expressions, loose on purpose (the checks above decide). Every one is bounded: the
 * widest span detector sets what a stream holds back.
 */
static const struct {
	unsigned detector;
	unsigned flags; /* besides the SOM / single-match flag its category gets */
	const char *re;
} exprs[] = {
    {DET_EMAIL, 0, "[A-Za-z0-9._%+-]@[A-Za-z0-9]"},
    {DET_PHONE, 0, "\\+[1-9][0-9 ().-]{6,22}[0-9]"},
    {DET_PHONE, 0, "\\(?[2-9][0-9]{2}\\)?[ .-]?[0-9]{3}[ .-][0-9]{4}"},
    {DET_PHONE, 0, "\\(?0[1-9][0-9]{0,3}\\)?(?:[ ./-]?[0-9]{2,8}){1,4}"},
    {DET_CARD, 0, "[0-9](?:[ -]?[0-9]){12,18}"},
    {DET_IBAN, 0, "[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"},
    {DET_SSN, 0, "[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}"},
    {DET_IPV4, 0, "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"},
    {DET_IPV6, 0,
     "[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\\.[0-9]{1,3}){0,3}"},
    {DET_AWS, 0, "(?:AKIA|ASIA)[A-Z0-9]{16}"},
    {DET_GITHUB, 0, "gh[pousr]_[A-Za-z0-9]{36}"},
    {DET_GITHUB, 0, "github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"},
    {DET_GITLAB, 0, "glpat-[A-Za-z0-9_-]{20}"},
    {DET_SLACK, 0, "xox[abprs]-[A-Za-z0-9-]{10}"},
    {DET_STRIPE, 0, "(?:sk|rk)_live_[A-Za-z0-9]{24,99}"},
    {DET_STRIPE, 0, "sk_test_[A-Za-z0-9]{24,99}"},
    {DET_OPENAI, 0, "sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20}"},
    {DET_OPENAI, 0, "sk-[A-Za-z0-9]{40,200}"},
    {DET_ANTHROPIC, 0, "sk-ant-[A-Za-z0-9_-]{32}"},
    {DET_JWT, 0, "eyJ[A-Za-z0-9_-]{8}"},
    {DET_PRIVATE_KEY, 0, "-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----"},
    {DET_ASSIGNMENT, HS_FLAG_CASELESS,
     "(?:password|passwd|pwd|secret|token|api[_-]?key|key|access[_-]?key|client[_-]?secret)"
     "[\"']?[ \\t]{0,4}[:=]"},
    {DET_IGNORE, HS_FLAG_CASELESS,
     "\\b(?:ignore|disregard|forget)\\s{1,4}(?:(?:all|the|any|of|your)\\s{1,4}){0,3}"
     "(?:previous|prior|above|earlier|preceding)\\s{1,4}"
     "(?:instructions|prompts?|rules|directions|guidelines)"},
    {DET_NEW_INSTRUCTIONS, HS_FLAG_CASELESS,
     "your\\s{1,4}new\\s{1,4}instructions\\s{1,4}are|from\\s{1,4}now\\s{1,4}on,?\\s{1,4}you"
     "\\s{1,4}(?:are|will)\\b"},
    {DET_ROLE, HS_FLAG_CASELESS | HS_FLAG_MULTILINE,
     "^[ \\t]{0,8}(?:system|assistant)[ \\t]{0,4}:|^#{1,4}[ \\t]{0,4}(?:system|assistant)\\b"},
    {DET_ROLE, 0,
     "<\\|im_start\\|>|<\\|im_end\\|>|\\[/?INST\\]|<\\|(?:system|user|assistant)\\|>|</s>|"
     "<<SYS>>"},
    {DET_EXFILTRATION, HS_FLAG_CASELESS,
     "\\b(?:reveal|print|repeat|show|output|display)\\s{1,4}(?:me\\s{1,4})?(?:your|the)\\s{1,4}"
     "(?:full\\s{1,4}|entire\\s{1,4})?(?:system\\s{1,4}prompt|(?:initial\\s{1,4}|original\\s{1,4}|"
     "hidden\\s{1,4})?instructions)"},
    {DET_TAGS, 0, "\\xF3\\xA0[\\x80\\x81][\\x80-\\xBF]"},
    {DET_ZERO_WIDTH, 0, "(?:\\xE2\\x80[\\x8B-\\x8D]|\\xE2\\x81\\xA0|\\xEF\\xBB\\xBF){3}"},
    {DET_MARKDOWN, 0, "!\\[[^\\]]{0,100}\\]\\(\\s{0,4}https?://[^)\\s]{1,200}\\?[^)\\s]{0,500}="},
    {DET_MARKDOWN, HS_FLAG_CASELESS,
     "<img\\s[^>]{0,200}src\\s{0,4}=\\s{0,4}[\"']?https?://[^\"'>\\s]{1,200}\\?[^\"'>\\s]{0,500}="},
};

#define NEXPRS (sizeof(exprs) / sizeof(exprs[0]))

/* ---- the scanner ---- */

struct guard_user_detector {
	char *name, *label, *regex;
};

/* A checked span of one detector, found in this scan. */
struct guard_candidate {
	uint32_t start, end;
	uint16_t detector;
};

struct guard_scanner {
	hs_database_t *db;	   /* NULL when nothing is compiled in */
	hs_scratch_t *scratch;
	unsigned mask;
	size_t max_width;
	unsigned *expr_detector;   /* database expression id -> detector */
	struct guard_user_detector *users;
	size_t nusers;
	/* per scan */
	const char *text;
	size_t len;
	uint32_t signals;
	int err;
	struct guard_candidate *cands; /* grown as a scan needs, kept for the next */
	size_t ncands, cap;
	uint32_t *last;		   /* per detector: 1 + index of its latest candidate, or 0 */
	unsigned char *taken;	   /* a bit per text byte, all clear between scans */
	size_t taken_bytes;
};

unsigned guard_detector_count(const struct guard_scanner *s)
{
	return DET_BUILTIN_COUNT + (unsigned)s->nusers;
}

const char *guard_detector_name(const struct guard_scanner *s, unsigned d)
{
	if (d < DET_BUILTIN_COUNT)
		return builtins[d].name;
	return d < guard_detector_count(s) ? s->users[d - DET_BUILTIN_COUNT].name : NULL;
}

enum guard_category guard_detector_category(const struct guard_scanner *s, unsigned d)
{
	return d < DET_BUILTIN_COUNT ? builtins[d].cat : GUARD_CAT_PATTERN;
}

const char *guard_detector_label(const struct guard_scanner *s, unsigned d)
{
	if (d < DET_BUILTIN_COUNT)
		return builtins[d].label;
	return d < guard_detector_count(s) ? s->users[d - DET_BUILTIN_COUNT].label : NULL;
}

double guard_detector_weight(const struct guard_scanner *s, unsigned d)
{
	return d < DET_BUILTIN_COUNT ? builtins[d].weight : 0;
}

size_t guard_scanner_max_width(const struct guard_scanner *s)
{
	return s->max_width;
}

void guard_scanner_free(struct guard_scanner *s)
{
	size_t i;

	if (!s)
		return;
	hs_free_scratch(s->scratch);
	hs_free_database(s->db);
	for (i = 0; i < s->nusers; i++) {
		free(s->users[i].name);
		free(s->users[i].label);
		free(s->users[i].regex);
	}
	free(s->users);
	free(s->expr_detector);
	free(s->cands);
	free(s->last);
	free(s->taken);
	free(s);
}

static int user_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 1 || n > 40)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_token(name[i]))
			return 0;
	return 1;
}

static int has_non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static unsigned user_flags(const char *regex)
{
	return HS_FLAG_SOM_LEFTMOST | (has_non_ascii(regex) ? HS_FLAG_UTF8 : 0);
}

/* The name is new and well formed. */
static int user_name_check(const struct guard_scanner *s, const char *name, char *err,
			   size_t errlen)
{
	unsigned d;

	if (!name || !user_name_ok(name)) {
		snprintf(err, errlen, "patterns[%s]: a name is 1 to 40 of [A-Za-z0-9_-]",
			 name ? name : "");
		return -EINVAL;
	}
	for (d = 0; d < guard_detector_count(s); d++) {
		if (!strcmp(guard_detector_name(s, d), name)) {
			snprintf(err, errlen, "patterns[%s]: the name is taken by %s detector",
				 name, d < DET_BUILTIN_COUNT ? "a built-in" : "another");
			return -EINVAL;
		}
	}
	return 0;
}

/* The regex compiles alone and its matches are bounded; its max width is added to S. */
static int user_regex_check(struct guard_scanner *s, const char *name, const char *regex,
			    char *err, size_t errlen)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;
	int r = 0;

	if (!regex) {
		snprintf(err, errlen, "patterns[%s]: no regex", name);
		return -EINVAL;
	}
	if (hs_expression_info(regex, user_flags(regex), &info, &cerr) != HS_SUCCESS) {
		snprintf(err, errlen, "patterns[%s]: %s", name,
			 cerr ? cerr->message : "does not compile");
		r = -EINVAL;
		goto out;
	}
	if (info->max_width == UINT_MAX) {
		snprintf(err, errlen,
			 "patterns[%s]: unbounded match; bound its repetitions, e.g. {1,100}", name);
		r = -EINVAL;
	} else if (info->max_width > GUARD_MAX_WIDTH) {
		snprintf(err, errlen,
			 "patterns[%s]: a match can be %u bytes long, more than %d; bound its "
			 "repetitions",
			 name, info->max_width, GUARD_MAX_WIDTH);
		r = -EINVAL;
	} else if (info->max_width > s->max_width) {
		s->max_width = info->max_width;
	}
out:
	free(info);
	hs_free_compile_error(cerr);
	return r;
}

static int user_add(struct guard_scanner *s, const struct guard_user_pattern *p, char *err,
		    size_t errlen)
{
	struct guard_user_detector *u;
	size_t i;
	int r;

	r = user_name_check(s, p->name, err, errlen);
	if (!r)
		r = user_regex_check(s, p->name, p->regex, err, errlen);
	if (r)
		return r;
	u = &s->users[s->nusers];
	u->name = strdup(p->name);
	u->label = strdup(p->name);
	u->regex = strdup(p->regex);
	if (!u->name || !u->label || !u->regex) {
		free(u->name);
		free(u->label);
		free(u->regex);
		return -ENOMEM;
	}
	for (i = 0; u->label[i]; i++)
		if (u->label[i] >= 'a' && u->label[i] <= 'z')
			u->label[i] = (char)(u->label[i] - 'a' + 'A');
	s->nusers++;
	return 0;
}

static unsigned builtin_flags(unsigned e)
{
	unsigned d = exprs[e].detector;

	if (builtins[d].cat == GUARD_CAT_INJECTION)
		return exprs[e].flags | HS_FLAG_SINGLEMATCH;
	return exprs[e].flags | HS_FLAG_SOM_LEFTMOST;
}

/* The max width of built-in expression E (bounded by construction). */
static int builtin_width(unsigned e, unsigned *ret)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs_expression_info(exprs[e].re, builtin_flags(e), &info, &cerr) != HS_SUCCESS) {
		hs_free_compile_error(cerr);
		return -EINVAL;
	}
	*ret = info->max_width;
	free(info);
	return 0;
}

/* Compiles the database of what S's mask and user patterns ask for. */
static int scanner_compile(struct guard_scanner *s, char *err, size_t errlen)
{
	size_t cap = NEXPRS + s->nusers, n = 0, i;
	const char **res = calloc(cap, sizeof(*res));
	unsigned *flags = calloc(cap, sizeof(*flags)), *ids = calloc(cap, sizeof(*ids)), w;
	hs_compile_error_t *cerr = NULL;
	int r = -ENOMEM;

	s->expr_detector = calloc(cap, sizeof(*s->expr_detector));
	if (!res || !flags || !ids || !s->expr_detector)
		goto out;
	for (i = 0; i < NEXPRS; i++) {
		unsigned d = exprs[i].detector;

		if (!(s->mask & GUARD_MASK(builtins[d].cat)))
			continue;
		if (builtins[d].cat != GUARD_CAT_INJECTION) {
			r = builtin_width((unsigned)i, &w);
			if (r) {
				snprintf(err, errlen, "guard: built-in %s does not compile",
					 builtins[d].name);
				goto out;
			}
			if (builtins[d].width > w)
				w = builtins[d].width;
			if (w > s->max_width)
				s->max_width = w;
		}
		res[n] = exprs[i].re;
		flags[n] = builtin_flags((unsigned)i);
		ids[n] = (unsigned)n;
		s->expr_detector[n++] = d;
	}
	for (i = 0; i < s->nusers; i++) {
		res[n] = s->users[i].regex;
		flags[n] = user_flags(res[n]);
		ids[n] = (unsigned)n;
		s->expr_detector[n++] = DET_BUILTIN_COUNT + (unsigned)i;
	}
	r = 0;
	if (!n)
		goto out;
	if (hs_compile_multi(res, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, &s->db, &cerr) !=
	    HS_SUCCESS) {
		int e = cerr ? cerr->expression : -1;

		snprintf(err, errlen, "patterns[%s]: %s",
			 e >= 0 ? guard_detector_name(s, s->expr_detector[e]) : "*",
			 cerr ? cerr->message : "the database does not compile");
		r = -EINVAL;
		goto out;
	}
	r = hs_alloc_scratch(s->db, &s->scratch) == HS_SUCCESS ? 0 : -ENOMEM;
out:
	hs_free_compile_error(cerr);
	free(res);
	free(flags);
	free(ids);
	return r;
}

int guard_scanner_new(unsigned mask, const struct guard_user_pattern *patterns, size_t n,
		      struct guard_scanner **ret, char *err, size_t errlen)
{
	struct guard_scanner *s = calloc(1, sizeof(*s));
	size_t i;
	int r = -ENOMEM;

	if (errlen)
		err[0] = '\0';
	if (!s)
		return -ENOMEM;
	s->mask = mask;
	if (!(mask & GUARD_MASK(GUARD_CAT_PATTERN)))
		n = 0;
	if (n > UINT16_MAX - DET_BUILTIN_COUNT) {
		snprintf(err, errlen, "patterns: more than %d", UINT16_MAX - DET_BUILTIN_COUNT);
		r = -EINVAL;
		goto out;
	}
	s->users = calloc(n ? n : 1, sizeof(*s->users));
	s->last = calloc(DET_BUILTIN_COUNT + n, sizeof(*s->last));
	if (!s->users || !s->last)
		goto out;
	for (i = 0; i < n; i++) {
		r = user_add(s, &patterns[i], err, errlen);
		if (r)
			goto out;
	}
	r = scanner_compile(s, err, errlen);
	if (r)
		goto out;
	*ret = s;
	return 0;
out:
	if (r == -ENOMEM && errlen)
		snprintf(err, errlen, "guard: out of memory");
	guard_scanner_free(s);
	return r;
}

/* Appends [START, END) of D, or lengthens D's latest candidate when it has the same start. */
static int candidate_add(struct guard_scanner *s, unsigned d, uint32_t start, uint32_t end)
{
	struct guard_candidate *c;

	if (s->last[d]) {
		c = &s->cands[s->last[d] - 1];
		if (c->start == start) {
			if (end > c->end)
				c->end = end;
			return 0;
		}
	}
	if (s->ncands == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct guard_candidate *n = realloc(s->cands, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->cands = n;
		s->cap = cap;
	}
	c = &s->cands[s->ncands++];
	c->start = start;
	c->end = end;
	c->detector = (uint16_t)d;
	s->last[d] = (uint32_t)s->ncands;
	return 0;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to,
		    unsigned flags, void *ctx)
{
	struct guard_scanner *s = ctx;
	unsigned d = s->expr_detector[id];
	uint32_t start = (uint32_t)from, end = (uint32_t)to;

	if (d < DET_BUILTIN_COUNT && builtins[d].cat == GUARD_CAT_INJECTION) {
		s->signals |= 1u << d;
		return 0;
	}
	if (d < DET_BUILTIN_COUNT && builtins[d].check &&
	    !builtins[d].check(s->text, s->len, &start, &end))
		return 0;
	s->err = candidate_add(s, d, start, end);
	return s->err != 0; /* non-zero stops the scan */
}

static int rank_secret(unsigned d)
{
	return d < DET_BUILTIN_COUNT && builtins[d].cat == GUARD_CAT_SECRETS;
}

/* Who wins an overlap first: a secret, then the longer, then the earlier, then the lower id. */
static int candidate_cmp_rank(const void *pa, const void *pb)
{
	const struct guard_candidate *a = pa, *b = pb;
	uint32_t la = a->end - a->start, lb = b->end - b->start;

	if (rank_secret(a->detector) != rank_secret(b->detector))
		return rank_secret(b->detector) - rank_secret(a->detector);
	if (la != lb)
		return la > lb ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return (int)a->detector - (int)b->detector;
}

static int taken_any(const unsigned char *t, uint32_t start, uint32_t end)
{
	uint32_t i;

	for (i = start; i < end; i++)
		if (t[i >> 3] & (1u << (i & 7)))
			return 1;
	return 0;
}

static void taken_set(unsigned char *t, uint32_t start, uint32_t end, int on)
{
	uint32_t i;

	for (i = start; i < end; i++) {
		if (on)
			t[i >> 3] |= (unsigned char)(1u << (i & 7));
		else
			t[i >> 3] &= (unsigned char)~(1u << (i & 7));
	}
}

static int candidate_cmp_start(const void *pa, const void *pb)
{
	const struct guard_candidate *a = pa, *b = pb;

	return a->start < b->start ? -1 : a->start > b->start;
}

/*
 * Keeps the candidates that win their overlaps (in rank order, each taken unless a byte of
 * it already is) and writes the first RES->max of them by start to RES.
 */
static int candidates_resolve(struct guard_scanner *s, struct guard_scan_result *res)
{
	size_t need = (s->len + 7) / 8, i, kept = 0;

	res->n = 0;
	if (!s->ncands)
		return 0;
	if (need > s->taken_bytes) {
		unsigned char *t = realloc(s->taken, need);

		if (!t)
			return -ENOMEM;
		memset(t + s->taken_bytes, 0, need - s->taken_bytes);
		s->taken = t;
		s->taken_bytes = need;
	}
	qsort(s->cands, s->ncands, sizeof(s->cands[0]), candidate_cmp_rank);
	for (i = 0; i < s->ncands; i++) {
		struct guard_candidate c = s->cands[i];

		if (taken_any(s->taken, c.start, c.end))
			continue;
		taken_set(s->taken, c.start, c.end, 1);
		s->cands[kept++] = c;
	}
	for (i = 0; i < kept; i++)
		taken_set(s->taken, s->cands[i].start, s->cands[i].end, 0);
	qsort(s->cands, kept, sizeof(s->cands[0]), candidate_cmp_start);
	for (i = 0; i < kept && i < res->max; i++)
		res->matches[i] = (struct guard_match){s->cands[i].start, s->cands[i].end,
						       s->cands[i].detector};
	res->n = kept;
	return 0;
}

int guard_scan(struct guard_scanner *s, const char *text, size_t len,
	       struct guard_scan_result *res)
{
	unsigned d;
	int r;

	res->n = 0;
	res->injection_score = 0;
	res->signals = 0;
	if (!s->db)
		return 0;
	if (len > UINT32_MAX - 1)
		return -EIO; /* the engine takes 32-bit lengths; no body is this long */
	s->text = text;
	s->len = len;
	s->signals = 0;
	s->err = 0;
	s->ncands = 0;
	memset(s->last, 0, guard_detector_count(s) * sizeof(*s->last));
	r = hs_scan(s->db, text ? text : "", (unsigned)len, 0, s->scratch, on_match, s);
	if (r == HS_SCAN_TERMINATED && s->err)
		return s->err;
	if (r != HS_SUCCESS)
		return -EIO;
	for (d = 0; d < DET_BUILTIN_COUNT; d++)
		if (s->signals & (1u << d))
			res->injection_score += builtins[d].weight;
	res->signals = s->signals;
	return candidates_resolve(s, res);
}
