/*
 * guard/jsontext: the strings of a JSON text, found in the text itself (no tree), decoded,
 * and rewritten in place. jsontext_walk() checks the whole text against RFC 8259 (any value
 * at the top; nesting at most JSONTEXT_MAX_DEPTH deep) and calls back once per string, keys
 * included, with its decoded UTF-8 text ("\u00e9" and surrogate pairs decoded, a lone
 * surrogate read as U+FFFD) and the path that leads to it. The callback may replace a string
 * with new text (jsontext_replace()); the walker re-encodes it and splices it in, and every
 * other byte of the text is kept as it was. Nothing is copied when nothing is replaced.
 *
 * Ownership: struct jsontext lives on jsontext_walk()'s stack and is lent to the callback;
 * the decoded text it hands over lives until the callback returns. The new text returned by
 * jsontext_walk() (*RET) is the caller's to free().
 */
#ifndef AIGW_GUARD_JSONTEXT_H
#define AIGW_GUARD_JSONTEXT_H

#include <stddef.h>

struct translate_buf;

#define JSONTEXT_MAX_DEPTH 128
#define JSONTEXT_KEY_MAX 32 /* bytes of a member name a path step keeps */

/* One step from a container to one of its values: an object member or an array element. */
struct jsontext_step {
	int is_index;			/* an array element: INDEX; else a member: KEY */
	size_t index;			/* the element's position, 0-based */
	char key[JSONTEXT_KEY_MAX + 1]; /* the member's name (decoded, cut, NUL-terminated) */
	size_t key_len;			/* its whole decoded length (> JSONTEXT_KEY_MAX: cut) */
	size_t container;		/* where the container ('{' or '[') starts in the text */
};

struct jsontext_string {
	const char *text; /* decoded (UTF-8 when the JSON was), LEN bytes, not NUL-terminated */
	size_t len;
	size_t raw_start, raw_end;	  /* the string in the JSON text, quotes included */
	int is_key;			  /* a member name (its step is the path's last one) */
	const struct jsontext_step *path; /* from the root to the string, DEPTH steps */
	unsigned depth;
};

struct jsontext;

/* Called per string. Returns 0 or a negative errno, which stops the walk and is returned. */
typedef int jsontext_fn(void *arg, struct jsontext *jt, const struct jsontext_string *s);

/*
 * Walks TEXT (LEN bytes). Returns 0 with *RET NULL when no string was replaced, or 0 with a
 * new text (*RET, NUL-terminated, *RET_LEN bytes); -EINVAL when TEXT is not JSON or nests too
 * deep; -ENOMEM; or FN's error. RET may be NULL (read only: replacing is then an error).
 */
int jsontext_walk(const char *text, size_t len, jsontext_fn *fn, void *arg, char **ret,
		  size_t *ret_len);

/* From FN: the string it was called for becomes TEXT (LEN bytes, UTF-8). Returns 0, -ENOMEM,
 * or -EINVAL when the walk is read only. */
int jsontext_replace(struct jsontext *jt, const char *text, size_t len);

/* Appends TEXT (LEN bytes) to B as a JSON string: quotes, and '"', '\\' and control
 * characters escaped; every other byte as it is. Returns 0 or -ENOMEM. */
int jsontext_encode(struct translate_buf *b, const char *text, size_t len);

/* Whether step I of S's path is member KEY. */
int jsontext_step_is(const struct jsontext_string *s, unsigned i, const char *key);

#endif
