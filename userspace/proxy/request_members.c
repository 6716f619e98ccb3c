/* request_members.c: one walk of a request body's top level, of its tree or of its text (see
 * request_members.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "policy/json_locate.h"
#include "proxy/request_members.h"

enum { KEY_MODEL, KEY_STREAM, KEY_STREAM_OPTIONS }; /* their places below */

const char *const request_members_decisive[] = {"model",
						"stream",
						"stream_options",
						"max_tokens",
						"max_completion_tokens",
						"max_output_tokens",
						"n",
						"best_of",
						NULL};

/* NAME's place among the decisive keys, or -1: a byte compared before each strcmp. */
static int decisive_index(const char *name)
{
	for (int i = 0; request_members_decisive[i]; i++)
		if (name[0] == request_members_decisive[i][0] &&
		    !strcmp(name, request_members_decisive[i]))
			return i;
	return -1;
}

void request_members_read(const cJSON *root, struct request_members *ret)
{
	const cJSON
	    *first[sizeof(request_members_decisive) / sizeof(*request_members_decisive) - 1] = {0};
	uint32_t twice = 0;

	for (const cJSON *it = root ? root->child : NULL; it; it = it->next) {
		int i = it->string ? decisive_index(it->string) : -1;

		if (i < 0)
			continue;
		if (first[i])
			twice |= 1u << i;
		else
			first[i] = it;
	}
	ret->twice = twice ? request_members_decisive[__builtin_ctz(twice)] : NULL;
	ret->model = first[KEY_MODEL];
	ret->stream = first[KEY_STREAM];
	ret->stream_options = first[KEY_STREAM_OPTIONS];
}

/* ---- the same from the text, without a tree ---- */

/* Past the bytes cJSON skips between tokens: any byte up to ' '. */
static size_t text_ws(const unsigned char *t, size_t len, size_t i)
{
	while (i < len && t[i] <= ' ')
		i++;
	return i;
}

/* One past the string whose opening quote is at I; *RET_PLAIN: it holds no backslash and no
 * byte below ' ' (its bytes are what cJSON decodes it to, with no NUL to cut it). */
static size_t text_string_end(const unsigned char *t, size_t len, size_t i, int *ret_plain)
{
	int plain = 1;

	for (i++; i < len && t[i] != '"'; i++) {
		if (t[i] < ' ')
			plain = 0;
		if (t[i] == '\\') {
			plain = 0;
			i++;
		}
	}
	*ret_plain = plain;
	return i + 1;
}

/* One past the value at I: a string, a container up to its close, or a scalar up to what
 * follows it (whitespace, ',', '}' or ']', the only bytes an accepted text has there). */
static size_t text_value_end(const unsigned char *t, size_t len, size_t i)
{
	size_t depth = 0;
	int plain;

	while (i < len) {
		if (t[i] == '"') {
			i = text_string_end(t, len, i, &plain);
			if (!depth)
				return i;
			continue;
		}
		if (t[i] == '{' || t[i] == '[') {
			depth++;
		} else if (t[i] == '}' || t[i] == ']') {
			if (!depth) /* the close after a scalar */
				return i;
			if (!--depth)
				return i + 1;
		} else if (!depth && (t[i] == ',' || t[i] <= ' ')) {
			return i;
		}
		i++;
	}
	return i;
}

/* NAMES' index of the N bytes at S, or -1. */
static int name_index(const char *const *names, const unsigned char *s, size_t n)
{
	for (int i = 0; names[i]; i++)
		if (s[0] == (unsigned char)names[i][0] && strlen(names[i]) == n &&
		    !memcmp(s, names[i], n))
			return i;
	return -1;
}

/*
 * The members of the object at OBJ (its '{') in accepted text: RET_FIRST[k] is where the value
 * of the first member named NAMES[k] starts (0: none), *RET_TWICE the names named more than
 * once (bit k). -EAGAIN when a name holds an escape or a control byte: it may decode to one
 * of NAMES, which only the tree tells.
 */
static int text_members(const unsigned char *t, size_t len, size_t obj, const char *const *names,
			size_t *ret_first, uint32_t *ret_twice)
{
	size_t i = text_ws(t, len, obj + 1), end;
	int plain, k;

	*ret_twice = 0;
	while (i < len && t[i] == '"') {
		end = text_string_end(t, len, i, &plain);
		if (!plain)
			return -EAGAIN;
		k = name_index(names, t + i + 1, end - i - 2);
		i = text_ws(t, len, text_ws(t, len, end) + 1); /* past the ':' */
		if (k >= 0 && ret_first[k])
			*ret_twice |= 1u << k;
		else if (k >= 0)
			ret_first[k] = i;
		i = text_ws(t, len, text_value_end(t, len, i));
		if (i < len && t[i] == ',')
			i = text_ws(t, len, i + 1);
	}
	return 0;
}

/* Whether the value at AT is an object whose first "include_usage" is true. */
static int text_include_usage(const unsigned char *t, size_t len, size_t at, int *ret)
{
	static const char *const names[] = {"include_usage", NULL};
	size_t first[1] = {0};
	uint32_t twice;
	int err;

	*ret = 0;
	if (!at || t[at] != '{')
		return 0;
	err = text_members(t, len, at, names, first, &twice);
	*ret = !err && first[0] && t[first[0]] == 't';
	return err;
}

int request_members_scan(const char *text, size_t len, struct request_scan *ret)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t first[sizeof(request_members_decisive) / sizeof(*request_members_decisive) - 1] = {0};
	size_t root, model, end;
	uint32_t twice;
	int plain, err;

	*ret = (struct request_scan){0};
	/* cJSON_ParseWithLength() also takes what follows its value: those texts it decides */
	if (json_locate_accepted(text, len, NULL, 0, NULL, &root))
		return -EAGAIN;
	if (t[root] != '{')
		return 0;
	err = text_members(t, len, root, request_members_decisive, first, &twice);
	if (err)
		return err;
	ret->object = 1;
	if (twice) {
		ret->twice = request_members_decisive[__builtin_ctz(twice)];
		return 0;
	}
	model = first[KEY_MODEL];
	if (model && t[model] == '"') {
		end = text_string_end(t, len, model, &plain);
		if (!plain) /* an escape: the tree decodes it */
			return -EAGAIN;
		ret->model = text + model + 1;
		ret->model_len = end - model - 2;
	}
	ret->stream = first[KEY_STREAM] && t[first[KEY_STREAM]] == 't';
	return text_include_usage(t, len, first[KEY_STREAM_OPTIONS], &ret->include_usage);
}
