/*
 * json_locate: byte positions inside JSON text, which cJSON does not keep.
 *
 * json_locate() walks text that cJSON has already accepted and finds where the value at a path
 * (object keys, array indices) starts and ends, and where its key is. json_locate_line_col()
 * turns an offset into the 1-based line and column an editor shows. json_locate_parse() wraps
 * cJSON's parser so a syntax error comes back as an offset too. json_locate_count_values()
 * bounds what a tree of a text would cost before anyone builds it. json_locate_accepted()
 * tells whether cJSON would accept a text, and where its root's members are, without a tree.
 *
 * Nothing here allocates; the text is only read. Offsets are bytes from the start of the text.
 */
#ifndef AIGW_JSON_LOCATE_H
#define AIGW_JSON_LOCATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define JSON_LOCATE_NONE SIZE_MAX /* no such offset (an array element or the root has no key) */

/* One step of a path: an object member named KEY, or (KEY NULL) the INDEX-th (0-based) array
 * element or object member. By name, the first member with that name is taken, as cJSON's
 * cJSON_GetObjectItemCaseSensitive() does; by index, duplicate names can be told apart. */
struct json_locate_step {
	const char *key;
	size_t index;
};

struct json_locate_pos {
	size_t key;   /* the key's opening quote, or JSON_LOCATE_NONE */
	size_t value; /* the value's first byte: '{', '[', '"', a digit, '-', 't', 'f' or 'n' */
	size_t end;   /* one past the value's last byte */
};

/*
 * Locates the value at PATH (N_STEPS steps; 0 is the root) in TEXT of LEN bytes, which must be
 * JSON that cJSON accepted. Returns 0 and *POS, -ENOENT when the path is not there (or goes
 * through a scalar), -EINVAL when the text is not well-formed after all.
 */
int json_locate(const char *text, size_t len, const struct json_locate_step *path, size_t n_steps,
		struct json_locate_pos *pos);

/* The 1-based line and column of OFFSET (clamped to LEN). Columns count UTF-8 characters, so a
 * tab or a multi-byte character is one column; a leading byte order mark is not counted. */
void json_locate_line_col(const char *text, size_t len, size_t offset, unsigned *line,
			  unsigned *col);

/*
 * Parses TEXT of LEN bytes with cJSON, refusing anything after the value. TEXT[LEN] must be
 * '\0'. Returns the tree (the caller frees it with cJSON_Delete()), or NULL with *ERR_OFFSET
 * set to where cJSON stopped (at most LEN, which means "at the end of the text").
 */
cJSON *json_locate_parse(const char *text, size_t len, size_t *err_offset);

/* How deep cJSON nests containers before it refuses a text. */
#define JSON_LOCATE_DEPTH_MAX CJSON_NESTING_LIMIT

/*
 * Whether cJSON_ParseWithLengthOpts() accepts TEXT (LEN bytes) as one value followed by
 * nothing but ' ', '\t', '\n' and '\r' (the rule of providers/usage_int.h json_parse()),
 * decided without building a tree. Returns 0 and *RET_ROOT (where the value starts), or
 * -EINVAL. When the value is an object, POS[k] locates the first member named KEYS[k] (the one
 * cJSON_GetObjectItemCaseSensitive() returns; N_KEYS of them), else POS[k].value is
 * JSON_LOCATE_NONE. No allocation; recursion as deep as the text nests (at most
 * JSON_LOCATE_DEPTH_MAX).
 */
int json_locate_accepted(const char *text, size_t len, const char *const *keys, size_t n_keys,
			 struct json_locate_pos *pos, size_t *ret_root);

/*
 * The same, finding members below the root too: KEYS[k] is a member of the root object when
 * PARENT[k] is -1, else of the object that is the value located for KEYS[PARENT[k]] (the first
 * of its name, as cJSON finds it); PARENT NULL: all of the root. The keys of one object come
 * together, after the key of the object (PARENT[k] < k). *RET_ODD (if not NULL): 1 when
 * an object searched held a key with an escape or a name asked for twice (what was located is
 * still cJSON's first of each name), else 0.
 */
int json_locate_accepted_in(const char *text, size_t len, const char *const *keys,
			    const int *parent, size_t n_keys, struct json_locate_pos *pos,
			    size_t *ret_root, int *ret_odd);

/*
 * At least as many as the values (objects, arrays, scalars) cJSON would make of TEXT (LEN
 * bytes), counting no further than MAX + 1: one, plus each '{', '[' and ',' outside strings
 * (every value but the first follows one of those). A tree costs some 80 bytes a value, so a
 * body of tiny elements ("[0,0,0,...") costs 40 times its size as a tree: callers refuse a
 * text over their budget before parsing it. Any text is accepted; no allocation.
 */
size_t json_locate_count_values(const char *text, size_t len, size_t max);

/*
 * The most values cJSON makes of any JSON text of LEN bytes: (LEN + 1) / 2. A value of n
 * values takes at least 2n - 1 bytes: a scalar one, an empty container two, a container of
 * k children holding n - 1 values in all at least 2(n - 1) - k for them, k - 1 commas and
 * two brackets. So a body no larger than about twice a budget needs no count.
 */
static inline size_t json_values_at_most(size_t len)
{
	return len / 2 + (len & 1);
}

#endif
