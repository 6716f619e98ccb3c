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

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
void jsonw_str_qk(struct jsonw *w, const char *qk, size_t qklen, const char *val, size_t len);
void jsonw_lit_qk(struct jsonw *w, const char *qk, size_t qklen, const char *lit, size_t len);
void jsonw_num_qk(struct jsonw *w, const char *qk, size_t qklen, double val);
/* An integer as jsonw_num() writes (double)V: its digits below 2^53 in magnitude (no double
 * on the way), and what the double path writes above (rounded, "%.15g"). */
void jsonw_u64_qk(struct jsonw *w, const char *qk, size_t qklen, uint64_t v);
void jsonw_i64_qk(struct jsonw *w, const char *qk, size_t qklen, int64_t v);

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
