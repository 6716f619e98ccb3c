/*
 * guard/guard: profiles (the policy's "guardrails" objects, compiled into two scanners) and
 * the guardrails of one call on whole bodies: the request rewritten string by string, the
 * answer redacted and its placeholders restored, and the call's record. The stream re-framer
 * is stream.c; the JSON string walker, jsontext.c. See guard.h.
 *
 * A call keeps one table of the placeholders it handed out (struct guard_value): the same
 * value under the same label always gets the same "[LABEL_N]", N counted per label from 1.
 * Entries made by "tokenize" in the request are the only ones restored in the answer, and
 * restoring is the last step on a span of the answer, so what it puts back is never scanned
 * (the app's own values are not redacted on their way back).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "guard/fold.h"
#include "guard/guard_int.h"
#include "providers/translate_util.h"
#include "util/jsonw.h"

#define BASE64_MIN 256 /* a "data" string this long of base64 bytes is a payload, not text */

static const char *const action_names[] = {
    [GUARD_OFF] = "off",	   [GUARD_RECORD] = "record", [GUARD_REDACT] = "redact",
    [GUARD_TOKENIZE] = "tokenize", [GUARD_BLOCK] = "block",
};

static const char *const would_names[] = {
    [GUARD_REDACT] = "would_redact",
    [GUARD_TOKENIZE] = "would_tokenize",
    [GUARD_BLOCK] = "would_block",
};

static const char *const category_keys[] = {
    [GUARD_CAT_PII] = "pii",
    [GUARD_CAT_IP] = "ip",
    [GUARD_CAT_SECRETS] = "secrets",
    [GUARD_CAT_INJECTION] = "injection",
};

const char *guard_action_name(enum guard_action a)
{
	return a <= GUARD_BLOCK ? action_names[a] : "off";
}

/* -------- profiles -------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* V at WHERE as an action; ALLOWED: a mask of (1 << action). */
static int parse_action(const cJSON *v, const char *where, unsigned allowed, enum guard_action *ret,
			char *err, size_t errlen)
{
	const char *s = cJSON_GetStringValue(v);

	if (!s)
		return fail(err, errlen, "%s: must be a string: record, redact, tokenize or block",
			    where);
	for (enum guard_action a = GUARD_RECORD; a <= GUARD_BLOCK; a++) {
		if (strcmp(s, action_names[a]))
			continue;
		if (!(allowed & (1u << a)))
			return fail(err, errlen, "%s: \"%s\" is not allowed here (%s)", where, s,
				    allowed & (1u << GUARD_REDACT) ? "record, redact, block"
								   : "record, block");
		*ret = a;
		return 0;
	}
	return fail(err, errlen, "%s: \"%s\" is not an action (record, redact, tokenize, block)",
		    where, s);
}

#define ALL_ACTIONS                                                                                \
	((1u << GUARD_RECORD) | (1u << GUARD_REDACT) | (1u << GUARD_TOKENIZE) | (1u << GUARD_BLOCK))
#define NO_TOKENIZE (ALL_ACTIONS & ~(1u << GUARD_TOKENIZE))
#define RECORD_OR_BLOCK ((1u << GUARD_RECORD) | (1u << GUARD_BLOCK))

/* "request" or "response" (SECTION): {CATEGORY: ACTION}. */
static int parse_section(struct guard_profile *p, const cJSON *obj, const char *section,
			 enum guard_action *actions, char *err, size_t errlen)
{
	int request = !strcmp(section, "request");
	char where[160];
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return fail(err, errlen, "guardrails.%s.%s: must be an object", p->name, section);
	cJSON_ArrayForEach(v, obj)
	{
		enum guard_category c;
		unsigned allowed = request ? ALL_ACTIONS : NO_TOKENIZE;
		int err2;

		for (c = 0; c < GUARD_CAT_PATTERN; c++) {
			if (!strcmp(v->string, category_keys[c]))
				break;
		}
		if (c == GUARD_CAT_PATTERN || (!request && c == GUARD_CAT_INJECTION))
			return fail(err, errlen,
				    "guardrails.%s.%s.%s: unknown key (pii, secrets, ip%s)",
				    p->name, section, v->string, request ? ", injection" : "");
		if (c == GUARD_CAT_INJECTION)
			allowed = RECORD_OR_BLOCK;
		snprintf(where, sizeof(where), "guardrails.%s.%s.%s", p->name, section, v->string);
		err2 = parse_action(v, where, allowed, &actions[c], err, errlen);
		if (err2)
			return err2;
	}
	return 0;
}

static int parse_pattern(struct guard_profile *p, size_t i, const cJSON *obj, char *err,
			 size_t errlen)
{
	struct guard_pattern *pat = &p->patterns[i];
	const cJSON *v;
	char where[160];

	if (!cJSON_IsObject(obj))
		return fail(err, errlen, "guardrails.%s.patterns[%zu]: must be an object", p->name,
			    i);
	cJSON_ArrayForEach(v, obj)
	{
		snprintf(where, sizeof(where), "guardrails.%s.patterns[%zu].%s", p->name, i,
			 v->string);
		if (!strcmp(v->string, "action")) {
			if (parse_action(v, where, ALL_ACTIONS, &pat->action, err, errlen))
				return -EINVAL;
		} else if (!strcmp(v->string, "name") || !strcmp(v->string, "regex")) {
			char **dst = v->string[0] == 'n' ? &pat->name : &pat->regex;

			if (!cJSON_IsString(v) || !*v->valuestring)
				return fail(err, errlen, "%s: must be a non-empty string", where);
			*dst = strdup(v->valuestring);
			if (!*dst)
				return -ENOMEM;
		} else {
			return fail(err, errlen, "%s: unknown key (name, regex, action)", where);
		}
	}
	if (!pat->name || !pat->regex || !pat->action)
		return fail(err, errlen,
			    "guardrails.%s.patterns[%zu]: \"name\", \"regex\" and "
			    "\"action\" are required",
			    p->name, i);
	for (size_t j = 0; j < i; j++) {
		if (!strcmp(p->patterns[j].name, pat->name))
			return fail(err, errlen,
				    "guardrails.%s.patterns[%zu].name: \"%s\" is used "
				    "twice",
				    p->name, i, pat->name);
	}
	return 0;
}

static int parse_patterns(struct guard_profile *p, const cJSON *arr, char *err, size_t errlen)
{
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	const cJSON *v;
	int rc;

	if (!cJSON_IsArray(arr))
		return fail(err, errlen, "guardrails.%s.patterns: must be an array", p->name);
	p->patterns = calloc(n ? n : 1, sizeof(*p->patterns));
	if (!p->patterns)
		return -ENOMEM;
	cJSON_ArrayForEach(v, arr)
	{
		p->n_patterns = i + 1;
		rc = parse_pattern(p, i++, v, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static int compile(struct guard_profile *p, char *err, size_t errlen)
{
	struct guard_user_pattern *up = NULL;
	unsigned req = 0, resp = 0;
	char why[200] = "";
	int rc = 0;

	for (enum guard_category c = 0; c < GUARD_CAT_PATTERN; c++) {
		req |= p->req[c] ? GUARD_MASK(c) : 0;
		resp |= p->resp[c] ? GUARD_MASK(c) : 0;
	}
	if (p->n_patterns) {
		req |= GUARD_MASK(GUARD_CAT_PATTERN);
		up = calloc(p->n_patterns, sizeof(*up));
		if (!up)
			return -ENOMEM;
		for (size_t i = 0; i < p->n_patterns; i++)
			up[i] =
			    (struct guard_user_pattern){p->patterns[i].name, p->patterns[i].regex};
	}
	if (req)
		rc = guard_scanner_new(req, up, p->n_patterns, &p->req_scan, why, sizeof(why));
	if (!rc && resp)
		rc = guard_scanner_new(resp, NULL, 0, &p->resp_scan, why, sizeof(why));
	free(up);
	if (rc == -EINVAL)
		return fail(err, errlen, "guardrails.%s.patterns: %s", p->name, why);
	return rc;
}

static int parse_member(struct guard_profile *p, const cJSON *v, char *err, size_t errlen)
{
	const char *k = v->string;

	if (!strcmp(k, "request"))
		return parse_section(p, v, k, p->req, err, errlen);
	if (!strcmp(k, "response"))
		return parse_section(p, v, k, p->resp, err, errlen);
	if (!strcmp(k, "patterns"))
		return parse_patterns(p, v, err, errlen);
	if (!strcmp(k, "injection_threshold")) {
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0)
			return fail(err, errlen, "guardrails.%s.%s: must be a number > 0", p->name,
				    k);
		p->threshold = v->valuedouble;
		return 0;
	}
	if (!strcmp(k, "unscanned")) {
		const char *a = cJSON_GetStringValue(v);

		if (!a || (strcmp(a, "record") && strcmp(a, "block")))
			return fail(err, errlen,
				    "guardrails.%s.%s: must be \"record\" or \"block\" (what to do "
				    "with a call carrying content the guardrails cannot read)",
				    p->name, k);
		p->unscanned = a[0] == 'b' ? GUARD_BLOCK : GUARD_RECORD;
		return 0;
	}
	if (!strcmp(k, "enforce")) {
		if (!cJSON_IsBool(v))
			return fail(err, errlen, "guardrails.%s.%s: must be true or false", p->name,
				    k);
		p->enforce = cJSON_IsTrue(v);
		return 0;
	}
	return fail(err, errlen,
		    "guardrails.%s.%s: unknown key (request, response, patterns, "
		    "injection_threshold, unscanned, enforce)",
		    p->name, k);
}

int guard_profile_parse(const char *name, const struct cJSON *obj, struct guard_profile **ret,
			char *err, size_t errlen)
{
	struct guard_profile *p = calloc(1, sizeof(*p));
	const cJSON *v;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	p->threshold = 1.0;
	p->unscanned = GUARD_RECORD;
	p->enforce = 1;
	p->name = strdup(name);
	if (!p->name) {
		rc = -ENOMEM;
		goto out;
	}
	if (!cJSON_IsObject(obj)) {
		rc = fail(err, errlen, "guardrails.%s: must be an object", name);
		goto out;
	}
	cJSON_ArrayForEach(v, obj)
	{
		rc = parse_member(p, v, err, errlen);
		if (rc)
			goto out;
	}
	rc = compile(p, err, errlen);
out:
	if (rc) {
		guard_profile_free(p);
		return rc;
	}
	*ret = p;
	return 0;
}

void guard_profile_free(struct guard_profile *p)
{
	if (!p)
		return;
	guard_scanner_free(p->req_scan);
	guard_scanner_free(p->resp_scan);
	for (size_t i = 0; i < p->n_patterns; i++) {
		free(p->patterns[i].name);
		free(p->patterns[i].regex);
	}
	free(p->patterns);
	free(p->name);
	free(p);
}

const char *guard_profile_name(const struct guard_profile *p)
{
	return p->name;
}

/* The request action for detector D of the request scanner. */
static enum guard_action request_action(const struct guard_profile *p, unsigned d)
{
	enum guard_category c = guard_detector_category(p->req_scan, d);
	unsigned first_user = guard_detector_count(p->req_scan) - (unsigned)p->n_patterns;

	if (c == GUARD_CAT_PATTERN)
		return d >= first_user ? p->patterns[d - first_user].action : GUARD_OFF;
	return p->req[c];
}

/* -------- calls -------- */

struct guard_call *guard_call_new(const struct guard_profile *p, enum guard_api api)
{
	struct guard_call *gc = calloc(1, sizeof(*gc));
	unsigned nreq = p->req_scan ? guard_detector_count(p->req_scan) : 0;
	unsigned nresp = p->resp_scan ? guard_detector_count(p->resp_scan) : 0;

	if (!gc)
		return NULL;
	gc->p = p;
	gc->api = api;
	gc->m_max = 64;
	gc->req_count = calloc(nreq + 1, sizeof(*gc->req_count));
	gc->resp_count = calloc(nresp + 1, sizeof(*gc->resp_count));
	gc->m = calloc(gc->m_max, sizeof(*gc->m));
	if (!gc->req_count || !gc->resp_count || !gc->m) {
		guard_call_free(gc);
		return NULL;
	}
	return gc;
}

void guard_call_free(struct guard_call *gc)
{
	if (!gc)
		return;
	for (size_t i = 0; i < gc->n_values; i++)
		free(gc->values[i].value);
	free(gc->values);
	free(gc->by_value);
	free(gc->by_name);
	free(gc->label_next);
	free(gc->labels);
	free(gc->req_count);
	free(gc->resp_count);
	free(gc->m);
	translate_buf_free(&gc->work);
	translate_buf_free(&gc->fold);
	free(gc->fold_map);
	free(gc->payload);
	free(gc);
}

const char *guard_call_blocked_by(const struct guard_call *gc)
{
	return gc->blocked_by;
}

int guard_call_model_matched(const struct guard_call *gc)
{
	return gc->model_matched;
}

int guard_call_reads_response(const struct guard_call *gc)
{
	return gc->p->resp_scan != NULL || guard_call_has_tokens(gc);
}

/* Scans TEXT with S into gc->m, as it is. */
static int scan_bytes(struct guard_call *gc, struct guard_scanner *s, const char *text, size_t len,
		      struct guard_scan_result *ret_res)
{
	struct guard_scan_result res = {.matches = gc->m, .max = gc->m_max};
	struct guard_match *m;
	int rc = guard_scan(s, text, len, &res);

	if (!rc && res.n > res.max) { /* more than fit: room for all, and again */
		m = realloc(gc->m, res.n * sizeof(*m));
		if (!m)
			return -ENOMEM;
		gc->m = m;
		gc->m_max = res.n;
		res = (struct guard_scan_result){.matches = gc->m, .max = gc->m_max};
		rc = guard_scan(s, text, len, &res);
		if (!rc && res.n > res.max)
			rc = -EIO;
	}
	if (!rc)
		*ret_res = res;
	return rc;
}

int guard_scan_all(struct guard_call *gc, struct guard_scanner *s, const char *text, size_t len,
		   size_t *ret_n, struct guard_scan_result *ret_res)
{
	struct guard_scan_result res, as_is;
	const uint32_t *map;
	int rc;

	if (guard_fold_needed(text, len)) {
		rc = guard_fold(text, len, &gc->fold, &gc->fold_map, &gc->fold_map_cap);
		if (rc < 0)
			return rc;
		if (rc == 1) /* nothing folds */
			goto as_is;
		/* the signals of the text as it is: zero-width runs, tag characters */
		rc = scan_bytes(gc, s, text, len, &as_is);
		if (!rc)
			rc = scan_bytes(gc, s, gc->fold.data, gc->fold.len, &res);
		if (rc)
			return rc;
		map = gc->fold_map;
		for (size_t i = 0; i < res.n; i++) {
			struct guard_match *m = &gc->m[i];
			uint32_t start = map[m->start];

			m->end = m->end > m->start
				     ? (uint32_t)guard_fold_cp_end(text, len, map[m->end - 1])
				     : start;
			m->start = start;
		}
		res.signals |= as_is.signals;
		if (as_is.injection_score > res.injection_score)
			res.injection_score = as_is.injection_score;
		goto out;
	}
as_is:
	rc = scan_bytes(gc, s, text, len, &res);
	if (rc)
		return rc;
out:
	*ret_n = res.n;
	if (ret_res)
		*ret_res = res;
	return 0;
}

static int base64ish(const char *s, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789+/=-_\r\n";

	return strspn(s, alphabet) >= len || len == 0 ? 1 : 0;
}

int guard_string_skipped(struct guard_call *gc, const struct jsontext_string *s)
{
	const char *comma;
	size_t off = 0;

	if (s->is_key)
		return 0;
	if (s->depth == 1 && jsontext_step_is(s, 0, "model"))
		return 1;
	if (s->len < BASE64_MIN)
		return 0;
	if (s->len > 5 && !memcmp(s->text, "data:", 5)) {
		comma = memchr(s->text, ',', s->len < 256 ? s->len : 256);
		if (!comma)
			return 0;
		off = (size_t)(comma + 1 - s->text);
	} else if (!s->depth || (!jsontext_step_is(s, s->depth - 1, "data") &&
				 !jsontext_step_is(s, s->depth - 1, "signature") &&
				 !jsontext_step_is(s, s->depth - 1, "encrypted_content"))) {
		return 0;
	}
	/* strspn() stops at a NUL a decoded string may hold: checked against the length */
	if (!base64ish(s->text + off, s->len - off))
		return 0;
	gc->unscanned++;
	return 1;
}

#define GUARD_VALUES_MAX (1u << 20) /* distinct values one call may hand placeholders to */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static uint64_t value_hash(const char *label, const char *text, size_t len)
{
	return fnv1a(fnv1a(14695981039346656037ULL, label, strlen(label) + 1), text, len);
}

static uint64_t name_hash(const char *label, size_t label_len, unsigned n)
{
	return fnv1a(fnv1a(14695981039346656037ULL, label, label_len), &n, sizeof(n));
}

/* Puts value I in both indexes (room is there). */
static void index_put(struct guard_call *gc, size_t i)
{
	const struct guard_value *v = &gc->values[i];
	size_t mask = gc->n_slots - 1, k;

	for (k = value_hash(v->label, v->value, v->len) & mask; gc->by_value[k]; k = (k + 1) & mask)
		;
	gc->by_value[k] = (uint32_t)i + 1;
	for (k = name_hash(v->label, strlen(v->label), v->n) & mask; gc->by_name[k];
	     k = (k + 1) & mask)
		;
	gc->by_name[k] = (uint32_t)i + 1;
}

/* Room in the indexes for one more value: rebuilt twice as large when half full. */
static int index_grow(struct guard_call *gc)
{
	size_t slots = gc->n_slots ? gc->n_slots : 64;
	uint32_t *bv, *bn;

	if (2 * (gc->n_values + 1) <= gc->n_slots)
		return 0;
	while (2 * (gc->n_values + 1) > slots)
		slots *= 2;
	bv = calloc(slots, sizeof(*bv));
	bn = calloc(slots, sizeof(*bn));
	if (!bv || !bn) {
		free(bv);
		free(bn);
		return -ENOMEM;
	}
	free(gc->by_value);
	free(gc->by_name);
	gc->by_value = bv;
	gc->by_name = bn;
	gc->n_slots = slots;
	for (size_t i = 0; i < gc->n_values; i++)
		index_put(gc, i);
	return 0;
}

/* The next N of LABEL ("[LABEL_N]", from 1), counted. Labels are few (the detectors'). */
static int label_take(struct guard_call *gc, const char *label, unsigned *ret_n)
{
	size_t i;

	for (i = 0; i < gc->n_labels; i++)
		if (gc->labels[i] == label || !strcmp(gc->labels[i], label))
			break;
	if (i == gc->n_labels) {
		const char **l = realloc(gc->labels, (i + 1) * sizeof(*l));
		unsigned *nx;

		if (!l)
			return -ENOMEM;
		gc->labels = l;
		nx = realloc(gc->label_next, (i + 1) * sizeof(*nx));
		if (!nx)
			return -ENOMEM;
		gc->label_next = nx;
		gc->labels[i] = label;
		gc->label_next[i] = 1;
		gc->n_labels++;
	}
	*ret_n = gc->label_next[i]++;
	return 0;
}

/* The placeholder of VALUE under LABEL, made on first sight; NULL when out of memory or past
 * GUARD_VALUES_MAX distinct values. */
static struct guard_value *value_for(struct guard_call *gc, const char *label, const char *text,
				     size_t len)
{
	struct guard_value *v;
	size_t mask, k;
	unsigned n;

	if (gc->n_slots) {
		mask = gc->n_slots - 1;
		for (k = value_hash(label, text, len) & mask; gc->by_value[k]; k = (k + 1) & mask) {
			v = &gc->values[gc->by_value[k] - 1];
			if (v->len == len && !strcmp(v->label, label) &&
			    !memcmp(v->value, text, len))
				return v;
		}
	}
	if (gc->n_values >= GUARD_VALUES_MAX || index_grow(gc) || label_take(gc, label, &n))
		return NULL;
	if (gc->n_values == gc->cap_values) {
		size_t cap = gc->cap_values ? 2 * gc->cap_values : 8;

		v = realloc(gc->values, cap * sizeof(*v));
		if (!v)
			return NULL;
		gc->values = v;
		gc->cap_values = cap;
	}
	v = &gc->values[gc->n_values];
	*v = (struct guard_value){.label = label, .n = n, .len = len, .value = malloc(len + 1)};
	if (!v->value)
		return NULL;
	memcpy(v->value, text, len);
	v->value[len] = '\0';
	index_put(gc, gc->n_values++);
	return v;
}

static int put_placeholder(struct guard_call *gc, const char *label, const char *text, size_t len,
			   int tokenize, struct translate_buf *out)
{
	struct guard_value *v = value_for(gc, label, text, len);
	char ph[GUARD_PLACEHOLDER_MAX + 16];
	int n;

	if (!v)
		return -ENOMEM;
	if (tokenize && !v->tokenized) {
		v->tokenized = 1;
		gc->n_tokenized++;
	}
	n = snprintf(ph, sizeof(ph), "[%s_%u]", label, v->n);
	return translate_buf_add(out, ph, (size_t)n < sizeof(ph) ? (size_t)n : sizeof(ph) - 1);
}

/* The tokenized value whose placeholder is "[" NAME "]" (N bytes), or NULL. */
static const struct guard_value *token_named(const struct guard_call *gc, const char *name,
					     size_t n)
{
	const char *us = memrchr(name, '_', n);
	size_t label_len;
	unsigned num = 0;

	if (!us || us + 1 == name + n || n - (size_t)(us + 1 - name) > 9)
		return NULL;
	label_len = (size_t)(us - name);
	for (const char *d = us + 1; d < name + n; d++) {
		if (*d < '0' || *d > '9')
			return NULL;
		num = num * 10 + (unsigned)(*d - '0');
	}
	if (!gc->n_slots)
		return NULL;
	for (size_t mask = gc->n_slots - 1, k = name_hash(name, label_len, num) & mask;
	     gc->by_name[k]; k = (k + 1) & mask) {
		const struct guard_value *v = &gc->values[gc->by_name[k] - 1];

		if (v->tokenized && v->n == num && strlen(v->label) == label_len &&
		    !memcmp(v->label, name, label_len))
			return v;
	}
	return NULL;
}

/* Appends TEXT with the call's placeholders restored. */
static int restore_append(struct guard_call *gc, const char *text, size_t len,
			  struct translate_buf *out)
{
	size_t i = 0, start = 0;
	const char *br, *close;
	const struct guard_value *v;

	while (guard_call_has_tokens(gc) && i < len && (br = memchr(text + i, '[', len - i))) {
		size_t at = (size_t)(br - text), room = len - at - 1;

		close = memchr(br + 1, ']',
			       room < GUARD_PLACEHOLDER_MAX ? room : GUARD_PLACEHOLDER_MAX);
		v = close ? token_named(gc, br + 1, (size_t)(close - br - 1)) : NULL;
		i = at + 1;
		if (!v)
			continue;
		if (translate_buf_add(out, text + start, at - start) ||
		    translate_buf_add(out, v->value, v->len))
			return -ENOMEM;
		gc->restored++;
		start = i = (size_t)(close - text) + 1;
	}
	return translate_buf_add(out, text + start, len - start);
}

/* -------- the request -------- */

/* Notes that detector D matched where its action cannot be carried out (the "model", which
 * routing reads and is never rewritten): the call is refused (would be, not enforcing). */
static int request_refuse(struct guard_call *gc, unsigned d)
{
	if (!gc->blocked_by)
		gc->blocked_by = guard_detector_name(gc->p->req_scan, d);
	return gc->p->enforce ? -EPERM : 0;
}

/* The top-level "model": the provider reads it (and may echo it in an error or its logs),
 * so it is scanned; it is never rewritten, so a match to redact, tokenize or block refuses
 * the call, and one to record is counted. */
static int request_model(struct guard_call *gc, const struct jsontext_string *s)
{
	const struct guard_profile *p = gc->p;
	struct guard_scan_result res;
	size_t n;
	int rc = guard_scan_all(gc, p->req_scan, s->text, s->len, &n, &res);

	if (rc)
		return rc;
	gc->signals |= res.signals;
	gc->model_matched |= n > 0;
	for (size_t i = 0; i < n && !rc; i++) {
		gc->req_count[gc->m[i].detector]++;
		if (request_action(p, gc->m[i].detector) >= GUARD_REDACT)
			rc = request_refuse(gc, gc->m[i].detector);
	}
	return rc;
}

/* URL's percent escapes (and a query's '+') decoded into OUT. */
static int url_decode(const char *url, size_t len, struct translate_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	const char *q = memchr(url, '?', len);

	out->len = 0;
	for (size_t i = 0; i < len; i++) {
		char c = url[i];
		const char *hi, *lo;

		if (c == '%' && i + 2 < len && (hi = strchr(hex, url[i + 1] | 0x20)) &&
		    url[i + 1] && (lo = strchr(hex, url[i + 2] | 0x20)) && url[i + 2]) {
			c = (char)((hi - hex) << 4 | (lo - hex));
			i += 2;
		} else if (c == '+' && q && url + i > q) {
			c = ' ';
		}
		if (translate_buf_add(out, &c, 1))
			return -ENOMEM;
	}
	return 0;
}

int guard_call_found(const struct guard_call *gc)
{
	unsigned n = gc->p->req_scan ? guard_detector_count(gc->p->req_scan) : 0;

	for (unsigned d = 0; d < n; d++)
		if (gc->req_count[d])
			return 1;
	return 0;
}

int guard_request_target(struct guard_call *gc, const char *url, size_t len)
{
	const struct guard_profile *p = gc->p;
	struct guard_scan_result res;
	size_t n;
	int rc;

	if (!p->req_scan || !len)
		return 0;
	rc = url_decode(url, len, &gc->work);
	if (!rc)
		rc = guard_scan_all(gc, p->req_scan, gc->work.data, gc->work.len, &n, &res);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		gc->req_count[gc->m[i].detector]++;
		if (request_action(p, gc->m[i].detector) >= GUARD_REDACT)
			rc = request_refuse(gc, gc->m[i].detector);
	}
	return rc;
}

/* -------- base64 payloads -------- */

#define PAYLOAD_MAX (4u << 20) /* decoded bytes of a payload the guardrails read */

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' || c == '-' ? 62 : c == '/' || c == '_' ? 63 : -1;
}

/*
 * TEXT (base64, either alphabet, whitespace anywhere, "=" padding at the end) decoded into
 * gc->payload, *RET_LEN bytes. Returns 0; 1 when TEXT is not base64 (it is text, and was
 * read as such); -EFBIG when it decodes to more than PAYLOAD_MAX bytes; -ENOMEM.
 */
static int base64_decode(struct guard_call *gc, const char *text, size_t len, size_t *ret_len)
{
	size_t n = 0, pad = 0, out_len, o = 0;
	unsigned bits = 0, acc = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=' && ++pad <= 2)
			continue;
		if (pad || base64_value(c) < 0)
			return 1;
		n++;
	}
	if (!n || n % 4 == 1 || (pad && (n + pad) % 4))
		return 1;
	out_len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (out_len > PAYLOAD_MAX)
		return -EFBIG;
	if (out_len > gc->payload_cap) {
		unsigned char *b = realloc(gc->payload, out_len);

		if (!b)
			return -ENOMEM;
		gc->payload = b;
		gc->payload_cap = out_len;
	}
	for (size_t i = 0; i < len && o < out_len; i++) {
		int v = base64_value((unsigned char)text[i]);

		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			gc->payload[o++] = (unsigned char)(acc >> bits);
		}
	}
	*ret_len = out_len;
	return 0;
}

/* Whether bytes B start as a file no model reads as text (an image, audio, video, a PDF or
 * an archive: what it holds is not read by the guardrails). */
static int binary_magic(const unsigned char *b, size_t n)
{
	static const struct {
		const char *magic;
		size_t at, len;
	} sigs[] = {
	    {"\x89PNG\r\n\x1a\n", 0, 8},
	    {"\xff\xd8\xff", 0, 3},
	    {"GIF8", 0, 4},
	    {"RIFF", 0, 4},
	    {"%PDF-", 0, 5},
	    {"ID3", 0, 3},
	    {"\xff\xfb", 0, 2},
	    {"\xff\xf3", 0, 2},
	    {"\xff\xf2", 0, 2},
	    {"OggS", 0, 4},
	    {"fLaC", 0, 4},
	    {"ftyp", 4, 4},
	    {"PK\x03\x04", 0, 4},
	    {"\x1a\x45\xdf\xa3", 0, 4},
	    {"II*\0", 0, 4},
	    {"MM\0*", 0, 4},
	};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (n >= sigs[i].at + sigs[i].len &&
		    !memcmp(b + sigs[i].at, sigs[i].magic, sigs[i].len))
			return 1;
	return 0;
}

/* Whether media type or file name T (LEN bytes) says text: anything but an image, audio,
 * video, a PDF or an archive. */
static int textual_name(const char *t, size_t len, int is_filename)
{
	static const char *const binary_types[] = {"image/", "audio/", "video/", "application/pdf",
						   "application/zip"};
	static const char *const binary_ext[] = {".pdf",  ".png", ".jpg", ".jpeg", ".gif", ".webp",
						 ".wav",  ".mp3", ".ogg", ".flac", ".m4a", ".mp4",
						 ".webm", ".zip", ".tif", ".tiff"};

	if (is_filename) {
		for (size_t i = 0; i < sizeof(binary_ext) / sizeof(binary_ext[0]); i++) {
			size_t e = strlen(binary_ext[i]);

			if (len >= e && !strncasecmp(t + len - e, binary_ext[i], e))
				return 0;
		}
		return 1;
	}
	for (size_t i = 0; i < sizeof(binary_types) / sizeof(binary_types[0]); i++)
		if (len >= strlen(binary_types[i]) &&
		    !strncasecmp(t, binary_types[i], strlen(binary_types[i])))
			return 0;
	return 1;
}

/* Whether the object holding payload S names it text: a "media_type", "mime_type" or
 * "filename" member (any of them, duplicates included: parsers differ on which counts). */
static int declared_text(const struct guard_call *gc, const struct jsontext_string *s)
{
	size_t at = s->path[s->depth - 1].container;
	cJSON *obj = cJSON_ParseWithLengthOpts(gc->body + at, gc->body_len - at, NULL, 0);
	const cJSON *m;
	int text = 0;

	if (!obj)
		return 1; /* cannot happen (the walker read it): read as text */
	cJSON_ArrayForEach(m, obj)
	{
		int is_file = m->string && !strcmp(m->string, "filename");

		if (!m->string || !cJSON_IsString(m) ||
		    (!is_file && strcmp(m->string, "media_type") && strcmp(m->string, "mime_type")))
			continue;
		text |= textual_name(m->valuestring, strlen(m->valuestring), is_file);
	}
	cJSON_Delete(obj);
	return text;
}

/* Where the base64 of payload S starts in its text, or -1 when S is not one: a "data:" URL
 * that says ";base64", or a member "data" or "file_data" (Anthropic's sources, OpenAI's
 * input_audio and files). *RET_TYPE: the data: URL's media type (or NULL), *RET_TYPE_LEN. */
static long payload_start(const struct jsontext_string *s, const char **ret_type,
			  size_t *ret_type_len)
{
	const char *comma, *semi;

	*ret_type = NULL;
	if (s->is_key)
		return -1;
	if (s->len > 5 && !memcmp(s->text, "data:", 5)) {
		comma = memchr(s->text, ',', s->len < 256 ? s->len : 256);
		if (!comma || !memmem(s->text, (size_t)(comma - s->text), ";base64", 7))
			return -1; /* percent-encoded: text, read as it is */
		semi = memchr(s->text, ';', (size_t)(comma - s->text));
		*ret_type = s->text + 5;
		*ret_type_len = (size_t)(semi - s->text) - 5;
		return comma + 1 - s->text;
	}
	if (s->depth && (jsontext_step_is(s, s->depth - 1, "data") ||
			 jsontext_step_is(s, s->depth - 1, "file_data")))
		return 0;
	return -1;
}

/*
 * A base64 payload the provider decodes (its raw text was read as any string is). A file no
 * model reads as text (by its first bytes, and not named text by its media type or file name)
 * is counted unscanned; anything else is read as the text the provider will make of it. A
 * match there is counted; one whose action would replace it refuses the call instead: a
 * placeholder is not written inside an encoded file (its size, offsets and checksums would
 * no longer hold, and the app would get an answer about another file).
 */
static int request_payload(struct guard_call *gc, const struct jsontext_string *s)
{
	const struct guard_profile *p = gc->p;
	struct guard_scan_result res;
	const char *type;
	size_t type_len = 0, len, n;
	long off = payload_start(s, &type, &type_len);
	int rc;

	if (off < 0)
		return 0;
	rc = base64_decode(gc, s->text + off, s->len - (size_t)off, &len);
	if (rc == 1)
		return 0;
	if (rc == -EFBIG) {
		gc->unscanned++;
		return 0;
	}
	if (rc)
		return rc;
	if (binary_magic(gc->payload, len) && !(type && textual_name(type, type_len, 0)) &&
	    !(!type && s->depth && declared_text(gc, s))) {
		gc->unscanned++;
		return 0;
	}
	if (!p->req_scan)
		return 0;
	rc = guard_scan_all(gc, p->req_scan, (const char *)gc->payload, len, &n, &res);
	if (rc)
		return rc;
	gc->signals |= res.signals;
	for (size_t i = 0; i < n && !rc; i++) {
		gc->req_count[gc->m[i].detector]++;
		if (request_action(p, gc->m[i].detector) >= GUARD_REDACT)
			rc = request_refuse(gc, gc->m[i].detector);
	}
	return rc;
}

/* -------- the request's strings -------- */

/* String S as the provider may read it: matches counted, replaced or blocked. */
static int request_text(struct guard_call *gc, struct jsontext *jt, const struct jsontext_string *s)
{
	const struct guard_profile *p = gc->p;
	struct guard_scan_result res;
	size_t n, at = 0;
	int rc, changed = 0;

	rc = guard_scan_all(gc, p->req_scan, s->text, s->len, &n, &res);
	if (rc)
		return rc;
	gc->signals |= res.signals;
	gc->work.len = 0;
	for (size_t i = 0; i < n; i++) {
		const struct guard_match *m = &gc->m[i];
		enum guard_action a = request_action(p, m->detector);

		gc->req_count[m->detector]++;
		if (a == GUARD_BLOCK) { /* with enforce off: would have blocked */
			if (!gc->blocked_by)
				gc->blocked_by = guard_detector_name(p->req_scan, m->detector);
			if (p->enforce)
				return -EPERM;
		}
		if ((a != GUARD_REDACT && a != GUARD_TOKENIZE) || !p->enforce)
			continue;
		if (translate_buf_add(&gc->work, s->text + at, m->start - at) ||
		    put_placeholder(gc, guard_detector_label(p->req_scan, m->detector),
				    s->text + m->start, m->end - m->start, a == GUARD_TOKENIZE,
				    &gc->work))
			return -ENOMEM;
		at = m->end;
		changed = 1;
	}
	if (!changed)
		return 0;
	if (translate_buf_add(&gc->work, s->text + at, s->len - at))
		return -ENOMEM;
	return jsontext_replace(jt, gc->work.data, gc->work.len);
}

/*
 * Every string of the request: the top-level "model" (scanned, never rewritten), and every
 * other one read as text, base64 included (a plain-text document may be all base64 letters);
 * a base64 payload is also read decoded.
 */
static int request_string(void *arg, struct jsontext *jt, const struct jsontext_string *s)
{
	struct guard_call *gc = arg;
	int rc;

	if (!gc->p->req_scan)
		return request_payload(gc, s); /* "unscanned": "block" alone */
	if (!s->is_key && s->depth == 1 && jsontext_step_is(s, 0, "model"))
		return request_model(gc, s);
	rc = request_text(gc, jt, s);
	return rc ? rc : request_payload(gc, s);
}

static double injection_score(const struct guard_call *gc)
{
	double score = 0;

	for (unsigned d = 0; d < 32; d++) {
		if (gc->signals & (1u << d))
			score += guard_detector_weight(gc->p->req_scan, d);
	}
	return score;
}

int guard_request(struct guard_call *gc, const char *body, size_t len, char **ret_body,
		  size_t *ret_len)
{
	const struct guard_profile *p = gc->p;
	char *out = NULL;
	size_t out_len = 0;
	int rc;

	*ret_body = NULL;
	if (!p->req_scan && p->unscanned != GUARD_BLOCK)
		return 0;
	gc->body = body;
	gc->body_len = len;
	rc = jsontext_walk(body, len, request_string, gc, &out, &out_len);
	gc->body = NULL;
	if (rc)
		return rc;
	if (p->unscanned == GUARD_BLOCK && gc->unscanned) {
		if (!gc->blocked_by)
			gc->blocked_by = "unscanned";
		if (p->enforce) {
			free(out);
			return -EPERM;
		}
	}
	gc->score = injection_score(gc);
	if (p->req[GUARD_CAT_INJECTION] == GUARD_BLOCK && gc->score >= p->threshold) {
		if (!gc->blocked_by)
			gc->blocked_by = "injection";
		if (p->enforce) {
			free(out);
			return -EPERM;
		}
	}
	*ret_body = out;
	*ret_len = out_len;
	return 0;
}

/* -------- the answer -------- */

int guard_answer_span(struct guard_call *gc, const char *text, size_t from, size_t to,
		      const struct guard_match *m, size_t n, struct translate_buf *out)
{
	const struct guard_profile *p = gc->p;
	size_t at = from, old = out->len;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		enum guard_category c = guard_detector_category(p->resp_scan, m[i].detector);

		gc->resp_count[m[i].detector]++;
		if (p->resp[c] == GUARD_BLOCK && p->enforce) {
			gc->blocked_by = guard_detector_name(p->resp_scan, m[i].detector);
			return -EPERM;
		}
	}
	if (!p->enforce)
		return translate_buf_add(out, text + from, to - from);
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned d = m[i].detector;

		rc = restore_append(gc, text + at, m[i].start - at, out);
		if (rc)
			break;
		if (p->resp[guard_detector_category(p->resp_scan, d)] == GUARD_REDACT)
			rc = put_placeholder(gc, guard_detector_label(p->resp_scan, d),
					     text + m[i].start, m[i].end - m[i].start, 0, out);
		else
			rc = translate_buf_add(out, text + m[i].start, m[i].end - m[i].start);
		at = m[i].end;
	}
	if (!rc)
		rc = restore_append(gc, text + at, to - at, out);
	if (rc)
		out->len = old;
	return rc;
}

int guard_answer_string(struct guard_call *gc, struct jsontext *jt, const struct jsontext_string *s)
{
	size_t n = 0;
	int rc;

	if (guard_string_skipped(gc, s))
		return 0;
	if (gc->p->resp_scan) {
		rc = guard_scan_all(gc, gc->p->resp_scan, s->text, s->len, &n, NULL);
		if (rc)
			return rc;
	}
	if (!n && (!guard_call_has_tokens(gc) || !memchr(s->text, '[', s->len)))
		return 0;
	gc->work.len = 0;
	rc = guard_answer_span(gc, s->text, 0, s->len, gc->m, n, &gc->work);
	if (rc)
		return rc;
	if (gc->work.len == s->len && !memcmp(gc->work.data, s->text, s->len))
		return 0;
	return jsontext_replace(jt, gc->work.data, gc->work.len);
}

static int answer_string(void *arg, struct jsontext *jt, const struct jsontext_string *s)
{
	return guard_answer_string(arg, jt, s);
}

int guard_answer_json(struct guard_call *gc, const char *text, size_t len, char **ret,
		      size_t *ret_len)
{
	return jsontext_walk(text, len, answer_string, gc, ret, ret_len);
}

int guard_response(struct guard_call *gc, const char *body, size_t len, char **ret_body,
		   size_t *ret_len)
{
	*ret_body = NULL;
	if (!guard_call_reads_response(gc))
		return 0;
	return guard_answer_json(gc, body, len, ret_body, ret_len);
}

/* -------- the record -------- */

static const char *action_as_done(const struct guard_profile *p, enum guard_action a)
{
	if (!p->enforce && a >= GUARD_REDACT)
		return would_names[a];
	return guard_action_name(a);
}

/* {DETECTOR: {"count", "action"}} of the span detectors of S counted in COUNTS. */
static void write_detectors(struct jsonw *rec, const char *key, const struct guard_profile *p,
			    const struct guard_scanner *s, const unsigned *counts, int request)
{
	struct jsonw *w = jsonw_new(), *d;
	size_t len;
	char *text;

	if (!w) {
		rec->oom = 1;
		return;
	}
	for (unsigned i = 0; s && i < guard_detector_count(s); i++) {
		enum guard_action a =
		    request ? request_action(p, i) : p->resp[guard_detector_category(s, i)];

		if (!counts[i] || guard_detector_category(s, i) == GUARD_CAT_INJECTION)
			continue;
		d = jsonw_new();
		if (!d) {
			w->oom = 1;
			break;
		}
		jsonw_num(d, "count", counts[i]);
		jsonw_str(d, "action", action_as_done(p, a));
		text = jsonw_finish(d, &len);
		if (!text) {
			w->oom = 1;
			break;
		}
		jsonw_raw(w, guard_detector_name(s, i), text, len);
		free(text);
	}
	text = jsonw_finish(w, &len);
	if (!text) {
		rec->oom = 1;
		return;
	}
	jsonw_raw(rec, key, text, len);
	free(text);
}

static void write_injection(struct jsonw *rec, const struct guard_call *gc)
{
	const struct guard_profile *p = gc->p;
	enum guard_action a = p->req[GUARD_CAT_INJECTION];
	struct translate_buf names = {0};
	struct jsonw *w = jsonw_new();
	int rc = translate_buf_add(&names, "[", 1);
	char *text;
	size_t len;

	for (unsigned d = 0; d < 32 && !rc; d++) {
		const char *name;

		if (!(gc->signals & (1u << d)))
			continue;
		name = guard_detector_name(p->req_scan, d);
		rc = (names.len > 1 ? translate_buf_add(&names, ",", 1) : 0) ||
		     jsontext_encode(&names, name, strlen(name));
	}
	rc = rc || translate_buf_add(&names, "]", 1);
	if (!w || rc) {
		rec->oom = 1;
		goto out;
	}
	jsonw_num(w, "score", gc->score);
	jsonw_num(w, "threshold", p->threshold);
	jsonw_raw(w, "signals", names.data, names.len);
	jsonw_str(w, "action", gc->score >= p->threshold ? action_as_done(p, a) : "none");
	text = jsonw_finish(w, &len);
	w = NULL;
	if (!text) {
		rec->oom = 1;
		goto out;
	}
	jsonw_raw(rec, "injection", text, len);
	free(text);
out:
	jsonw_free(w);
	translate_buf_free(&names);
}

void guard_call_record(const struct guard_call *gc, struct jsonw *rec)
{
	const struct guard_profile *p = gc->p;
	struct jsonw *w = jsonw_new();
	char *text;
	size_t len;

	if (!w) {
		rec->oom = 1;
		return;
	}
	jsonw_str(w, "profile", p->name);
	jsonw_bool(w, "enforce", p->enforce);
	write_detectors(w, "request", p, p->req_scan, gc->req_count, 1);
	write_detectors(w, "response", p, p->resp_scan, gc->resp_count, 0);
	if (p->req[GUARD_CAT_INJECTION])
		write_injection(w, gc);
	jsonw_str(w, p->enforce ? "blocked_by" : "would_block_by", gc->blocked_by);
	jsonw_num(w, "restored", (double)gc->restored);
	jsonw_num(w, "unscanned", (double)gc->unscanned);
	text = jsonw_finish(w, &len);
	if (!text) {
		rec->oom = 1;
		return;
	}
	jsonw_raw(rec, "aigw.guardrails", text, len);
	free(text);
}

int guard_profile_enforced(const struct guard_profile *p)
{
	return p->enforce;
}
