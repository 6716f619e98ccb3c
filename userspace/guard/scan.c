/*
 * guard/scan: the detector table, its one Vectorscan database, and the pass that turns the
 * engine's reports into checked, non-overlapping spans.
 *
 * Every detector is one or more expressions (the table EXPRS); all the scanner's
 * expressions are compiled into one block-mode database. Vectorscan reports every end offset
 * at which an expression matches. Tracking where each match starts (HS_FLAG_SOM_LEFTMOST)
 * costs more than anything else in the pass, so only the IP expressions and the policy's own
 * patterns ask for it; every other start is found by the code from the end: a fixed-width
 * expression's is END - width, a token's is read back over its body to its prefix.
 * Injection signals need no start either: HS_FLAG_SINGLEMATCH. The numbers (phone, card, SSN)
 * and IBANs have no expression: one with no literal in it costs the engine a pass over every
 * byte, so numbers_scan() finds the runs of digits itself (16 bytes at a time), reads out
 * every candidate span of a run and classifies it as the expressions they had did, leftmost
 * starts included.
 *
 * So the regular expressions are deliberately loose and the code decides: a check per
 * detector sees each candidate [start, end) and the text around it, may narrow the span (a
 * secret assignment's value, a card found after a shorter number) and accepts or refuses it.
 * A candidate followed by more of what the detector matches is refused: a longer report with
 * a later end carries the whole value.
 *
 * Accepted candidates of one detector with one start collapse to the longest as they come.
 * After the pass, overlaps are resolved greedily: a secret beats anything else, then the
 * longer span, then the earlier one; a byte map of what is taken makes each test O(width).
 * The survivors are sorted by start. The sorts are in place (no allocation in a scan).
 *
 * Built-in expressions are byte-oriented (no HS_FLAG_UTF8): the text may hold any bytes and
 * Vectorscan's UTF-8 mode is undefined on invalid UTF-8. A user pattern with non-ASCII bytes
 * is compiled in UTF-8 mode so that its classes mean characters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
	size_t counts[256] = {0}, i, n = 0;
	unsigned char seen[256]; /* the distinct bytes, in the order met: a few, not 256 */
	double h = 0;

	if (!len)
		return 0;
	for (i = 0; i < len; i++)
		if (!counts[(unsigned char)text[i]]++)
			seen[n++] = (unsigned char)text[i];
	for (i = 0; i < n; i++) {
		double p = (double)counts[seen[i]] / (double)len;

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
 * The expression is only "@" (a literal for Vectorscan to look for; a class before it would
 * cost a scan of its own, and Debian 12's Vectorscan 5.4.9 misses "@[A-Za-z0-9]" past a
 * text's first 64 bytes on an AVX-512 machine): the address is read out from the '@' both
 * ways: a local part of at most 64 bytes, none is no address; a domain of at most 190 ending
 * in an alphabetic top-level label (so a '@' with no letter or digit after it is none).
 */
static int check_email(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	uint32_t at = *start, s = at, e = at + 1, tld;

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
static int number_touches_after(const char *text, size_t len, uint32_t e)
{
	int a = byte_at(text, len, e), a2 = byte_at(text, len, e + 1);

	if (is_alnum(a) || a == '_' || a == ':')
		return 1;
	return (a == '.' || a == '-' || a == '/') && is_digit(a2);
}

static int number_touches(const char *text, size_t len, uint32_t s, uint32_t e)
{
	int b = byte_before(text, s), b2 = s > 1 ? (unsigned char)text[s - 2] : 0;

	if (is_alnum(b) || b == '_')
		return 1;
	if ((b == '.' || b == '-' || b == '/' || b == ':' || b == '+') && is_digit(b2))
		return 1;
	return number_touches_after(text, len, e);
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

/*
 * The three shapes a phone number's span may have, each the whole of [s, e) (check_phone then
 * decides): they are what the detector's regular expressions were before the numbers were
 * read out by the code, and they keep its behaviour.
 */

/* \+[1-9][0-9 ().-]{6,22}[0-9] */
static int phone_e164_shape(const char *t, uint32_t s, uint32_t e)
{
	uint32_t i;

	if (e - s < 9 || e - s > 25 || t[s] != '+' || t[s + 1] < '1' || t[s + 1] > '9' ||
	    !is_digit(t[e - 1]))
		return 0;
	for (i = s + 2; i < e - 1; i++)
		if (!is_digit(t[i]) && t[i] != ' ' && t[i] != '(' && t[i] != ')' && t[i] != '.' &&
		    t[i] != '-')
			return 0;
	return 1;
}

static int is_us_sep(int c)
{
	return c == ' ' || c == '.' || c == '-';
}

static int all_digits(const char *p, size_t n)
{
	while (n--)
		if (!is_digit(*p++))
			return 0;
	return 1;
}

/* \(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-][0-9]{4} */
static int phone_us_shape(const char *t, uint32_t s, uint32_t e)
{
	uint32_t i = s;

	if (t[i] == '(')
		i++;
	if (e - i < 11 || t[i] < '2' || t[i] > '9' || !all_digits(t + i + 1, 2))
		return 0;
	i += 3;
	if (t[i] == ')')
		i++;
	if (is_us_sep(t[i]))
		i++;
	return e - i == 8 && all_digits(t + i, 3) && is_us_sep(t[i + 3]) && all_digits(t + i + 4, 4);
}

/* The fewest groups of 2..8 digits a run of N digits splits into (5, too many, for one). */
static unsigned national_groups(uint32_t n)
{
	return n == 1 ? 5 : (n + 7) / 8;
}

/*
 * \(?0[1-9][0-9]{0,3}\)?(?:[ ./-]?[0-9]{2,8}){1,4}: a trunk prefix of 2..5 digits (the whole
 * first run when a ')' closes it, else the head of the first run), then 1..4 groups; a run
 * of digits may hold several groups back to back.
 */
static int phone_national_shape(const char *t, uint32_t s, uint32_t e)
{
	uint32_t i = s, run = 0, k;
	unsigned groups = 0;
	int closed = 0;

	if (t[i] == '(')
		i++;
	if (e - i < 2 || t[i] != '0' || t[i + 1] < '1' || t[i + 1] > '9')
		return 0;
	while (i + run < e && is_digit(t[i + run]))
		run++;
	i += run;
	if (i < e && t[i] == ')') {
		closed = 1;
		i++;
	}
	while (i < e) {
		uint32_t n = 0;

		if (t[i] == ' ' || t[i] == '.' || t[i] == '/' || t[i] == '-')
			i++;
		while (i + n < e && is_digit(t[i + n]))
			n++;
		if (n < 2)
			return 0;
		groups += national_groups(n);
		i += n;
	}
	if (closed)
		return run <= 5 && groups >= 1 && groups <= 4;
	for (k = 2; k <= 5 && k <= run; k++) {
		unsigned g = groups + (run == k ? 0 : national_groups(run - k));

		if (g >= 1 && g <= 4)
			return 1;
	}
	return 0;
}

/*
 * Where [0-9](?:[ -]?[0-9]){12,18} ending at END (after a digit) starts at the leftmost: the
 * 19th digit back at most, over single spaces or dashes. 0 when fewer than 13 digits lead
 * there.
 */
static int card_start(const char *t, uint32_t end, uint32_t *ret)
{
	uint32_t i = end, n = 0;

	while (i > 0 && n < 19) {
		if (is_digit(t[i - 1])) {
			i--;
			n++;
		} else if ((t[i - 1] == ' ' || t[i - 1] == '-') && i >= 2 && is_digit(t[i - 2])) {
			i--;
		} else {
			break;
		}
	}
	if (n < 13)
		return 0;
	*ret = i;
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

/* AAA-GG-SSSS: [0-9]{3}[ -][0-9]{2}[ -][0-9]{4}, one separator twice, in the ranges issued */
static int check_ssn(const char *text, size_t len, uint32_t *start, uint32_t *end)
{
	const char *p = text + *start;
	unsigned area = digits_value(p, 3), group = digits_value(p + 4, 2),
		 serial = digits_value(p + 7, 4);

	if (*end - *start != 11 || !all_digits(p, 3) || (p[3] != ' ' && p[3] != '-') ||
	    !all_digits(p + 4, 2) || p[3] != p[6] || !all_digits(p + 7, 4) ||
	    number_touches(text, len, *start, *end))
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

/* ---- where a match starts, read back from its end ---- */

/*
 * A finder gets the end of a match of its expression in TEXT and writes where the leftmost
 * match ending there starts (what HS_FLAG_SOM_LEFTMOST would report); 0 when the check would
 * refuse the candidate anyway, so that it is not looked for.
 */
typedef int (*guard_start_fn)(const char *text, size_t len, uint32_t end, uint32_t *ret);

/*
 * PREFIX then a body of [A-Za-z0-9]{MIN,MAX} ending at END. The prefix ends in a byte that is
 * not alphanumeric, so the body is the whole alphanumeric run before END. A token byte after
 * END is refused at once (check_token would): Vectorscan reports every end from MIN to MAX.
 */
static int alnum_token_start(const char *text, size_t len, uint32_t end, const char *prefix,
			     uint32_t min, uint32_t max, uint32_t *ret)
{
	uint32_t b = end, n = (uint32_t)strlen(prefix);

	if (is_token(byte_at(text, len, end)))
		return 0;
	while (b > 0 && end - b <= max && is_alnum(text[b - 1]))
		b--;
	if (end - b < min || end - b > max || b < n || memcmp(text + b - n, prefix, n))
		return 0;
	*ret = b - n;
	return 1;
}

/* (?:sk|rk)_live_[A-Za-z0-9]{24,99} */
static int stripe_live_start(const char *text, size_t len, uint32_t end, uint32_t *ret)
{
	return alnum_token_start(text, len, end, "sk_live_", 24, 99, ret) ||
	       alnum_token_start(text, len, end, "rk_live_", 24, 99, ret);
}

/* sk_test_[A-Za-z0-9]{24,99} */
static int stripe_test_start(const char *text, size_t len, uint32_t end, uint32_t *ret)
{
	return alnum_token_start(text, len, end, "sk_test_", 24, 99, ret);
}

/* sk-[A-Za-z0-9]{40,200} */
static int openai_legacy_start(const char *text, size_t len, uint32_t end, uint32_t *ret)
{
	return alnum_token_start(text, len, end, "sk-", 40, 200, ret);
}

/* sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20}: the body is the last 20 bytes; the longest
 * prefix before it starts leftmost. */
static int openai_project_start(const char *text, size_t len, uint32_t end, uint32_t *ret)
{
	static const char *const prefixes[] = {"sk-svcacct-", "sk-admin-", "sk-proj-"};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		uint32_t n = (uint32_t)strlen(prefixes[i]);

		if (end >= 20 + n && !memcmp(text + end - 20 - n, prefixes[i], n)) {
			*ret = end - 20 - n;
			return 1;
		}
	}
	return 0;
}

/* -----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----: back over the label to the one "-----BEGIN "
 * ('-' is not a label byte, so there is no other). */
static int private_key_start(const char *text, size_t len, uint32_t end, uint32_t *ret)
{
	uint32_t label_end = end - 16, n;

	for (n = 0; n <= 40 && label_end - n >= 11; n++) {
		int c = (unsigned char)text[label_end - n - 1];

		if (!memcmp(text + label_end - n - 11, "-----BEGIN ", 11)) {
			*ret = label_end - n - 11;
			return 1;
		}
		if (!is_upper(c) && !is_digit(c) && c != ' ')
			return 0;
	}
	return 0;
}

/*
 * KEY["']?[ \t]{0,4}[:=] ending at the operator: back over the spaces and the quote to the
 * key, the longest that ends there (the leftmost start: "client_secret", not "secret").
 */
static int assignment_start(const char *text, size_t len, uint32_t end, uint32_t *ret)
{
	static const char *const keys[] = {
	    "client_secret", "client-secret", "clientsecret", "access_key", "access-key",
	    "accesskey", "password", "api_key", "api-key", "apikey", "passwd", "secret", "token",
	    "pwd", "key",
	};
	uint32_t k = end - 1, sp = 0;
	size_t i;

	while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t') && sp <= 4) {
		k--;
		sp++;
	}
	if (sp > 4)
		return 0;
	if (k > 0 && (text[k - 1] == '"' || text[k - 1] == '\''))
		k--;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint32_t n = (uint32_t)strlen(keys[i]);

		if (k >= n && !strncasecmp(text + k - n, keys[i], n)) {
			*ret = k - n;
			return 1;
		}
	}
	return 0;
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
    /* numbers_scan()'s: as wide as the expressions they had (the national phone shape's) */
    [DET_PHONE] = {"phone", "PHONE", GUARD_CAT_PII, 0, check_phone, 1 + 5 + 1 + 4 * 9},
    [DET_CARD] = {"card", "CARD", GUARD_CAT_PII, 0, check_card, 1 + 18 * 2},
    [DET_IBAN] = {"iban", "IBAN", GUARD_CAT_PII, 0, check_iban, 4 + 30 * 2},
    [DET_SSN] = {"ssn", "SSN", GUARD_CAT_PII, 0, check_ssn, 11},
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
 * widest span detector sets what a stream holds back. A span expression's start is its end
 * less its width when that is fixed, else its finder's. Phone, card, SSN and IBAN have none:
 * numbers_scan() finds them (an expression with no literal in it, such as a run of digits,
 * costs Vectorscan an engine over every byte: as much again as all the rest together).
 */
static const struct {
	unsigned detector;
	unsigned flags; /* besides the SOM / single-match flag its category gets */
	const char *re;
	guard_start_fn start;
} exprs[] = {
    {DET_EMAIL, 0, "@", NULL},
    {DET_IPV4, 0, "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}", NULL},
    {DET_IPV6, 0,
     "[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\\.[0-9]{1,3}){0,3}", NULL},
    {DET_AWS, 0, "(?:AKIA|ASIA)[A-Z0-9]{16}", NULL},
    {DET_GITHUB, 0, "gh[pousr]_[A-Za-z0-9]{36}", NULL},
    {DET_GITHUB, 0, "github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", NULL},
    {DET_GITLAB, 0, "glpat-[A-Za-z0-9_-]{20}", NULL},
    {DET_SLACK, 0, "xox[abprs]-[A-Za-z0-9-]{10}", NULL},
    {DET_STRIPE, 0, "(?:sk|rk)_live_[A-Za-z0-9]{24,99}", stripe_live_start},
    {DET_STRIPE, 0, "sk_test_[A-Za-z0-9]{24,99}", stripe_test_start},
    {DET_OPENAI, 0, "sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20}", openai_project_start},
    {DET_OPENAI, 0, "sk-[A-Za-z0-9]{40,200}", openai_legacy_start},
    {DET_ANTHROPIC, 0, "sk-ant-[A-Za-z0-9_-]{32}", NULL},
    {DET_JWT, 0, "eyJ[A-Za-z0-9_-]{8}", NULL},
    {DET_PRIVATE_KEY, 0, "-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----", private_key_start},
    /* every key ends in one of these (api_key, access-key, client_secret...): the same ends,
     * and assignment_start() reads back the whole key; 1.1 us less per 4 KB than all */
    {DET_ASSIGNMENT, HS_FLAG_CASELESS,
     "(?:password|passwd|pwd|secret|token|key)[\"']?[ \\t]{0,4}[:=]", assignment_start},
    {DET_IGNORE, HS_FLAG_CASELESS,
     "\\b(?:ignore|disregard|forget)\\s{1,4}(?:(?:all|the|any|of|your)\\s{1,4}){0,3}"
     "(?:previous|prior|above|earlier|preceding)\\s{1,4}"
     "(?:instructions|prompts?|rules|directions|guidelines)", NULL},
    {DET_NEW_INSTRUCTIONS, HS_FLAG_CASELESS,
     "your\\s{1,4}new\\s{1,4}instructions\\s{1,4}are|from\\s{1,4}now\\s{1,4}on,?\\s{1,4}you"
     "\\s{1,4}(?:are|will)\\b", NULL},
    {DET_ROLE, HS_FLAG_CASELESS | HS_FLAG_MULTILINE,
     "^[ \\t]{0,8}(?:system|assistant)[ \\t]{0,4}:|^#{1,4}[ \\t]{0,4}(?:system|assistant)\\b", NULL},
    {DET_ROLE, 0,
     "<\\|im_start\\|>|<\\|im_end\\|>|\\[/?INST\\]|<\\|(?:system|user|assistant)\\|>|</s>|"
     "<<SYS>>", NULL},
    {DET_EXFILTRATION, HS_FLAG_CASELESS,
     "\\b(?:reveal|print|repeat|show|output|display)\\s{1,4}(?:me\\s{1,4})?(?:your|the)\\s{1,4}"
     "(?:full\\s{1,4}|entire\\s{1,4})?(?:system\\s{1,4}prompt|(?:initial\\s{1,4}|original\\s{1,4}|"
     "hidden\\s{1,4})?instructions)", NULL},
    {DET_TAGS, 0, "\\xF3\\xA0[\\x80\\x81][\\x80-\\xBF]", NULL},
    {DET_ZERO_WIDTH, 0, "(?:\\xE2\\x80[\\x8B-\\x8D]|\\xE2\\x81\\xA0|\\xEF\\xBB\\xBF){3}", NULL},
    {DET_MARKDOWN, 0, "!\\[[^\\]]{0,100}\\]\\(\\s{0,4}https?://[^)\\s]{1,200}\\?[^)\\s]{0,500}=", NULL},
    {DET_MARKDOWN, HS_FLAG_CASELESS,
     "<img\\s[^>]{0,200}src\\s{0,4}=\\s{0,4}[\"']?https?://[^\"'>\\s]{1,200}\\?[^\"'>\\s]{0,500}=", NULL},
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

/* What a database expression id stands for. */
struct guard_expr {
	unsigned detector;
	unsigned builtin; /* its index in EXPRS (for a built-in detector) */
	uint32_t width;	  /* a built-in span expression's fixed width, 0 when it has none */
	int som;	  /* compiled with HS_FLAG_SOM_LEFTMOST: the engine reports the start */
};

struct guard_scanner {
	hs_database_t *db;	   /* NULL when nothing is compiled in */
	hs_scratch_t *scratch;
	unsigned mask;
	size_t max_width;
	struct guard_expr *expr;   /* database expression id -> what it is */
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
	uint64_t *taken;	   /* a bit per text byte, all clear between scans */
	size_t taken_words;
	/* A scanner is shared by the workers' threads; it never scans itself. Each scan takes
	 * a clone: the same database, expressions and detectors (the scanner's), its own
	 * scratch and per-scan state above (the clone's). Idle clones wait in a list. */
	const struct guard_scanner *proto; /* a clone's scanner; NULL: this is a scanner */
	pthread_mutex_t clones_lock;	   /* a scanner's: guards idle */
	struct guard_scanner *idle;	   /* a scanner's idle clones (owned) */
	struct guard_scanner *next_idle;   /* a clone's place in that list */
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

/* A clone's own parts: its scratch and per-scan state, not its scanner's. */
static void clone_free(struct guard_scanner *c)
{
	hs_free_scratch(c->scratch);
	free(c->cands);
	free(c->last);
	free(c->taken);
	free(c);
}

void guard_scanner_free(struct guard_scanner *s)
{
	size_t i;

	if (!s)
		return;
	while (s->idle) {
		struct guard_scanner *c = s->idle;

		s->idle = c->next_idle;
		clone_free(c);
	}
	pthread_mutex_destroy(&s->clones_lock);
	hs_free_scratch(s->scratch);
	hs_free_database(s->db);
	for (i = 0; i < s->nusers; i++) {
		free(s->users[i].name);
		free(s->users[i].label);
		free(s->users[i].regex);
	}
	free(s->users);
	free(s->expr);
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

/* Signals: one report is enough. IP addresses: the engine tracks the start (their shapes are
 * many and rare to meet: the cost stays in a profile that asks for "ip"). The rest: none. */
static unsigned builtin_flags(unsigned e)
{
	unsigned d = exprs[e].detector;

	if (builtins[d].cat == GUARD_CAT_INJECTION)
		return exprs[e].flags | HS_FLAG_SINGLEMATCH;
	if (builtins[d].cat == GUARD_CAT_IP)
		return exprs[e].flags | HS_FLAG_SOM_LEFTMOST;
	return exprs[e].flags;
}

/* The min and max widths of built-in expression E (bounded by construction). */
static int builtin_width(unsigned e, unsigned *ret_min, unsigned *ret_max)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs_expression_info(exprs[e].re, builtin_flags(e), &info, &cerr) != HS_SUCCESS) {
		hs_free_compile_error(cerr);
		return -EINVAL;
	}
	*ret_min = info->min_width;
	*ret_max = info->max_width;
	free(info);
	return 0;
}

/*
 * Compiled databases, serialized, by exactly what they were compiled from (each
 * expression's flags and text, in order). Compiling the built-in expressions takes ~170 ms
 * (seconds under ASan), on the event loop when a policy is reloaded; a reload that keeps a
 * profile, or a second profile asking for the same detectors, deserializes in about a
 * millisecond instead. At most DB_CACHE_MAX entries, the oldest replaced; the cache is the
 * process's (freed at exit by the kernel), guarded for the odd policy check on a thread.
 */
#define DB_CACHE_MAX 32

struct db_cache_entry {
	char *key; /* what compile_key() made; NULL: free slot */
	size_t key_len;
	char *bytes; /* hs_serialize_database() of it */
	size_t len;
};

static struct db_cache_entry db_cache[DB_CACHE_MAX];
static size_t db_cache_next;
static unsigned long db_compiles; /* databases compiled, not found */
static pthread_mutex_t db_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The key of N expressions: for each, its flags, its length and its text. Caller frees. */
static char *compile_key(const char *const *res, const unsigned *flags, size_t n,
			 size_t *ret_len)
{
	size_t len = 0, at = 0, i, l;
	char *key;

	for (i = 0; i < n; i++)
		len += 2 * sizeof(unsigned) + strlen(res[i]);
	key = malloc(len ? len : 1);
	if (!key)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned lu = (unsigned)(l = strlen(res[i]));

		memcpy(key + at, &flags[i], sizeof(unsigned));
		memcpy(key + at + sizeof(unsigned), &lu, sizeof(unsigned));
		memcpy(key + at + 2 * sizeof(unsigned), res[i], l);
		at += 2 * sizeof(unsigned) + l;
	}
	*ret_len = len;
	return key;
}

/* The cached database for KEY, deserialized into *RET_DB; -ENOENT when there is none. */
static int db_cache_get(const char *key, size_t key_len, hs_database_t **ret_db)
{
	int r = -ENOENT;
	size_t i;

	pthread_mutex_lock(&db_cache_lock);
	for (i = 0; i < DB_CACHE_MAX; i++) {
		struct db_cache_entry *e = &db_cache[i];

		if (e->key && e->key_len == key_len && !memcmp(e->key, key, key_len)) {
			r = hs_deserialize_database(e->bytes, e->len, ret_db) == HS_SUCCESS
				? 0
				: -ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&db_cache_lock);
	return r;
}

/* Keeps DB under KEY (taken); nothing happens when it cannot be serialized. */
static void db_cache_put(char *key, size_t key_len, const hs_database_t *db)
{
	struct db_cache_entry *e;
	char *bytes = NULL;
	size_t len = 0;

	if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS) {
		free(key);
		return;
	}
	pthread_mutex_lock(&db_cache_lock);
	e = &db_cache[db_cache_next];
	db_cache_next = (db_cache_next + 1) % DB_CACHE_MAX;
	free(e->key);
	free(e->bytes);
	*e = (struct db_cache_entry){key, key_len, bytes, len};
	pthread_mutex_unlock(&db_cache_lock);
}

/* Compiles (or finds compiled) the N expressions into S's database. */
static int db_compile(struct guard_scanner *s, const char *const *res, const unsigned *flags,
		      const unsigned *ids, size_t n, char *err, size_t errlen)
{
	hs_compile_error_t *cerr = NULL;
	size_t key_len = 0;
	char *key = compile_key(res, flags, n, &key_len);

	if (key && !db_cache_get(key, key_len, &s->db)) {
		free(key);
		return 0;
	}
	if (hs_compile_multi(res, flags, ids, (unsigned)n, HS_MODE_BLOCK, NULL, &s->db, &cerr) !=
	    HS_SUCCESS) {
		int e = cerr ? cerr->expression : -1;

		snprintf(err, errlen, "patterns[%s]: %s",
			 e >= 0 ? guard_detector_name(s, s->expr[e].detector) : "*",
			 cerr ? cerr->message : "the database does not compile");
		hs_free_compile_error(cerr);
		free(key);
		return -EINVAL;
	}
	pthread_mutex_lock(&db_cache_lock);
	db_compiles++;
	pthread_mutex_unlock(&db_cache_lock);
	if (key)
		db_cache_put(key, key_len, s->db);
	return 0;
}

unsigned long guard_db_compiles(void)
{
	unsigned long n;

	pthread_mutex_lock(&db_cache_lock);
	n = db_compiles;
	pthread_mutex_unlock(&db_cache_lock);
	return n;
}

/* Compiles the database of what S's mask and user patterns ask for. */
static int scanner_compile(struct guard_scanner *s, char *err, size_t errlen)
{
	size_t cap = NEXPRS + s->nusers, n = 0, i;
	const char **res = calloc(cap, sizeof(*res));
	unsigned *flags = calloc(cap, sizeof(*flags)), *ids = calloc(cap, sizeof(*ids)), wmin, w;
	int r = -ENOMEM;

	s->expr = calloc(cap, sizeof(*s->expr));
	if (!res || !flags || !ids || !s->expr)
		goto out;
	for (i = 0; i < NEXPRS; i++) {
		unsigned d = exprs[i].detector;

		if (!(s->mask & GUARD_MASK(builtins[d].cat)))
			continue;
		flags[n] = builtin_flags((unsigned)i);
		s->expr[n] = (struct guard_expr){d, (unsigned)i, 0,
						 (flags[n] & HS_FLAG_SOM_LEFTMOST) != 0};
		if (builtins[d].cat != GUARD_CAT_INJECTION) {
			r = builtin_width((unsigned)i, &wmin, &w);
			if (!r && !s->expr[n].som && !exprs[i].start && wmin != w)
				r = -EINVAL; /* a start nothing can find */
			if (r) {
				snprintf(err, errlen, "guard: built-in %s does not compile",
					 builtins[d].name);
				goto out;
			}
			s->expr[n].width = wmin == w ? w : 0;
			if (builtins[d].width > w)
				w = builtins[d].width;
			if (w > s->max_width)
				s->max_width = w;
		}
		res[n] = exprs[i].re;
		ids[n] = (unsigned)n;
		n++;
	}
	for (i = 0; i < DET_BUILTIN_COUNT; i++) /* the code's own: numbers_scan() */
		if ((s->mask & GUARD_MASK(builtins[i].cat)) && builtins[i].width > s->max_width)
			s->max_width = builtins[i].width;
	for (i = 0; i < s->nusers; i++) {
		res[n] = s->users[i].regex;
		flags[n] = user_flags(res[n]);
		ids[n] = (unsigned)n;
		s->expr[n++] = (struct guard_expr){DET_BUILTIN_COUNT + (unsigned)i, 0, 0, 1};
	}
	r = 0;
	if (!n)
		goto out;
	r = db_compile(s, res, flags, ids, n, err, errlen);
	if (r)
		goto out;
	r = hs_alloc_scratch(s->db, &s->scratch) == HS_SUCCESS ? 0 : -ENOMEM;
out:
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
	pthread_mutex_init(&s->clones_lock, NULL);
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

/* Checks [START, END) as detector D's candidate and keeps it when the check accepts it. */
static int candidate_check(struct guard_scanner *s, unsigned d, uint32_t start, uint32_t end)
{
	if (!builtins[d].check(s->text, s->len, &start, &end))
		return 0;
	return candidate_add(s, d, start, end);
}

/* Whether a number's digits go on across the one or two separators at I. */
static int is_number_sep(int c)
{
	return c == ' ' || c == '(' || c == ')' || c == '.' || c == '/' || c == '-';
}

static uint32_t number_gap_after(const char *t, size_t len, uint32_t i)
{
	if (i + 1 < len && is_number_sep(t[i]) && is_digit(t[i + 1]))
		return 1;
	if (i + 2 < len && is_number_sep(t[i]) && is_number_sep(t[i + 1]) && is_digit(t[i + 2]))
		return 2;
	return 0;
}

/*
 * The numbers of the run that ends a group of digits at E (R0: where the run starts), as the
 * expressions found them: an SSN of the 11 bytes before E; the card the card expression's
 * leftmost start gives (its check tries each group start from there); for each phone shape,
 * the leftmost start that has it, when check_phone accepts that span (a shorter one with the
 * same shape is not tried: the expression reported only the leftmost).
 */
static int number_candidates(struct guard_scanner *s, uint32_t r0, uint32_t e, int card)
{
	const char *t = s->text;
	uint32_t st;
	int r = 0;

	if (card && card_start(t, e, &st))
		r = candidate_check(s, DET_CARD, st, e);
	/* what follows E makes check_ssn and check_phone refuse every span ending there */
	if (r || number_touches_after(t, s->len, e))
		return r;
	if (e - r0 >= 11)
		r = candidate_check(s, DET_SSN, e - 11, e);
	/* the e164 shape starts at a '+': a run holds one at most, as its lead */
	if (!r && t[r0] == '+' && phone_e164_shape(t, r0, e))
		r = candidate_check(s, DET_PHONE, r0, e);
	for (st = e - r0 > 14 ? e - 14 : r0; !r && e - st >= 11; st++) {
		if (phone_us_shape(t, st, e)) {
			r = candidate_check(s, DET_PHONE, st, e);
			break;
		}
	}
	/* nine digits at least: a narrower leftmost start fails check_phone anyway */
	for (st = e - r0 > 43 ? e - 43 : r0; !r && e - st >= 9; st++) {
		if ((t[st] == '(' || t[st] == '0') && phone_national_shape(t, st, e)) {
			r = candidate_check(s, DET_PHONE, st, e);
			break;
		}
	}
	return r;
}

/*
 * The numbers of the run of DIGITS digits [R0, R1) (R0 may be a leading '+' or '('): each
 * group of digits' end in it is a candidate's end (a card's when the run has 13 digits).
 */
static int number_run_read(struct guard_scanner *s, uint32_t r0, uint32_t r1, uint32_t digits)
{
	const char *t = s->text;
	uint32_t e;
	int r;

	for (e = r0 + 1; e <= r1; e++) {
		if (!is_digit(t[e - 1]) || is_digit(byte_at(t, s->len, e)))
			continue;
		r = number_candidates(s, r0, e, digits >= 13);
		if (r)
			return r;
	}
	return 0;
}

static int is_iban_byte(int c)
{
	return is_upper(c) || is_digit(c);
}

/*
 * Whether the IBAN expression ([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}) matched the N
 * characters from START leftmost from an earlier start: other country and check digits
 * before, joined by single spaces and [A-Z0-9], with 30 characters after them at most. The
 * engine reported only that start (which its check then refused, or took), never START.
 */
static int iban_hidden(const char *t, uint32_t start, uint32_t n)
{
	uint32_t q = start;

	for (;;) {
		if (q >= 1 && is_iban_byte(t[q - 1]))
			q--;
		else if (q >= 2 && t[q - 1] == ' ' && is_iban_byte(t[q - 2]))
			q -= 2;
		else
			return 0;
		if (++n - 4 > 30)
			return 0;
		if (is_upper(t[q]) && is_upper(t[q + 1]) && is_digit(t[q + 2]) && is_digit(t[q + 3]))
			return 1;
	}
}

/*
 * An IBAN whose country and check digits end at END: read on over upper-case letters and
 * digits, a space allowed after each group of four, to 34 at most; each end where no letter
 * or digit follows is a candidate.
 */
static int iban_read(struct guard_scanner *s, uint32_t end)
{
	const char *t = s->text;
	uint32_t start = end - 4, i = end, n = 4, want;
	int r;

	if (is_alnum(byte_before(t, start)))
		return 0;
	want = iban_country_length(t + start); /* check_iban wants this length (0: any) */
	for (;;) {
		if ((want ? n == want : n >= 15) && !is_alnum(byte_at(t, s->len, i)) &&
		    !iban_hidden(t, start, n)) {
			r = candidate_check(s, DET_IBAN, start, i);
			if (r)
				return r;
		}
		if (n == 34)
			break;
		if (i < s->len && is_iban_byte(t[i])) {
			i++;
		} else if (i + 1 < s->len && t[i] == ' ' && n % 4 == 0 && is_iban_byte(t[i + 1])) {
			i += 2;
		} else {
			break;
		}
		n++;
	}
	return 0;
}

typedef unsigned char guard_v16 __attribute__((vector_size(16)));

/* The first digit at or after I, or LEN: 16 bytes at a time (one SIMD compare) until a block
 * holds one. Prompts are mostly words: most blocks hold none. */
static uint32_t next_digit(const char *t, uint32_t len, uint32_t i)
{
	for (; i + 16 <= len; i += 16) {
		guard_v16 v, d;
		uint64_t w[2];

		memcpy(&v, t + i, sizeof(v));
		d = (guard_v16)((guard_v16)(v - (unsigned char)'0') < 10);
		memcpy(w, &d, sizeof(w));
		if (!(w[0] | w[1]))
			continue;
		if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
			break;
		/* the compare sets all 8 bits of a digit's byte; the first byte is the lowest */
		return i + (w[0] ? 0 : 8) + (uint32_t)__builtin_ctzll(w[0] ? w[0] : w[1]) / 8;
	}
	while (i < len && !is_digit(t[i]))
		i++;
	return i;
}

/*
 * Phone numbers, cards, SSNs and IBANs, from the runs of digits with gaps of one or two
 * separators ("(415) 555"): a run that holds nine digits at least (what the shortest of them
 * needs) is read once and its numbers classified; a run whose first two digits follow two
 * capitals starts an IBAN's country and check digits.
 */
static int numbers_scan(struct guard_scanner *s)
{
	const char *t = s->text;
	uint32_t len = (uint32_t)s->len, i = 0, r1, g, digits;
	int r;

	while ((i = next_digit(t, len, i)) < len) {
		for (r1 = i, digits = 0;; r1 += g) {
			while (r1 < len && is_digit(t[r1])) {
				r1++;
				digits++;
			}
			g = number_gap_after(t, len, r1);
			if (!g)
				break;
		}
		if (i >= 2 && is_upper(t[i - 2]) && is_upper(t[i - 1]) && i + 1 < len &&
		    is_digit(t[i + 1])) {
			r = iban_read(s, i + 2);
			if (r)
				return r;
		}
		if (digits >= 9) {
			uint32_t r0 = i > 0 && (t[i - 1] == '+' || t[i - 1] == '(') ? i - 1 : i;

			r = number_run_read(s, r0, r1, digits);
			if (r)
				return r;
		}
		i = r1;
	}
	return 0;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to,
		    unsigned flags, void *ctx)
{
	struct guard_scanner *s = ctx;
	const struct guard_expr *x = &s->expr[id];
	unsigned d = x->detector;
	uint32_t start = (uint32_t)from, end = (uint32_t)to;

	if (d >= DET_BUILTIN_COUNT) {
		s->err = candidate_add(s, d, start, end);
	} else if (builtins[d].cat == GUARD_CAT_INJECTION) {
		s->signals |= 1u << d;
	} else {
		if (x->width)
			start = end - x->width;
		else if (!x->som && !exprs[x->builtin].start(s->text, s->len, end, &start))
			return 0;
		if (builtins[d].check)
			s->err = candidate_check(s, d, start, end);
		else
			s->err = candidate_add(s, d, start, end);
	}
	return s->err != 0; /* non-zero stops the scan */
}

static int rank_secret(unsigned d)
{
	return d < DET_BUILTIN_COUNT && builtins[d].cat == GUARD_CAT_SECRETS;
}

/* Who wins an overlap first: a secret, then the longer, then the earlier, then the lower id. */
static int candidate_cmp_rank(const struct guard_candidate *a, const struct guard_candidate *b)
{
	uint32_t la = a->end - a->start, lb = b->end - b->start;

	if (rank_secret(a->detector) != rank_secret(b->detector))
		return rank_secret(b->detector) - rank_secret(a->detector);
	if (la != lb)
		return la > lb ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return (int)a->detector - (int)b->detector;
}

/* The bits of [START, END) in the 64-bit word W of the map. */
static uint64_t taken_mask(uint32_t w, uint32_t start, uint32_t end)
{
	uint32_t lo = start > w * 64 ? start - w * 64 : 0;
	uint32_t hi = end < w * 64 + 64 ? end - w * 64 : 64;

	return hi - lo == 64 ? ~(uint64_t)0 : (((uint64_t)1 << (hi - lo)) - 1) << lo;
}

static int taken_any(const uint64_t *t, uint32_t start, uint32_t end)
{
	uint32_t w;

	for (w = start / 64; w * 64 < end; w++)
		if (t[w] & taken_mask(w, start, end))
			return 1;
	return 0;
}

static void taken_set(uint64_t *t, uint32_t start, uint32_t end, int on)
{
	uint32_t w;

	for (w = start / 64; w * 64 < end; w++) {
		if (on)
			t[w] |= taken_mask(w, start, end);
		else
			t[w] &= ~taken_mask(w, start, end);
	}
}

static int candidate_cmp_start(const struct guard_candidate *a, const struct guard_candidate *b)
{
	return a->start < b->start ? -1 : a->start > b->start;
}

typedef int (*candidate_cmp_fn)(const struct guard_candidate *, const struct guard_candidate *);

static void candidate_sift_down(struct guard_candidate *c, size_t root, size_t n,
				candidate_cmp_fn cmp)
{
	for (;;) {
		size_t child = 2 * root + 1;
		struct guard_candidate tmp;

		if (child >= n)
			return;
		if (child + 1 < n && cmp(&c[child], &c[child + 1]) < 0)
			child++;
		if (cmp(&c[root], &c[child]) >= 0)
			return;
		tmp = c[root];
		c[root] = c[child];
		c[child] = tmp;
		root = child;
	}
}

/*
 * Sorts the N candidates C by CMP in place: glibc's qsort() allocates a merge buffer once an
 * array passes a few hundred bytes. Insertion for the few a prompt usually has, else a heap.
 */
static void candidates_sort(struct guard_candidate *c, size_t n, candidate_cmp_fn cmp)
{
	size_t i, j;

	if (n <= 32) {
		for (i = 1; i < n; i++) {
			struct guard_candidate v = c[i];

			for (j = i; j > 0 && cmp(&c[j - 1], &v) > 0; j--)
				c[j] = c[j - 1];
			c[j] = v;
		}
		return;
	}
	for (i = n / 2; i-- > 0;)
		candidate_sift_down(c, i, n, cmp);
	for (i = n - 1; i > 0; i--) {
		struct guard_candidate tmp = c[0];

		c[0] = c[i];
		c[i] = tmp;
		candidate_sift_down(c, 0, i, cmp);
	}
}

/*
 * Keeps the candidates that win their overlaps (in rank order, each taken unless a byte of
 * it already is) and writes the first RES->max of them by start to RES.
 */
static int candidates_resolve(struct guard_scanner *s, struct guard_scan_result *res)
{
	size_t need = (s->len + 63) / 64, i, kept = 0;

	res->n = 0;
	if (!s->ncands)
		return 0;
	if (need > s->taken_words) {
		uint64_t *t = realloc(s->taken, need * sizeof(*t));

		if (!t)
			return -ENOMEM;
		memset(t + s->taken_words, 0, (need - s->taken_words) * sizeof(*t));
		s->taken = t;
		s->taken_words = need;
	}
	candidates_sort(s->cands, s->ncands, candidate_cmp_rank);
	for (i = 0; i < s->ncands; i++) {
		struct guard_candidate c = s->cands[i];

		if (taken_any(s->taken, c.start, c.end))
			continue;
		taken_set(s->taken, c.start, c.end, 1);
		s->cands[kept++] = c;
	}
	for (i = 0; i < kept; i++)
		taken_set(s->taken, s->cands[i].start, s->cands[i].end, 0);
	candidates_sort(s->cands, kept, candidate_cmp_start);
	for (i = 0; i < kept && i < res->max; i++)
		res->matches[i] = (struct guard_match){s->cands[i].start, s->cands[i].end,
						       s->cands[i].detector};
	res->n = kept;
	return 0;
}

/* A new clone of S: its own scratch (cloned from S's) and detector table. */
static struct guard_scanner *clone_new(const struct guard_scanner *s)
{
	struct guard_scanner *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->proto = s;
	c->db = s->db;
	c->mask = s->mask;
	c->max_width = s->max_width;
	c->expr = s->expr;
	c->users = s->users;
	c->nusers = s->nusers;
	c->last = calloc(guard_detector_count(s), sizeof(*c->last));
	if (!c->last || (s->scratch && hs_clone_scratch(s->scratch, &c->scratch) != HS_SUCCESS)) {
		clone_free(c);
		return NULL;
	}
	return c;
}

/* An idle clone of S for one scan, or a new one; NULL when memory ran out. */
static struct guard_scanner *clone_take(struct guard_scanner *s)
{
	struct guard_scanner *c;

	pthread_mutex_lock(&s->clones_lock);
	c = s->idle;
	if (c)
		s->idle = c->next_idle;
	pthread_mutex_unlock(&s->clones_lock);
	return c ? c : clone_new(s);
}

static void clone_give(struct guard_scanner *s, struct guard_scanner *c)
{
	pthread_mutex_lock(&s->clones_lock);
	c->next_idle = s->idle;
	s->idle = c;
	pthread_mutex_unlock(&s->clones_lock);
}

static int scan_run(struct guard_scanner *s, const char *text, size_t len,
		    struct guard_scan_result *res);

int guard_scan(struct guard_scanner *s, const char *text, size_t len,
	       struct guard_scan_result *res)
{
	struct guard_scanner *c = clone_take(s);
	int r;

	res->n = 0;
	res->injection_score = 0;
	res->signals = 0;
	if (!c)
		return -ENOMEM;
	r = scan_run(c, text, len, res);
	clone_give(s, c);
	return r;
}

/* One scan on clone S (its own scratch and state). */
static int scan_run(struct guard_scanner *s, const char *text, size_t len,
		    struct guard_scan_result *res)
{
	unsigned d;
	int r;

	res->n = 0;
	res->injection_score = 0;
	res->signals = 0;
	if (len > UINT32_MAX - 1)
		return -EIO; /* the engine takes 32-bit lengths; no body is this long */
	s->text = text;
	s->len = len;
	s->signals = 0;
	s->err = 0;
	s->ncands = 0;
	memset(s->last, 0, guard_detector_count(s) * sizeof(*s->last));
	if (s->db) {
		r = hs_scan(s->db, text ? text : "", (unsigned)len, 0, s->scratch, on_match, s);
		if (r == HS_SCAN_TERMINATED && s->err)
			return s->err;
		if (r != HS_SUCCESS)
			return -EIO;
	}
	if (s->mask & GUARD_MASK(GUARD_CAT_PII)) {
		r = numbers_scan(s);
		if (r)
			return r;
	}
	for (d = 0; d < DET_BUILTIN_COUNT; d++)
		if (s->signals & (1u << d))
			res->injection_score += builtins[d].weight;
	res->signals = s->signals;
	return candidates_resolve(s, res);
}
