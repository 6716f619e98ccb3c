/*
 * jsonw: an audit record written straight into one growing buffer, key by key. Records are
 * flat objects of strings, numbers, booleans and nulls; building them as cJSON trees cost a
 * hundred allocations per request, freed on another thread.
 *
 * Ownership: jsonw_new() returns a writer the caller ends with jsonw_finish() (which hands
 * over the text) or jsonw_free(). Keys are the caller's constants; values are escaped.
 */
#ifndef AIGW_JSONW_H
#define AIGW_JSONW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/decimal.h"

struct jsonw {
	char *buf; /* "{" + members, no closing brace until jsonw_finish() */
	size_t len, cap;
	int oom; /* an allocation failed: jsonw_finish() returns NULL */
};

struct jsonw *jsonw_new(void);

/* The writers, with the key's length (KLEN bytes of K) given: the ones below pass strlen(K),
 * which the compiler works out for the literal keys nearly every caller writes. */
void jsonw_str_kn(struct jsonw *w, const char *k, size_t klen, const char *val, size_t len);
void jsonw_num_kn(struct jsonw *w, const char *k, size_t klen, double val);
/* LIT (LEN bytes) must be valid JSON text already: it is written as the value. */
void jsonw_lit_kn(struct jsonw *w, const char *k, size_t klen, const char *lit, size_t len);

static inline void jsonw_null(struct jsonw *w, const char *k)
{
	jsonw_lit_kn(w, k, strlen(k), "null", 4);
}

static inline void jsonw_strn(struct jsonw *w, const char *k, const char *val, size_t len)
{
	jsonw_str_kn(w, k, strlen(k), val, len);
}

static inline void jsonw_str(struct jsonw *w, const char *k, const char *val) /* NULL: null */
{
	if (val)
		jsonw_str_kn(w, k, strlen(k), val, strlen(val));
	else
		jsonw_null(w, k);
}

static inline void jsonw_num(struct jsonw *w, const char *k, double val) /* integral: no decimals */
{
	jsonw_num_kn(w, k, strlen(k), val);
}

static inline void jsonw_bool(struct jsonw *w, const char *k, int val)
{
	jsonw_lit_kn(w, k, strlen(k), val ? "true" : "false", val ? 4 : 5);
}

/* RAW (LEN bytes) must be valid JSON text already: it is written as the value. */
static inline void jsonw_raw(struct jsonw *w, const char *k, const char *raw, size_t len)
{
	jsonw_lit_kn(w, k, strlen(k), raw, len);
}

/*
 * The writers for a key that is a string literal of ours, which needs no escape: JSONW_QKEY()
 * quotes it, with its colon, when the program is compiled ("\"time\":", 7), so a member costs
 * a copy of its key, not a scan of it. Written bytes are the same as the writers' above.
 */
#define JSONW_QKEY(k) ("\"" k "\":"), (sizeof(k) + 2)
#define JSONW_NUM_MAX 40		    /* "%.15g" of any double, sign and exponent included */
#define JSONW_EXACT_MAX 9007199254740992ULL /* 2^53: every integer below is a double */

/* The pieces of the writers below that are not inlined (jsonw.c). */
/* Makes room for MORE bytes, and "}" and NUL after them, doubling the buffer: 0, or -1 (W is
 * oom). */
int jsonw_grow(struct jsonw *w, size_t more);
/* The room escaping the N bytes of S may take, quotes included. */
size_t jsonw_escaped_room(const char *s, size_t n);
/* S (N bytes) escaped, between quotes, at OUT (with jsonw_escaped_room() bytes); its end. */
char *jsonw_escape_at(char *out, const char *s, size_t n);
/* VAL as every writer of a number writes it, at OUT (JSONW_NUM_MAX bytes); its length. */
int jsonw_format_num(char *out, double val);

/*
 * The separator and the quoted key QK (QKLEN bytes, its colon included), with room for
 * VAL_ROOM bytes of value after them; returns where the value goes (the caller writes it and
 * moves w->len past it), or NULL when W is out of memory. Inlined where the key is a literal,
 * so that its copy is a few moves of a known length, not a call to memcpy() and a call to a
 * writer: a record has some forty such members.
 */
static inline char *jsonw_member_q(struct jsonw *w, const char *qk, size_t qklen, size_t val_room)
{
	size_t more = 1 + qklen + val_room; /* the comma, the key and its colon, the value */
	char *out;

	if (val_room > SIZE_MAX / 4) {
		w->oom = 1;
		return NULL;
	}
	if (w->oom || (more > w->cap - w->len - 2 && jsonw_grow(w, more)))
		return NULL;
	out = w->buf + w->len;
	if (w->len > 1)
		*out++ = ',';
	memcpy(out, qk, qklen);
	return out + qklen;
}

static inline void jsonw_lit_qk(struct jsonw *w, const char *qk, size_t qklen, const char *lit,
				size_t len)
{
	char *out = jsonw_member_q(w, qk, qklen, len);

	if (!out)
		return;
	memcpy(out, lit, len);
	w->len = (size_t)(out + len - w->buf);
}

static inline void jsonw_str_qk(struct jsonw *w, const char *qk, size_t qklen, const char *val,
				size_t len)
{
	char *out =
	    jsonw_member_q(w, qk, qklen, len <= 256 ? 6 * len + 2 : jsonw_escaped_room(val, len));

	if (out)
		w->len = (size_t)(jsonw_escape_at(out, val, len) - w->buf);
}

static inline void jsonw_num_qk(struct jsonw *w, const char *qk, size_t qklen, double val)
{
	char *out;

	if (!isfinite(val)) {
		jsonw_lit_qk(w, qk, qklen, "null", 4);
		return;
	}
	out = jsonw_member_q(w, qk, qklen, JSONW_NUM_MAX);
	if (out)
		w->len = (size_t)(out + jsonw_format_num(out, val) - w->buf);
}

/* An integer as jsonw_num() writes (double)V: its digits below 2^53 in magnitude (no double
 * on the way), and what the double path writes above (rounded, "%.15g"). */
static inline void jsonw_u64_qk(struct jsonw *w, const char *qk, size_t qklen, uint64_t v)
{
	char *out;

	if (v >= JSONW_EXACT_MAX) { /* (double)v rounds: written as jsonw_num() writes it */
		jsonw_num_qk(w, qk, qklen, (double)v);
		return;
	}
	out = jsonw_member_q(w, qk, qklen, DECIMAL_U64_MAX);
	if (out)
		w->len = (size_t)(decimal_put_u64(out, v) - w->buf);
}

static inline void jsonw_i64_qk(struct jsonw *w, const char *qk, size_t qklen, int64_t v)
{
	uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
	char *out;

	if (mag >= JSONW_EXACT_MAX) {
		jsonw_num_qk(w, qk, qklen, (double)v);
		return;
	}
	out = jsonw_member_q(w, qk, qklen, 1 + DECIMAL_U64_MAX);
	if (!out)
		return;
	if (v < 0)
		*out++ = '-';
	w->len = (size_t)(decimal_put_u64(out, mag) - w->buf);
}

#define jsonw_kstr(w, k, val) jsonw_kstr_or_null(w, JSONW_QKEY(k), val)
#define jsonw_kstrn(w, k, val, len) jsonw_str_qk(w, JSONW_QKEY(k), val, len)
#define jsonw_knum(w, k, val) jsonw_num_qk(w, JSONW_QKEY(k), val)
#define jsonw_ku64(w, k, val) jsonw_u64_qk(w, JSONW_QKEY(k), val)
#define jsonw_ki64(w, k, val) jsonw_i64_qk(w, JSONW_QKEY(k), val)
#define jsonw_knull(w, k) jsonw_lit_qk(w, JSONW_QKEY(k), "null", 4)
#define jsonw_kbool(w, k, val) jsonw_kbool_qk(w, JSONW_QKEY(k), val)
#define jsonw_kraw(w, k, raw, len) jsonw_lit_qk(w, JSONW_QKEY(k), raw, len)

static inline void jsonw_kstr_or_null(struct jsonw *w, const char *qk, size_t qklen,
				      const char *val) /* NULL: null */
{
	if (val)
		jsonw_str_qk(w, qk, qklen, val, strlen(val));
	else
		jsonw_lit_qk(w, qk, qklen, "null", 4);
}

static inline void jsonw_kbool_qk(struct jsonw *w, const char *qk, size_t qklen, int val)
{
	jsonw_lit_qk(w, qk, qklen, val ? "true" : "false", val ? 4 : 5);
}

/* MEMBERS (LEN bytes) must be members of an object already ("k":v,...; from another writer's
 * text without its braces): they are written after W's, as they are. */
void jsonw_members(struct jsonw *w, const char *members, size_t len);

/* Members that records repeat (a connection's client, its process): made once from a source
 * (SRC_LEN bytes, a struct whose fields are all they depend on) and copied into every record
 * made from a source equal to it in every byte. Zeroed: empty. Owns nothing. */
#define JSONW_MEMO_SRC_MAX 64
#define JSONW_MEMO_TEXT_MAX 512
struct jsonw_memo {
	unsigned char src[JSONW_MEMO_SRC_MAX];
	size_t src_len;
	char text[JSONW_MEMO_TEXT_MAX]; /* members without braces; LEN bytes, 0: none kept */
	size_t len;
};

/* Writes into W the members MAKE writes of SRC (SRC_LEN bytes): copied from M when M was made
 * from the same bytes, else made (and kept in M when they fit). */
void jsonw_memo_members(struct jsonw *w, struct jsonw_memo *m, const void *src, size_t src_len,
			void (*make)(struct jsonw *w, const void *src));

/* Closes the object and frees W; returns the text ("{...}", NUL-terminated, *RET_LEN bytes)
 * for the caller to free, or NULL when out of memory. */
char *jsonw_finish(struct jsonw *w, size_t *ret_len);
void jsonw_free(struct jsonw *w);

#endif
